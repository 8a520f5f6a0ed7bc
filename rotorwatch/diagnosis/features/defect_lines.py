"""The bearing-defect lines of the envelope spectrum: where each family's lines fall, the
background they are measured against, each line's and each family's score, and the balls'
band (a ball defect's energy spread over 2 x BSF +- FTF rather than piled in one line).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from rotorwatch.diagnosis.features.schema import DEFECTS
from rotorwatch.diagnosis.features.spectrum import F64, ORDER_HALF_WIDTH_BINS

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
_BSF_INDEX: Final = [key for _, key in DEFECTS].index("bsf")
#: The harmonics of BSF whose bands the balls' evidence combines (:func:`_ball_band_scores`):
#: the ball family's own lines in :data:`ENVELOPE_LINES` (no shaft or cage multiple) that are
#: harmonics of its impact train, which strikes both races once per spin, so repeats at
#: 2 x BSF and rings at its multiples; the heaviest first: 2 x BSF, the band that must stand
#: above its flanks. BSF itself is left out: it shows only where the strikes on the two races
#: differ, and it is where the races' shaft-rate sidebands fall (BPFI - 3x lies 2.5 % from BSF
#: on a 6205). Measured on the CWRU and IMS records (benchmarks/eval_real.py), combining BSF
#: as well named one more healthy IMS window ball at 97.7 kHz.
BALL_HARMONICS: Final = tuple(
    harm
    for _w, harm in sorted(
        (-w, h)
        for f, h, s, c, w in ENVELOPE_LINES
        if f == "bsf" and s == 0 and c == 0 and h % 2 == 0
    )
)
#: Each line's carrier: the main line (no shaft or cage multiple) of its family and harmonic
#: (a main line is its own).
_CARRIER: Final = np.array(
    [
        next(
            j
            for j, (g, h, s, c, _w) in enumerate(ENVELOPE_LINES)
            if g == fam and h == harm and s == 0 and c == 0
        )
        for fam, harm, *_ in ENVELOPE_LINES
    ]
)
#: Where a family's carrier (a main line of a family in :data:`MODULATION`) stands this many
#: times the background, its sidebands are that family's. A line of another family that falls
#: on one is not read as that family's evidence where the modulation shows on both sides of
#: the carrier (:func:`_explained_by_sidebands`; a fundamental included: on a 6205 BSF lies
#: 2.5 % from BPFI - 3x and BPFO 1.8 % from 2 x BSF - 3 x FTF), and the balls' band leaves its
#: bins out (:func:`_ball_band_scores`). With no carrier there is nothing to modulate (on a
#: 6205, BPFI - 1x falls 0.1x from 2 x BSF - FTF, so masking it always would blank the ball's
#: lower sideband on every window). A bin of a noise envelope spectrum reaches 4 x its median
#: with probability 2^-16: the height :mod:`.speed_check` and the scoring's impulsive
#: corroboration trust as a line.
SIDEBAND_CARRIER_RATIO: Final = 4.0
#: Two line heights on one window closer than this factor are not told apart: the margin by
#: which the scoring asks one family to beat another before it names it
#: (rotorwatch.diagnosis.scoring.ENV_NAMING_MARGIN, the same value, pinned by
#: tests/unit/test_sideband_families.py: the scoring imports the features, not the other way).
#: A line read up to this much above a carrier is still taken for its sideband (noise lifts
#: either).
SIDEBAND_HEIGHT_MARGIN: Final = 1.25
#: The balls' band counts only where it stands above its own surroundings: its power over the
#: median of its flanks must be one noise gives by chance in fewer than 1 window in 100 (a
#: one-sided test at the conventional 1 % level). A hump at 2 x BSF passes; a smooth slope does
#: not: one knock's envelope spectrum is a smooth curve falling with frequency, high over the
#: whole low end against the envelope's median, and so is the envelope of any window whose
#: impacts do not repeat. Each flank is one band-width wide and starts a quarter of a band-width
#: clear of the band, so the skirts of a skidding ball's line stay out of it.
BALL_BAND_HUMP_P: Final = 0.01
BALL_BAND_FLANK: Final = (1.5, 3.5)  # in band half-widths from 2 x BSF
#: What modulates each family's impacts, and how far its sidebands reach: (the modulation
#: rate, the highest order k of the sidebands carrier +- k x that rate). A defect's impacts are
#: as strong as the load on it, and the load zone (where the radial load presses the races
#: together) is fixed in space; the orders are the harmonics of the load the defect sees over
#: one turn of the modulation, those that carry a tenth of the carrier or more (less, under a
#: carrier at the whitened envelope's ceiling of ~25 x the background, is a line of 2.5 at
#: most: the noise's own spread; see rotorwatch.diagnosis.scoring).
#:
#: * Inner race: the defect turns with the shaft through the zone once per turn (1x). A
#:   Stribeck zone (ball contacts, load ~ (1 - (1 - cos psi) / 2 eps)^1.5) of a bearing run
#:   with little or no clearance (eps 0.3-0.5, a zone 130-180 deg wide) puts 0.82-0.90,
#:   0.43-0.63 and 0.09-0.33 of the carrier at orders 1, 2 and 3, at most 0.08 beyond: 3.
#: * Ball: the cage carries it through the same zone once per cage turn (FTF): 3 likewise.
#: * Outer race: the defect is fixed; its load changes only as a rotating load (imbalance,
#:   runout) sweeps it. A rotating load of 0.5-2 x the static one, through the same law, puts
#:   0.36-0.72 and 0.02-0.22 of the carrier at orders 1 and 2, at most 0.02 at 3: 2.
#:
#: The cage (FTF) modulates the balls and has no sidebands of its own.
MODULATION: Final = {"bpfo": ("shaft", 2), "bpfi": ("shaft", 3), "bsf": ("ftf", 3)}
#: Every sideband of every carrier (a main line, no shaft or cage multiple, of a family in
#: :data:`MODULATION`), as arrays over sidebands: the carrier's column in ENVELOPE_LINES, its
#: family (index into DEFECTS), the order, whether the rate is the cage's (else the shaft's),
#: and the carrier family's relative tolerance.
_SIDEBANDS: Final = tuple(
    (col, float(k), MODULATION[fam][0] == "ftf")
    for col, (fam, _h, shaft, cage, _w) in enumerate(ENVELOPE_LINES)
    if fam in MODULATION and shaft == 0 and cage == 0
    for k in range(-MODULATION[fam][1], MODULATION[fam][1] + 1)
    if k != 0
)
_SIDE_COLUMN = np.array([col for col, _k, _c in _SIDEBANDS], dtype=np.int64)
_SIDE_FAMILY = _LINES[0][_SIDE_COLUMN]
_SIDE_ORDER = np.array([k for _col, k, _c in _SIDEBANDS])
_SIDE_BY_CAGE = np.array([by_cage for _col, _k, by_cage in _SIDEBANDS])
#: Each sideband's mirror across its carrier (carrier - k x rate for carrier + k x rate).
_SIDE_MIRROR = np.array([_SIDEBANDS.index((col, -k, c)) for col, k, c in _SIDEBANDS])
_SIDE_TOL = _LINES[5][_SIDE_COLUMN]
#: The sidebands whose carrier is a family's principal line (weight 1: a race's fundamental,
#: the balls' 2 x BSF), the only carriers :func:`_explained_by_sidebands` reads (a harmonic's
#: window, wider, lands on the unlisted harmonics of a strong train, 4 x BPFO, 5 x BPFO, ...,
#: and its sidebands on more of them): their positions in :data:`_SIDEBANDS`, and each one's
#: mirror among them.
_ALL_SIDES = np.arange(len(_SIDEBANDS))
_PRINCIPAL_SIDES = np.flatnonzero(_LINES[4][_SIDE_COLUMN] == 1.0)
_PRINCIPAL_MIRROR = np.searchsorted(_PRINCIPAL_SIDES, _SIDE_MIRROR[_PRINCIPAL_SIDES])
#: Neighbouring bins of the envelope spectrum are not independent. Measured, not derived, on
#: Gaussian noise through the feature pass (2,000 windows each of 2048 and 4096 samples): the
#: powers of adjacent bins correlate 0.32, two bins apart 0.02, further 0 (the analysis
#: window's Hann taper smears each bin into its neighbours, 0.44 and 0.03 for the taper alone,
#: and the pre-whitening undoes part of it). A sum of m bins
#: then varies as m x (1 + 2 x (0.32 + 0.02)) unit exponentials would, so it is read as
#: m / BIN_VARIANCE_FACTOR independent bins of this factor's size (rounded down, to the
#: heavier tail). tests/unit/test_ball_band.py checks the false-alarm rate that follows.
BIN_VARIANCE_FACTOR: Final = 1.0 + 2.0 * (0.32 + 0.02)
_LN2: Final = float(np.log(2.0))
#: Elements per pass of the gathers of envelope bins (lines, the balls' band and its flanks, the
#: background): windows of a whole batch are megabytes of temporaries per step, fresh pages on
#: every call; this many (128 KiB of float64) stay in the L2 cache. Measured on the bench's 500
#: windows, the indicators took 12.1 / 9.4 / 8.0 / 7.9 / 11.6 ms at 2^12 ... 2^16 (more passes
#: below, temporaries beyond the cache above).
GATHER_ELEMENTS: Final = 1 << 14


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
    # A few rows at a time in one small buffer (a copy of the batch's spectra is fresh pages).
    b = env_spec.shape[0]
    count = k_hi - ENVELOPE_MIN_BIN
    chunks = _row_chunks(b, int(count.max()))
    buf = np.empty((chunks[0][1] if chunks else 0, int(count.max())), dtype=np.float32)
    cols = np.arange(buf.shape[1])
    lower, upper = np.empty(b, dtype=np.float32), np.empty(b, dtype=np.float32)
    for s, e in chunks:
        body = buf[: e - s]
        body[...] = env_spec[s:e, ENVELOPE_MIN_BIN : ENVELOPE_MIN_BIN + buf.shape[1]]
        body[cols[None, :] >= count[s:e, None]] = np.inf
        body.sort(axis=1)
        # The median as np.median reads it (the mean of the two middle values of an even
        # count), so a row gets the same background whichever path its batch takes.
        lower[s:e] = np.take_along_axis(body, (count[s:e, None] - 1) // 2, axis=1)[:, 0]
        upper[s:e] = np.take_along_axis(body, count[s:e, None] // 2, axis=1)[:, 0]
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
    largest weighted line (the balls the larger of that and their band's evidence, see
    :func:`_ball_band_scores`), NaN where no line of it can be read (no rpm or geometry, or
    every line beyond the spectrum or too close to DC).
    """
    background = np.empty(env_spec.shape[0])
    lines = _line_scores(env_spec, df_hz, shaft_hz, defect_orders, background_out=background)
    for name, values in zip(
        (name for name, _ in DEFECTS),
        _defect_scores(env_spec, df_hz, shaft_hz, defect_orders, lines, background),
        strict=True,
    ):
        out[name] = values


