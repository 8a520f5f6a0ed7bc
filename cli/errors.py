"""One-line errors for a user's mistakes, for every command.

A missing file, a folder where a file was expected, no AWS credentials or region, or AWS
refusing a call are not bugs in rotorwatch: the user gets one line that says what to do and a
non-zero exit, never a traceback. :func:`guard` wraps each registered command (see
``cli/__init__.py``); anything else still raises, because that would be a bug worth a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, TypeVar

import typer

#: Exit status of a command stopped by a user's mistake (click's usage-error status).
USER_ERROR_EXIT: Final = 2

F = TypeVar("F", bound=Callable[..., Any])


def _botocore_message(exc: BaseException) -> str | None:
    try:
        from botocore import exceptions as be
    except ImportError:  # pragma: no cover - botocore ships with the cli extra's boto3
        return None
    if isinstance(exc, be.NoCredentialsError | be.PartialCredentialsError):
        return (
            "no AWS credentials: configure them (aws configure, AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, be.NoRegionError):
        from cli.aws import NO_REGION_MESSAGE

        return NO_REGION_MESSAGE
    if isinstance(exc, be.ProfileNotFound):
        return f"{exc} (check AWS_PROFILE and ~/.aws/config)"
    if isinstance(exc, be.EndpointConnectionError):
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, be.ClientError):
        err = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "the call")
        return f"AWS refused {op}: {err.get('Code', 'error')}: {err.get('Message', exc)}"
    return None


def user_error_message(exc: BaseException) -> str | None:
    """The one line for a user's mistake, or None if ``exc`` is not one."""
    if isinstance(exc, typer.BadParameter):
        # Raised by a command's own checks (a bad scenario, a bad duration): click would draw
        # a usage box around it; one line says the same.
        return str(exc.message)
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a folder; give a file"
    if isinstance(exc, NotADirectoryError):
        return f"{exc.filename} is not a folder"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file or folder"
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied"
    return _botocore_message(exc)


def guard(command: F) -> F:
    """Wrap a command so a user's mistake ends in one ``error: ...`` line and exit status 2."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            text = user_error_message(exc)
            if text is None:
                raise
            typer.echo(f"error: {text}", err=True)
            raise typer.Exit(USER_ERROR_EXIT) from None

    return guarded  # type: ignore[return-value]
