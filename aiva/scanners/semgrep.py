"""Semgrep (pip package `semgrep`) with AIVA's own rules, never a registry.

`semgrep scan --config aiva/scanners/rules/semgrep --metrics=off --disable-version-check
--no-rewrite-rule-ids --project-root . --json|--sarif --output REPORT .`

- Rules: only the YAML files of `rules/semgrep/` beside this module (kept in the repo,
  reviewed like code). Never `--config auto`, `p/...` or `r/...`, which fetch rules from
  the Semgrep registry; so a scan needs no network and gives the same answer every time.
- No network: metrics off (flag and SEMGREP_SEND_METRICS=off), no version check (flag
  and SEMGREP_ENABLE_VERSION_CHECK=0).
- `--no-rewrite-rule-ids`: rule ids stay "aiva.python.…"; by default Semgrep prefixes them
  with the rules directory's path, which would make the rule id (and so the findings'
  fingerprints) depend on where AIVA is installed.
- `--project-root .`: the target is the project, whatever repository it sits in. Without
  it Semgrep applies the enclosing repository's ignore rules (a target below a `tests/`
  directory of another repository would be skipped entirely).
- Exit 0: ran (findings or not; 1 only with --error, not used); anything else (2 fatal,
  4 invalid pattern, 5 unparsable rule, 7 missing config, ...) is a failure.

Two scanners: "semgrep" writes Semgrep JSON (read by the "semgrep" parser) and
"semgrep-sarif" writes SARIF 2.1.0 (read by the "sarif" parser).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiva.errors import ConfigError
from aiva.scanners.runner import Scanner

RULES_DIR = Path(__file__).resolve().parent / "rules" / "semgrep"
_OFFLINE_ENV = {"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"}


@dataclass(frozen=True)
class SemgrepScanner(Scanner):
    """semgrep scan with the local rules directory."""

    rules_dir: Path = RULES_DIR

    def command(self, executable: str, output: Path) -> list[str]:
        """Scan the working directory with the local rules only; JSON or SARIF report to `output`."""
        rules = self.rules_dir.resolve()
        if not rules.is_dir() or not any(rules.glob("*.yml")):
            raise ConfigError(f"no semgrep rules (*.yml) in {rules}: AIVA's installation is incomplete")
        kind = "--sarif" if self.format == "sarif" else "--json"
        return [
            executable, "scan", "--config", str(rules), "--metrics=off", "--disable-version-check",
            "--no-rewrite-rule-ids", "--project-root", ".", kind, "--output", str(output), "--quiet", ".",
        ]


SCANNER = SemgrepScanner(
    name="semgrep", executable="semgrep", package="semgrep", format="semgrep",
    ok_exit_codes=frozenset({0, 1}), env=_OFFLINE_ENV,
)
SARIF_SCANNER = SemgrepScanner(
    name="semgrep-sarif", executable="semgrep", package="semgrep", format="sarif",
    ok_exit_codes=frozenset({0, 1}), env=_OFFLINE_ENV,
)
