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
