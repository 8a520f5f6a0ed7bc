"""Failure drills: the real handlers on moto with faults injected at the boto3 boundary.

The handler fixtures are the handler tests' own (same moto resources, same cold start).
"""

from __future__ import annotations

from tests.handlers.conftest import (  # noqa: F401  (fixtures used by the drills)
    aws,
    context,
    extract_features,
    score_and_alert,
    watchdog,
)

# The figure table is printed and written by tests/conftest.py: under pytest-xdist only the
# controller reports, and it loads the root conftest, not this one.
