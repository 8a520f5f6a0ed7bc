"""`rotorwatch replay`: recorded telemetry through the deployed stateful path, window by window.

What would rotorwatch have told me? Each device's messages run in time order through the
feature engine, the served model, and the fold score_and_alert runs (:class:`rotorwatch.alerting.replay.
DeviceReplay`: baseline, sensor history, remaining life, the alert state machine), with the
deployed stage's learning period unless told otherwise. One JSON line per window on stdout;
the alerts, worded as the SNS message words them, to ``--alerts``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from array import array
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TextIO, cast

import numpy as np
import numpy.typing as npt
import typer

from cli import app
from cli.features import BATCH_LINES, registry_path
from cli.model import DEFAULT_SCORE_MODEL
from rotorwatch.alerting.alert_messages import message, message_attributes, short_message, subject
from rotorwatch.alerting.alerts import Alert, DeviceState
from rotorwatch.contract.reasons import TelemetryError
from rotorwatch.contract.telemetry import Telemetry
from rotorwatch.contract.telemetry_v2 import decode_line
from rotorwatch.diagnosis.assets import Asset, AssetError, load_assets
from rotorwatch.diagnosis.life import rate_to_limit
from rotorwatch.diagnosis.pf_prior import PfPrior

#: Seconds between two progress lines on stderr.
PROGRESS_EVERY_S = 2.0
#: The per-window line: the keys every line has, in this order (None where there is no value).
WINDOW_KEYS = (
    "device_id",
    "ts",
    "seq",
    "state",
    "point_state",
    "fault",
    "fault_confidence",
    "anomaly_score",
    "iso_zone",
    "velocity_rms_mm_s",
    "sensor_cause",
    "remaining_life_s",
    "remaining_life_low_s",
    "remaining_life_high_s",
    # The at-this-rate time the P-F prior is updated with (null while the indicator does not
    # rise): what make eval-life and make life-prior calibrate.
    "remaining_life_rate_s",
    "alert",
)


def _rate_s(state: DeviceState) -> float | None:
    """The device's at-this-rate time to its end-of-life limit (None while it does not rise)."""
    rate = rate_to_limit(state.life)
    return None if rate is None else rate[0]


def alert_record(alert: Alert) -> dict[str, Any]:
    """An alert as SNS carries it: subject, e-mail text, SMS text and message attributes."""
    return {
        "alert_id": alert.alert_id,
        "subject": subject(alert),
        "message": message(alert),
        "sms": short_message(alert),
        "attributes": message_attributes(alert),
    }


@dataclass
class _Index:
    """Where each device's lines are in the (seekable) input: ts, seq, byte offset and length
    per line, 32 bytes a line however large the waveforms, so a long recording is never held
    in memory."""

    ts: array[int] = field(default_factory=lambda: array("q"))
    seq: array[int] = field(default_factory=lambda: array("q"))
    offset: array[int] = field(default_factory=lambda: array("q"))
    length: array[int] = field(default_factory=lambda: array("q"))

    def add(self, msg: Telemetry, offset: int, length: int) -> None:
        self.ts.append(msg.ts)
        self.seq.append(msg.seq)
        self.offset.append(offset)
        self.length.append(length)

    def in_time_order(self) -> npt.NDArray[np.intp]:
        """Line numbers (within the device) sorted by (ts, seq), stable for repeats (a numpy
        sort: 8 bytes a line while one device is replayed, not a Python tuple each)."""
        ts = np.frombuffer(self.ts, dtype=np.int64)
        seq = np.frombuffer(self.seq, dtype=np.int64)
        return np.lexsort((seq, ts))  # stable: a repeated window keeps its input order


def _index(stream: BinaryIO, err: TextIO) -> tuple[dict[str, _Index], int]:
    """One pass over the input: each device's lines; a bad line is named on stderr and
    skipped."""
    by_device: dict[str, _Index] = defaultdict(_Index)
    bad = 0
    offset = 0
    for line_no, line in enumerate(stream, start=1):
        start, offset = offset, offset + len(line)
        payload = line.rstrip(b"\r\n")
        if not payload.strip():
            continue
        try:
            msg = decode_line(payload)
        except TelemetryError as exc:
            bad += 1
            err.write(f"line {line_no}: {exc.reason}: {exc}\n")
            continue
        by_device[msg.device_id].add(msg, start, len(payload))
    return by_device, bad


def _messages(stream: BinaryIO, index: _Index) -> Iterator[Telemetry]:
    """A device's messages in time order, read back one line at a time from the input."""
    for i in index.in_time_order():
        stream.seek(index.offset[int(i)])
        yield decode_line(stream.read(index.length[int(i)]))


def _batches(messages: Iterator[Telemetry]) -> Iterator[list[Telemetry]]:
    batch: list[Telemetry] = []
    for m in messages:
        batch.append(m)
        if len(batch) == BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


def _seekable(source: str, stack: ExitStack) -> BinaryIO:
    """The input as a seekable file: the file itself, or stdin spooled to a temporary file
    on disk (a pipe cannot be read twice; disk, not memory, holds it)."""
    if source != "-":
        return stack.enter_context(open(source, "rb"))
    spool = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
    shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
    spool.seek(0)
    return cast(BinaryIO, spool)


def _load_priors(path: Path | None) -> dict[str, PfPrior] | None:
    """``--life-prior FILE``: a JSON list of P-F priors (rotorwatch.diagnosis.pf_prior.PfPrior.to_dict),
    replacing the shipped ones (``[]``: none, the trend alone)."""
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise ValueError("expected a JSON list of priors")
        priors = [PfPrior.from_dict(d) for d in raw]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise typer.BadParameter(f"--life-prior {path}: {exc}") from None
    return {p.indicator: p for p in priors}