def _defect_scores(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    lines: F64,
    background: F64,
) -> list[F64]:
    """Each family's score from its lines (:func:`_line_scores`, measured against
    ``background``): its strongest weighted line, and for the balls the larger of that and the
    evidence of their band (:func:`_ball_band_scores`). A line that is another family's
    sideband (:func:`_explained_by_sidebands`) counts as that line on noise would (the median
    of its peak there, no more than it read): evidence of nothing, still read (a line that
    cannot be read is NaN). Never a line of the strongest family: a sideband is not above its
    carrier's family, so what the envelope names stays named and only the others fall (the
    band is read from the lines as measured, before any is explained: explaining a line raises
    no score)."""
    band = _ball_band_scores(env_spec, df_hz, shaft_hz, defect_orders, lines, background)
    explained = _explained_by_sidebands(env_spec, df_hz, shaft_hz, defect_orders, lines, background)
    # The strongest family's lines are never another's.
    families = np.stack(
        [np.nan_to_num(f, nan=-np.inf) for f in _with_band(_family_scores(lines), band)], axis=1
    )
    explained &= (families < families.max(axis=1, keepdims=True))[:, _LINES[0]]
    if explained.any():
        # The same line on noise: the highest of its w bins, each over the median exceeding t
        # with probability 2^(-t^2), has its median at t = sqrt(log2(w / ln 2)).
        _f_line, half = _line_places(df_hz, shaft_hz, defect_orders)
        noise = _LINES[4] * np.sqrt(np.log2((2.0 * half + 1.0) / _LN2))
        lines = np.where(explained, np.fmin(lines, noise), lines)
    return _with_band(_family_scores(lines), band)


