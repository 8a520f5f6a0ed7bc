"""Typed handler settings read from the environment once, at cold start.

A missing or malformed variable fails the cold start with a message naming it, instead of a
KeyError deep inside the first batch.
"""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(RuntimeError):
    """An environment variable the function needs is missing or malformed."""


def required(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise SettingsError(f"environment variable {key} is required and empty or missing")
    return value


def optional(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key, "").strip()
    return value or None


def positive_float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"environment variable {key} must be a number, got {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"environment variable {key} must be > 0, got {raw!r}")
    return value
