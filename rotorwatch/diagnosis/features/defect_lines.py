"""The bearing-defect lines of the envelope spectrum: where each family's lines fall, the
background they are measured against, and each line's and each family's score.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.schema import DEFECTS
from rotorwatch.diagnosis.features.spectrum import F64

#: Lines of each defect family in the envelope spectrum, as (family, harmonic of the defect
#: frequency, multiple of shaft speed added, multiple of FTF added, weight). The fundamental
#: weighs most: harmonics of different defects can fall together.
ENVELOPE_LINES: Final[tuple[tuple[str, int, int, int, float], ...]] = (
    ("bpfo", 1, 0, 0, 1.0),
    ("bpfo", 2, 0, 0, 0.5),
    ("bpfo", 3, 0, 0, 0.5),
    ("bpfi", 1, 0, 0, 1.0),
    ("bpfi", 2, 0, 0, 0.5),
    ("bpfi", 3, 0, 0, 0.5),
    ("bpfi", 1, -1, 0, 0.5),  # inner race: amplitude-modulated at 1x
    ("bpfi", 1, 1, 0, 0.5),
    ("bsf", 2, 0, 0, 1.0),  # a ball defect strikes inner and outer race once per spin
    ("bsf", 1, 0, 0, 0.5),
    ("bsf", 4, 0, 0, 0.5),
    ("bsf", 2, 0, -1, 0.5),  # the ball is carried through the load zone at the cage rate
    ("bsf", 2, 0, 1, 0.5),
    ("ftf", 1, 0, 0, 1.0),
    ("ftf", 2, 0, 0, 0.5),
)
#: Search half-width around a line: races slip 1-2 % against the shaft and rpm is not exact;
#: balls roll and skid, so their lines wander further.
ENVELOPE_TOLERANCE_REL: Final = {"bpfo": 0.02, "bpfi": 0.02, "bsf": 0.04, "ftf": 0.02}
ENVELOPE_TOLERANCE_BINS: Final = 1.5
#: The envelope's background (the median lines are measured against) spans up to this
#: multiple of the highest defect line, whatever the sample rate: wide enough for a stable
#: median (hundreds of bins on a 4096-sample window), bounded in Hz rather than in bins.
ENVELOPE_BACKGROUND_SPAN: Final = 3.0
#: Lines closer to DC than this (in envelope bins) sit in the leakage of the window and are
#: not read (a cage line on a short window).
ENVELOPE_MIN_BIN: Final = 6


def _line_table() -> tuple[npt.NDArray[np.int64], F64, F64, F64, F64, F64]:
    """:data:`ENVELOPE_LINES` as arrays: family index (into DEFECTS), harmonic, shaft and cage
    multiples, weight, relative tolerance."""
    keys = [key for _, key in DEFECTS]
    fam = np.array([keys.index(f) for f, *_ in ENVELOPE_LINES], dtype=np.int64)
    cols = np.array([line[1:] for line in ENVELOPE_LINES], dtype=np.float64)
    tol = np.array([ENVELOPE_TOLERANCE_REL[f] for f, *_ in ENVELOPE_LINES])
    return fam, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], tol


_LINES: Final = _line_table()
_FTF_INDEX: Final = [key for _, key in DEFECTS].index("ftf")


def _background(env_spec: npt.NDArray[np.float32], f_line: F64, df_hz: F64) -> F64:
    """Median of each row's envelope spectrum from :data:`ENVELOPE_MIN_BIN` up to
    :data:`ENVELOPE_BACKGROUND_SPAN` x its highest defect line (the whole spectrum where the
    lines are unknown). Bounded in Hz, not in bins: an envelope spectrum falls with frequency,
    so a median over everything up to fs / 8 would sit lower, and every ratio higher, the
    faster a sensor samples (measured: +1 on healthy bearings at 48 kHz against 20 kHz)."""
    k_env = env_spec.shape[1]
    top = np.nanmax(np.where(np.isfinite(f_line), f_line, np.nan), axis=1, initial=-np.inf)
    k_hi = np.where(
        np.isfinite(top) & (top > 0), np.ceil(ENVELOPE_BACKGROUND_SPAN * top / df_hz), k_env
    )
    k_hi = np.clip(k_hi, ENVELOPE_MIN_BIN + 8, k_env).astype(np.int64)  # (B,)
    if int(k_hi.min()) == k_env:
        body = env_spec[:, ENVELOPE_MIN_BIN:]
        return np.median(body, axis=1).astype(np.float64)
    # Rows keep their own span: bins above it (by frequency, so masked before sorting) sort
    # last, and the median is read at each row's middle. (Masking after a first sort, as this
    # did before, kept the smallest values of the widest span instead: in a batch of machines
    # at different speeds, every row but the widest read a background too low, ratios ~1.6x.)
    body = env_spec[:, ENVELOPE_MIN_BIN : int(k_hi.max())].astype(np.float32)
    cols = np.arange(body.shape[1])
    body[cols[None, :] >= (k_hi - ENVELOPE_MIN_BIN)[:, None]] = np.inf
    body.sort(axis=1)
    # The median as np.median reads it (the mean of the two middle values of an even count),
    # so a row gets the same background whichever path its batch takes.
    count = (k_hi - ENVELOPE_MIN_BIN)[:, None]
    lower = np.take_along_axis(body, (count - 1) // 2, axis=1)[:, 0]
    upper = np.take_along_axis(body, count // 2, axis=1)[:, 0]
    return ((lower + upper) / 2).astype(np.float64)  # in float32, as np.median does


def _envelope_indicators(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    out: dict[str, F64],
) -> None:
    """Defect-family scores from the envelope magnitude spectra (bin spacing df_hz, up to fs / 8).

    A line's score is its peak within tolerance over the median of the envelope spectrum (a
    healthy bearing's lines sit at 1.5-2.5, the noise's own spread); a family scores its
    largest weighted line, NaN where no line of it can be read (no rpm or geometry, or every
    line beyond the spectrum or too close to DC).
    """
    for name, values in zip(
        (name for name, _ in DEFECTS),
        _family_scores(_line_scores(env_spec, df_hz, shaft_hz, defect_orders)),
        strict=True,
    ):
        out[name] = values


def _family_scores(score: F64) -> list[F64]:
    """Each family's largest weighted line score (NaN where none of its lines was read)."""
    fam = _LINES[0]
    families = []
    for j in range(len(DEFECTS)):
        cols = score[:, fam == j]
        has = np.isfinite(cols).any(axis=1)
        best = np.max(np.where(np.isfinite(cols), cols, -np.inf), axis=1, initial=-np.inf)
        families.append(np.where(has, best, np.nan))
    return families


