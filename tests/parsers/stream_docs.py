"""Small Trivy and SARIF documents of our own, and the variants (key orders, missing parts) that make the
streaming parsers take every path; shared by the streaming and the parallel-ingest tests."""

from __future__ import annotations

from typing import Any

import pytest

from aiva.parsers import sarif, trivy

TRIVY_VARIANTS = ["plain", "artifact-last", "lists-first", "misconf-first", "no-artifact", "legacy", "small-cap"]
SARIF_VARIANTS = ["plain", "two-runs", "results-first", "vcp-after", "vcp-before", "small-cap", "no-results",
                  "null-results"]


def trivy_doc() -> dict[str, Any]:
    vulns = [{"VulnerabilityID": f"CVE-2024-{1000 + i}", "PkgName": f"p{i % 7}", "InstalledVersion": f"1.{i}",
              "FixedVersion": "2.0" if i % 2 else "", "Severity": ["HIGH", "LOW", "CRITICAL"][i % 3],
              "Title": f"t }}, {{ {i}", "CweIDs": ["CWE-79"], "References": ["https://github.com/x/GHSA-aaaa-bbbb-cccc"],
              "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}} for i in range(60)]
    mis = [{"ID": f"KSV{i}", "Title": "m", "Status": ["FAIL", "PASS"][i % 2], "Severity": "MEDIUM",
            "CauseMetadata": {"Resource": "r", "StartLine": i}} for i in range(6)]
    secrets = [{"RuleID": "aws", "Title": "AWS", "Severity": "HIGH", "StartLine": 3, "Match": "key=****"}]
    lic = [{"PkgName": "p1", "Name": "GPL-3.0", "Category": "restricted", "Severity": "HIGH"}]
    return {"SchemaVersion": 2, "ArtifactName": "img:1", "Results": [
        {"Target": "img (debian 12)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns[:40],
         "Misconfigurations": mis, "Secrets": secrets, "Licenses": lic},
        {"Target": "app/package-lock.json", "Class": "lang-pkgs", "Type": "npm", "Vulnerabilities": vulns[40:]},
        {"Target": "Dockerfile", "Class": "config", "Type": "dockerfile", "Misconfigurations": mis},
        {"Target": "empty"},
    ]}


def reorder(d: dict[str, Any], first: list[str]) -> dict[str, Any]:
    return {**{k: d[k] for k in first if k in d}, **{k: v for k, v in d.items() if k not in first}}


def sarif_doc(runs: int = 1) -> dict[str, Any]:
    def run(r: int) -> dict[str, Any]:
        rules = [{"id": f"R{i}", "name": f"Rule{i}", "shortDescription": {"text": f"short {i}"},
                  "properties": {"tags": ["security", "external/cwe/cwe-79"], "security-severity": "7.5"}}
                 for i in range(4)] + [{"id": "R9", "properties": {"precision": "high"}}]
        results = [{"ruleId": f"R{i % 5 if i % 5 < 4 else 9}", "ruleIndex": i % 5, "level": "warning",
                    "message": {"text": f"msg }}, {{ CVE-2021-{4000 + i}"},
                    **({"properties": {"cwe": "CWE-89", "tags": ["x"]}} if i % 4 == 0 else {}),
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"src/f{i}.py"},
                                                        "region": {"startLine": i + 1, "startColumn": 2}}}]}
                   for i in range(40)]
        return {"tool": {"driver": {"name": f"Scanner{r}", "version": "1", "rules": rules}},
                "results": results, "columnKind": "utf16CodeUnits"}
    return {"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "runs": [run(r) for r in range(runs)]}


def trivy_variant(variant: str, patch: pytest.MonkeyPatch) -> Any:
    """The Trivy document of a variant (small-cap also lowers the in-memory cap for lists set aside)."""
    doc: Any = trivy_doc()
    if variant == "artifact-last":
        doc = reorder(doc, ["SchemaVersion", "Results"])
    elif variant == "lists-first":
        doc["Results"] = [reorder(r, ["Licenses", "Vulnerabilities", "Secrets"]) for r in doc["Results"]]
    elif variant == "misconf-first":
        doc["Results"] = [reorder(r, ["Target", "Type", "Misconfigurations"]) for r in doc["Results"]]
    elif variant == "no-artifact":
        del doc["ArtifactName"]
    elif variant == "legacy":
        doc = doc["Results"]
    elif variant == "small-cap":  # lists set aside are read again from the file
        patch.setattr(trivy, "DEFER_IN_MEMORY", 2)
        doc["Results"] = [reorder(r, ["Vulnerabilities", "Misconfigurations"]) for r in doc["Results"]]
    return doc


def sarif_variant(variant: str, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The SARIF document of a variant (small-cap also lowers the in-memory cap for results set aside)."""
    doc = sarif_doc(2 if variant == "two-runs" else 1)
    run = doc["runs"][0]
    if variant in ("results-first", "small-cap"):
        doc["runs"][0] = reorder(run, ["results"])
        if variant == "small-cap":
            patch.setattr(sarif, "DEFER_IN_MEMORY", 3)
    elif variant == "vcp-after":
        run["versionControlProvenance"] = [{"repositoryUri": "https://git.example/repo"}]
    elif variant == "vcp-before":
        doc["runs"][0] = {"versionControlProvenance": [{"repositoryUri": "https://git.example/r"}], **run}
    elif variant == "no-results":
        del run["results"]
    elif variant == "null-results":
        run["results"] = None
    elif variant == "secrets":
        run["tool"]["driver"]["name"] = "gitleaks"
    return doc
