"""Why a message is refused: the stable reason codes and the error that carries one (v1 and v2)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Stable reason codes for rejected messages (quarantine prefixes, metric dimensions)."""

    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    UNSUPPORTED_VERSION = "unsupported_version"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_DEVICE_ID = "bad_device_id"
    BAD_UNIT = "bad_unit"
    BAD_ENCODING = "bad_encoding"
    BAD_BASE64 = "bad_base64"
    BAD_BYTE_COUNT = "bad_byte_count"
    TOO_FEW_SAMPLES = "too_few_samples"
    TOO_MANY_SAMPLES = "too_many_samples"
    NON_FINITE_SAMPLES = "non_finite_samples"
    #: Valid by type but not physically possible (:data:`rotorwatch.contract.plausible.PLAUSIBLE`,
    #: :data:`rotorwatch.contract.telemetry.SCALE_MIN`).
    IMPLAUSIBLE = "implausible"
    #: Set by extract_features, not by :func:`rotorwatch.contract.telemetry.decode`: the payload's
    #: ``device_id`` is not the device whose topic carried it (the Kinesis partition key the IoT
    #: rule set).
    DEVICE_MISMATCH = "device_mismatch"
    #: Set by extract_features: the message's contract is not the one its topic's rule carries
    #: (a binary v2 message through the v1 rule, anything but v2 through the v2 rule).
    WRONG_TOPIC = "wrong_topic"


class TelemetryError(ValueError):
    """A message that breaks the contract (v1 or v2). ``reason`` is stable; ``str(err)`` is for humans."""

    def __init__(self, reason: Reason, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self), self.field))
