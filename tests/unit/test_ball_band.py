"""The balls' band: a ball defect's energy spread over 2 x BSF +- FTF is evidence, with a
false-alarm rate on noise that follows from the statistic, and nothing else is taken for it.

A ball defect strikes both races once per spin (2 x BSF), skids (its rate wanders within a
window) and is carried through the load zone once per cage turn (FTF sidebands): its energy is
a hump over 2 x BSF +- FTF more than a line. :func:`defect_lines._ball_band_scores` sums that
band's power over the background (Gamma on noise) and reports it on a line's scale; it counts
only where the band stands above its own flanks, and leaves out other families' lines, present
races' shaft sidebands and the shaft's harmonics. The impact train's harmonic 4 x BSF rings in
its own band: the two bands' tails are combined (Fisher), so a weak ball standing a little above
the noise at both is evidence, and a harmonic alone makes no ball.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rotorwatch.diagnosis.assets import parse_asset
from rotorwatch.diagnosis.features import compute_features, engine
from rotorwatch.diagnosis.features import defect_lines as dl
from rotorwatch.diagnosis.scoring import ENV_CORROBORATION_RATIO, bearing_evidence
from tests.signals import impulse_train_g
from tests.signals import telemetry_of as message

FS = 12_000.0
N = 4096
RPM = 1772.0
#: A 6205 (9 balls, 7.94 / 39.04 mm): BPFI - 1x falls 0.1x from 2 x BSF - FTF and BPFO + 1x
#: 0.13x below 2 x BSF, the crowded case.
DEEP_GROOVE = {"n_balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04}
#: A small bearing with many balls (13, 3.5 / 25.6 mm): 2 x BSF 3 % below BPFI.
SMALL = {"n_balls": 13, "ball_diameter_mm": 3.5, "pitch_diameter_mm": 25.6}


def _asset(bearing: dict[str, Any]) -> Any:
    return parse_asset(
        {
            "device_id": "dev-1",
            "machine_group": 2,
            "foundation": "rigid",
            "rated_rpm": RPM,
            "bearing": bearing,
        }
    )


def _features(x: np.ndarray, bearing: dict[str, Any], rpm: float | None = RPM) -> dict[str, Any]:
    return compute_features([message(x, rpm=rpm, fs_hz=FS)], {"dev-1": _asset(bearing)})[0]


def _line_only(monkeypatch: pytest.MonkeyPatch, x: np.ndarray, bearing: dict[str, Any]) -> float:
    """env_bsf as the strongest weighted line alone (the band switched off)."""
    with monkeypatch.context() as m:
        m.setattr(dl, "_ball_band_scores", lambda env, *_a: np.full(env.shape[0], np.nan))
        return float(_features(x, bearing)["env_bsf"])


# --- the statistic on noise ---------------------------------------------------------------


@pytest.mark.parametrize(("m", "x"), [(1, 0.5), (1, 7.0), (2, 3.0), (5, 0.1), (12, 30.0)])
def test_gamma_tail_matches_the_closed_form(m: int, x: float) -> None:
    expected = math.exp(-x) * sum(x**j / math.factorial(j) for j in range(m))
    got = dl._log_gamma_tail(np.array([m]), np.array([x]))[0]
    assert got == pytest.approx(math.log(expected), rel=1e-9)


def test_gamma_tail_does_not_underflow_far_out() -> None:
    # A strong band: e^-2000 underflows a float, its log does not.
    got = dl._log_gamma_tail(np.array([10, 40]), np.array([2000.0, 2000.0]))
    assert np.all(np.isfinite(got))
    assert np.all(got < -1800)


def _pipeline_noise(
    monkeypatch: pytest.MonkeyPatch, bearing: dict[str, Any], n: int, rows: int
) -> tuple[np.ndarray, ...]:
    """(envelope spectra, bin width, shaft, defect orders) of ``rows`` Gaussian noise windows,
    as the feature pass computes them (captured where it reads the defect lines)."""
    captured: list[tuple[np.ndarray, ...]] = []
    read_lines = engine._envelope_indicators

    def capture(env: np.ndarray, df: np.ndarray, shaft: np.ndarray, orders: np.ndarray, out: Any):
        captured.append((env.copy(), df.copy(), shaft.copy(), orders.copy()))
        return read_lines(env, df, shaft, orders, out)

    rng = np.random.default_rng(n)
    messages = [message(0.05 * rng.standard_normal(n), rpm=RPM, fs_hz=FS) for _ in range(rows)]
    with monkeypatch.context() as m:
        m.setattr(engine, "_envelope_indicators", capture)
        compute_features(messages, {"dev-1": _asset(bearing)})
    return tuple(np.concatenate([c[i] for c in captured]) for i in range(4))


@pytest.mark.parametrize(
    ("bearing", "n"), [(DEEP_GROOVE, 4096), (SMALL, 2048)], ids=["6205-4096", "small-2048"]
)
def test_false_alarm_rate_on_noise_is_the_derived_one(
    monkeypatch: pytest.MonkeyPatch, bearing: dict[str, Any], n: int
) -> None:
    """On noise a band score of t comes with probability w x 2^(-t^2) (w the 2 x BSF line's
    window: the scale a line's score is read on). Checked on the feature pass's own envelope
    spectra, whose neighbouring bins correlate (BIN_VARIANCE_FACTOR): the statistic is
    calibrated, and the flank test only removes windows."""
    rows = 2000
    env, df, shaft, orders = _pipeline_noise(monkeypatch, bearing, n, rows)
    # The correlation BIN_VARIANCE_FACTOR rests on, as measured here.
    power = np.square(env[:, 20:-20].astype(np.float64))
    power = power / power.mean(axis=1, keepdims=True) - 1.0
    lag = [float(np.mean(power[:, k:] * power[:, :-k]) / np.mean(power**2)) for k in (1, 2, 3)]
    assert 1.0 + 2.0 * sum(lag) == pytest.approx(dl.BIN_VARIANCE_FACTOR, abs=0.12)
    background = np.empty(rows)
    lines = dl._line_scores(env, df, shaft, orders, background_out=background)
    kc = 2.0 * shaft[0] * orders[0, dl._BSF_INDEX] / df[0]
    w = 2.0 * (dl.ENVELOPE_TOLERANCE_BINS + dl.ENVELOPE_TOLERANCE_REL["bsf"] * kc) + 1.0
    with monkeypatch.context() as m:
        m.setattr(dl, "BALL_BAND_HUMP_P", 1.0)  # every band counts: the bare statistic
        bare = dl._ball_band_scores(env, df, shaft, orders, lines, background)
    gated = np.nan_to_num(dl._ball_band_scores(env, df, shaft, orders, lines, background))
    assert np.isfinite(bare).mean() > 0.9
    bare = bare[np.isfinite(bare)]
    for t in (2.0, 2.5, 3.0):
        expected = w * 2.0 ** (-(t**2))
        observed = float(np.mean(bare >= t))
        sigma = math.sqrt(expected * (1 - expected) / bare.size)
        # Within 4 sigma of the derivation (the rounding of the bins counted aside: 25 %).
        assert abs(observed - expected) <= 4 * sigma + 0.25 * expected, (t, observed, expected)
        assert np.sum(gated >= t) <= np.sum(bare >= t)
    # The corroboration height: as rare as a line of 4 (1 in 65,000 per bin, w bins).
    expected = rows * w * 2.0 ** (-(ENV_CORROBORATION_RATIO**2))
    assert np.sum(gated >= ENV_CORROBORATION_RATIO) <= expected + 4 * math.sqrt(expected) + 1


@pytest.mark.parametrize("n", [2048, 4096, 8192])
def test_noise_windows_raise_no_ball_evidence(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        rec = _features(0.05 * rng.standard_normal(n), DEEP_GROOVE)
        assert rec["env_bsf"] < ENV_CORROBORATION_RATIO
        assert bearing_evidence(rec) is None


# --- what it names ------------------------------------------------------------------------


def _ball(
    seed: int, *, bearing: dict[str, Any] = DEEP_GROOVE, amp_g: float = 0.5, jitter: float = 0.02
) -> np.ndarray:
    """A ball defect: impacts at 2 x BSF, skidding (``jitter``), its amplitude carried through
    the load zone at FTF."""
    f = _asset(bearing).bearing.defect_frequencies_hz(RPM)
    return impulse_train_g(
        2 * f["bsf"],
        amp_g=amp_g,
        noise_g=0.05,
        modulation_hz=f["ftf"],
        jitter=jitter,
        seed=seed,
        n=N,
        fs_hz=FS,
        resonance_hz=3500.0,
        damping_per_s=1500.0,
    )


@pytest.mark.parametrize("seed", range(6))
def test_a_clear_ball_defect_is_named_ball(seed: int) -> None:
    evidence = bearing_evidence(_features(_ball(seed, amp_g=0.5, jitter=0.02), DEEP_GROOVE))
    assert evidence is not None
    assert evidence[0] == "bearing_ball"


def test_the_band_names_skidding_balls_the_line_alone_misses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Weaker, skidding balls: the band never scores below the strongest line, and names more
    of them than the line alone (never anything but the ball)."""
    by_band = by_line = 0
    for jitter in (0.02, 0.03, 0.05):
        for seed in range(6):
            x = _ball(seed, amp_g=0.4, jitter=jitter)
            rec = _features(x, DEEP_GROOVE)
            with monkeypatch.context() as m:
                m.setattr(dl, "_ball_band_scores", lambda env, *_a: np.full(env.shape[0], np.nan))
                line_rec = _features(x, DEEP_GROOVE)
            assert rec["env_bsf"] >= line_rec["env_bsf"]
            for evidence in (bearing_evidence(rec), bearing_evidence(line_rec)):
                if evidence is not None:
                    assert evidence[0] == "bearing_ball"
            by_band += bearing_evidence(rec) is not None
            by_line += bearing_evidence(line_rec) is not None
    assert by_band > by_line


@pytest.mark.parametrize("bearing", [DEEP_GROOVE, SMALL], ids=["6205", "small"])
def test_the_band_is_read_without_a_tachometer(bearing: dict[str, Any]) -> None:
    # No rpm: the speed comes from the signal (the envelope cross-check), the band with it.
    shaft = RPM / 60.0
    t = np.arange(N) / FS
    x = _ball(3, bearing=bearing) + 0.05 * np.sin(2 * np.pi * shaft * t)
    rec = _features(x, bearing, rpm=None)
    if rec["rpm_source"] == "none":
        pytest.skip("no confident speed in this window")  # then nothing is read: no ball either
    assert bearing_evidence(rec) is not None


@pytest.mark.parametrize("n", [2048, 4096, 8192])
@pytest.mark.parametrize("damping", [400.0, 800.0, 2000.0])
def test_one_knock_is_a_slope_not_a_hump(
    monkeypatch: pytest.MonkeyPatch, n: int, damping: float
) -> None:
    """One knock's envelope spectrum is smooth and high at the low end: against the envelope's
    median the band can look strong, against its own flanks it is not."""
    rng = np.random.default_rng(0)
    t = np.arange(n) / FS
    x = 0.02 * rng.standard_normal(n)
    t0 = t[n // 2]
    x += np.where(t >= t0, np.exp(-damping * (t - t0)) * np.sin(2 * np.pi * 3500 * (t - t0)), 0)
    rec = _features(x, DEEP_GROOVE)
    assert rec["env_bsf"] < ENV_CORROBORATION_RATIO
    assert bearing_evidence(rec) is None


@pytest.mark.parametrize("bearing", [DEEP_GROOVE, SMALL], ids=["6205", "small"])
@pytest.mark.parametrize(
    ("race", "modulation"), [("bpfo", None), ("bpfo", "shaft"), ("bpfi", "shaft")]
)
def test_a_race_fault_is_not_named_ball(
    bearing: dict[str, Any], race: str, modulation: str | None
) -> None:
    """Race faults, with and without shaft-rate sidebands (an outer race's BPFO + 1x falls in
    the 6205's ball band, an inner race's BPFI - 1x too), keep their own name."""
    f = _asset(bearing).bearing.defect_frequencies_hz(RPM)
    for seed in range(4):
        x = impulse_train_g(
            f[race],
            amp_g=1.0,
            noise_g=0.05,
            modulation_hz=RPM / 60.0 if modulation else None,
            seed=seed,
            n=N,
            fs_hz=FS,
            resonance_hz=3500.0,
            damping_per_s=1500.0,
        )
        evidence = bearing_evidence(_features(x, bearing))
        assert evidence is not None
        assert evidence[0] == {"bpfo": "bearing_outer", "bpfi": "bearing_inner"}[race]


@pytest.mark.parametrize("seed", range(4))
def test_shaft_harmonics_are_not_the_balls_band(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """An envelope carrying the shaft's harmonics (looseness, runout) across the ball's band
    adds nothing to the balls' score. (The 2 x BSF *line* of a 6205 sits 0.29x from 5x, inside
    its own slip tolerance, and reads that harmonic: the band leaves the shaft's bins out.)"""
    t = np.arange(N) / FS
    shaft = RPM / 60.0
    rng = np.random.default_rng(seed)
    carrier = np.sin(2 * np.pi * 3500 * t) + 0.5 * rng.standard_normal(N)
    am = 1 + sum(0.3 * np.cos(2 * np.pi * k * shaft * t) for k in range(1, 12))
    x = 0.2 * carrier * am
    assert _features(x, DEEP_GROOVE)["env_bsf"] == pytest.approx(
        _line_only(monkeypatch, x, DEEP_GROOVE)
    )


# --- the family's harmonics (2 x BSF, 4 x BSF) combined ---------------------------------------


def _band_alone(
    monkeypatch: pytest.MonkeyPatch, x: np.ndarray, bearing: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    """The feature record with the balls' evidence read from the 2 x BSF band alone."""
    with monkeypatch.context() as m:
        m.setattr(dl, "BALL_HARMONICS", dl.BALL_HARMONICS[:1])
        return _features(x, bearing, **kw)


def test_the_family_is_the_impact_trains_harmonics() -> None:
    # 2 x BSF first (the band that must stand above its flanks), then its harmonic 4 x BSF.
    assert dl.BALL_HARMONICS == (2, 4)


def test_the_family_names_weak_balls_the_band_alone_misses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A weak, skidding ball carried through the load zone at FTF rings at 2 x BSF and at
    4 x BSF, clearly at neither: combined, the family's evidence names more of them than the
    2 x BSF band alone, and names nothing but the ball."""
    by_family = by_band = 0
    for jitter in (0.02, 0.03, 0.05):
        for seed in range(6):
            x = _ball(seed, amp_g=0.35, jitter=jitter)
            for rec in (_features(x, DEEP_GROOVE), _band_alone(monkeypatch, x, DEEP_GROOVE)):
                evidence = bearing_evidence(rec)
                if evidence is not None:
                    assert evidence[0] == "bearing_ball"
            by_family += bearing_evidence(_features(x, DEEP_GROOVE)) is not None
            by_band += bearing_evidence(_band_alone(monkeypatch, x, DEEP_GROOVE)) is not None
    assert by_family > by_band


def test_one_band_read_is_the_band_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where 4 x BSF lies beyond the envelope spectrum (fs / 8), only the 2 x BSF band is read:
    the score is that band's own, bit for bit (no combination, no second look)."""
    rpm = 10_000.0  # 2 x BSF 786 Hz, 4 x BSF 1571 Hz: beyond 1500 Hz at 12 kHz
    f = _asset(DEEP_GROOVE).bearing.defect_frequencies_hz(rpm)
    assert 4 * f["bsf"] > FS / 8 > 2 * f["bsf"]
    x = impulse_train_g(
        2 * f["bsf"], amp_g=0.5, noise_g=0.05, modulation_hz=f["ftf"], jitter=0.02, seed=1,
        n=N, fs_hz=FS, resonance_hz=3500.0, damping_per_s=1500.0,
    )  # fmt: skip
    rec = _features(x, DEEP_GROOVE, rpm=rpm)
    assert np.isfinite(rec["env_bsf"])
    assert rec["env_bsf"] == _band_alone(monkeypatch, x, DEEP_GROOVE, rpm=rpm)["env_bsf"]


@pytest.mark.parametrize("seed", range(4))
def test_the_harmonic_corroborates_but_makes_no_ball(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Impacts at 4 x BSF and nothing at 2 x BSF (no hump there): the family adds nothing to
    what the lines say; a harmonic corroborates a ball, it does not make one."""
    f = _asset(DEEP_GROOVE).bearing.defect_frequencies_hz(RPM)
    x = impulse_train_g(
        4 * f["bsf"], amp_g=0.5, noise_g=0.05, modulation_hz=f["ftf"], jitter=0.02, seed=seed,
        n=N, fs_hz=FS, resonance_hz=3500.0, damping_per_s=1500.0,
    )  # fmt: skip
    assert (
        _features(x, DEEP_GROOVE)["env_bsf"] == _band_alone(monkeypatch, x, DEEP_GROOVE)["env_bsf"]
    )


def test_a_band_leaves_out_the_bins_of_bands_read_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bands' tails are combined as independent: no bin is counted in two of them (here a
    band claimed by itself has no bin left, and reads nothing)."""
    env, df, shaft, orders = _pipeline_noise(monkeypatch, DEEP_GROOVE, N, 8)
    background = np.empty(env.shape[0])
    lines = dl._line_scores(env, df, shaft, orders, background_out=background)
    args = (env, df, shaft, orders, lines, background, 2)
    kc, half, tail, _flank = dl._ball_band_tail(*args, [], flanks=False)
    assert np.all(np.isfinite(tail))
    _kc, _half, again, _flank = dl._ball_band_tail(*args, [(kc, half)], flanks=False)
    assert np.all(np.isnan(again))


# --- healthy real bearings (../shared/data/real; skipped where the folder is absent) --------


def _healthy_recordings() -> list[Any]:
    from benchmarks import real_recordings as rr

    try:
        return [r for r in rr.load() if r.label == "normal"]
    except rr.MissingDataError:  # pragma: no cover - depends on the machine
        return []


HEALTHY = _healthy_recordings()


@pytest.mark.skipif(not HEALTHY, reason="no ../shared/data/real recordings")
@pytest.mark.parametrize("rpm", [True, False], ids=["rpm", "no-rpm"])
def test_healthy_real_bearings_show_no_ball(rpm: bool) -> None:
    """Two rigs' healthy bearings (IMS: every window; FEMTO: the first 60 windows of each
    bearing, 0.1 s at 10 Hz bins), with the speed sent and without it: the band raises no ball
    evidence and lifts no window to the warning ratio."""
    from dataclasses import replace

    from benchmarks import real_recordings as rr
    from rotorwatch.contract.telemetry import decode
    from rotorwatch.diagnosis.scoring import ENV_WARNING_RATIO

    windows = 0
    for rec in HEALTHY:
        if rec.snapshots_g is not None:
            rec = replace(rec, snapshots_g=rec.snapshots_g[:60])
        messages = [decode(m) for m in rr.messages(rec, None, rpm=rpm)]
        for feat in compute_features(messages, {rec.device_id: rec.asset(nameplate=not rpm)}):
            windows += 1
            evidence = bearing_evidence(feat)
            assert evidence is None or evidence[0] != "bearing_ball", (rec.name, feat["env_bsf"])
            assert feat["env_bsf"] is None or feat["env_bsf"] < ENV_WARNING_RATIO, rec.name
    assert windows >= 32 + 6 * 60