def _with_band(families: list[F64], band: F64) -> list[F64]:
    """The families' scores with the balls' the larger of their lines' and their band's."""
    families[_BSF_INDEX] = np.fmax(families[_BSF_INDEX], band)
    return families


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


def _line_places(df_hz: F64, shaft_hz: F64, defect_orders: F64) -> tuple[F64, F64]:
    """Every line's frequency (B, L) in Hz, NaN where unknown, and its search half-width in
    envelope bins (B, L)."""
    fam, harmonic, shaft_mult, cage_mult, _weight, tol_rel = _LINES
    f_defect = shaft_hz[:, None] * defect_orders  # (B, D), NaN where unknown
    f_line = harmonic * f_defect[:, fam] + shaft_mult * shaft_hz[:, None]
    f_line = f_line + cage_mult * f_defect[:, [_FTF_INDEX]]  # (B, L)
    return f_line, ENVELOPE_TOLERANCE_BINS + tol_rel * f_line / df_hz[:, None]


def _sideband_rates_hz(shaft_hz: F64, defect_orders: F64, sides: npt.NDArray[np.int64]) -> F64:
    """The modulation rate of each of the sidebands ``sides`` (positions in
    :data:`_SIDEBANDS`) in Hz (B, S): the cage's or the shaft's, NaN where unknown."""
    return np.where(
        _SIDE_BY_CAGE[sides][None, :],
        shaft_hz[:, None] * defect_orders[:, [_FTF_INDEX]],
        shaft_hz[:, None],
    )


def _sideband_places(f_line: F64, shaft_hz: F64, defect_orders: F64) -> F64:
    """Every carrier's sidebands (:data:`MODULATION`) in Hz (B, S),
    NaN where unknown; ``f_line`` is every line's frequency (:func:`_line_places`)."""
    rate = _sideband_rates_hz(shaft_hz, defect_orders, _ALL_SIDES)
    return np.asarray(f_line[:, _SIDE_COLUMN] + _SIDE_ORDER * rate)


