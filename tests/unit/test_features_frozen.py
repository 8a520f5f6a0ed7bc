"""The feature engine computes today what it computed when the reference was frozen.

Every field of every record of :func:`compute_features` over the fixed corpus of
tests/feature_corpus.py (the benchmark's windows, a simulated fleet, analytic windows on every
path, real recordings) against tests/data/features_frozen.npz: names, flags and categorical
fields exactly, numbers within 1e-6 relative. A rewrite for speed must keep this green; a change
meant to move the features rewrites the reference (see tests/feature_corpus.py) and says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests import feature_corpus as fc

RTOL = 1e-6
#: Plus this fraction of the column's largest magnitude: a statistic that is zero in exact
#: arithmetic (the skewness of a sine) is rounding noise of the sums behind it, whose size is
#: set by the column's scale, not by its own value.
ATOL_OF_SCALE = 1e-12


@pytest.fixture(scope="module")
def reference() -> Any:
    return np.load(fc.REFERENCE)


@pytest.mark.parametrize("part", list(fc.PARTS))
def test_records_match_frozen_reference(part: str, reference: Any) -> None:
    got = fc.compute(part)
    if got is None:
        pytest.skip("no ../shared/data/real recordings")
    want = {k.split("/", 1)[1]: reference[k] for k in reference.files if k.startswith(part + "/")}
    assert sorted(got) == sorted(want), "record fields or their kinds changed"
    for key, expected in want.items():
        actual = got[key]
        assert actual.shape == expected.shape, key
        if key.startswith("num:"):
            finite = np.isfinite(expected)
            scale = float(np.max(np.abs(expected[finite]), initial=0.0))
            np.testing.assert_allclose(
                actual, expected, rtol=RTOL, atol=ATOL_OF_SCALE * scale, err_msg=key
            )
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=key)


def test_reference_covers_every_path(reference: Any) -> None:
    # The corpus must keep exercising what the fast paths could break: each sensor problem,
    # estimated speeds, unresolved windows and every defect family's indicator.
    sensors = set(reference["analytic/text:vibration_sensor"].tolist())
    assert {'"sensor_flat_line"', '"sensor_saturated"', '"sensor_clipped"'} <= sensors
    for part in ("simulated", "analytic", "real"):
        assert '"estimated"' in set(reference[f"{part}/text:rpm_source"].tolist())
    assert '"shaft_rate"' in set(reference["real/text:unresolved"].tolist())
    for name in ("env_bpfo", "env_bpfi", "env_bsf", "env_ftf"):
        assert (~reference[f"real/none:{name}"]).any(), name
