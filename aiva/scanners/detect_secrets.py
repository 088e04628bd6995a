"""detect-secrets, Yelp's secret scanner (pip package `detect-secrets`).

`detect-secrets scan --all-files --no-verify --exclude-files '(^|/)\\.git/' .`:

- `--all-files`: every file on disk, not only the files git tracks (a plain directory has
  no git index, and a working tree's untracked files can hold secrets too); the `.git`
  directory itself is excluded.
- `--no-verify`: no network call to check a found secret against its service.
- Exit 0 is the only good exit. The report (the "baseline" JSON: a `results` map of file
  -> secrets with type, line number and a SHA-1 `hashed_secret`, never the secret) goes
  to stdout and is read by the "detect_secrets" parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiva.scanners.runner import Scanner


@dataclass(frozen=True)
class DetectSecretsScanner(Scanner):
    """detect-secrets scan."""

    def command(self, executable: str, output: Path) -> list[str]:
        """Scan every file below the working directory (not .git); the report goes to stdout."""
        return [executable, "scan", "--all-files", "--no-verify", "--exclude-files", r"(^|/)\.git/", "."]


SCANNER = DetectSecretsScanner(
    name="detect-secrets", executable="detect-secrets", package="detect-secrets", format="detect_secrets",
    report_on_stdout=True,
)
