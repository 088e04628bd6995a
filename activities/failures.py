"""Turning domain errors into Temporal failures with the right retry behaviour."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from aiva.errors import AivaError, ConfigError, InputError, IntegrationRejected, ScannerNotInstalled

_FINAL = (InputError, IntegrationRejected, ConfigError, ScannerNotInstalled)


def to_application_error(e: AivaError) -> ApplicationError:
    """A non-retryable ApplicationError for bad input and rejections; a retryable one otherwise.

    The type is the domain class name, so retry policies and the history name it.
    """
    return ApplicationError(str(e), type=type(e).__name__, non_retryable=isinstance(e, _FINAL))
