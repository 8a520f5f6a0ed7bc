"""DynamoDB attribute-value conversion for plain JSON-like records (floats <-> Decimal)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-compatible record as DynamoDB attribute values (DynamoDB numbers are Decimal)."""
    plain = json.loads(json.dumps(record, allow_nan=False), parse_float=Decimal)
    return {k: _SERIALIZER.serialize(v) for k, v in plain.items()}


def from_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values back to Python values (numbers stay Decimal)."""
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}
