"""The bearing lines' word on a speed estimated from the comb: the envelope cross-check, next to
the comb itself (:mod:`rotorwatch.diagnosis.features.speed`), which knows nothing of bearings.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.defect_lines import (
    _LINES,
    ENVELOPE_LINES,
    _defect_scores,
    _family_scores,
    _line_scores,
)
from rotorwatch.diagnosis.features.schema import DEFECTS
from rotorwatch.diagnosis.features.spectrum import F64
from rotorwatch.diagnosis.features.speed import MIN_CONFIDENCE

#: Speeds the envelope cross-check tries, as a relative step (log-spaced): half a line's
#: tolerance (:data:`.defect_lines.ENVELOPE_TOLERANCE_REL`), so no line falls between two tries.
CROSS_CHECK_STEP_REL: Final = 0.01
#: A bearing line this many times its envelope spectrum's median confirms the speed it was read
#: at. An envelope spectrum of noise is Rayleigh-distributed: a bin exceeds t x its median with
#: probability 2^(-t^2), 1 in 65,000 at t = 4, so the few hundred bins a search range covers do
#: not reach it by chance; a bearing's defect line (lines at 2-2.5 on healthy bearings) does.
ENVELOPE_SPEED_MIN_RATIO: Final = 4.0
#: Where the comb is confident, the envelope tries speeds this far either side of it: the comb
#: of an induction motor can sit on synchronous speed (the mains' lines), a slip of a few per
#: cent above the shaft. A confident comb keeps the envelope from reading one family's line as
#: another's at a speed the shaft's own orders rule out (2 x BSF is 13 % below BPFI on many
#: bearings: a whole nameplate range could hold both readings of one line).
COMB_SLIP_REL: Final = 0.03
#: Rows per chunk of the cross-check (each tried at every speed of its range at once).
_CROSS_CHECK_ROWS: Final = 64


def _cross_check(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    search_hz: F64,
    defect_orders: F64,
    estimate: npt.NDArray[np.bool_],
    out: dict[str, F64],
) -> F64:
    """The bearing lines' word on an estimated speed (rows in ``estimate``), in ``out``.

    The comb reads the shaft's own orders, which induction motors blur: the mains' lines sit on
    the comb of synchronous speed, a few per cent above the shaft's, and a strong defect line's
    harmonics form a comb of their own. Where the bearing geometry is known, every speed of the
    search range (within :data:`COMB_SLIP_REL` of a confident comb) is tried on the envelope
    spectrum and the one where one defect family's lines
    stand highest together (the sum of their log excess over the median, each weighted by how
    near its peak sits to its predicted place: several lines agreeing on a speed, not one line
    anywhere) is the speed the envelope indicators are read at. A line
    of :data:`ENVELOPE_SPEED_MIN_RATIO` confirms that speed on its own (a defect line is speed
    evidence no noise gives); otherwise the comb must be confident, else nothing is read.

    Returns the speed each row's envelope lines were read at (the input speed elsewhere).
    """
    comb = out["comb_confidence"]
    env_shaft = out["shaft_hz"].copy()
    centre = np.where(comb >= MIN_CONFIDENCE, out["shaft_hz"], np.nan)
    near_lo = np.fmax(search_hz[:, 0], centre / (1.0 + COMB_SLIP_REL))  # fmax: NaN -> range
    near_hi = np.fmin(search_hz[:, 1], centre * (1.0 + COMB_SLIP_REL))
    geometry = np.isfinite(defect_orders).all(axis=1)
    rows = np.flatnonzero(estimate & geometry)
    for start in range(0, rows.size, _CROSS_CHECK_ROWS):
        r = rows[start : start + _CROSS_CHECK_ROWS]
        lo, hi = near_lo[r], np.fmax(near_hi[r], near_lo[r])
        # Each row tries its own grid (its range in steps of CROSS_CHECK_STEP_REL), padded to
        # the chunk's longest with its top speed, which then never wins (the first of equal
        # supports does): a row's grid, and so the speed it is read at, must not depend on
        # the widest range among the rows that share its batch.
        steps = np.ceil(np.log(hi / lo) / np.log1p(CROSS_CHECK_STEP_REL))
        steps = np.maximum(steps, 1).astype(np.int64)  # (R,)
        width = int(steps.max())
        step = np.minimum(np.arange(width + 1)[None, :], steps[:, None])  # (R, J)
        grid = lo[:, None] * (hi / lo)[:, None] ** (step / steps[:, None])
        each = np.repeat(r, width + 1)
        offset = np.empty((each.size, len(ENVELOPE_LINES)))
        background = np.empty(each.size)
        lines = _line_scores(
            env_spec[each], df_hz[each], grid.ravel(), defect_orders[each], offset, background
        )
        fam = _LINES[0]
        with np.errstate(invalid="ignore", over="ignore"):  # an inf offset squares to inf: 0
            # A line counts as it stands and as near as it sits to where the speed puts it:
            # one line read as two families' at two speeds sits at the edge of one window.
            excess = np.log(np.maximum(np.nan_to_num(lines, nan=1.0), 1.0))
            excess *= np.clip(1.0 - np.nan_to_num(offset, nan=1.0) ** 2, 0.0, 1.0)
        support = np.stack([excess[:, fam == j].sum(axis=1) for j in range(len(DEFECTS))])
        best = np.argmax(support.max(axis=0).reshape(r.size, width + 1), axis=1)
        pick = np.arange(r.size) * (width + 1) + best
        speed = grid[np.arange(r.size), best]
        families = _defect_scores(
            env_spec[r], df_hz[r], speed, defect_orders[r], lines[pick], background[pick]
        )
        # Speed evidence is a line where the speed puts it: the balls' band (as wide as the
        # cage rate, see defect_lines._ball_band_scores) says little about where the speed is.
        top = np.nanmax(np.column_stack(_family_scores(lines[pick])), axis=1, initial=0.0)
        env_conf = np.clip(MIN_CONFIDENCE * top / ENVELOPE_SPEED_MIN_RATIO, 0.0, 1.0)
        comb_ok = comb[r] >= MIN_CONFIDENCE
        env_ok = env_conf >= MIN_CONFIDENCE
        out["speed_confidence"][r] = np.fmax(comb[r], env_conf)
        out["shaft_hz"][r] = np.where(comb_ok, out["shaft_hz"][r], np.where(env_ok, speed, np.nan))
        read = comb_ok | env_ok
        env_shaft[r] = np.where(read, speed, np.nan)
        for (name, _key), values in zip(DEFECTS, families, strict=True):
            out[name][r] = np.where(read, values, np.nan)
    return env_shaft
