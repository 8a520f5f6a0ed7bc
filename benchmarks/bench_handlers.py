"""Handler throughput for one 500-record Kinesis batch, in process, on one core.

Both handlers run exactly as deployed (module import = cold start, Powertools decorators, real
boto3 clients) but every AWS call is answered on the wire by a canned HTTP response (botocore's
``before-send`` event): request serialisation and response parsing are timed, the network and
moto are not. Figures printed: records/s for the whole handler and the share of the batch pass
spent decoding, computing features (or scoring) and in I/O (client-side work of the AWS calls).

    make VENV=/work/main/.venv bench-handlers
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# One core: keep any BLAS/FFT thread pools to a single thread (set before numpy loads).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.update(
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_EC2_METADATA_DISABLED="true",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="ERROR",
)

from botocore.awsrequest import AWSPreparedRequest, AWSResponse  # noqa: E402

from lambdas.common.dynamo import to_attributes  # noqa: E402
from rotorwatch.deployment.resources import EnvKey  # noqa: E402
from rotorwatch.diagnosis.scoring import decode_request, encode_response, rules_row  # noqa: E402
from tests.events import kinesis_event  # noqa: E402
from tests.signals import ASSET_RECORD, message  # noqa: E402

BATCH = 500
DEVICES = 50
FAULTY = 5  # machines in ISO zone D (they alarm in the first batch, then stay quiet)
BAD = 5  # 1 % invalid records: the quarantine path is part of a real batch
REPEATS = 5
TS0 = 1_763_900_000_000

os.environ.update(
    {
        EnvKey.FEATURES_STREAM_NAME: "features",
        EnvKey.QUARANTINE_BUCKET: "lake",
        EnvKey.ASSETS_TABLE: "assets",
        EnvKey.STATE_TABLE: "state",
        EnvKey.ALERTS_TOPIC_ARN: "arn:aws:sns:eu-west-1:123456789012:alerts",
        EnvKey.PREDICTIONS_DELIVERY_STREAM: "predictions",
        EnvKey.ENDPOINT_NAME: "model",
    }
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kw: Any) -> Any:
        yield self._body

    def read(self, amt: int | None = None) -> bytes:  # streaming bodies (InvokeEndpoint)
        body, self._body = self._body, b""
        return body


def _json_body(request: AWSPreparedRequest) -> Any:
    return json.loads(request.body) if request.body else {}


def answer(client: Any, responder: Callable[[AWSPreparedRequest], tuple[int, bytes]]) -> None:
    """Answer every call of ``client`` on the wire with ``responder(request)``."""

    def before_send(request: AWSPreparedRequest, **_kw: Any) -> AWSResponse:
        status, body = responder(request)
        return AWSResponse(request.url, status, {"Content-Type": "application/json"}, _Raw(body))

    client.meta.events.register_first("before-send", before_send)


def kinesis_ok(request: AWSPreparedRequest) -> tuple[int, bytes]:
    n = len(_json_body(request)["Records"])
    records = [{"SequenceNumber": str(i), "ShardId": "shardId-000000000000"} for i in range(n)]
    return 200, json.dumps({"FailedRecordCount": 0, "Records": records}).encode()


def firehose_ok(request: AWSPreparedRequest) -> tuple[int, bytes]:
    n = len(_json_body(request)["Records"])
    return 200, json.dumps(
        {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"}] * n}
    ).encode()


def assets_table(request: AWSPreparedRequest) -> tuple[int, bytes]:
    keys = _json_body(request)["RequestItems"]["assets"]["Keys"]
    items = [to_attributes({**ASSET_RECORD, "device_id": k["device_id"]["S"]}) for k in keys]
    return 200, json.dumps({"Responses": {"assets": items}, "UnprocessedKeys": {}}).encode()


_STATE: dict[str, Any] = {}


def state_table(request: AWSPreparedRequest) -> tuple[int, bytes]:
    """A dict standing in for the state table (conditions are the handler tests' business)."""
    target = request.headers.get("X-Amz-Target", b"")
    op = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
    body = _json_body(request)
    if op == "BatchGetItem":
        keys = body["RequestItems"]["state"]["Keys"]
        items = [_STATE[k["device_id"]["S"]] for k in keys if k["device_id"]["S"] in _STATE]
        return 200, json.dumps({"Responses": {"state": items}, "UnprocessedKeys": {}}).encode()
    if op == "PutItem":
        _STATE[body["Item"]["device_id"]["S"]] = body["Item"]
    elif op == "UpdateItem":
        _STATE[body["Key"]["device_id"]["S"]].pop("pending_alert", None)
    return 200, b"{}"


def endpoint(request: AWSPreparedRequest) -> tuple[int, bytes]:
    # A stand-in model: the rules' rows (its cost is the endpoint's, not the handler's, but tiny).
    return 200, encode_response([rules_row(f) for f in decode_request(request.body)])


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # EMF and logs go to stdout
        fn()
    return time.perf_counter() - t0


def main() -> None:
    # A fleet of 50 machines, 5 of them in zone D, int16 4096 samples at 10.24 kHz (11 KB each).
    payloads = [
        message(
            f"pump-{i % DEVICES:02d}",
            TS0 + (i // DEVICES) * 60_000,
            i,
            v1x_mm_s=6.0 if i % DEVICES < FAULTY else 1.0,
            seed=i,
        )
        for i in range(BATCH - BAD)
    ]
    payloads += [b'{"v": 1, "device_id": "pump-00"}'] * BAD
    event = kinesis_event(payloads)
    size_kb = sum(len(p) for p in payloads) / 1024

    from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: F401

    from lambdas.extract_features import app as ef
    from lambdas.score_and_alert import app as sa
    from tests.handlers.conftest import FakeContext

    answer(ef.DEPS.kinesis, kinesis_ok)
    answer(ef.DEPS.s3, lambda _r: (200, b""))
    answer(ef.DEPS.firehose, firehose_ok)  # the raw lake lines (Direct PUT)
    answer(ef.DEPS.assets._dynamodb, assets_table)
    ctx = FakeContext()

    # Features for the second handler come from the first, as on AWS.
    captured: list[bytes] = []
    orig = ef.DEPS.kinesis.put_records

    def capture(**kw: Any) -> Any:
        captured.extend(r["Data"] for r in kw["Records"])
        return orig(**kw)

    ef.DEPS.kinesis.put_records = capture
    timed(lambda: ef.handler(event, ctx))  # warm-up: asset cache, FFT plans, imports
    ef.DEPS.kinesis.put_records = orig

    def later(r: int) -> dict[str, Any]:
        # Batch r of the same fleet r x 10 minutes later: new windows, so state items change
        # every time (a redelivered batch would skip all state work and flatter the figure).
        out = []
        for data in captured:
            f = json.loads(data)
            f["ts"] += r * 10 * 60_000
            f["seq"] += r * BATCH
            out.append(json.dumps(f).encode())
        return kinesis_event(out, template="kinesis_features")

    score_events = [later(r) for r in range(REPEATS + 1)]
    features_event = score_events[0]

    answer(sa.DEPS.sagemaker, endpoint)
    answer(sa.DEPS.firehose, firehose_ok)
    answer(sa.DEPS.store._dynamodb, state_table)
    answer(
        sa.DEPS.publisher._sns,
        lambda _r: (
            200,
            b"<PublishResponse><PublishResult><MessageId>m</MessageId></PublishResult></PublishResponse>",
        ),
    )
    timed(lambda: sa.handler(features_event, ctx))

    print(
        f"batch: {BATCH} records ({BAD} invalid), {DEVICES} devices, {size_kb / BATCH:.1f} KB each, "
        f"4096 int16 samples at 10.24 kHz; median of {REPEATS}; Python {sys.version.split()[0]}"
    )
    for name, module, ev, phases in (
        ("extract_features", ef, [event] * REPEATS, ("decode", "features", "io")),
        ("score_and_alert", sa, score_events[1:], ("decode", "score", "io")),
    ):
        totals, shares = [], {p: [] for p in phases}
        alerts = 0
        for r in range(REPEATS):
            outcome: list[Any] = []
            real_process = module.process

            def spy(
                records: Any, deps: Any, _real: Any = real_process, _out: list[Any] = outcome
            ) -> Any:
                result = _real(records, deps)
                _out.append(result)
                return result

            module.process = spy
            try:
                totals.append(timed(lambda m=module, e=ev[r]: m.handler(e, ctx)))
            finally:
                module.process = real_process
            for p in phases:
                shares[p].append(outcome[0].timings_s[p])
            alerts += len(getattr(outcome[0], "alerts", ()))
        total = statistics.median(totals)
        inside = sum(statistics.median(v) for v in shares.values())
        parts = ", ".join(f"{p} {statistics.median(v) / total:5.1%}" for p, v in shares.items())
        print(
            f"{name:17s} {total * 1000:7.1f} ms/batch  {BATCH / total:8,.0f} records/s  | {parts}, "
            f"rest {(total - inside) / total:5.1%}"
            + (f"; {alerts / REPEATS:.1f} alerts/batch" if name == "score_and_alert" else "")
        )
    print(
        "rest = outside the batch pass: Kinesis base64 of the event, Powertools (partial response,"
        " EMF flush, logs)"
    )


if __name__ == "__main__":
    main()
