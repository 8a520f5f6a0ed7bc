"""AWS sessions for the commands that call AWS: one region resolution, one message.

The region comes from ``--region``, else ``AWS_REGION`` (what the AWS CLI v2 and the SDKs read
first, and what the README exports), else botocore's own chain (``AWS_DEFAULT_REGION``, then the
profile's ``region``). botocore alone skips ``AWS_REGION``: a user who followed the README was
told there was no region.
"""

from __future__ import annotations

import os
from typing import Any, Final

#: The one line every command prints when no region is configured anywhere.
NO_REGION_MESSAGE: Final = (
    "no AWS region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION, or region in "
    "your AWS profile)"
)


def session(region: str | None = None) -> Any:
    """A boto3 session in the resolved region; ``botocore.exceptions.NoRegionError`` if none
    (``cli.errors.guard`` turns it into :data:`NO_REGION_MESSAGE`)."""
    import boto3
    from botocore.exceptions import NoRegionError

    chosen = (region or "").strip() or os.environ.get("AWS_REGION", "").strip() or None
    result = boto3.session.Session(region_name=chosen)
    if not result.region_name:
        raise NoRegionError()
    return result


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client of ``service`` in the resolved region (see :func:`session`)."""
    return session(region).client(service)
