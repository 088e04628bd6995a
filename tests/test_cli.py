"""The CLI's offline and database commands, run as a user would (typer's runner), on the test database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

import starter.cli_intel  # noqa: F401 - registers the intelligence commands
from starter.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture()
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"AIVA_DATABASE_URL": database_url, "AIVA_HOME": str(tmp_path / "home")}


def test_parse_prints_format_and_findings_without_storing() -> None:
    res = runner.invoke(app, ["parse", str(ROOT / "examples" / "shop-api-image.trivy.json")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 6 and all(len(x["fingerprint"]) == 40 for x in lines)


def test_parse_unknown_format_names_what_was_tried(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("hello, not a report")
    res = runner.invoke(app, ["parse", str(f)])
    assert res.exit_code == 1
    assert "unknown report format" in res.output and "sarif" in res.output and "trivy" in res.output


def test_intel_assets_paths_compliance_sla(env: dict[str, str], tmp_path: Path) -> None:
    product = f"cli-{uuid.uuid4().hex[:6]}"
    fx = ROOT / "tests" / "fixtures" / "intel"
    res = runner.invoke(app, ["intel", "load", str(fx / "kev_small.json"), str(fx / "epss_small.csv")], env=env)
    assert res.exit_code == 0, res.output
    assert "kev" in res.output and "epss" in res.output
    res = runner.invoke(app, ["assets", "load", str(ROOT / "examples" / "inventory.yaml"), "-p", product], env=env)
    assert res.exit_code == 0 and "edges loaded" in res.output, res.output
    res = runner.invoke(app, ["paths", "-p", product], env=env)
    assert res.exit_code == 0 and "internet -> " in res.output, res.output
    res = runner.invoke(app, ["compliance", "-p", product], env=env)
    assert res.exit_code == 0 and "OWASP" in res.output, res.output
    res = runner.invoke(app, ["sla", "-p", product], env=env)
    assert res.exit_code == 0 and "SLA breach" in res.output, res.output


def test_bad_inventory_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("assets:\n  - name: a\nedges:\n  - {from: a, to: nowhere}\n")
    res = runner.invoke(app, ["assets", "load", str(bad), "-p", "x"], env=env)
    assert res.exit_code == 2
    assert "edges[0].to" in res.output and "nowhere" in res.output


def test_unknown_product_is_a_clear_error(env: dict[str, str]) -> None:
    res = runner.invoke(app, ["sla", "-p", "no-such-product"], env=env)
    assert res.exit_code == 1 and "unknown product" in res.output
