"""Checkov, the infrastructure-as-code scanner (pip package `checkov`).

`checkov -d . -o json --quiet --skip-download --soft-fail`: every framework Checkov
recognises under the target (Terraform, CloudFormation, Kubernetes, Dockerfile, ...),
failed checks only (`--quiet`), nothing fetched from Prisma Cloud (`--skip-download`; no
API key is ever passed, so nothing is uploaded either), external Terraform modules
not downloaded (Checkov's default), and no PyPI version check (CKV_SKIP_PACKAGE_UPDATE_CHECK;
Checkov otherwise asks pypi.org for its latest version at start-up).

Exit codes: `--soft-fail` makes a run that found failed checks exit 0, so 0 is the only
good exit and a crash (a Python traceback exits 1) is told apart from findings. The
report goes to stdout: a list of per-framework objects, a single object when one
framework ran, or a bare summary when nothing was scanned (the "checkov" parser reads
all three). File paths are relative to the target with a leading "/" ("/infra/main.tf").

Checkov pins old versions of networkx, packageurl-python and packaging that conflict
with AIVA's own dependencies, so it is best installed in a virtualenv of its own (pipx)
with `checkov` on PATH.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiva.scanners.runner import Scanner


@dataclass(frozen=True)
class CheckovScanner(Scanner):
    """checkov -d . -o json."""

    def command(self, executable: str, output: Path) -> list[str]:
        """Scan the working directory; the JSON report goes to stdout (the runner writes it to `output`)."""
        return [executable, "-d", ".", "-o", "json", "--quiet", "--skip-download", "--soft-fail"]


SCANNER = CheckovScanner(
    name="checkov", executable="checkov", package="checkov", format="checkov",
    report_on_stdout=True, env={"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"},
)