def _explained_by_sidebands(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    lines: F64,
    background: F64,
) -> npt.NDArray[np.bool_]:
    """Which lines (B, L) are another family's modulation (see :data:`SIDEBAND_CARRIER_RATIO`).

    A carrier of a family in :data:`MODULATION` that stands out, amplitude-modulated by a real
    load window, puts lines at carrier +- k x rate with equal heights on both sides (the
    window's spectrum is conjugate-symmetric), and its envelope carries the modulation itself,
    k x rate. A line of another family is that carrier's where its search window reaches one
    of these places (the two windows overlap) and the modulation is there:

    * carrier + k x rate, where the mirror carrier - k x rate stands out too (a line with no
      line across the carrier is not that modulation's);
    * k x rate, where both carrier +- k x rate stand out;
    * the carrier itself, for a sideband line (a main line against a main line is the
      ambiguity of :func:`_line_scores`, unchanged).

    It must also be no higher than the carrier (the window is never negative, so no harmonic of
    it exceeds its mean), within the height margin (:data:`SIDEBAND_HEIGHT_MARGIN`: closer than
    that, two heights cannot be told apart on one window); a line above holds more than the
    modulation puts there and stays its family's. The test is the same for every family. Only
    a family's principal line (weight 1) is a carrier here. Where two families' carriers each
    sit on the other's modulation, the one whose modulation is the clearer (the weaker of the
    lines it rests on, the higher) explains the other, whose carrier then modulates nothing. The
    cage and the balls name the same fault (the cage is what modulates the balls): not rivals
    here. (The modulation's own lines k x rate are sidebands of the envelope's mean, which
    stands above every line: their bound is the highest of the carrier and its sidebands.)"""
    # Every claim rests on its carrier (the evidence below is never above it): a row where no
    # principal line stands out has nothing explained, and most windows of a fleet are such
    # rows, so only the others are read.
    principal = np.unique(_SIDE_COLUMN[_PRINCIPAL_SIDES])
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero((lines[:, principal] >= SIDEBAND_CARRIER_RATIO).any(axis=1))
    explained = np.zeros(lines.shape, dtype=np.bool_)
    if rows.size:
        explained[rows] = _explained_rows(
            env_spec[rows], df_hz[rows], shaft_hz[rows], defect_orders[rows], lines[rows],
            background[rows],
        )  # fmt: skip
    return explained


def _explained_rows(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    lines: F64,
    background: F64,
) -> npt.NDArray[np.bool_]:
    """:func:`_explained_by_sidebands` on rows where a principal carrier stands out."""
    fam, _h, shaft_mult, cage_mult, weight, _tol = _LINES
    columns, orders = _SIDE_COLUMN[_PRINCIPAL_SIDES], _SIDE_ORDER[_PRINCIPAL_SIDES]
    tols = _SIDE_TOL[_PRINCIPAL_SIDES]
    f_line, half = _line_places(df_hz, shaft_hz, defect_orders)
    kc = f_line / df_hz[:, None]
    rate = _sideband_rates_hz(shaft_hz, defect_orders, _PRINCIPAL_SIDES) / df_hz[:, None]
    k_side = kc[:, columns] + orders * rate  # (B, S)
    k_mod = np.abs(orders) * rate  # the modulation's own lines, k x rate
    reach_side = ENVELOPE_TOLERANCE_BINS + tols * k_side
    side, at = _peaks(env_spec, k_side, reach_side, background)
    _carrier, carrier_at = _peaks(env_spec, kc[:, columns], half[:, columns], background)
    # A sideband that peaks within a Hann main lobe of where its carrier peaks reads the
    # carrier's own line (windows as wide as a slow cage's spacing): no evidence of modulation.
    with np.errstate(invalid="ignore"):
        resolved = np.abs(at - carrier_at) > ORDER_HALF_WIDTH_BINS
    side = np.where(resolved, np.nan_to_num(side, nan=0.0), 0.0)
    raw = lines / weight  # each line's peak over the background, NaN where not read
    main = (shaft_mult == 0) & (cage_mult == 0)
    rivals = (fam[:, None] != _LINES[0][columns][None, :]) & ~(
        (fam[:, None] == _FTF_INDEX) & (_LINES[0][columns][None, :] == _BSF_INDEX)
    )  # (L, S)
    # Per sideband entry s, three places: the sideband, the modulation's line |k| x rate (the
    # same for +-k), the carrier. (B, 3S) centres and reaches, and which lines each may explain.
    centre = np.concatenate([k_side, k_mod, kc[:, columns]], axis=1)
    reach = np.concatenate(
        [reach_side, ENVELOPE_TOLERANCE_BINS + tols * k_mod, half[:, columns]], axis=1
    )
    may = np.concatenate([rivals, rivals, rivals & ~main[:, None]], axis=1)  # (L, 3S)
    # How clearly each place's modulation is there: the weaker of what it rests on (the carrier
    # and the line across it; the carrier and both lines beside it; the carrier alone).
    carrier = np.nan_to_num(raw[:, columns])  # (B, S)
    mirror = side[:, _PRINCIPAL_MIRROR]
    evidence = np.concatenate(
        [np.minimum(carrier, mirror), np.minimum(carrier, np.minimum(side, mirror)), carrier],
        axis=1,
    )  # (B, 3S)
    # The highest a line of the modulation reads, within the height margin: its carrier's; for
    # the modulation's own lines k x rate (sidebands of the envelope's mean, which stands above
    # every line) the highest of the carrier and its sidebands +- k.
    cap = SIDEBAND_HEIGHT_MARGIN * carrier
    pattern = SIDEBAND_HEIGHT_MARGIN * np.maximum(carrier, np.maximum(side, mirror))
    cap = np.concatenate([cap, pattern, cap], axis=1)
    column = np.tile(columns, 3)
    claims = np.zeros(lines.shape)  # each line's clearest claim by another family's modulation
    explained = np.zeros(lines.shape, dtype=np.bool_)
    for s, e in _row_chunks(lines.shape[0], kc.shape[1] * centre.shape[1]):
        with np.errstate(invalid="ignore"):
            valid = np.abs(kc[s:e, :, None] - centre[s:e, None, :]) <= (
                half[s:e, :, None] + reach[s:e, None, :]
            )
            valid &= raw[s:e, :, None] <= cap[s:e, None, :]
        valid &= may[None] & (evidence[s:e, None, :] >= SIDEBAND_CARRIER_RATIO)
        claimed = np.where(valid, evidence[s:e, None, :], 0.0)
        claims[s:e] = claimed.max(axis=2)
        # A carrier that another modulation claims more clearly than this one is there is that
        # modulation's line and modulates nothing (two families' carriers each on the other's
        # sideband: the clearer modulation explains the other).
        live = claims[s:e][:, column] < evidence[s:e]
        explained[s:e] = (valid & live[:, None, :]).any(axis=2)
    return explained


