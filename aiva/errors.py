"""AIVA's exceptions, in one tree (the encode/httpx way).

    AivaError
    ├── ConfigError                 a setting is missing or broken
    ├── InputError                  bad input: never retried
    │   ├── UnknownFormatError      no parser recognises the report
    │   ├── ReportParseError        the report is truncated, malformed or not what it claims
    │   ├── ReportTooLargeError     the report is over the configured size limit
    │   ├── UnsafeInputError        XML entity tricks (XXE, billion laughs) or similar
    │   └── ApiKeyFormatError       an API token or scope list is malformed (never shows the secret)
    ├── StoreError                  PostgreSQL refused an operation
    │   └── MigrationError          a schema migration failed or is unknown
    ├── IntegrationError            a remediation target (webhook, JIRA, ServiceNow, GitHub, Slack) failed
    │   ├── IntegrationRejected     the target answered 4xx: retrying will not help
    │   └── IntegrationUnavailable  timeout, connection error, 429 or 5xx: retry later (after Retry-After)
    └── ScannerError                a scanner could not run
        └── ScannerNotInstalled     the scanner's executable is missing

Every error carries context (file, format, position, url) in attributes as well as
in its message, so the CLI, the activity layer and tests can all read it.
Activities turn `InputError` into a non-retryable Temporal `ApplicationError`
whose type is the class name.
"""

from __future__ import annotations


class AivaError(Exception):
    """Base of every AIVA error."""


class ConfigError(AivaError):
    """A setting is missing or broken."""


class InputError(AivaError):
    """Bad input: a retry would fail the same way."""


class UnknownFormatError(InputError):
    """No parser recognises the report."""

    def __init__(self, path: str, tried: list[str], hint: str = "") -> None:
        self.path = path
        self.tried = tried
        msg = f"{path}: unknown report format (tried: {', '.join(tried)})"
        super().__init__(f"{msg}; {hint}" if hint else msg)


class ReportParseError(InputError):
    """The report is truncated, malformed, or not the format it claims to be."""

    def __init__(self, path: str, fmt: str, reason: str, position: str | None = None) -> None:
        self.path = path
        self.format = fmt
        self.reason = reason
        self.position = position
        where = f" at {position}" if position else ""
        super().__init__(f"{path}: invalid {fmt} report{where}: {reason}")


class ReportTooLargeError(InputError):
    """The report is larger than the configured limit."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        self.path = path
        self.size = size
        self.limit = limit
        super().__init__(
            f"{path}: report is {size:,} bytes, over the limit of {limit:,} bytes (AIVA_MAX_REPORT_BYTES)"
        )


class UnsafeInputError(InputError):
    """The input tries an XML entity trick (XXE, entity expansion) or similar."""

    def __init__(self, path: str, fmt: str, reason: str) -> None:
        self.path = path
        self.format = fmt
        super().__init__(f"{path}: refused unsafe {fmt} input: {reason}")


class ApiKeyFormatError(InputError):
    """A token or a scope list is malformed. Its message never contains the secret."""


class StoreError(AivaError):
    """PostgreSQL refused an operation."""


class MigrationError(StoreError):
    """A schema migration failed, or the database is newer than this code."""


class IntegrationError(AivaError):
    """A remediation target failed."""

    def __init__(self, integration: str, url: str, message: str, status_code: int | None = None) -> None:
        self.integration = integration
        self.url = url
        self.status_code = status_code
        code = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"{integration} {url}{code}: {message}")


class IntegrationRejected(IntegrationError):
    """The target answered 4xx: the request itself is wrong; retrying will not help."""


class IntegrationUnavailable(IntegrationError):
    """Timeout, connection failure, 429 or 5xx: worth retrying later (after `retry_after` s when the target said)."""

    def __init__(
        self, integration: str, url: str, message: str, status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(integration, url, message, status_code)
        self.retry_after = retry_after


class ScannerError(AivaError):
    """A scanner could not run."""


class ScannerNotInstalled(ScannerError):
    """The scanner's executable is missing."""

    def __init__(self, scanner: str, package: str) -> None:
        self.scanner = scanner
        self.package = package
        super().__init__(f"scanner {scanner!r} is not installed: pip install {package}")