@app.command("replay")
def replay_command(
    source: Annotated[
        str,
        typer.Argument(
            help="Telemetry lines (v1 JSON, or 'v2 <device_id> <base64>') of one or many "
            "devices, or '-' for stdin."
        ),
    ],
    assets: Annotated[
        str | None,
        typer.Option(
            help="Asset registry JSON file, or a bundled scenario name (small, fleet-24): ISO "
            "zones, bearing indicators and the end-of-life limit (no remaining life without it)."
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Model directory or model.tar.gz (default: the committed bootstrap one, as the "
            "demo serves it)."
        ),
    ] = None,
    rules_only: Annotated[
        bool,
        typer.Option(
            "--rules-only", help="Score with the ISO/envelope rules, as with no endpoint deployed."
        ),
    ] = False,
    alerts: Annotated[
        Path | None,
        typer.Option(
            help="Write the alerts, as the SNS message says them, to this JSON-lines file."
        ),
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option(help="cdk.json stage whose settings to replay with (default: its default)."),
    ] = None,
    learning_windows: Annotated[
        int | None,
        typer.Option(min=1, help="Windows each device's baseline learns (default: the stage's)."),
    ] = None,
    life_prior: Annotated[
        Path | None,
        typer.Option(
            help="P-F interval priors (JSON list, as benchmarks/fit_life_prior.py writes them) "
            "instead of the shipped ones; [] for none."
        ),
    ] = None,
) -> None:
    """Replay recorded telemetry through the deployed path: one JSON line per window with the
    device's state, fault, anomaly score and remaining life (null where there is no estimate).

    Devices are independent: each device's messages run in its own time order (ts, seq),
    whatever their order in the input; a repeated window is skipped as the handler skips a
    redelivery. The input is streamed: one pass indexes each device's lines (32 bytes a line),
    then each device's are read back from the file in time order (stdin is spooled to a
    temporary file first), so a recording larger than memory replays. Progress goes to stderr.
    The exit status is 1 if any line was bad (it is named on stderr and skipped).
    """
    from cli.cost import stage_config
    from cli.model import _load
    from rotorwatch.alerting.replay import DeviceReplay
    from rotorwatch.deployment.stage import ConfigError
    from rotorwatch.diagnosis.features import compute_features
    from rotorwatch.diagnosis.model import Model, ModelError

    registry: dict[str, Asset] = {}
    if assets:
        try:
            registry = load_assets(registry_path(assets))
        except AssetError as exc:
            raise typer.BadParameter(str(exc)) from None
    try:
        windows = learning_windows or stage_config(stage).baseline_learning_windows
    except ConfigError as exc:
        raise typer.BadParameter(f"stage settings: {exc}") from None
    served: Model | None = None
    if not rules_only:
        try:
            loaded = _load(model or DEFAULT_SCORE_MODEL)
        except (OSError, KeyError, ModelError) as exc:
            raise typer.BadParameter(f"cannot load model from {model}: {exc}") from None
        assert isinstance(loaded, Model)
        served = loaded

    priors = _load_priors(life_prior)
    fold_options: dict[str, Any] = {} if priors is None else {"priors": priors}
    stack = ExitStack()
    with stack:
        stream = _seekable(source, stack)
        by_device, bad = _index(stream, sys.stderr)
        total = sum(len(ix.ts) for ix in by_device.values())
        typer.echo(
            f"replay: {total} windows of {len(by_device)} device(s), learning {windows} "
            f"windows, {'rules only' if served is None else 'model and rules'}",
            err=True,
        )
        for device_id in sorted(set(by_device) - set(registry)):
            typer.echo(
                f"note: {device_id}: no asset record; no ISO zone, no bearing indicators and no "
                "remaining life (give --assets FILE with its end_of_life limit)",
                err=True,
            )
        alert_out: TextIO | None = None
        if alerts:
            alert_out = stack.enter_context(open(alerts, "w", encoding="utf-8"))  # noqa: SIM115
        done = n_alerts = skipped = 0
        last_progress = time.monotonic()
        for device_id in sorted(by_device):
            device = DeviceReplay(device_id, learning_windows=windows, **fold_options)
            for batch in _batches(_messages(stream, by_device[device_id])):
                features = compute_features(batch, registry)
                rows = None if served is None else served.score(features)
                for r in device.feed(features, rows):
                    p = r.prediction
                    line = {
                        **{k: p.get(k) for k in WINDOW_KEYS},
                        "state": r.state.state,
                        "point_state": p["state"],
                        "remaining_life_rate_s": _rate_s(r.state),
                        "alert": None if r.alert is None else r.alert.severity,
                    }
                    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
                    if r.alert is not None:
                        n_alerts += 1
                        if alert_out is not None:
                            alert_out.write(json.dumps(alert_record(r.alert)) + "\n")
                done += len(batch)
                if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                    last_progress = time.monotonic()
                    typer.echo(f"replay: {done}/{total} windows ({device_id})", err=True)
            skipped += device.skipped
    typer.echo(
        f"replay: {done} windows, {n_alerts} alert(s)"
        + (f", {skipped} repeated window(s) skipped" if skipped else ""),
        err=True,
    )
    if bad:
        typer.echo(f"{bad} bad line(s) skipped", err=True)
        raise typer.Exit(1)