def _peaks(
    env_spec: npt.NDArray[np.float32], kc: F64, half: F64, background: F64
) -> tuple[F64, F64]:
    """The highest bin within ``half`` of each centre ``kc`` (B, P; in bins) over each row's
    ``background``, as a line's peak is read (:func:`_line_scores`), and the bin it is at; NaN
    where not read (an unknown place, too close to DC, beyond the spectrum)."""
    k_env = env_spec.shape[1]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(kc) & (kc >= ENVELOPE_MIN_BIN) & (kc + half < k_env)
        ok &= (background > 0)[:, None]
    kc, half = np.where(ok, kc, 0.0), np.where(ok, half, 0.0)
    reach = int(np.ceil(np.max(half, initial=0.0))) + 1
    offsets = np.arange(-reach, reach + 1)
    peaks, at = np.empty(kc.shape), np.empty(kc.shape)
    for s, e in _row_chunks(kc.shape[0], offsets.size * kc.shape[1]):
        idx = np.rint(kc[s:e])[..., None].astype(np.int64) + offsets  # (rows, P, W)
        inside = np.abs(idx - kc[s:e, :, None]) <= half[s:e, :, None]
        inside &= (idx >= 1) & (idx < k_env)
        windowed = np.where(inside, _gather(env_spec, s, idx), 0.0)
        best = windowed.argmax(axis=2)[..., None]
        peaks[s:e] = np.take_along_axis(windowed, best, axis=2)[..., 0]
        at[s:e] = np.take_along_axis(idx, best, axis=2)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            np.asarray(np.where(ok, peaks / background[:, None], np.nan)),
            np.where(ok, at, np.nan),
        )


def _line_scores(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    offsets_out: F64 | None = None,
    background_out: F64 | None = None,
) -> F64:
    """Weighted score of every line of :data:`ENVELOPE_LINES` (B, L), NaN where not read; and,
    into ``offsets_out`` (B, L) if given, how far each line's peak sits from where the speed
    puts it, as a fraction of the line's tolerance (0 on the line, 1 at the window's edge);
    into ``background_out`` (B,) if given, the background the lines were measured against."""
    b, k_env = env_spec.shape
    fam, harmonic, shaft_mult, cage_mult, weight, tol_rel = _LINES
    f_line, _half = _line_places(df_hz, shaft_hz, defect_orders)
    median = _background(env_spec, f_line, df_hz)
    if background_out is not None:
        background_out[...] = median
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
    shared = np.empty(kc.shape, dtype=np.bool_)
    for s, e in _row_chunks(b, kc.shape[1] ** 2):
        near = np.abs(kc[s:e, :, None] - kc[s:e, None, :]) <= half[s:e, :, None]  # (rows, L, L)
        shared[s:e] = (near & rivals[None]).any(axis=2)
    fundamental = (harmonic == 1) & main  # a family's own fundamental is always read
    ok &= ~(shared & ~fundamental[None, :])
    # Only lines that are read are gathered (NaN places size nothing: a line far beyond the
    # spectrum, a wrong rpm, would otherwise widen the gather for the whole batch).
    kc = np.where(ok, kc, np.nan)
    peaks, at = _peaks(env_spec, kc, half, median)
    if offsets_out is not None:
        with np.errstate(invalid="ignore", divide="ignore"):  # a zero-width line: inf
            offsets_out[...] = np.abs(at - kc) / half
    # A family scores its strongest weighted line. (Adding up every line's log excess over the
    # noise made ball faults a little clearer on the CWRU records but blurred the race names
    # and raised healthy windows as much: measured in benchmarks/eval_real.py.)
    return np.asarray(weight * peaks)


