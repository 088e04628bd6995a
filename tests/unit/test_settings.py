"""The settings object refuses broken values and names the variable."""

import pytest
from pydantic import ValidationError

from aiva.settings import Settings


@pytest.mark.parametrize("var, value, needle", [
    ("AIVA_DATABASE_URL", "mysql://x/y", "AIVA_DATABASE_URL"),
    ("AIVA_TEMPORAL_ADDRESS", "localhost", "AIVA_TEMPORAL_ADDRESS"),
    ("AIVA_WEBHOOK_URL", "ftp://x", "AIVA_WEBHOOK_URL"),
    ("AIVA_SECRET_HASH_KEY", "short", "AIVA_SECRET_HASH_KEY"),
    ("AIVA_BATCH_SIZE", "5", "batch_size"),
])
def test_broken_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as ei:
        Settings()
    assert needle in str(ei.value)


def test_defaults_work_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("AIVA_DATABASE_URL", "AIVA_WEBHOOK_URL", "AIVA_TEMPORAL_ADDRESS"):
        monkeypatch.delenv(k, raising=False)
    s = Settings()
    assert s.database_url is None and s.temporal_address == "localhost:7233"
    assert s.ui_url.startswith("http://localhost:8233/")


def test_metrics_port_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIVA_METRICS_PORT", "70000")
    with pytest.raises(ValidationError, match="metrics_port"):
        Settings()


def test_temporal_tls_settings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mTLS files are read into the client's TLS config; half a pair or a missing file is refused by name."""
    from temporalio.service import TLSConfig

    from worker import temporal_tls

    for k in ("AIVA_TEMPORAL_TLS", "AIVA_TEMPORAL_TLS_CERT", "AIVA_TEMPORAL_TLS_KEY", "AIVA_TEMPORAL_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    assert temporal_tls(Settings()) is False
    assert temporal_tls(Settings(temporal_api_key="k")) is True  # Temporal Cloud API keys need TLS
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    tls = temporal_tls(Settings(temporal_tls_cert=cert, temporal_tls_key=key))
    assert isinstance(tls, TLSConfig) and tls.client_cert == b"CERT" and tls.client_private_key == b"KEY"
    assert tls.server_root_ca_cert is None
    with pytest.raises(ValidationError, match="AIVA_TEMPORAL_TLS_CERT and AIVA_TEMPORAL_TLS_KEY go together"):
        Settings(temporal_tls_cert=cert)
    with pytest.raises(ValidationError, match="AIVA_TEMPORAL_TLS_CA: no such file"):
        Settings(temporal_tls_ca=tmp_path / "missing.pem")


def test_integrations_are_whole_or_refused_by_name() -> None:
    from aiva.connectors.registry import configured

    with pytest.raises(ValidationError, match="jira integration is half configured: also set AIVA_JIRA_EMAIL"):
        Settings(jira_base_url="https://x.atlassian.net")
    with pytest.raises(ValidationError, match="AIVA_JIRA_PROJECT_KEY"):
        Settings(jira_base_url="https://x.atlassian.net", jira_email="a@b", jira_api_token="t",
                 jira_project_key="not a key")
    with pytest.raises(ValidationError, match="AIVA_SLACK_CHANNEL"):
        Settings(slack_token="xoxb-1", slack_channel="#general")  # a name, not the channel ID
    s = Settings(github_repo="acme/app", github_token="t", slack_token="xoxb-1", slack_channel="C0123")
    assert configured(s) == ["github", "slack"]
