"""The two AWS data-plane APIs moto cannot run for us, served over HTTP on 127.0.0.1.

* **SageMaker Runtime InvokeEndpoint** (``POST /endpoints/<name>/invocations``): the body goes
  through the model's inference script exactly as the scikit-learn serving container calls it:
  ``model_fn(model_dir)`` once, then ``input_fn(body, content_type)`` ▶
  ``predict_fn(data, model)`` ▶ ``output_fn(prediction, accept)`` per request.
* **Firehose PutRecordBatch / PutRecord** (JSON protocol, ``X-Amz-Target: Firehose_20150804.*``):
  the records go to :class:`~local_cloud.firehose.LocalFirehose` (the lake layout).

The handlers reach them through botocore (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` and
``AWS_ENDPOINT_URL_FIREHOSE``), so the deployed client code, serialisation and error handling
are the code that runs.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from local_cloud.firehose import LocalFirehose

#: Where the model artifact keeps its inference script (the SageMaker framework convention).
INFERENCE_SCRIPT = "code/inference.py"
_INFERENCE_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn")


class ModelError(RuntimeError):
    """The model artifact or its inference script cannot be served."""


def load_inference_module(path: str | Path) -> ModuleType:
    """Import an inference script by file path (it is not a package: sagemaker/ has no
    __init__.py), checking it has the four serving functions."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"inference script {p} not found")
    spec = importlib.util.spec_from_file_location(f"rotorwatch_inference_{uuid.uuid4().hex}", p)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {p}")
    module = importlib.util.module_from_spec(spec)
    # The serving container puts code/ on sys.path, so a script may import its sibling modules.
    sys.path.insert(0, str(p.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(p.parent))
    missing = [f for f in _INFERENCE_FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise ModelError(f"{p} lacks {', '.join(missing)} (the serving container needs all four)")
    return module


class LocalModel:
    """A model artifact (model.tar.gz or its unpacked folder) served by its inference script."""

    def __init__(self, artifact: str | Path, *, inference_script: str | Path | None = None) -> None:
        src = Path(artifact)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if src.is_file():
            self._tmp = tempfile.TemporaryDirectory(prefix="rotorwatch-model-")
            try:
                with tarfile.open(src, "r:gz") as tar:
                    tar.extractall(self._tmp.name, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise ModelError(f"cannot unpack {src}: {exc}") from None
            self.model_dir = Path(self._tmp.name)
        elif src.is_dir():
            self.model_dir = src
        else:
            raise ModelError(f"model artifact {src} not found (run: make model)")
        script = Path(inference_script) if inference_script else self.model_dir / INFERENCE_SCRIPT
        self.module = load_inference_module(script)
        self.model = self.module.model_fn(str(self.model_dir))
        self.invocations = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        t0 = time.perf_counter()
        data = self.module.input_fn(body, content_type)
        prediction = self.module.predict_fn(data, self.model)
        result = self.module.output_fn(prediction, accept)
        # The container accepts (body, content_type) or a bare body answered as `accept`.
        out, ctype = result if isinstance(result, tuple) else (result, accept)
        payload = out.encode("utf-8") if isinstance(out, str) else bytes(out)
        with self._lock:
            self.invocations += 1
            self.seconds += time.perf_counter() - t0
        return payload, str(ctype)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _handler_class(services: LocalServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the demo's console is for the report

        def _reply(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str, *, json_protocol: bool) -> None:
            body = json.dumps({"__type": code, "message": message}).encode()
            ctype = "application/x-amz-json-1.1" if json_protocol else "application/json"
            self._reply(status, body, {"Content-Type": ctype, "x-amzn-ErrorType": code})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            target = self.headers.get("X-Amz-Target", "")
            if target.startswith("Firehose_20150804."):
                self._firehose(target.split(".", 1)[1], body)
                return
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if len(parts) == 3 and parts[0] == "endpoints" and parts[2] == "invocations":
                self._invoke(parts[1], body)
                return
            self._error(404, "UnknownOperationException", self.path, json_protocol=True)

        def _invoke(self, name: str, body: bytes) -> None:
            model = services.endpoints.get(name)
            if model is None:
                self._error(
                    400,
                    "ValidationError",
                    f"Endpoint {name} of account {services.account} not found.",
                    json_protocol=False,
                )
                return
            content_type = self.headers.get("Content-Type", "application/json")
            accept = self.headers.get("Accept", "application/json")
            try:
                out, ctype = model.invoke(body, content_type, accept)
            except Exception as exc:  # the container answers a script error as a model error
                self._error(424, "ModelError", f"{type(exc).__name__}: {exc}", json_protocol=False)
                return
            self._reply(
                200,
                out,
                {"Content-Type": ctype, "x-Amzn-Invoked-Production-Variant": "AllTraffic"},
            )

        def _firehose(self, operation: str, body: bytes) -> None:
            try:
                request = json.loads(body)
                stream = request["DeliveryStreamName"]
                if operation == "PutRecordBatch":
                    raw = [r["Data"] for r in request["Records"]]
                elif operation == "PutRecord":
                    raw = [request["Record"]["Data"]]
                else:
                    self._error(400, "InvalidArgumentException", operation, json_protocol=True)
                    return
                table = services.delivery_streams.get(stream)
                if table is None:
                    self._error(
                        400,
                        "ResourceNotFoundException",
                        f"Firehose {stream} under account {services.account} not found.",
                        json_protocol=True,
                    )
                    return
                records = []
                for data in raw:
                    # Firehose concatenates record bytes; our producers end each with "\n".
                    for line in base64.b64decode(data).decode("utf-8").splitlines():
                        if line.strip():
                            records.append(json.loads(line))
            except (KeyError, TypeError, ValueError) as exc:
                self._error(400, "InvalidArgumentException", str(exc), json_protocol=True)
                return
            services.put(table, records)
            ids = [{"RecordId": uuid.uuid4().hex} for _ in raw]
            response: dict[str, Any] = (
                {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": ids}
                if operation == "PutRecordBatch"
                else {"RecordId": ids[0]["RecordId"], "Encrypted": False}
            )
            self._reply(
                200, json.dumps(response).encode(), {"Content-Type": "application/x-amz-json-1.1"}
            )

    return Handler


class LocalServices:
    """InvokeEndpoint and Firehose on one local HTTP server (threads, like the real services)."""

    def __init__(self, firehose: LocalFirehose, *, account: str = "123456789012") -> None:
        self.firehose = firehose
        self.account = account
        self.endpoints: dict[str, LocalModel] = {}
        self.delivery_streams: dict[str, str] = {}  # delivery stream name -> lake table
        self.records_in: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def put(self, table: str, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self.firehose.put_records(table, records)
            self.records_in[table] = self.records_in.get(table, 0) + len(records)

    def flush(self) -> list[Path]:
        """Write every buffered Firehose record to the lake now (end of a run)."""
        with self._lock:
            return self.firehose.flush()

    def start(self) -> LocalServices:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for model in self.endpoints.values():
            model.close()
