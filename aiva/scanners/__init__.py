"""Real scanners run by AIVA itself (the scan stage's `run_scanner` activity).

Each module describes one scanner (`aiva.scanners.runner.Scanner`): its executable, the
pip package that provides it, its command line, its good exit codes and the AIVA parser
format that reads its report. The report then goes through the same parsers and the
same store code as an uploaded report.

| scanner        | pip package    | report          | parser format  |
|----------------|----------------|-----------------|----------------|
| bandit         | bandit         | JSON (file)     | bandit         |
| semgrep        | semgrep        | JSON (file)     | semgrep        |
| semgrep-sarif  | semgrep        | SARIF (file)    | sarif          |
| checkov        | checkov        | JSON (stdout)   | checkov        |
| detect-secrets | detect-secrets | JSON (stdout)   | detect_secrets |
"""

from __future__ import annotations

from aiva.errors import InputError
from aiva.scanners import bandit, checkov, detect_secrets, semgrep
from aiva.scanners.runner import (
    DEFAULT_TIMEOUT_S,
    Scanner,
    ScanRun,
    describe_target,
    is_git_url,
    locate,
    run_scanner,
)

__all__ = [
    "DEFAULT_TIMEOUT_S", "SCANNERS", "ScanRun", "Scanner", "available", "describe_target", "get",
    "is_git_url", "locate", "run_scanner",
]

SCANNERS: dict[str, Scanner] = {
    s.name: s
    for s in (bandit.SCANNER, semgrep.SCANNER, semgrep.SARIF_SCANNER, checkov.SCANNER, detect_secrets.SCANNER)
}


def available() -> list[str]:
    """Names of every scanner AIVA knows how to run (installed or not)."""
    return sorted(SCANNERS)


def get(name: str) -> Scanner:
    """The scanner of that name; an unknown name is bad input (never retried)."""
    key = name.strip().lower().replace("_", "-")
    try:
        return SCANNERS[key]
    except KeyError:
        raise InputError(f"unknown scanner {name!r}; known scanners: {', '.join(available())}") from None
