"""`aiva doctor` against the test servers: every required check passes; a wrong address fails clearly."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from aiva.settings import Settings
from starter.doctor import diagnose


async def test_doctor_passes_on_a_working_installation(temporal_env: WorkflowEnvironment,
                                                       settings: Settings) -> None:
    s = settings.model_copy(update={"temporal_address": temporal_env.client.service_client.config.target_host})
    checks = {c.name: c for c in await diagnose(s)}
    for name in ("PostgreSQL", "schema", "Temporal", "search attributes", "PDF (weasyprint)"):
        assert checks[name].ok, f"{name}: {checks[name].detail}"


async def test_doctor_names_an_unreachable_temporal(settings: Settings) -> None:
    s = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    checks = {c.name: c for c in await diagnose(s)}
    assert not checks["Temporal"].ok and "127.0.0.1:1" in checks["Temporal"].detail
    assert checks["Temporal"].required