def _ball_band_scores(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    lines: F64,
    background: F64,
) -> F64:
    """The rolling elements' evidence summed over their bands (B,), on the scale of a line's
    score; NaN where the band at 2 x BSF cannot be read or does not stand above its flanks.

    A ball defect strikes both races once per spin (2 x BSF), but it seldom makes a clean
    line: the ball skids, so its spin rate wanders within a window, and the cage carries it
    through the load zone and out once per turn, so its impacts come and go at FTF and their
    energy spreads into sidebands 2 x BSF +- FTF. Where a race defect's impacts pile up in
    one bin, a ball's are spread over the band 2 x BSF +- (FTF + the ball's slip tolerance),
    and no single bin of it need stand out. The band's evidence is its total power over the
    background: the sum of (bin / median)^2 over its m bins. On noise each bin's magnitude is
    Rayleigh, so ln 2 x (bin / median)^2 is exponential with mean 1 and the band's sum (times
    ln 2) is Gamma(m, 1): its upper tail Q(m, x) is the chance that noise alone gives at least
    this much.

    The same impacts also ring at the train's harmonic 4 x BSF (:data:`BALL_HARMONICS`),
    spread by the same cage modulation and skid (twice as wide in slip): a weak ball defect
    can stand a little above the noise at each, and clearly at neither. Each harmonic's band
    gives its own tail p_h as above (its bins are disjoint from the others', so on noise the
    p_h are independent and uniform), and Fisher's method combines them: -sum ln p_h over the
    k bands read is Gamma(k, 1) on noise, whose tail is the chance that noise gives this much
    evidence over the family. Where noise at 4 x BSF would dilute a clear 2 x BSF band, the
    band alone is the stronger of the two looks; the chance of the one kept is doubled
    (Bonferroni for the two looks). With only the 2 x BSF band read (k = 1) the tail is that
    band's own, bit for bit.

    That chance is reported as the score of a line whose own test is as unlikely on noise: a
    line's peak over its w bins reaches t x the median with probability about w x 2^(-t^2)
    (:data:`ENVELOPE_TOLERANCE_BINS`, ``w`` the 2 x BSF line's window), so the score is
    sqrt(log2(w / Q)), and the warning and corroboration ratios keep their meaning (a score of
    4 is as rare on noise as a line of 4). It counts only where the 2 x BSF band stands above
    its own flanks (:data:`BALL_BAND_HUMP_P`): the other harmonics corroborate a ball, they do
    not make one.

    Bins that belong to something else are left out of every band (and of m): another
    family's harmonics, another family's sidebands where their carrier stands out
    (:data:`SIDEBAND_CARRIER_RATIO`), and the shaft's own harmonics (runout and looseness put
    lines at n x 1x on any machine, with or without a ball defect).
    """
    b = env_spec.shape[0]
    claimed: list[tuple[F64, F64]] = []  # the bands already read, as (centre, half-width)
    tails = np.full((len(BALL_HARMONICS), b), np.nan)
    hump = np.zeros(b, dtype=np.bool_)
    line_bins = np.ones(b)
    for i, harmonic in enumerate(BALL_HARMONICS):
        primary = i == 0
        kc, half, log_tail, flank_tail = _ball_band_tail(
            env_spec, df_hz, shaft_hz, defect_orders, lines, background,
            harmonic, claimed, flanks=primary,
        )  # fmt: skip
        tails[i] = log_tail
        claimed.append((kc, half))
        if primary:
            hump = np.nan_to_num(flank_tail, nan=0.0) <= np.log(BALL_BAND_HUMP_P)
            # The 2 x BSF line's own window (the scale a score is read on).
            line_bins = 2.0 * (ENVELOPE_TOLERANCE_BINS + ENVELOPE_TOLERANCE_REL["bsf"] * kc) + 1.0
    read = np.isfinite(tails)
    # -sum ln p_h, added in the harmonics' order (a fixed order: the same rounding whatever
    # else the batch holds).
    evidence = np.zeros(b)
    for row in tails:
        evidence -= np.where(np.isfinite(row), row, 0.0)
    k = np.maximum(read.sum(axis=0), 1).astype(np.int64)
    combined = _log_gamma_tail(k, evidence)
    # Two looks where the family's other bands are read (the 2 x BSF band alone, the family
    # combined), the stronger kept: its chance on noise doubled (Bonferroni), so a clean line
    # at 2 x BSF is not diluted by noise at 4 x BSF, nor the family's evidence counted twice.
    first = np.nan_to_num(tails[0], nan=0.0)
    log_tail = np.where(k == 1, first, np.minimum(first, combined) + _LN2)
    score = np.sqrt(np.maximum((np.log(line_bins) - log_tail) / _LN2, 0.0))
    return np.where(read[0] & hump, score, np.nan)


