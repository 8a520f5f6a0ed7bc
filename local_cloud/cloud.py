"""The local cloud: the deployed handlers, wired the way AWS wires them, on one machine.

Pieces (each stands in only for what AWS runs for us):

* an in-process moto server (Kinesis, S3, DynamoDB, SNS, SQS) holding the resources the
  processing stack creates, named from :mod:`rotorwatch.deployment.resources`;
* :class:`~local_cloud.services.LocalServices` for SageMaker Runtime InvokeEndpoint (the
  model's own inference script) and Firehose (the lake layout on a folder);
* the handlers, imported by their deployed handler strings after the environment the CDK app
  gives them is set (``EnvKey`` variables, ``AWS_ENDPOINT_URL*`` pointing here);
* one :class:`~local_cloud.poller.ShardPoller` per shard and consumer: the two event source
  mappings and the two Firehose streams that read Kinesis (raw telemetry, features);
* an SQS queue subscribed to the alerts topic: the technicians' inbox.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local_cloud.bridge import RuleBridge
from local_cloud.cloud_plumbing import (
    _ddb_item,
    _FunctionStdout,
    _key,
    _restamped,
    _serialise_moto_shards,
    _v2_key,
)
from local_cloud.firehose import LocalFirehose
from local_cloud.lambda_runtime import (
    EventSourceMapping,
    Handler,
    StreamRecord,
    load_handler,
)
from local_cloud.poller import DEFAULT_IDLE_POLL_S, ShardPoller
from local_cloud.services import LocalModel, LocalServices
from rotorwatch.contract.telemetry_v2 import is_v2
from rotorwatch.deployment.resources import (
    APP_NAME,
    ASSETS_TABLE_PARTITION_KEY,
    EXTRACT_FEATURES_HANDLER,
    FEATURES_STREAM,
    SCORE_AND_ALERT_HANDLER,
    STATE_TABLE_PARTITION_KEY,
    TELEMETRY_STREAM,
    EnvKey,
)
from rotorwatch.lake import layout as lake

REGION = "eu-west-1"
#: Physical names of the local resources (logical names from rotorwatch.deployment.resources).
LAKE_BUCKET = f"{APP_NAME}-lake"
ASSETS_TABLE = f"{APP_NAME}-assets"
STATE_TABLE = f"{APP_NAME}-state"
ALERTS_TOPIC = f"{APP_NAME}-alerts"
ALERTS_INBOX_QUEUE = f"{APP_NAME}-alerts-inbox"
FAILED_BATCHES_QUEUE = f"{APP_NAME}-failed-batches"
PREDICTIONS_DELIVERY_STREAM = f"{APP_NAME}-predictions"
ENDPOINT_NAME = f"{APP_NAME}-model"
ATHENA_WORKGROUP = f"{APP_NAME}-analysts"
GLUE_DATABASE = APP_NAME
#: The demo's baseline learning period (windows): 2 h at the demo's 10-min windows, so every
#: machine has learned its own healthy behaviour before the first fault starts (2.7 h in).
DEMO_BASELINE_WINDOWS = 12
#: Function names (log files, context) per handler string.
FUNCTION_NAMES = {
    EXTRACT_FEATURES_HANDLER: "extract_features",
    SCORE_AND_ALERT_HANDLER: "score_and_alert",
}
_ALERT_ID_RE = re.compile(r"Alert id: (\S+)")


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """Event source mapping settings of one function (the CDK app's defaults)."""

    batch_size: int = 500
    window_s: float = 5.0
    retry_attempts: int = 3


@dataclass
class ReceivedAlert:
    """One message as a technician's inbox (the SQS subscription) received it."""

    alert_id: str
    device_id: str
    severity: str
    subject: str | None
    body: str
    sent_ms: int  # when SNS delivered it (SQS SentTimestamp)


@dataclass
class StreamClock:
    """Wall-clock arrival of every window at each hop, keyed by (device_id, ts, seq)."""

    bridged_s: dict[tuple[str, int, int], float] = field(default_factory=dict)
    telemetry_s: dict[tuple[str, int, int], float] = field(default_factory=dict)
    features_s: dict[tuple[str, int, int], float] = field(default_factory=dict)


class SimClock:
    """The simulation's "now" in epoch ms: the time of the window being published.

    The rule bridge stamps ``received_at`` with it (not the wall clock), so a replayed or
    accelerated day lands in the lake's arrival-time partitions where a real day would, and
    silence is measured in simulated time.
    """

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


class LocalCloud:
    """Start with :meth:`start` (or ``with LocalCloud(...) as cloud``); stop restores the env."""

    def __init__(
        self,
        lake_dir: str | Path,
        asset_records: Sequence[Mapping[str, Any]],
        *,
        model_artifact: str | Path | None = None,
        inference_script: str | Path | None = None,
        extract_batch: BatchSettings | None = None,
        score_batch: BatchSettings | None = None,
        firehose_window_s: float = 1.0,
        shards: int = 1,
        features_shards: int | None = None,
        start_pollers: bool = True,
        log_dir: str | Path | None = None,
        idle_poll_s: float = DEFAULT_IDLE_POLL_S,
    ) -> None:
        self.lake_dir = Path(lake_dir)
        self.asset_records = [dict(a) for a in asset_records]
        self.model_artifact = Path(model_artifact) if model_artifact else None
        self.inference_script = inference_script
        self.extract_batch = extract_batch or BatchSettings()
        self.score_batch = score_batch or BatchSettings()
        self.firehose_window_s = firehose_window_s
        self.shards = shards
        self.features_shards = shards if features_shards is None else features_shards
        #: False: the pollers are made but not started (a driver on a simulated clock steps
        #: them itself, local_cloud/load_drill.py).
        self.start_pollers = start_pollers
        self.log_dir = Path(log_dir) if log_dir else None
        self.idle_poll_s = idle_poll_s
        #: The simulation's now: the rule bridge's and Firehose's clock (see :class:`SimClock`).
        self.sim_clock = SimClock(int(time.time() * 1000))
        self.firehose = LocalFirehose(self.lake_dir, clock_ms=self.sim_clock)
        self.services = LocalServices(self.firehose)
        self.model: LocalModel | None = None
        self.clock = StreamClock()
        #: Telemetry sequence number -> arrival on the simulated clock (the rule bridge's), which
        #: the extract_features mapping reports as approximateArrivalTimestamp: moto stamps the
        #: wall clock, and a v2 window's received_at is its arrival (see RuleBridge).
        self.kinesis_arrival_ms: dict[str, int] = {}
        self.mappings: dict[str, EventSourceMapping] = {}
        self.pollers: list[ShardPoller] = []
        self.failed_batches: list[tuple[str, str]] = []
        self.alerts: list[ReceivedAlert] = []
        self._moto: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._log_files: list[IO[str]] = []
        self._stdout: _FunctionStdout | None = None
        self._log_handlers: list[tuple[logging.StreamHandler[Any], Any]] = []
        self.clients: dict[str, Any] = {}
        self.topic_arn = ""
        self.inbox_url = ""

    # -- lifecycle ------------------------------------------------------------------------

    def rule_bridge(self) -> RuleBridge:
        """The IoT-rule bridge onto this cloud's telemetry stream, stamping ``received_at``
        with the simulated clock (:attr:`sim_clock`) and recording when each window entered."""
        return RuleBridge(
            self.clients["kinesis"],
            TELEMETRY_STREAM,
            self.lake_dir,
            clock_ms=self.sim_clock,
            bridged_s=self.clock.bridged_s,
            arrivals_ms=self.kinesis_arrival_ms,
        )

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _setenv(self, values: Mapping[str, str]) -> None:
        for k, v in values.items():
            self._saved_env.setdefault(k, os.environ.get(k))
            os.environ[k] = v

    def start(self) -> LocalCloud:
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request at INFO: the moto server is plumbing, not the demo.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _serialise_moto_shards()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.services.start()
        self.moto_url = f"http://{host}:{port}"
        # moto's backends are process-global: a cloud started earlier in this process (a test,
        # a benchmark's second run) would still own its streams and tables. Start empty.
        self._reset_moto()
        self._setenv(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.services.url,
                "AWS_ENDPOINT_URL_FIREHOSE": self.services.url,
                "POWERTOOLS_TRACE_DISABLED": "true",
                # Each invocation's EMF metrics go to its log file (logs/<function>.log), as
                # CloudWatch Logs receives them: the README promises them there.
                "POWERTOOLS_METRICS_DISABLED": "false",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_DEV": "false",
            }
        )
        import boto3

        session = boto3.session.Session(region_name=REGION)
        c = self.clients = {
            s: session.client(s) for s in ("kinesis", "s3", "dynamodb", "sns", "sqs")
        }
        for stream, shard_count in (
            (TELEMETRY_STREAM, self.shards),
            (FEATURES_STREAM, self.features_shards),
        ):
            c["kinesis"].create_stream(StreamName=stream, ShardCount=shard_count)
        c["s3"].create_bucket(
            Bucket=LAKE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        for table, key in (
            (ASSETS_TABLE, ASSETS_TABLE_PARTITION_KEY),
            (STATE_TABLE, STATE_TABLE_PARTITION_KEY),
        ):
            c["dynamodb"].create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for record in self.asset_records:
            c["dynamodb"].put_item(TableName=ASSETS_TABLE, Item=_ddb_item(record))
        self.topic_arn = c["sns"].create_topic(Name=ALERTS_TOPIC)["TopicArn"]
        self.inbox_url = c["sqs"].create_queue(QueueName=ALERTS_INBOX_QUEUE)["QueueUrl"]
        inbox_arn = c["sqs"].get_queue_attributes(
            QueueUrl=self.inbox_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        c["sns"].subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=inbox_arn,
            Attributes={"RawMessageDelivery": "false"},
        )

        self.services.delivery_streams[PREDICTIONS_DELIVERY_STREAM] = lake.PREDICTIONS_TABLE
        endpoint: str | None = None
        if self.model_artifact is not None:
            self.model = LocalModel(self.model_artifact, inference_script=self.inference_script)
            self.services.endpoints[ENDPOINT_NAME] = self.model
            endpoint = ENDPOINT_NAME
        env = {
            EnvKey.STAGE: "local",
            EnvKey.FEATURES_STREAM_NAME: FEATURES_STREAM,
            EnvKey.QUARANTINE_BUCKET: LAKE_BUCKET,
            EnvKey.ASSETS_TABLE: ASSETS_TABLE,
            EnvKey.STATE_TABLE: STATE_TABLE,
            EnvKey.ALERTS_TOPIC_ARN: self.topic_arn,
            EnvKey.PREDICTIONS_DELIVERY_STREAM: PREDICTIONS_DELIVERY_STREAM,
            # Empty, as the CDK app deploys it before a model exists: the rules score.
            EnvKey.ENDPOINT_NAME: endpoint or "",
            EnvKey.ATHENA_WORKGROUP: ATHENA_WORKGROUP,
            EnvKey.GLUE_DATABASE: GLUE_DATABASE,
            EnvKey.BASELINE_WINDOWS: str(DEMO_BASELINE_WINDOWS),
        }
        # Alerts carry answer links and are registered for the technicians (issue 28).
        from local_cloud.feedback_setup import provision

        env.update(provision(c, session, LAKE_BUCKET))
        self._setenv(env)

        self._wire(
            TELEMETRY_STREAM, EXTRACT_FEATURES_HANDLER, self.extract_batch, self.kinesis_arrival_ms
        )
        self._wire(FEATURES_STREAM, SCORE_AND_ALERT_HANDLER, self.score_batch)
        # As deployed: extract_features writes raw objects to S3 (copied into the lake folder
        # at stop), a Kinesis-sourced Firehose reads the features stream into the lake; the
        # telemetry reader only times arrivals for the latency report.
        self._firehose_source(TELEMETRY_STREAM, None, self.clock.telemetry_s)
        self._firehose_source(FEATURES_STREAM, lake.FEATURES_TABLE, self.clock.features_s)
        if self.start_pollers:
            for p in self.pollers:
                p.start()
        return self

    def _reset_moto(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _shards(self, stream: str) -> tuple[str, list[str]]:
        desc = self.clients["kinesis"].describe_stream(StreamName=stream)["StreamDescription"]
        return desc["StreamARN"], [s["ShardId"] for s in desc["Shards"]]

    def _wire(
        self,
        stream: str,
        handler_string: str,
        batch: BatchSettings,
        arrivals_ms: Mapping[str, int] | None = None,
    ) -> None:
        """An event source mapping per shard; ``arrivals_ms`` (sequence number -> ms) replaces
        moto's wall-clock arrival with the simulated one where known."""
        name = FUNCTION_NAMES[handler_string]
        function = self._logged(name, load_handler(handler_string))
        arn, shards = self._shards(stream)

        def on_failure(records: Sequence[StreamRecord], reason: str) -> None:
            self.failed_batches.extend((r.sequence_number, reason) for r in records)

        for shard in shards:
            mapping = EventSourceMapping(
                function,
                function_name=name,
                stream_arn=arn,
                region=REGION,
                batch_size=batch.batch_size,
                batching_window_s=batch.window_s,
                retry_attempts=batch.retry_attempts,
                on_failure=on_failure,
            )
            self.mappings[f"{name}/{shard}"] = mapping
            self.pollers.append(
                ShardPoller(
                    self.clients["kinesis"],
                    stream,
                    shard,
                    _restamped(mapping.process, arrivals_ms)
                    if arrivals_ms is not None
                    else mapping.process,
                    name=f"{name}:{shard}",
                    batch_size=batch.batch_size,
                    batching_window_s=batch.window_s,
                    idle_poll_s=self.idle_poll_s,
                )
            )

    def _firehose_source(
        self, stream: str, table: str | None, arrivals: dict[tuple[str, int, int], float]
    ) -> None:
        """A Kinesis-sourced Firehose into ``table`` (None: only time the arrivals)."""
        _arn, shards = self._shards(stream)

        def deliver(records: Sequence[StreamRecord]) -> None:
            rows = []
            for r in records:
                if is_v2(r.data):  # a binary window: timed by its header and publisher
                    k = _v2_key(r)
                    if k is not None:
                        arrivals.setdefault(k, r.arrival_s)
                    continue
                try:
                    rec = json.loads(r.data)
                except ValueError:
                    continue
                k = _key(rec) if isinstance(rec, dict) else None
                if k is not None:
                    arrivals.setdefault(k, r.arrival_s)
                rows.append(rec)
            if table is not None:
                self.services.put(table, rows)

        for shard in shards:
            self.pollers.append(
                ShardPoller(
                    self.clients["kinesis"],
                    stream,
                    shard,
                    deliver,
                    name=f"firehose-{table}:{shard}",
                    batch_size=10_000,
                    batching_window_s=self.firehose_window_s,
                    idle_poll_s=self.idle_poll_s,
                )
            )

    def _logged(self, name: str, function: Handler) -> Handler:
        """Send the function's log lines and metrics to ``<log_dir>/<function>.log`` (its
        CloudWatch log group) instead of the demo's console."""
        if self.log_dir is None:
            return function
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stream = (self.log_dir / f"{name}.log").open("a", encoding="utf-8")
        self._log_files.append(stream)
        for h in logging.getLogger(name).handlers:
            if isinstance(h, logging.StreamHandler):
                self._log_handlers.append((h, h.stream))
                h.stream = stream  # not setStream: it would flush a stream a past cloud closed
        if self._stdout is None:
            self._stdout = _FunctionStdout(sys.stdout)
            sys.stdout = self._stdout
        routed = self._stdout

        def invoke(event: dict[str, Any], context: Any) -> Any:
            routed.local.target = stream
            try:
                return function(event, context)
            finally:
                routed.local.target = None

        return invoke

    def drain(self, timeout_s: float = 120.0) -> bool:
        """Wait until nothing is in flight: every record put so far has been delivered by every
        consumer, and what they produced too. Returns False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            before = [(p.delivered, p.empty_polls) for p in self.pollers]
            while time.monotonic() < deadline:
                if all(
                    p.empty_polls > e and p.idle
                    for p, (_d, e) in zip(self.pollers, before, strict=True)
                ):
                    break
                time.sleep(self.idle_poll_s / 2)
            if all(p.delivered == d for p, (d, _e) in zip(self.pollers, before, strict=True)):
                return True
        return False

    def receive_alerts(self) -> list[ReceivedAlert]:
        """Move every message waiting in the inbox into :attr:`alerts`; returns the new ones."""
        sqs = self.clients["sqs"]
        new: list[ReceivedAlert] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.inbox_url,
                MaxNumberOfMessages=10,
                AttributeNames=["SentTimestamp"],
            ).get("Messages", [])
            if not got:
                break
            for m in got:
                envelope = json.loads(m["Body"])  # the SNS notification (non-raw delivery)
                body = envelope.get("Message", "")
                attrs = {
                    k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()
                }
                match = _ALERT_ID_RE.search(body)
                new.append(
                    ReceivedAlert(
                        alert_id=match.group(1) if match else "",
                        device_id=str(attrs.get("device_id", "")),
                        severity=str(attrs.get("severity", "")),
                        subject=envelope.get("Subject"),
                        body=body,
                        sent_ms=int(m.get("Attributes", {}).get("SentTimestamp", 0)),
                    )
                )
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=m["ReceiptHandle"])
        self.alerts.extend(new)
        return new

    def stop(self) -> None:
        for p in self.pollers:
            p.stop()
        self.firehose.flush()
        if self._moto is not None:
            self._copy_raw_objects()
        self.services.stop()
        if self._moto is not None:
            self._reset_moto()
            self._moto.stop()
            self._moto = None
        if self._stdout is not None and sys.stdout is self._stdout:
            sys.stdout = self._stdout.real
        self._stdout = None
        for h, original in self._log_handlers:
            h.stream = original
        self._log_handlers.clear()
        for f in self._log_files:
            f.close()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env.clear()

    def raw_lines(self) -> int:
        """Raw lake lines in the objects extract_features wrote to the lake bucket so far."""
        s3 = self.clients["s3"]
        n = 0
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=LAKE_BUCKET, Prefix=lake.RAW_PREFIX
        ):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=LAKE_BUCKET, Key=obj["Key"])["Body"].read()
                n += gzip.decompress(body).count(b"\n")
        return n

    def _copy_raw_objects(self) -> None:
        """The raw objects extract_features wrote to the (moto) lake bucket, into the lake
        folder under the same keys, where the local Glue jobs and DuckDB read them."""
        s3 = self.clients["s3"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=LAKE_BUCKET, Prefix=lake.RAW_PREFIX
        ):
            for obj in page.get("Contents", []):
                path = self.lake_dir / obj["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                body = s3.get_object(Bucket=LAKE_BUCKET, Key=obj["Key"])["Body"].read()
                path.write_bytes(body)
                self.firehose.written.append(path)

    # -- introspection --------------------------------------------------------------------

    def poller_errors(self) -> list[str]:
        return [f"{p.name}: {e}" for p in self.pollers for e in p.errors]

    def device_states(self) -> dict[str, dict[str, Any]]:
        """The state table's items (the sustained state per machine)."""
        from boto3.dynamodb.types import TypeDeserializer

        de = TypeDeserializer()
        items = self.clients["dynamodb"].scan(TableName=STATE_TABLE, ConsistentRead=True)["Items"]
        return {
            str(i[STATE_TABLE_PARTITION_KEY]["S"]): {k: de.deserialize(v) for k, v in i.items()}
            for i in items
        }

    def quarantined(self) -> list[str]:
        listing = self.clients["s3"].list_objects_v2(
            Bucket=LAKE_BUCKET, Prefix=lake.QUARANTINE_PREFIX
        )
        return [o["Key"] for o in listing.get("Contents", [])]


def asset_records_from_scenario(path: str | Path) -> list[dict[str, Any]]:
    """The asset records of a scenario file (what ``rotorwatch provision`` writes to DynamoDB)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    records: Iterable[Mapping[str, Any]] = data.get("assets", [])
    return [dict(a) for a in records]