def _line_scores(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    offsets_out: F64 | None = None,
) -> F64:
    """Weighted score of every line of :data:`ENVELOPE_LINES` (B, L), NaN where not read; and,
    into ``offsets_out`` (B, L) if given, how far each line's peak sits from where the speed
    puts it, as a fraction of the line's tolerance (0 on the line, 1 at the window's edge)."""
    b, k_env = env_spec.shape
    fam, harmonic, shaft_mult, cage_mult, weight, tol_rel = _LINES
    f_defect = shaft_hz[:, None] * defect_orders  # (B, D), NaN where unknown
    f_line = harmonic * f_defect[:, fam] + shaft_mult * shaft_hz[:, None]
    f_line = f_line + cage_mult * f_defect[:, [_FTF_INDEX]]  # (B, L)
    median = _background(env_spec, f_line, df_hz)
    ok = np.isfinite(f_line) & (median > 0)[:, None]
    kc = np.where(ok, f_line, 0.0) / df_hz[:, None]
    half = ENVELOPE_TOLERANCE_BINS + tol_rel * kc
    ok &= (kc >= ENVELOPE_MIN_BIN) & (kc + half < k_env)
    # A line within tolerance of another family's line is ambiguous, evidence for neither:
    # harmonics against harmonics, sidebands against anything; a harmonic outranks a sideband
    # (2 x BSF stays the ball's even where BPFI - 1x falls next to it).
    main = (shaft_mult == 0) & (cage_mult == 0)
    other = fam[:, None] != fam[None, :]  # (L, L): line j belongs to another family than i
    rivals = other & (main[None, :] | ~main[:, None])
    near = np.abs(kc[:, :, None] - kc[:, None, :]) <= half[:, :, None]  # (B, L, L)
    shared = (near & rivals[None]).any(axis=2)
    fundamental = (harmonic == 1) & main  # a family's own fundamental is always read
    ok &= ~(shared & ~fundamental[None, :])
    # Only lines that are read size the gather: a line far beyond the spectrum (a wrong rpm)
    # would otherwise widen it for the whole batch (rpm 1e6 on one row: 261 MiB, not 47).
    kc, half = np.where(ok, kc, 0.0), np.where(ok, half, 0.0)
    max_half = int(np.ceil(np.max(half, initial=0.0))) + 1
    offsets = np.arange(-max_half, max_half + 1)
    idx = np.rint(kc)[..., None].astype(np.int64) + offsets  # (B, L, W)
    inside = (np.abs(idx - kc[..., None]) <= half[..., None]) & (idx >= 1) & (idx < k_env)
    vals = np.take_along_axis(env_spec, np.clip(idx, 0, k_env - 1).reshape(b, -1), axis=1)
    windowed = np.where(inside.reshape(b, -1), vals, 0.0).reshape(idx.shape)
    peaks = windowed.max(axis=2)
    if offsets_out is not None:
        at = np.take_along_axis(idx, windowed.argmax(axis=2)[..., None], axis=2)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):  # a zero-width line: offset inf
            offsets_out[...] = np.abs(at - kc) / half
    with np.errstate(divide="ignore", invalid="ignore"):
        # A family scores its strongest weighted line. (Adding up every line's log excess over
        # the noise made ball faults a little clearer on the CWRU records but blurred the race
        # names and raised healthy windows as much: measured in benchmarks/eval_real.py.)
        return np.asarray(np.where(ok, weight * peaks / median[:, None], np.nan))
