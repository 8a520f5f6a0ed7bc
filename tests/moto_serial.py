"""moto's request handling, one request at a time.

score_and_alert folds devices on a thread pool, and the state-race drill runs two invocations at
once. moto's backends are plain dicts without locks, so two threads inside request handlers at
once can fail in moto itself (CI once failed inside moto's batch_get_item while another thread
wrote). AWS serves concurrent requests; the order of reads and writes between invocations is
what the tests race (the drill's RaceProxy sets it), and that happens between requests. So each
moto request runs whole, one at a time; nothing waits inside a request, so this cannot deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def one_request_at_a_time() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def serialised(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = serialised  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]
