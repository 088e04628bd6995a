"""Small helpers for tests: report generators written for AIVA's own tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]


def trivy_report(path: Path, n: int, seed: int = 1, artifact: str = "registry.test/app:1",
                 drop: set[int] | None = None, extra: int = 0) -> Path:
    """A Trivy schema-2 report with n distinct vulnerabilities (index i is CVE-2020-<10000+i>).

    `drop` removes indexes (as a re-scan after fixes would); `extra` adds new ones after n.
    """
    rng = random.Random(seed)
    vulns = []
    for i in range(n + extra):
        if drop and i in drop:
            continue
        vulns.append({
            "VulnerabilityID": f"CVE-2020-{10000 + i}", "PkgName": f"pkg-{i % 97}",
            "InstalledVersion": f"1.{i % 7}.{i % 13}", "FixedVersion": f"2.{i % 5}.0",
            "Severity": SEVERITIES[rng.randrange(5)], "Title": f"issue {i} in pkg-{i % 97}",
            "Description": "x" * rng.randrange(10, 200), "CweIDs": [f"CWE-{rng.choice([79, 89, 22, 787])}"],
            "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}} if i % 3 == 0 else {},
        })
    doc = {"SchemaVersion": 2, "ArtifactName": artifact, "ArtifactType": "container_image",
           "Results": [{"Target": f"{artifact} (debian 12)", "Class": "os-pkgs", "Type": "debian",
                        "Vulnerabilities": vulns}]}
    path.write_text(json.dumps(doc))
    return path
