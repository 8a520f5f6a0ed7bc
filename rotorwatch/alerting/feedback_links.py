"""Signed feedback links: the token that lets whoever received an alert answer that alert alone.

**Links** are capabilities: ``<base>/f/<token>`` where the token (format version 1) is

    1.<ref>.<expires>.<mac>

* ``ref``: :func:`alert_ref`, 16 base32 characters of SHA-256 over the alert id (80 bits): short
  enough for an SMS, and the feedback table maps it back to the alert;
* ``expires``: epoch seconds, base 36;
* ``mac``: HMAC-SHA256 over the version, ref and expiry, with a secret key, truncated to 128 bits
  (22 base64url characters), compared in constant time (:func:`hmac.compare_digest`).

So a link names one alert and nothing else: no login, and nothing else is reachable with it.
The verdict is NOT in the signed part: the link authorises answering *this* alert; which answer
is the technician's choice (query parameter or form field). Verification accepts a list of keys
(the current one and the one before the last rotation), so rotating the key does not break links
already in people's inboxes.

Pure: no AWS, no clock. Adapters pass keys and times in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Final

#: Token format version (the first field of every token). A new format gets a new number;
#: verification refuses versions it does not know.
TOKEN_VERSION: Final = "1"
#: Bytes of the truncated HMAC-SHA256 in a token (128 bits: forging one takes ~2^128 guesses,
#: and the endpoint is throttled).
MAC_BYTES: Final = 16
#: Characters of the alert reference (base32 of SHA-256 over the alert id: 80 bits).
REF_CHARS: Final = 16
#: Minimum key length (bytes): a 256-bit random key, as the HMAC-SHA256 block allows.
MIN_KEY_BYTES: Final = 32
#: Domain separation: a MAC over a feedback token cannot be one over anything else.
_MAC_CONTEXT: Final = b"rotorwatch-feedback"
#: How long a link works (seconds): two weeks covers a technician's rounds and a holiday.
DEFAULT_LINK_TTL_S: Final = 14 * 86_400


class LinkError(ValueError):
    """A token that does not authorise anything. ``reason`` is for logs, never for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def alert_ref(alert_id: str) -> str:
    """The short, stable reference of an alert id that links carry (lowercase base32)."""
    digest = hashlib.sha256(alert_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:REF_CHARS].lower()


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _mac(key: bytes, ref: str, expires: str) -> str:
    msg = b"\n".join((_MAC_CONTEXT, TOKEN_VERSION.encode(), ref.encode(), expires.encode()))
    tag = hmac.new(key, msg, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(tag).decode("ascii").rstrip("=")


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a feedback key must have at least {MIN_KEY_BYTES} bytes")


def sign(key: bytes, alert_id: str, expires_s: int) -> str:
    """A token that lets its holder answer the alert ``alert_id`` until ``expires_s`` (epoch s)."""
    _check_key(key)
    if expires_s < 0:
        raise ValueError("expires_s must be >= 0")
    ref, expires = alert_ref(alert_id), _b36(expires_s)
    return ".".join((TOKEN_VERSION, ref, expires, _mac(key, ref, expires)))


def verify(token: str, keys: Sequence[bytes], now_s: int) -> str:
    """The alert reference a token authorises, or :class:`LinkError`.

    Every key is tried (current, previous) and each comparison is constant-time; the expiry is
    checked only after the MAC, so an expired-but-forged token says "signature", not "expired".
    """
    if not keys:
        raise LinkError("no_key")
    parts = token.split(".")
    if len(parts) != 4:
        raise LinkError("malformed")
    version, ref, expires, mac = parts
    if version != TOKEN_VERSION:
        raise LinkError("version")
    if (
        len(ref) != REF_CHARS
        or not ref.isascii()
        or not ref.isalnum()
        or not expires.isascii()
        or not expires.isalnum()
        or len(expires) > 12
    ):
        raise LinkError("malformed")
    good = False
    for key in keys:
        _check_key(key)
        # No early exit: the time taken does not tell which key (if any) matched.
        good |= hmac.compare_digest(
            _mac(key, ref, expires).encode(), mac.encode("ascii", "replace")
        )
    if not good:
        raise LinkError("signature")
    if int(expires, 36) < now_s:
        raise LinkError("expired")
    return ref