def _ball_band_tail(
    env_spec: npt.NDArray[np.float32],
    df_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    lines: F64,
    background: F64,
    harmonic: int,
    claimed: list[tuple[F64, F64]],
    *,
    flanks: bool,
) -> tuple[F64, F64, F64, F64]:
    """The band harmonic x BSF +- (FTF + slip) of each row (see :func:`_ball_band_scores`):
    its centre and half-width in bins, ln of the chance that noise at the background gives its
    power or more (NaN where no bin of it is read) and, where ``flanks``, the same against the
    median of its own flanks (:data:`BALL_BAND_FLANK`; NaN otherwise). Bins within a band of
    ``claimed`` are left out, so the bands' tails are independent on noise."""
    k_env = env_spec.shape[1]
    fam, _harmonic, shaft_mult, cage_mult, weight, _tol = _LINES
    kc = harmonic * shaft_hz * defect_orders[:, _BSF_INDEX] / df_hz
    cage = shaft_hz * defect_orders[:, _FTF_INDEX] / df_hz
    slip = ENVELOPE_TOLERANCE_BINS + ENVELOPE_TOLERANCE_REL["bsf"] * kc
    half = cage + slip
    ok = np.isfinite(kc) & np.isfinite(half) & (background > 0) & (kc + half < k_env)
    kc, half = np.where(ok, kc, 0.0), np.where(ok, half, 0.0)
    width = int(np.ceil(np.max(half, initial=0.0))) + 1  # sized by rows that are read only
    offsets = np.arange(-width, width + 1)  # (W,) around each row's centre bin
    # Another family's lines: its harmonics always, its sidebands where their carrier is there.
    f_line, line_half = _line_places(df_hz, shaft_hz, defect_orders)
    carrier = np.nan_to_num(lines[:, _CARRIER] / weight[_CARRIER], nan=0.0)  # (B, L)
    main = (shaft_mult == 0) & (cage_mult == 0)
    rival = (fam != _BSF_INDEX) & np.isfinite(f_line)
    rival &= main | (carrier >= SIDEBAND_CARRIER_RATIO)
    with np.errstate(invalid="ignore"):
        # What to leave out, as (centre, half-width) in bins: the rival lines, then the other
        # families' sidebands (MODULATION) where their carrier is there.
        k_side = _sideband_places(f_line, shaft_hz, defect_orders) / df_hz[:, None]  # (B, S)
        centre = np.concatenate([f_line / df_hz[:, None], k_side], axis=1)
        reach = np.concatenate([line_half, ENVELOPE_TOLERANCE_BINS + _SIDE_TOL * k_side], axis=1)
        side = (_SIDE_FAMILY != _BSF_INDEX) & (carrier[:, _SIDE_COLUMN] >= SIDEBAND_CARRIER_RATIO)
        blocks = np.concatenate([rival, side], 1)
        # Each row's band spans `width` bins either side of its centre bin, so only centres that
        # close can reach it (the margin covers rounding): a few pairs of (row, centre), not
        # every bin against every centre.
        blocks &= ok[:, None]
        blocks &= np.abs(centre - np.rint(kc)[:, None]) <= reach * 1.001 + (width + 2)
    pair_rows, pair_cols = np.nonzero(blocks)  # by row
    k_shaft = shaft_hz / df_hz
    # The band's power over its levels (the background; its flanks' if asked), in the scale
    # of each.
    scales = [np.where(ok & (background > 0), background, 1.0)]
    if flanks:
        flank = _flank_level(env_spec, kc, half, ok)
        scales.append(np.where(ok & (flank > 0), flank, 1.0))
    b = kc.shape[0]
    count = np.empty(b, dtype=np.int64)
    power = np.empty((len(scales), b))
    for s, e in _row_chunks(b, offsets.size):
        idx = np.rint(kc[s:e])[:, None].astype(np.int64) + offsets  # (rows, W)
        inside = ok[s:e, None] & (np.abs(idx - kc[s:e, None]) <= half[s:e, None])
        inside &= (idx >= ENVELOPE_MIN_BIN) & (idx < k_env)
        for other_kc, other_half in claimed:
            inside &= np.abs(idx - other_kc[s:e, None]) > other_half[s:e, None]
        first, last = np.searchsorted(pair_rows, (s, e))
        rows, cols = pair_rows[first:last], pair_cols[first:last]
        with np.errstate(invalid="ignore"):
            near = np.abs(idx[rows - s] - centre[rows, cols][:, None]) <= reach[rows, cols][:, None]
            blocked = np.zeros(idx.shape, dtype=np.bool_)
            np.logical_or.at(blocked, rows - s, near)
            inside &= ~blocked
            # The shaft's harmonics (n >= 1), read at the speed the lines are read at.
            k_sh = k_shaft[s:e, None]
            order = np.rint(idx / k_sh)
            inside &= ~((order >= 1) & (np.abs(idx - order * k_sh) <= ENVELOPE_TOLERANCE_BINS))
        vals = _gather(env_spec, s, idx).astype(np.float64)
        count[s:e] = inside.sum(axis=1)
        for level, scale in enumerate(scales):
            squares = np.where(inside, np.square(vals / scale[s:e, None]), 0.0)
            power[level, s:e] = _LN2 * _row_sum(squares)
    dof = np.maximum(np.floor(count / BIN_VARIANCE_FACTOR), 1).astype(np.int64)
    # ln of the chance that noise at each level gives the band's power or more.
    log_tail = _log_gamma_tail(np.tile(dof, len(scales)), power.ravel() / BIN_VARIANCE_FACTOR)
    read = ok & (count > 0)
    at_background = np.where(read, log_tail[:b], np.nan)
    at_flanks = np.where(read, log_tail[b:], np.nan) if flanks else np.full(b, np.nan)
    return kc, half, at_background, at_flanks


