"""The one settings object (pydantic-settings, env prefix AIVA_).

Defaults run everything on one machine: the embedded PostgreSQL in `.aiva/pgdata`
and the Temporal dev server on localhost:7233. Obviously broken values are refused
at start-up with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiva.enums import Severity, SyncStrategy

# Integration -> the settings it needs; all set = configured, some set = refused at start.
INTEGRATION_SETTINGS: dict[str, tuple[str, ...]] = {
    "webhook": ("webhook_url",),
    "jira": ("jira_base_url", "jira_email", "jira_api_token", "jira_project_key"),
    "servicenow": ("servicenow_instance_url", "servicenow_username", "servicenow_password"),
    "github": ("github_repo", "github_token"),
    "slack": ("slack_token", "slack_channel"),
}


class Settings(BaseSettings):
    """Every knob AIVA has; read from the environment (AIVA_*) or a .env file."""

    model_config = SettingsConfigDict(env_prefix="AIVA_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".aiva"), description="where embedded data, logs and reports live")
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset = the embedded server in HOME/pgdata"
    )
    db_pool_max: int = Field(default=10, ge=1, le=200)
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    temporal_tls: bool = Field(default=False, description="TLS to the frontend (implied by a client cert or API key)")
    temporal_tls_cert: Path | None = Field(default=None, description="client certificate (PEM) for mTLS")
    temporal_tls_key: Path | None = Field(default=None, description="its private key (PEM)")
    temporal_tls_ca: Path | None = Field(default=None, description="CA bundle (PEM); unset = the system roots")
    temporal_api_key: SecretStr | None = Field(default=None, description="Temporal Cloud API key")
    task_queue: str = "aiva-pipeline"
    worker_max_concurrent_activities: int = Field(
        default=20, ge=1, le=1000, description="activities one worker process runs at once")
    reports_dir: Path | None = Field(default=None, description="unset = HOME/reports")
    max_report_bytes: int = Field(default=2 * 1024**3, ge=1024)
    batch_size: int = Field(default=5000, ge=100, le=100_000)
    ingest_processes: int = Field(
        default=1, ge=1, le=64,
        description="processes that parse one large Trivy or SARIF report in parallel (a pool per worker);"
        " 1 = in the worker process, as every other report",
    )
    secret_hash_key: SecretStr = SecretStr("aiva-local-development-key-change-me")
    webhook_url: str | None = Field(default=None, description="generic webhook for remediation tickets")
    webhook_token: SecretStr | None = None
    webhook_min_severity: Severity = Severity.HIGH
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    redis_url: str | None = None
    pdf_top_findings: int = Field(default=200, ge=0, le=5000)
    metrics_port: int | None = Field(
        default=None, ge=1, le=65534,
        description="serve Prometheus metrics on this port (Temporal SDK metrics on the next one); unset = off",
    )
    fp_auto_close_threshold: float | None = Field(
        default=None, gt=0.5, le=1.0,
        description="close new findings as false positive when the experience model says at least this; unset = never",
    )
    ticket_sync: SyncStrategy = Field(
        default=SyncStrategy.CREATE_AND_CLOSE,
        description="create_and_close: a later run that finds a finding fixed (or triaged away) closes its ticket",
    )
    # Ticketing integrations: each is on when its required settings (INTEGRATION_SETTINGS) are set.
    jira_base_url: str | None = Field(default=None, description="JIRA Cloud site, e.g. https://yourco.atlassian.net")
    jira_email: str | None = Field(default=None, description="the Atlassian account of the API token")
    jira_api_token: SecretStr | None = None
    jira_project_key: str | None = Field(default=None, description="project for new issues, e.g. SEC")
    jira_issue_type: str = "Bug"
    jira_done_transition: str = Field(default="Done", description="transition that closes an issue")
    servicenow_instance_url: str | None = Field(default=None, description="e.g. https://yourco.service-now.com")
    servicenow_username: str | None = None
    servicenow_password: SecretStr | None = None
    servicenow_table: str = "incident"
    servicenow_assignment_group: str | None = Field(default=None, description="sys_id of the assignment group")
    github_repo: str | None = Field(default=None, description="owner/name of the repository for issues")
    github_token: SecretStr | None = None
    github_api_url: str = Field(default="https://api.github.com", description="https://HOST/api/v3 for GHES")
    slack_token: SecretStr | None = Field(default=None, description="bot token (chat:write, channels:history)")
    slack_channel: str | None = Field(default=None, description="channel ID (C...), not its name")
    slack_api_url: str = "https://slack.com/api"
    api_host: str = Field(default="127.0.0.1", description="address `aiva api serve` binds")
    api_port: int = Field(default=8000, ge=1, le=65535, description="port `aiva api serve` binds")
    api_rate_per_minute: int = Field(
        default=120, ge=1, le=1_000_000, description="sustained requests per minute per API key (bucket refill)"
    )
    api_rate_burst: int = Field(default=30, ge=1, le=100_000, description="requests an API key may make at once")
    api_auth_failures_per_minute: int = Field(
        default=10, ge=1, le=10_000, description="failed authentications allowed per minute per client address"
    )
    api_inbox_dir: Path | None = Field(
        default=None, description="where the API streams uploaded reports (workers must read it); unset = HOME/inbox"
    )

    @field_validator("database_url", "redis_url", "webhook_url")
    @classmethod
    def _url_has_scheme(cls, v: str | None, info: object) -> str | None:
        if v is None or v == "":
            return None
        allowed = {
            "database_url": ("postgres", "postgresql"),
            "redis_url": ("redis", "rediss", "unix"),
            "webhook_url": ("http", "https"),
        }[getattr(info, "field_name", "")]
        scheme = urlparse(v).scheme
        if scheme not in allowed:
            name = f"AIVA_{getattr(info, 'field_name', '').upper()}"
            raise ValueError(f"{name} must start with {' or '.join(s + '://' for s in allowed)}, got {v!r}")
        return v

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"AIVA_TEMPORAL_ADDRESS must be host:port, got {v!r}")
        return v

    @field_validator("api_host")
    @classmethod
    def _bare_host(cls, v: str) -> str:
        if not v or "://" in v or "/" in v or any(c.isspace() for c in v):
            raise ValueError(f"AIVA_API_HOST must be a bare host name or address, got {v!r}")
        return v

    @field_validator("ticket_sync")
    @classmethod
    def _sync_built(cls, v: SyncStrategy) -> SyncStrategy:
        if v is SyncStrategy.BIDIRECTIONAL:
            raise ValueError("AIVA_TICKET_SYNC=bidirectional is not built yet (create_only or create_and_close)")
        return v

    @model_validator(mode="after")
    def _temporal_tls_files(self) -> Settings:
        """A client certificate goes with its key; every named PEM file exists."""
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("AIVA_TEMPORAL_TLS_CERT and AIVA_TEMPORAL_TLS_KEY go together (mTLS needs both)")
        for name in ("temporal_tls_cert", "temporal_tls_key", "temporal_tls_ca"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"AIVA_{name.upper()}: no such file {str(path)!r}")
        return self

    @model_validator(mode="after")
    def _integrations_whole(self) -> Settings:
        """An integration is configured completely or not at all, and its values are usable."""
        for name, required in INTEGRATION_SETTINGS.items():
            given = [f for f in required if getattr(self, f) not in (None, "")]
            if given and len(given) < len(required):
                missing = ", ".join(f"AIVA_{f.upper()}" for f in required if f not in given)
                raise ValueError(f"the {name} integration is half configured: also set {missing}")
        from aiva.connectors.registry import check_configured  # the connectors' own config models

        check_configured(self)
        return self

    @model_validator(mode="after")
    def _secret_key_length(self) -> Settings:
        if len(self.secret_hash_key.get_secret_value()) < 16:
            raise ValueError("AIVA_SECRET_HASH_KEY must be at least 16 characters")
        return self

    @property
    def resolved_reports_dir(self) -> Path:
        """Where reports are written."""
        return self.reports_dir or self.home / "reports"

    @property
    def resolved_inbox_dir(self) -> Path:
        """Where the HTTP API streams uploaded reports."""
        return self.api_inbox_dir or self.home / "inbox"

    @property
    def pgdata(self) -> Path:
        """The embedded PostgreSQL data directory."""
        return self.home / "pgdata"

    @property
    def ui_url(self) -> str:
        """The Temporal Web UI of the configured server (dev server convention)."""
        host = self.temporal_address.rpartition(":")[0]
        return f"http://{host}:{self.temporal_ui_port}/namespaces/{self.temporal_namespace}/workflows"
