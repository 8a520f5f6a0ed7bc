"""boto3 clients with explicit retries and timeouts.

Defaults are far too patient for a stream consumer (60 s read timeout, legacy retries): a hung
call would hold the shard until the function times out. Every client here fails fast and retries
with the SDK's standard mode (exponential backoff with jitter, retry quota).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def client(
    service: str,
    *,
    max_attempts: int = 3,
    connect_timeout_s: float = 2.0,
    read_timeout_s: float = 5.0,
) -> Any:
    """A boto3 client for ``service`` with standard-mode retries and short timeouts.

    ``max_attempts`` counts every attempt, the first included (botocore's
    ``total_max_attempts``; its ``max_attempts`` key would count retries only).
    """
    config = Config(
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(service, config=config)
