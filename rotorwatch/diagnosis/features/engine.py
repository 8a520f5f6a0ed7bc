"""Vectorised vibration features, the batch orchestration: one numpy pass per batch of
equal-length windows, each step in its own module of this package.

Pipeline per batch (B windows of N samples, in g):

1. One fused pass over the raw windows, a cache-sized block of rows at a time: time-domain
   statistics on the DC-free signal (RMS, peak, crest factor, skewness, Pearson kurtosis), one
   Hann-windowed ``rfft``, the per-bin mean-square contributions ``p_k = 2|X_k|^2 / (N sum w^2)``
   (Parseval, one-sided) and the envelope band of the spectrum (:mod:`.block`, the window in
   :mod:`.spectrum`).
2. Bands are slice sums of ``p_k``; velocity divides each bin by ``2 pi f`` (integration in the
   frequency domain) and sums 10-1000 Hz, in mm/s; shaft-order amplitudes sum the Hann main
   lobe around each order, gathered with per-row index arrays (never a Python loop over rows;
   velocity in :mod:`.velocity`).
3. Bearing envelope analysis, per window, for machines nobody tuned it to (a and b in
   :mod:`.envelope`, c in :mod:`.defect_lines`):

   a. **Cepstral pre-whitening**: the spectrum divided by its own magnitude (the real cepstrum
      with everything but the zero quefrency removed). Shaft orders, gear and vane tones and
      the transmission path's colouring all become flat, so they cannot mask the impacts.
   b. **Demodulation band chosen per window**: :data:`.envelope.ENVELOPE_BANDS_FS` are a few candidate
      bands a quarter of the sample rate wide (a sensor faster than
      :data:`.envelope.ENVELOPE_LADDER_TOP_HZ` also gets lower ones, the same in Hz as a slower
      sensor's); each is shifted to baseband and inverted with
      an FFT a quarter as long (complex demodulation), and the band whose envelope is the
      most impulsive (spectral kurtosis of the complex envelope) is kept: bearing impacts
      ring a structural resonance wherever it happens to be on that machine.
   c. **Envelope spectrum** of that band, and per defect family (BPFO, BPFI, BSF, FTF) the
      lines physics predicts (:data:`.defect_lines.ENVELOPE_LINES`): harmonics, an inner race's 1x
      sidebands (BPFI +- fr, the defect turns with the shaft through the load zone), a ball's
      2 x BSF (it strikes both races) with cage sidebands. Each line is a peak within a
      slip/rpm tolerance over the envelope spectrum's median; a family scores its strongest
      weighted line. A harmonic that falls on another family's line (3 x BPFO ~ 2 x BPFI on
      common bearings) is evidence for neither and is skipped. A line that falls on another
      family's load-zone sideband, where that family's carrier and both of its sidebands stand
      out, is that family's (:data:`.defect_lines.MODULATION`). The balls also score a band:
      2 x BSF and 4 x BSF, each +- the cage rate and slip, their Gamma tails combined
      (:data:`.defect_lines.BALL_HARMONICS`), where 2 x BSF is a hump over its flanks.
4. **No tachometer**: where a message has no ``rpm``, the speed comes from the window's own
   spectrum (a harmonic comb of shaft orders, :mod:`rotorwatch.diagnosis.features.speed`) and is
   cross-checked against the bearing lines of step 3 (:mod:`.speed_check`).
5. **Resolution**: orders and bearing lines are read only where lines one shaft rate apart are
   a Hann main lobe apart (:data:`RESOLVE_MIN_BINS`).
Arithmetic is float64 (numpy's pocketfft runs faster in double than in single precision); the
envelope's short inverse FFT runs in complex64, where single precision is faster.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rotorwatch.contract.telemetry import STANDARD_GRAVITY_M_S2, Telemetry
from rotorwatch.diagnosis.assets import Asset, Bearing, limit_fields
from rotorwatch.diagnosis.features.block import _BLOCK_FEATURES, _block_features
from rotorwatch.diagnosis.features.defect_lines import _envelope_indicators
from rotorwatch.diagnosis.features.end_of_life import end_of_life_fields
from rotorwatch.diagnosis.features.envelope import (
    ENVELOPE_BANDS_FS,
    ENVELOPE_DECIMATION,
    _envelope_segments,
    _ladder_steps,
    _Scratch,
    block_rows,
)
from rotorwatch.diagnosis.features.iso import ZONES, zone_boundaries_mm_s, zone_index
from rotorwatch.diagnosis.features.schema import (
    DEFECTS,
    MESSAGE_FIELDS,
    ORDERS,
    SCHEMA_2_FIELDS,
    UNRESOLVED,
    VIBRATION_FEATURES,
)
from rotorwatch.diagnosis.features.sensor_health import sensor_problems
from rotorwatch.diagnosis.features.spectrum import F64, ORDER_HALF_WIDTH_BINS
from rotorwatch.diagnosis.features.speed import search_range_hz
from rotorwatch.diagnosis.features.speed_check import _cross_check

#: Lines one shaft rate apart are resolved when they are at least a Hann main lobe (4 bins)
#: apart: closer, each line's lobe holds its neighbour's. Shaft-fault calls rest on 0.5x-3x
#: and bearing calls on defect lines told from the shaft-rate lines and sidebands beside them
#: (BPFI +- 1x); a window that cannot resolve the shaft rate reads neither (a 0.1 s window's
#: 10 Hz bins put a 30 Hz shaft's 1x and 2x 3 bins apart).
RESOLVE_MIN_BINS: Final = 2 * ORDER_HALF_WIDTH_BINS


def window_features(
    x_g: npt.NDArray[Any],
    fs_hz: F64,
    shaft_hz: F64,
    defect_orders: F64,
    *,
    gain_g: F64 | None = None,
    search_hz: F64 | None = None,
) -> dict[str, F64]:
    """Features of a batch of equal-length acceleration windows.

    Parameters
    ----------
    x_g : ndarray, shape (B, N)
        Acceleration windows in g; or raw sample counts (any real dtype, e.g. int16) when
        ``gain_g`` is given.
    fs_hz : ndarray, shape (B,)
        Sample rate of each window in Hz.
    shaft_hz : ndarray, shape (B,)
        Shaft rotation frequency in Hz, NaN where unknown (orders and envelope are then NaN).
    defect_orders : ndarray, shape (B, len(DEFECTS))
        Bearing defect frequencies as multiples of shaft speed, NaN where the geometry is unknown.
    gain_g : ndarray, shape (B,), optional
        g per count of each row of ``x_g`` (the message's scale and unit conversion); the
        float64 conversion then happens block by block, never for the whole batch at once.
    search_hz : ndarray, shape (B, 2), optional
        Where ``shaft_hz`` is NaN and this row is finite, the (low, high) shaft frequency in Hz
        to estimate the speed within, from the window itself (:mod:`rotorwatch.diagnosis.features.speed`,
        cross-checked against the bearing lines where the geometry is known).

    Returns
    -------
    dict of name -> ndarray (B,), float64, NaN for values that cannot be computed. Besides the
    features: ``shaft_hz`` (the speed every order and envelope line was read at, NaN where none
    was), ``speed_confidence`` (0-1 for an estimated speed, NaN where none was estimated) and
    ``resolution`` (1: lines one shaft rate apart resolved at that speed; 0: not, so no orders
    and no bearing lines, see :data:`RESOLVE_MIN_BINS`; NaN: no speed).
    """
    if x_g.ndim != 2:
        raise ValueError(f"x_g must have shape (B, N), got {x_g.shape}")
    b, n = x_g.shape
    if fs_hz.shape != (b,) or shaft_hz.shape != (b,) or defect_orders.shape != (b, len(DEFECTS)):
        raise ValueError("fs_hz, shaft_hz and defect_orders must match the batch size")
    if gain_g is not None and gain_g.shape != (b,):
        raise ValueError("gain_g must match the batch size")
    if search_hz is not None and search_hz.shape != (b, 2):
        raise ValueError("search_hz must have shape (B, 2)")
    estimate = np.isnan(shaft_hz)
    if search_hz is not None:
        estimate &= np.isfinite(search_hz).all(axis=1)
    else:
        estimate[:] = False
    search = search_hz if search_hz is not None else np.full((b, 2), np.nan)
    out: dict[str, F64] = {name: np.empty(b) for name in _BLOCK_FEATURES}
    env_spec = np.empty((b, n // ENVELOPE_DECIMATION // 2 + 1), dtype=np.float32)
    df_hz = fs_hz / n  # (B,) bin spacing
    step = block_rows(n)
    # A fast sensor's windows are also demodulated in lower bands (see ENVELOPE_LADDER_TOP_HZ):
    # as many as the block's fastest row needs, so one fast device in a fleet's batch does not
    # make every block demodulate bands its rows never choose.
    ladder = _ladder_steps(fs_hz)
    for s in range(0, b, step):
        e = min(s + step, b)
        full = _Scratch.get(step, n, len(ENVELOPE_BANDS_FS) + int(ladder[s:e].max()))
        scratch = full if e - s == full.x.shape[0] else full.view(e - s)
        # Each row's extremes in the samples' own type (a quarter of the bytes for int16):
        # the scaling and the mean's removal are monotone, so they stay the extremes.
        extremes = np.stack([x_g[s:e].max(axis=1), x_g[s:e].min(axis=1)]).astype(np.float64)
        # Widened by a plain copy, then scaled in place (a multiply that casts the counts as it
        # goes allocates its cast buffers, fresh pages, on every block).
        scratch.x[...] = x_g[s:e]
        if gain_g is not None:
            np.multiply(scratch.x, gain_g[s:e, None], out=scratch.x)
            extremes *= gain_g[s:e]
        block = _block_features(
            scratch,
            extremes,
            df_hz[s:e],
            shaft_hz[s:e],
            env_spec[s:e],
            search[s:e],
            estimate[s:e],
            ladder[s:e],
        )
        for name, values in block.items():
            out[name][s:e] = values
    _envelope_indicators(env_spec, df_hz, out["shaft_hz"], defect_orders, out)
    if estimate.any():
        # The speed each window's envelope lines were read at.
        shaft_hz = _cross_check(env_spec, df_hz, search, defect_orders, estimate, out)
    segments = _envelope_segments(n, fs_hz)
    for count in np.unique(segments[segments > 1]).tolist():
        # Long windows: the envelope indicators of their segments (see ENVELOPE_SEGMENT_S).
        rows = np.flatnonzero(segments == count)
        length = n // count
        each = np.repeat(rows, count)
        parts = window_features(
            x_g[rows, : length * count].reshape(rows.size * count, length),
            fs_hz[each],
            shaft_hz[each],
            defect_orders[each],
            gain_g=None if gain_g is None else gain_g[each],
        )
        for name, _key in DEFECTS:
            out[name][rows] = np.median(parts[name].reshape(rows.size, count), axis=1)
    # What the window's resolution cannot separate at its speed: read nothing that rests on it.
    with np.errstate(invalid="ignore"):
        shaft_bins = out["shaft_hz"] / df_hz
        rate_ok = shaft_bins >= RESOLVE_MIN_BINS
    for name in (*(name for name, _ in ORDERS), *(name for name, _ in DEFECTS)):
        out[name][~rate_ok] = np.nan
    # (The 0.5x sits half a shaft rate from 1x, so it is unresolved below twice this; masking
    # it there cost the simulated held-out fleet 5 points of accuracy, its slow machines'
    # looseness and misalignment read with it: left as it was, see the README.)
    out["resolution"] = np.where(np.isfinite(shaft_bins), rate_ok.astype(np.float64), np.nan)
    return out


@functools.lru_cache(maxsize=4096)
def _defect_orders(bearing: Bearing) -> tuple[float, ...]:
    defect = bearing.defect_orders()
    return tuple(defect[key] for _, key in DEFECTS)


def _asset_arrays(
    device_ids: Sequence[str], rpms: Sequence[float | None], assets: Mapping[str, Asset]
) -> tuple[F64, F64, F64, F64]:
    """Per-row shaft frequency (Hz), bearing defect orders, ISO boundaries and the shaft
    frequency range (Hz) to estimate the speed in where the message has none (NaN if unknown)."""
    b = len(device_ids)
    shaft_hz = np.full(b, np.nan)
    orders = np.full((b, len(DEFECTS)), np.nan)
    bounds = np.full((b, 3), np.nan)
    search = np.full((b, 2), np.nan)
    # Per device once (a batch holds several windows of most devices), then one row each.
    per_device: dict[str, tuple[Asset, tuple[float, ...], tuple[float, ...] | None] | None] = {}
    for i, (dev, rpm) in enumerate(zip(device_ids, rpms, strict=True)):
        if rpm is not None:
            shaft_hz[i] = rpm / 60.0
        if dev in per_device:
            device = per_device[dev]
        else:
            asset = assets.get(dev)
            device = per_device[dev] = (
                None
                if asset is None
                else (
                    asset,
                    zone_boundaries_mm_s(asset.machine_group, asset.foundation),
                    None if asset.bearing is None else _defect_orders(asset.bearing),
                )
            )
        if device is None:
            continue
        asset, bounds[i], defect = device
        if defect is not None:
            orders[i] = defect
        if rpm is None:
            search[i] = search_range_hz(asset.rated_rpm, asset.rpm_range)
    return shaft_hz, orders, bounds, search


#: Per thread, the bytes of the last batch's windows, reused by the next batch (it keeps the
#: largest batch's size, as the scratch buffers do): a fresh multi-megabyte buffer per call
#: costs a page fault per 4 KiB (measured: ~1,000 faults and ~3 ms per 500 windows of 4096
#: int16 samples, about 5 % of the feature pass).
_RAW = threading.local()


def _raw_batch(messages: Sequence[Telemetry]) -> tuple[npt.NDArray[Any], F64]:
    """Equal-length, same-encoding windows as one (B, N) array of raw samples, and the g per
    count of each row (the float64 conversion happens block by block in the feature pass).
    The array is a view of this thread's reused buffer, valid until its next call."""
    first = messages[0].vibration
    assert first is not None
    dtype = np.dtype("<i2") if first.encoding == "int16le+base64" else np.dtype("<f4")
    raws = [m.vibration.raw for m in messages if m.vibration]
    size = sum(map(len, raws))
    buf: bytearray | None = getattr(_RAW, "buf", None)
    if buf is None or len(buf) < size:
        buf = _RAW.buf = bytearray(size)
    view = memoryview(buf)
    start = 0
    for part in raws:
        view[start : start + len(part)] = part
        start += len(part)
    raw = np.frombuffer(buf, dtype=dtype, count=size // dtype.itemsize)
    gain_g = np.array(
        [
            m.vibration.scale / (STANDARD_GRAVITY_M_S2 if m.vibration.unit == "m/s2" else 1.0)
            for m in messages
            if m.vibration
        ],
    )
    return raw.reshape(len(messages), -1), gain_g


#: Record fields written straight from :func:`window_features`' columns.
_ENGINE_FEATURES: Final = tuple(
    name for name in VIBRATION_FEATURES if name not in ("fs_hz", "n_samples", "iso_zone")
)
_SPEED_NAMES: Final = tuple(f.name for f in SCHEMA_2_FIELDS)
#: ``resolution`` (see :func:`window_features`) -> the record's ``unresolved``.
_UNRESOLVED: Final[dict[float, str]] = {0.0: UNRESOLVED[0]}


def _none_if_nan(values: F64) -> list[float | None]:
    if not np.isnan(values).any():  # most columns of most batches: the list as numpy makes it
        return values.tolist()  # type: ignore[no-any-return]
    return [None if v != v else v for v in values.tolist()]


def compute_features(
    messages: Sequence[Telemetry], assets: Mapping[str, Asset] | None = None
) -> list[dict[str, Any]]:
    """Feature records for a batch of decoded telemetry messages, in input order.

    Windows of equal length and encoding are processed together in one vectorised pass.
    Messages without a vibration window give a record whose vibration fields are None.
    ``iso_zone`` needs the device's asset record; the envelope indicators need its bearing
    geometry and a shaft speed (the shaft-order amplitudes need only the speed): the message's
    ``rpm``, or, without one, the speed estimated from the window around the asset's
    ``rated_rpm`` / ``rpm_range`` (:mod:`rotorwatch.diagnosis.features.speed`; ``rpm_used``,
    ``rpm_source``, ``rpm_confidence`` say which). Orders and bearing lines are not read where
    the window cannot resolve the shaft rate (``unresolved``, :data:`RESOLVE_MIN_BINS`).
    """
    assets = assets or {}
    records: list[dict[str, Any]] = []
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    # Each device's record template once per batch (a batch holds several windows of most
    # devices): its asset's fields in place, every vibration field None; a record is a copy
    # with the message's own fields set (a dict copy is a fraction of building one key by key).
    templates: dict[str, dict[str, Any]] = {}
    for i, msg in enumerate(messages):
        template = templates.get(msg.device_id)
        if template is None:
            asset = assets.get(msg.device_id)
            template = templates[msg.device_id] = {
                **dict.fromkeys(MESSAGE_FIELDS),
                **limit_fields(asset),
                **dict.fromkeys(VIBRATION_FEATURES),
                "rpm_used": None,
                "rpm_source": None,
                "rpm_confidence": None,
                "unresolved": None,
                "vibration_sensor": None,
                **end_of_life_fields(asset),
            }
        record = template.copy()
        record["device_id"] = msg.device_id
        record["site"] = msg.site
        record["ts"] = msg.ts
        record["seq"] = msg.seq
        record["received_at"] = msg.received_at
        record["rpm"] = msg.rpm
        record["temperature_c"] = msg.temperature_c
        record["pressure_bar"] = msg.pressure_bar
        # Without a window the speed is the message's or none (estimates need a window).
        record["rpm_used"] = msg.rpm
        record["rpm_source"] = "none" if msg.rpm is None else "message"
        records.append(record)
        if msg.vibration is not None:
            groups[(msg.vibration.encoding, msg.vibration.n_samples)].append(i)

    for (_enc, n), idx in groups.items():
        batch = [messages[i] for i in idx]
        raw, gain_g = _raw_batch(batch)
        fs_hz = np.array([m.vibration.fs_hz for m in batch if m.vibration], dtype=np.float64)
        shaft_hz, orders, bounds, search = _asset_arrays(
            [m.device_id for m in batch], [m.rpm for m in batch], assets
        )
        cols = window_features(raw, fs_hz, shaft_hz, orders, gain_g=gain_g, search_hz=search)
        zone_idx = zone_index(cols["velocity_rms_mm_s"], bounds).tolist()
        has_zone = np.isfinite(bounds[:, 0]) & np.isfinite(cols["velocity_rms_mm_s"])
        zones = [
            ZONES[z] if ok else None for z, ok in zip(zone_idx, has_zone.tolist(), strict=True)
        ]
        rpm_used = cols["shaft_hz"] * 60.0
        estimated = np.isnan(shaft_hz) & np.isfinite(rpm_used)
        source = np.where(
            np.isfinite(shaft_hz), "message", np.where(estimated, "estimated", "none")
        )
        searched = np.isfinite(search[:, 0])
        # Column lists transposed to rows in C (zip), one dict.update per record.
        names = ("fs_hz", "n_samples", "iso_zone", *_ENGINE_FEATURES, *_SPEED_NAMES)
        columns = [fs_hz.tolist(), [n] * len(idx), zones]
        columns += [_none_if_nan(cols[name]) for name in _ENGINE_FEATURES]
        columns += [
            _none_if_nan(rpm_used),
            source.tolist(),
            _none_if_nan(np.where(searched, cols["speed_confidence"], np.nan)),
            [_UNRESOLVED.get(r) for r in cols["resolution"].tolist()],
        ]
        for i, row in zip(idx, zip(*columns, strict=True), strict=True):
            records[i].update(zip(names, row, strict=True))
        # A dead, saturated or clipped sensor (its features would read a healthy machine).
        for i, problem in zip(idx, sensor_problems(raw, gain_g), strict=True):
            records[i]["vibration_sensor"] = problem
    return records
