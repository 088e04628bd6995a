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

from aiva.enums import Severity


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
    task_queue: str = "aiva-pipeline"
    reports_dir: Path | None = Field(default=None, description="unset = HOME/reports")
    max_report_bytes: int = Field(default=2 * 1024**3, ge=1024)
    batch_size: int = Field(default=5000, ge=100, le=100_000)
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
    def pgdata(self) -> Path:
        """The embedded PostgreSQL data directory."""
        return self.home / "pgdata"

    @property
    def ui_url(self) -> str:
        """The Temporal Web UI of the configured server (dev server convention)."""
        host = self.temporal_address.rpartition(":")[0]
        return f"http://{host}:{self.temporal_ui_port}/namespaces/{self.temporal_namespace}/workflows"
