"""Faults injected at the boto3 boundary: answers on the wire (botocore ``before-send``), so the
client's real retry policy (standard mode, its attempt count and backoff) runs against them."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError


class _Raw(io.BytesIO):
    """Just enough of urllib3's response for botocore to read a body (whole or streamed)."""

    def stream(self, **_kw: Any) -> Any:
        yield self.getvalue()


def error_response(url: str, status: int, code: str, message: str = "injected") -> AWSResponse:
    body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
    headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.1"}
    return AWSResponse(url, status, headers, _Raw(body))


def query_error_response(url: str, status: int, code: str) -> AWSResponse:
    """An error in the query protocol's XML (SNS)."""
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>injected</Message></Error><RequestId>x</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse(url, status, {"Content-Type": "text/xml"}, _Raw(body))


def json_response(url: str, payload: Any) -> AWSResponse:
    return AWSResponse(
        url, 200, {"Content-Type": "application/json"}, _Raw(json.dumps(payload).encode())
    )


class Fault:
    """Answer the first ``times`` attempts of ``operation`` with ``answer`` (then pass through)."""

    def __init__(
        self,
        client: Any,
        operation: str,
        answer: Callable[[AWSPreparedRequest], AWSResponse | None],
        times: int = 10**9,
    ) -> None:
        self.attempts = 0
        self.injected = 0
        self.times = times
        self._answer = answer
        service = client.meta.service_model.service_id.hyphenize()
        self._event = f"before-send.{service}.{operation}"
        self._client = client
        client.meta.events.register_first(self._event, self._hook)

    def _hook(self, request: AWSPreparedRequest, **_kw: Any) -> AWSResponse | None:
        self.attempts += 1
        if self.injected >= self.times:
            return None
        self.injected += 1
        response = self._answer(request)
        # botocore calls every before-send handler; moto's (after ours) would still execute the
        # request although our answer wins. Point it nowhere moto serves, so the fault is a
        # request AWS refused, not a response lost after AWS acted.
        request.url = "https://fault-injected.invalid/"
        return response

    def remove(self) -> None:
        self._client.meta.events.unregister(self._event, self._hook)


def throttle(code: str = "ThrottlingException", status: int = 400) -> Callable[..., AWSResponse]:
    return lambda request: error_response(request.url, status, code)


def timeout(request: AWSPreparedRequest) -> AWSResponse:
    raise ReadTimeoutError(endpoint_url=request.url)
