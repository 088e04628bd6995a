"""The ingest fast paths keep behaviour identical: `JsonStream` (the streaming
decoder: same values as orjson, or a ReportParseError, never a wrong value), and the
streamed Trivy and SARIF parsers (the same findings as a loaded report).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from activities.scan import _take_rows
from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import get, sarif, trivy
from aiva.parsers.base import (
    JsonStream,
    ParseContext,
    ReportSource,
    cwe_refs,
    make_purl,
    vuln_refs,
)
from aiva.parsers.parallel import RowStream, _chunked, row_of
from aiva.schemas import Component, CWEReference, Finding, Location, ToolInfo
from tests.corpus import corpus_dir, require_corpus
from tests.parsers.stream_docs import (
    SARIF_VARIANTS,
    TRIVY_VARIANTS,
    sarif_variant,
    trivy_doc,
    trivy_variant,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOOL = ToolInfo(name="t")


def _valid(**over: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "fingerprint": "f" * 40, "fingerprint_version": "x/1", "format": "x", "tool": TOOL,
        "category": FindingCategory.SCA, "rule_id": "R1", "title": "A title", "description": "d",
        "severity": Severity.HIGH, "confidence": Confidence.FIRM, "cwes": (CWEReference(id=79),),
        "component": Component(name="p", version="1"), "location": Location(file_path="a.py", start_line=3),
        "target": "img", "references": ("https://x",), "tags": ("t",), "warnings": (),
    }
    kw.update(over)
    return kw


# -- ingest records ------------------------------------------------------------------------------


def test_take_records() -> None:
    fs = [Finding(**_valid(fingerprint=f"{i:040d}", target=None if i % 2 else "img")) for i in range(7)]
    # the single-process stream open_rows makes of a parser's findings
    stream = RowStream(_chunked(map(row_of, iter(fs))), iter(fs), threading.Event(), False)
    recs = _take_rows(stream, 5, 3, 10)
    assert [r[1] for r in recs] == [10, 11, 12, 13, 14]
    for r, f in zip(recs, fs, strict=False):
        assert r == (3, r[1], f.fingerprint, "t", f.target, "high", f.model_dump_json())


def test_cached_helpers_keep_types_apart() -> None:
    """The caches never answer for an equal value of another type (1 == 1.0 == True)."""
    w1: list[str] = []
    w2: list[str] = []
    assert [c.id for c in cwe_refs([1], w1)] == [1] and not w1
    assert cwe_refs([1.0], w2) == () and w2  # "1.0" is not a CWE id
    assert [c.id for c in cwe_refs(["CWE-79", 79], [])] == [79]
    assert [v.id for v in vuln_refs(["cve-2020-1234", None, "cve-2020-1234 "])] == ["CVE-2020-1234"]
    warnings: list[str] = []
    assert make_purl("npm", "@scope/pkg", "1.0", warnings) == "pkg:npm/%40scope/pkg@1.0"
    assert make_purl("npm", "@scope/pkg", "1.0", warnings) == "pkg:npm/%40scope/pkg@1.0" and not warnings


# -- JsonStream ------------------------------------------------------------------------------------

NASTY = ['}, {', '}]', '"}, {"', '\\"}, {', 'a\\\\', '}\n,\n{', '{"x": [1, {"y": "}, {"}]}', 'é日本😀', '\u2028',
         '\\u0022}, {', ']', '[', '{', '}', ',']


def _doc(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth > 3 or kind < 0.3:
        return rng.choice([rng.choice(NASTY), rng.randint(-5, 10**6), 1.5, True, False, None, "", "plain"])
    if kind < 0.6:
        return [_doc(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["a", "b", "}, {", "k é"]) + str(i): _doc(rng, depth + 1) for i in range(rng.randrange(4))}


def _items(rng: random.Random, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "s": rng.choice(NASTY), "n": _doc(rng), "t": [{"u": rng.choice(NASTY)}]} for i in range(n)]


def _stream(data: bytes, batch: int) -> JsonStream:
    # Reads as small as batches: the buffer is refilled at every odd place.
    return JsonStream(io.BytesIO(data), "mem.json", "test", batch_bytes=batch, read_bytes=batch)


@pytest.mark.parametrize("batch", [1, 7, 64, 300, 1 << 16])
@pytest.mark.parametrize("indent", [False, True])
def test_array_batches_same_as_orjson(batch: int, indent: bool) -> None:
    rng = random.Random(batch * 2 + indent)
    for n in (0, 1, 2, 5, 40):
        items = _items(rng, n)
        ascii_only = rng.random() < 0.5
        data = json.dumps(items, indent=1, ensure_ascii=ascii_only) if indent else orjson.dumps(items).decode()
        got: list[Any] = []
        for b in _stream(data.encode(), batch).array_batches():
            got.extend(b)
        assert got == orjson.loads(data)


@pytest.mark.parametrize("batch", [1, 7, 64, 300, 1 << 16])
def test_array_pieces_are_the_batches_as_bytes(batch: int) -> None:
    """Each Piece's bytes decode to its batch; the batches (and the position after) are array_batches'."""
    rng = random.Random(batch)
    for n in (0, 1, 2, 5, 40):
        data = json.dumps({"a": _items(rng, n), "b": 1}, indent=rng.choice([None, 1])).encode()
        js1, js2 = _stream(data, batch), _stream(data, batch)
        for js in (js1, js2):
            assert next(js.object_items()) == "a"
        pieces = list(js2.array_pieces())
        assert [items for _, items in pieces] == list(js1.array_batches())
        for raw, items in pieces:
            assert raw[:1] == b"[" and orjson.loads(raw) == items
        assert js1.tell() == js2.tell()
    # A non-object element (decoded alone) is a Piece of its own too.
    js = _stream(b'[1, "x", {"a": "}, {"}, [2]]', 4)
    assert [(orjson.loads(raw), items) for raw, items in js.array_pieces()] == [
        ([1], [1]), (["x"], ["x"]), ([{"a": "}, {"}], [{"a": "}, {"}]), ([[2]], [[2]])]


@pytest.mark.parametrize("batch", [3, 50, 1 << 16])
def test_walk_same_as_orjson(batch: int) -> None:
    """object_items / array_items / value / skip_value read any document as orjson does."""
    rng = random.Random(batch)

    def walk(js: JsonStream) -> Any:
        c = js.peek()
        if c == "{":
            out = {}
            for k in js.object_items():
                if rng.random() < 0.2:
                    js.skip_value()
                    out[k] = "<skipped>"
                else:
                    out[k] = walk(js)
            return out
        if c == "[" and rng.random() < 0.5:
            arr = []
            for _ in js.array_items():
                arr.append(walk(js))
            return arr
        if c == "[":
            arr = []
            for b in js.array_batches():
                arr.extend(b)
            return arr
        return js.value()

    def expect(v: Any, w: Any) -> None:
        if v == "<skipped>":
            return
        assert type(v) is type(w) or (isinstance(v, list) and isinstance(w, list))
        if isinstance(w, dict):
            assert list(v) == list(w)
            for k in w:
                expect(v[k], w[k])
        elif isinstance(w, list):
            assert len(v) == len(w)
            for a, b in zip(v, w, strict=True):
                expect(a, b)
        else:
            assert v == w

    for _ in range(60):
        doc = {"top": _doc(rng), "list": _items(rng, rng.randrange(6)), "x": _doc(rng)}
        data = b"\xef\xbb\xbf" + json.dumps(doc, indent=rng.choice([None, 1])).encode()
        js = _stream(data, batch)
        rng2_state = rng.getstate()
        got = walk(js)
        rng.setstate(rng2_state)
        expect(got, orjson.loads(data[3:]))
        assert js.peek() == ""


def _corrupt(rng: random.Random, data: bytes | bytearray, *, truncate: bool) -> bytearray:
    """One or two bytes of JSON punctuation, junk or broken UTF-8 put in; then, if asked, cut short."""
    bad = bytearray(data)
    for _ in range(rng.randrange(1, 3)):
        bad[rng.randrange(len(bad))] = rng.choice(b'{}[],:"\\ x0\xff\xc3')
    if truncate:
        bad = bad[: rng.randrange(len(bad))]
    return bad


def test_corrupted_documents_error_or_agree() -> None:
    """A corrupted document is a ReportParseError, or (when still valid JSON) read as orjson reads it."""
    rng = random.Random(11)
    items = _items(rng, 30)
    data = bytearray(json.dumps({"a": 1, "list": items}).encode())
    agreed = errors = 0
    for trial in range(400):
        bad = _corrupt(rng, data, truncate=trial % 5 == 0)
        try:
            want = orjson.loads(bytes(bad))
        except orjson.JSONDecodeError:
            want = None
        js = _stream(bytes(bad), rng.choice([5, 100, 4096]))
        try:
            got: dict[str, Any] = {}
            for k in js.object_items():
                if js.peek() == "[":
                    got[k] = [x for b in js.array_batches() for x in b]
                else:
                    got[k] = js.value()
            if js.peek() != "":
                raise js._error("trailing data")
        except ReportParseError:
            assert not isinstance(want, dict), f"refused a document orjson reads: {bytes(bad)[:300]!r}"
            errors += 1
            continue
        assert want is not None, f"streamed a document orjson rejects: {bytes(bad)[:300]!r}"
        assert got == want
        agreed += 1
    assert agreed > 20 and errors > 100


def test_errors_do_not_depend_on_the_cuts() -> None:
    """A broken document fails with the same error (reason and byte) whatever the batch and read sizes:
    the parallel ingest relies on it, its parent and the single-process path reading alike."""
    rng = random.Random(12)
    data = json.dumps({"a": 1, "list": _items(rng, 40), "z": [1, 2]}, indent=1).encode()
    compared = 0
    for trial in range(300):
        bad = _corrupt(rng, data, truncate=trial % 3 == 0)
        outcomes = set()
        for batch in (5, 100, 4096, 1 << 16):
            js = _stream(bytes(bad), batch)
            try:
                for _key in js.object_items():
                    if js.peek() == "[":
                        for _ in js.array_batches():
                            pass
                    else:
                        js.value()
                outcomes.add(None)
            except ReportParseError as e:
                outcomes.add((e.reason, e.position))
        assert len(outcomes) == 1, f"{bytes(bad)[:200]!r}: {outcomes}"
        compared += None not in outcomes
    assert compared > 150


def test_may_contain_key() -> None:
    for data, expected in (
        (b'{"results": [], "x": 1}', False),
        (b'{"results": [], "versionControlProvenance": []}', True),
        (b'{"results": [], "versionControl\\u0050rovenance": []}', True),
        (b'{"results": [], "\\u0076ersionControlProvenance": []}', True),
        (b'{"results": [], "text": "a versionControlProvenance key"}', False),  # in a text, not a key
        (b'{"results": [], "text": "versionControlProvenance"}', True),  # may be a key: "may" is enough
    ):
        js = _stream(data, 4)
        js.peek()
        assert js.may_contain_key("versionControlProvenance") is expected
        assert js.peek() == "{"  # the position is unchanged


# -- streamed parsers == loaded parsers --------------------------------------------------------------


def _dumps(findings: Any) -> list[str]:
    return [f.model_dump_json() for f in findings]


def _both(fmt: str, path: Path, monkeypatch: pytest.MonkeyPatch, ctx: ParseContext | None = None) -> list[str]:
    """Parse loaded, then streamed; assert the same findings (or the same error) and return them."""
    ctx = ctx or ParseContext()
    mod = trivy if fmt == "trivy" else sarif
    try:
        loaded = _dumps(get(fmt).parse(ReportSource(str(path)), ctx))
        loaded_error = None
    except ReportParseError as e:
        loaded, loaded_error = [], e.reason
    monkeypatch.setattr(mod, "STREAM_ABOVE_BYTES", 0)
    try:
        streamed = _dumps(get(fmt).parse(ReportSource(str(path)), ctx))
        streamed_error = None
    except ReportParseError as e:
        streamed, streamed_error = [], e.reason
    monkeypatch.setattr(mod, "STREAM_ABOVE_BYTES", 1 << 40)
    assert streamed_error == loaded_error
    assert streamed == loaded
    return loaded


@pytest.mark.parametrize("variant", TRIVY_VARIANTS)
def test_trivy_streamed_same_as_loaded(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = trivy_variant(variant, monkeypatch)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc, indent=1))
    out = _both("trivy", path, monkeypatch)
    assert len(out) == 60 + 3 + 1 + 1 + 3  # vulns, FAIL misconfigs x2 results, secret, license
    _both("trivy", path, monkeypatch, ParseContext(target="given"))


@pytest.mark.parametrize("bad", [
    {"SchemaVersion": 2, "ArtifactName": "a", "Results": {"x": 1}},
    {"SchemaVersion": 2, "ArtifactName": "a", "Results": [1]},
    {"SchemaVersion": 2, "ArtifactName": "a", "Results": [{"Target": "t", "Type": "npm", "Vulnerabilities": [1]}]},
    {"SchemaVersion": 2, "ArtifactName": "a", "Results": [{"Target": "t", "Vulnerabilities": "x"}]},
    {"SchemaVersion": 2, "ArtifactName": "a", "Results": [{"Target": "t", "Type": "npm",
                                                          "Vulnerabilities": [{"PkgName": "p", "Title": 5}]}]},
    {"SchemaVersion": 2, "ArtifactName": "a", "Results": None},
])
def test_trivy_streamed_errors_same_as_loaded(bad: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    _both("trivy", path, monkeypatch)


@pytest.mark.parametrize("variant", SARIF_VARIANTS)
def test_sarif_streamed_same_as_loaded(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = sarif_variant(variant, monkeypatch)
    path = tmp_path / "s.sarif"
    path.write_text(json.dumps(doc, indent=1))
    out = _both("sarif", path, monkeypatch)
    if variant.startswith("vcp"):
        assert all('"target":"https://git.example/' in j for j in out)
    _both("sarif", path, monkeypatch, ParseContext(target="given"))


@pytest.mark.parametrize("bad", [
    {"version": "2.1.0", "runs": {"a": 1}},
    {"version": "2.1.0", "runs": [1]},
    {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": {"a": 1}}]},
    {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [1]}]},
    {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": 5, "locations": {}}]}]},
    {"version": "2.1.0"},
])
def test_sarif_streamed_errors_same_as_loaded(bad: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bad.sarif"
    path.write_text(json.dumps(bad))
    _both("sarif", path, monkeypatch)


def test_streamed_truncated_report_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.dumps(trivy_doc(), indent=1)
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    for cut in (len(data) // 3, len(data) - 5):
        path = tmp_path / f"cut{cut}.json"
        path.write_text(data[:cut])
        with pytest.raises(ReportParseError):
            list(get("trivy").parse(ReportSource(str(path)), ParseContext()))


def test_corpus_streamed_same_as_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Trivy and SARIF report of the corpus and fixtures: streamed exactly as loaded."""
    paths = [("trivy", p) for p in sorted((FIXTURES / "trivy").glob("*.json"))]
    paths += [("sarif", p) for p in sorted((FIXTURES / "sarif").glob("*.sarif"))]
    c = corpus_dir()
    if c is not None:
        paths += [("trivy", p) for p in sorted((c / "trivy").glob("*.json"))]
        paths += [("sarif", p) for p in sorted((c / "sarif").glob("*.sarif"))]
    for fmt, p in paths:
        _both(fmt, p, monkeypatch)


