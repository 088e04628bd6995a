"""Cross-tool correlation: precision and recall on a labelled set of pairs, and the grouping rules."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from aiva import parsers
from aiva.correlation import (
    RULE_SAST,
    RULE_SCA,
    RULE_SINGLE,
    Source,
    component_key,
    correlate,
    normalize_path,
    normalize_target,
    normalize_url,
    same_weakness,
)
from aiva.enums import FindingCategory
from aiva.schemas import Component, Finding

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "fixtures" / "correlation" / "labelled_pairs.json"


def _pairs() -> list[dict[str, object]]:
    doc = json.loads(LABELLED.read_text(encoding="utf-8"))
    return doc["pairs"]  # type: ignore[no-any-return]


def _f(d: object) -> Finding:
    return Finding.model_validate(d)


def test_precision_and_recall_on_the_labelled_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    tp = fp = fn = tn = 0
    wrong: set[str] = set()
    documented: set[str] = set()
    for p in _pairs():
        note = str(p["note"])
        if "MISS expected" in note or "FALSE MERGE expected" in note:
            documented.add(str(p["id"]))
        merged = same_weakness(_f(p["a"]), _f(p["b"])) is not None
        if p["merge"] and merged:
            tp += 1
        elif p["merge"]:
            fn += 1
            wrong.add(str(p["id"]))
        elif merged:
            fp += 1
            wrong.add(str(p["id"]))
        else:
            tn += 1
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    with capsys.disabled():
        print(f"\ncorrelation on {tp + fp + fn + tn} labelled pairs: TP={tp} FP={fp} FN={fn} TN={tn} "
              f"precision={precision:.3f} recall={recall:.3f}")
    assert (tp, fp, fn, tn) == (19, 1, 6, 17)
    assert precision >= 0.95 and recall >= 0.75
    assert wrong == documented  # every error is a known, documented limit of the rules


def test_labelled_set_is_balanced_and_covers_every_rule() -> None:
    pairs = _pairs()
    assert len(pairs) >= 40
    assert 0.4 <= sum(bool(p["merge"]) for p in pairs) / len(pairs) <= 0.7
    rules = {same_weakness(_f(p["a"]), _f(p["b"])) for p in pairs}
    assert {"vuln+component+target", "cwe+file+line", "url+parameter+cwe", "secret+file",
            "vuln+host+port"} <= rules


def test_all_pairs_at_once_keep_every_source_and_do_not_depend_on_order() -> None:
    findings = [_f(p[k]) for p in _pairs() for k in ("a", "b")]
    groups = correlate(findings)
    unique = {(f.tool.name, f.fingerprint) for f in findings}
    assert sorted((s.tool, s.fingerprint) for g in groups for s in g.sources) == sorted(unique)
    shuffled = findings[:]
    random.Random(7).shuffle(shuffled)
    assert correlate(shuffled) == groups


def test_sast_group_of_three_tools() -> None:
    pairs = {str(p["id"]): p for p in _pairs()}
    bandit = _f(pairs["sast-bandit-semgrep-same-line"]["a"])
    semgrep = _f(pairs["sast-bandit-semgrep-same-line"]["b"])
    codeql = _f(pairs["sast-codeql-sink-two-lines-below"]["b"])
    (group,) = correlate([codeql, semgrep, bandit])
    assert group.rule == RULE_SAST and group.tools == ("CodeQL", "bandit", "semgrep")


def test_one_tool_never_gets_two_lines_in_one_group() -> None:
    pairs = {str(p["id"]): p for p in _pairs()}
    s40, s42 = (_f(pairs["sast-same-tool-two-lines"][k]) for k in ("a", "b"))
    assert s40.location is not None
    other = s40.model_copy(update={"tool": s40.tool.model_copy(update={"name": "codeql"}), "fingerprint": "c" * 40,
                                   "location": s40.location.model_copy(update={"start_line": 41})})
    groups = correlate([s40, s42, other])
    assert sorted(len(g.sources) for g in groups) == [1, 2]


def test_wider_line_window_catches_source_and_sink() -> None:
    pair = next(p for p in _pairs() if p["id"] == "sast-source-vs-sink-far-apart")
    a, b = _f(pair["a"]), _f(pair["b"])
    assert same_weakness(a, b) is None
    assert same_weakness(a, b, line_window=6) == RULE_SAST


def test_aliases_are_transitive() -> None:
    pairs = {str(p["id"]): p for p in _pairs()}
    trivy = _f(pairs["sca-trivy-pipaudit-pysec"]["a"])  # CVE only
    pip_audit = _f(pairs["sca-trivy-pipaudit-pysec"]["b"])  # PYSEC + GHSA + CVE
    ghsa_only = pip_audit.model_copy(update={
        "tool": pip_audit.tool.model_copy(update={"name": "github"}), "fingerprint": "d" * 40,
        "vulnerability_ids": tuple(v for v in pip_audit.vulnerability_ids if v.kind == "ghsa")})
    (group,) = correlate([trivy, ghsa_only, pip_audit])
    assert group.rule == RULE_SCA and len(group.sources) == 3


def test_singles_and_duplicates() -> None:
    pair = _pairs()[0]
    a = _f(pair["a"])
    groups = correlate([a, a])
    assert len(groups) == 1 and groups[0].rule == RULE_SINGLE
    assert groups[0].sources == (Source(a.tool.name, a.fingerprint),)
    assert correlate([]) == []


@pytest.mark.parametrize("raw, norm", [
    ("HTTPS://Shop.Example.com:443/a/./b//c/?x=1#frag", "https://shop.example.com/a/b/c"),
    ("http://h:80", "http://h/"),
    ("http://h:8080/x/", "http://h:8080/x"),
    ("shop.example.com/login", "http://shop.example.com/login"),
    ("https://h/a%20b", "https://h/a b"),
    ("", None),
    ("http://:99999/", None),
])
def test_normalize_url(raw: str, norm: str | None) -> None:
    assert normalize_url(raw) == norm


@pytest.mark.parametrize("component, key", [
    (Component(name="x", purl="pkg:deb/debian/libssl3@3.0.11?arch=amd64&distro=debian-12"), "deb/libssl3"),
    (Component(name="libssl3", ecosystem="debian"), "deb/libssl3"),
    (Component(name="x", purl="pkg:pypi/PyYAML@6.0"), "pypi/pyyaml"),
    (Component(name="zope_interface", ecosystem="PyPI"), "pypi/zope-interface"),
    (Component(name="org.apache.logging.log4j:log4j-core", ecosystem="maven"),
     "maven/org.apache.logging.log4j/log4j-core"),
    (Component(name="x", purl="pkg:npm/%40babel/core@7.0.0"), "npm/@babel/core"),
    (Component(name="@babel/core", ecosystem="npm"), "npm/@babel/core"),
    (Component(name="golang.org/x/net", ecosystem="gomod"), "golang/golang.org/x/net"),
    (Component(name="x", purl="pkg:golang/golang.org/x/net@v0.15.0#http2"), "golang/golang.org/x/net"),
])
def test_component_key(component: Component, key: str) -> None:
    assert component_key(component) == key


def test_normalize_target_and_path() -> None:
    c = FindingCategory.CONTAINER
    assert normalize_target("docker.io/library/nginx", c) == normalize_target("nginx:latest", c) == "nginx:latest"
    assert normalize_target("teamdojo:latest (alpine 3.9.4)", c) == "teamdojo:latest"
    assert normalize_target("registry.example.com:5000/shop/api", c) == "registry.example.com:5000/shop/api:latest"
    assert normalize_target("Shop-API/", FindingCategory.SCA) == "shop-api"
    assert normalize_target(None, c) == ""
    assert normalize_path(".\\src\\App.py") == "src/app.py"
    assert normalize_path("file:///home/ci/src//app.py") == "home/ci/src/app.py"


def test_parsed_examples_correlate_without_false_merges() -> None:
    findings: list[Finding] = []
    for name in ("shop-api-code.sarif", "shop-api-image.trivy.json"):
        _, it = parsers.open_report(str(ROOT / "examples" / name))
        findings.extend(it)
    groups = correlate(findings)
    assert len(groups) == len({(f.tool.name, f.fingerprint) for f in findings})  # one tool each: nothing to join
