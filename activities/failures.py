"""Turning domain errors into Temporal failures with the right retry behaviour."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from aiva.errors import (
    AivaError,
    ConfigError,
    InputError,
    IntegrationRejected,
    IntegrationUnavailable,
    ScannerNotInstalled,
)

_FINAL = (InputError, IntegrationRejected, ConfigError, ScannerNotInstalled)


def to_application_error(e: AivaError) -> ApplicationError:
    """A non-retryable ApplicationError for bad input and rejections; a retryable one otherwise.

    The type is the domain class name, so retry policies and the history name it. A target's
    Retry-After becomes the next attempt's delay (instead of the policy's backoff).
    """
    delay = getattr(e, "retry_after", None) if isinstance(e, IntegrationUnavailable) else None
    return ApplicationError(
        str(e), type=type(e).__name__, non_retryable=isinstance(e, _FINAL),
        next_retry_delay=timedelta(seconds=delay) if delay else None,
    )
