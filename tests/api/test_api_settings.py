"""The AIVA_API_* settings: defaults, bounds, and where uploads go."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aiva.settings import Settings


@pytest.mark.parametrize("var, value, needle", [
    ("AIVA_API_HOST", "http://0.0.0.0", "AIVA_API_HOST"),
    ("AIVA_API_HOST", "", "AIVA_API_HOST"),
    ("AIVA_API_PORT", "0", "api_port"),
    ("AIVA_API_PORT", "70000", "api_port"),
    ("AIVA_API_RATE_PER_MINUTE", "0", "api_rate_per_minute"),
    ("AIVA_API_RATE_BURST", "0", "api_rate_burst"),
    ("AIVA_API_AUTH_FAILURES_PER_MINUTE", "-1", "api_auth_failures_per_minute"),
])
def test_broken_api_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as ei:
        Settings()
    assert needle in str(ei.value)


def test_api_defaults_and_inbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k in ("AIVA_API_HOST", "AIVA_API_PORT", "AIVA_API_INBOX_DIR", "AIVA_API_RATE_BURST"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AIVA_HOME", str(tmp_path))
    s = Settings()
    assert (s.api_host, s.api_port, s.api_rate_burst) == ("127.0.0.1", 8000, 30)
    assert s.resolved_inbox_dir == tmp_path / "inbox"
    monkeypatch.setenv("AIVA_API_INBOX_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("AIVA_API_RATE_PER_MINUTE", "600")
    s = Settings()
    assert s.resolved_inbox_dir == tmp_path / "shared" and s.api_rate_per_minute == 600