# The fingerprints (in order) of the corpus's Trivy and SARIF reports, as the parsers gave them before
# their fast paths: a fast path must not change one. (sha256 of the fingerprints joined by newlines,
# first 16 hex digits; a deliberate change of a recipe bumps its version, and these with it.)
FINGERPRINTS = {
    "trivy/all_statuses.json": "afc93e2b80bd6344",
    "trivy/kubernetes.json": "875818754bbc1c2d",
    "trivy/legacy_many_vulns.json": "0bad8bbed5176768",
    "trivy/license_scheme.json": "ad05c322c2969c85",
    "trivy/misconfigurations_and_secrets.json": "95aa7538aeaea118",
    "trivy/scheme_2_many_vulns.json": "e1d7a9d08f5e6228",
    "trivy/scheme_2_no_vuln.json": "e3b0c44298fc1c14",
    "sarif/SuppressionTestCurrent.sarif": "5ebdde153978e1c9",
    "sarif/appendix_k.sarif": "f62a06d11a48d778",
    "sarif/bash-report.sarif": "3bbe40ad06f6aa2f",
    "sarif/codeQL-output.sarif": "2354162ade3de892",
    "sarif/cxf-3.4.6.sarif": "5bb17c34267907a1",
    "sarif/dependency_check.sarif": "7bee977e24c0ced3",
    "sarif/gitleaks_7.5.0.sarif": "c2d337b5661c7fea",
    "sarif/njsscan.sarif": "0b82caf37810b89f",
}


