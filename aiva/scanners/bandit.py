"""Bandit, the Python AST security linter (pip package `bandit`).

`bandit -r . -f json -o REPORT -q`: every Python file under the target, recursively
(Bandit's default excludes .git, .tox, __pycache__ and the like). Exit 0: no issue;
exit 1: issues found (both are a good run); anything else (2: bad arguments) is a
failure. Files Bandit could not parse are listed in the report's `errors`, not fatal.
Report read by the "bandit" parser; file paths are relative ("./app/db.py").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiva.scanners.runner import Scanner


@dataclass(frozen=True)
class BanditScanner(Scanner):
    """bandit -r . -f json."""

    def command(self, executable: str, output: Path) -> list[str]:
        """Scan the working directory recursively, JSON report to `output`, log errors only."""
        return [executable, "-r", ".", "-f", "json", "-o", str(output), "-q"]


SCANNER = BanditScanner(
    name="bandit", executable="bandit", package="bandit", format="bandit", ok_exit_codes=frozenset({0, 1})
)