def _gather(
    env_spec: npt.NDArray[np.float32], start: int, idx: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """``env_spec[start + i, idx[i, ...]]`` for each row ``i`` of ``idx`` (any trailing shape),
    bins clipped to the spectrum: one flat ``take`` over the batch's contiguous spectra (what
    ``take_along_axis`` gathers, without its wrapper's temporaries)."""
    k_env = env_spec.shape[1]
    rows = (start + np.arange(idx.shape[0])) * k_env
    flat = np.clip(idx, 0, k_env - 1) + rows.reshape((-1,) + (1,) * (idx.ndim - 1))
    gathered: npt.NDArray[np.float32] = env_spec.reshape(-1).take(flat)
    return gathered


def _row_chunks(b: int, per_row: int) -> list[tuple[int, int]]:
    """(start, end) of the row chunks a gather of ``per_row`` elements per row is done in."""
    rows = max(1, GATHER_ELEMENTS // max(per_row, 1))
    return [(s, min(s + rows, b)) for s in range(0, b, rows)]


def _flank_level(
    env_spec: npt.NDArray[np.float32], kc: F64, half: F64, ok: npt.NDArray[np.bool_]
) -> F64:
    """Median of the envelope spectrum on both flanks of each row's band (centre ``kc``,
    half-width ``half``, in bins; see :data:`BALL_BAND_FLANK`), NaN where no flank bin is read."""
    k_env = env_spec.shape[1]
    inner, outer = BALL_BAND_FLANK
    reach = int(np.ceil(outer * np.max(half, initial=0.0))) + 1
    offsets = np.arange(-reach, reach + 1)
    level = np.empty(kc.shape[0])
    for s, e in _row_chunks(kc.shape[0], offsets.size):
        idx = np.rint(kc[s:e])[:, None].astype(np.int64) + offsets
        dist = np.abs(idx - kc[s:e, None])
        flank = ok[s:e, None] & (dist > inner * half[s:e, None]) & (dist <= outer * half[s:e, None])
        flank &= (idx >= ENVELOPE_MIN_BIN) & (idx < k_env)
        vals = _gather(env_spec, s, idx).astype(np.float64)
        vals = np.sort(np.where(flank, vals, np.inf), axis=1)  # bins outside the flanks sort last
        count = flank.sum(axis=1)[:, None]
        lower = np.take_along_axis(vals, np.maximum(count - 1, 0) // 2, axis=1)[:, 0]
        upper = np.take_along_axis(vals, count // 2, axis=1)[:, 0]
        level[s:e] = np.where(count[:, 0] > 0, (lower + upper) / 2, np.nan)
    return level


def _log_gamma_tail(m: npt.NDArray[np.int64], x: F64) -> F64:
    """ln Q(m, x), the upper tail of a Gamma(m, 1) variable (the sum of m unit exponentials)
    at x, for integer m >= 1: ln(e^-x sum_{j<m} x^j / j!), summed in logs (no underflow)."""
    j = np.arange(int(np.max(m, initial=1)))
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.maximum(j[1:], 1)))])
    log_x = np.log(np.maximum(x, 1e-300))[:, None]
    terms = np.where(j == 0, 0.0, j * log_x) - log_fact
    terms = np.where(j < m[:, None], terms, -np.inf)
    top = terms.max(axis=1)
    return np.asarray(-x + top + np.log(_row_sum(np.exp(terms - top[:, None]))))


def _row_sum(values: F64) -> F64:
    """Each row's sum, added in order from its first column: exact zeros anywhere in a row
    (the columns other rows widen the array by) leave its sum bit for bit as it was. (np.sum
    adds eight interleaved partial sums once a row is 8 long, so where a row's values sit in
    the batch's width changes their rounding.)"""
    return np.cumsum(values, axis=1)[:, -1] if values.shape[1] else np.zeros(values.shape[0])