def _corpus_parses(monkeypatch: pytest.MonkeyPatch, rels: Iterable[str]) -> Iterator[tuple[str, list[Finding]]]:
    """Each corpus file's findings, loaded and then streamed."""
    c = require_corpus()
    for rel in rels:
        fmt = rel.split("/", 1)[0]
        for threshold in (1 << 40, 0):  # loaded, streamed
            monkeypatch.setattr(trivy if fmt == "trivy" else sarif, "STREAM_ABOVE_BYTES", threshold)
            yield rel, list(get(fmt).parse(ReportSource(str(c / rel)), ParseContext()))


@pytest.mark.corpus
def test_corpus_fingerprints_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    for rel, findings in _corpus_parses(monkeypatch, FINGERPRINTS):
        fps = [f.fingerprint for f in findings]
        assert hashlib.sha256("\n".join(fps).encode()).hexdigest()[:16] == FINGERPRINTS[rel], rel


# -- whole findings of the corpus -------------------------------------------------------------------

# sha256 (first 16 hex digits) of every finding's JSON (sorted keys) and fields set, in report order,
# recorded from the code before the hot-path changes; loaded and streamed alike.
FINDINGS = {
    "trivy/all_statuses.json": "d4b09ac83588ff4a",
    "trivy/kubernetes.json": "ce6c4d3da333b757",
    "trivy/legacy_many_vulns.json": "8396dfc17d98ac6e",
    "trivy/license_scheme.json": "72da705184753af8",
    "trivy/misconfigurations_and_secrets.json": "9ad49ed7938fb35f",
    "trivy/scheme_2_many_vulns.json": "3626a5bf2b03c3ad",
    "trivy/scheme_2_no_vuln.json": "e3b0c44298fc1c14",
    "sarif/SuppressionTestCurrent.sarif": "530babbc47202afc",
    "sarif/appendix_k.sarif": "86d553a9e5426e14",
    "sarif/bash-report.sarif": "b96626af8701c18b",
    "sarif/codeQL-output.sarif": "c3bf73e9d743687c",
    "sarif/cxf-3.4.6.sarif": "3705c6328a0e6aaa",
    "sarif/dependency_check.sarif": "54940edf1ec4312d",
    "sarif/gitleaks_7.5.0.sarif": "ed0b677c8cd52df5",
    "sarif/njsscan.sarif": "8be1fd96d0644284",
}


def _findings_digest(findings: list[Finding]) -> str:
    lines = [json.dumps(f.model_dump(mode="json"), sort_keys=True) + repr(sorted(f.model_fields_set)) for f in findings]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@pytest.mark.corpus
def test_corpus_findings_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of every finding, as the general code gave them (the hot paths inline its helpers)."""
    for rel, findings in _corpus_parses(monkeypatch, FINDINGS):
        assert _findings_digest(findings) == FINDINGS[rel], rel
