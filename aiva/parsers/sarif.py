"""SARIF 2.1.0 (OASIS): any tool that writes it (CodeQL, Semgrep, gitleaks, grype, ...).

One finding per result; suppressed results are kept and marked `suppressed`.

- A result with several `locations` is ONE finding, at its first location (the others are
  listed in the description). SARIF 2.1.0 section 3.27.12 allows more than one location
  only when the problem "can only be corrected by making a change at every location"
  and forbids using them for independent occurrences; GitHub code scanning also keeps
  the first. (njsscan's node_password result pointing at the `type = "text"` and the
  `type = "password"` lines is one weakness, one fix.)
- A result repeated with the same identity (below) is one finding: the first is kept.
  Two cases in practice: a log that lists byte-identical results several times (a
  converter bug: bash-report.sarif repeats 3 results 6 times each, same rule, file,
  line, snippet and partialFingerprints), and secret scanners that report the same
  secret at the same file and line once per git commit (gitleaks' SARIF: a feature
  commit and its merge commit). The commit is provenance, not identity, as in the
  gitleaks and trufflehog parsers.
- A result without `ruleId` / rule reference (gitleaks 7's SARIF) takes the id of the
  run's rule whose id or name starts its message ("AWS Access Key secret detected").

Severity: a rule's or result's `security-severity` property (a CVSS-like number,
GitHub code scanning's convention) wins; otherwise `level`: error->high,
warning->medium, note->low, none->info (SARIF's default level is warning).
Fingerprint "sarif/1": tool name, rule id, and the result's `fingerprints` when the
tool provides them (SARIF says they are stable across runs); otherwise the primary
location (artifact URI, start line, start column, logical location). The column
separates two results of one rule on one line (two calls on the same line).
`partialFingerprints` are not used: they are tool-specific inputs to a fingerprint, not
fingerprints, and change with the tool's version.

Secrets (gitleaks, trufflehog, ... as the run's tool): the secret is the result's
`properties.offender` / `secret` / `Secret` / `match` when given, and is scrubbed from the
snippet and message (the rest of the line stays readable); without it the whole snippet
is treated as the secret and redacted. `secret_hash` is the keyed hash. Such results
carry CWE-798 unless the tool names another CWE.

A log above STREAM_ABOVE_BYTES is streamed (base.JsonStream): results are decoded a batch at a
time, so memory stays bounded whatever their number. A run's results are read as they come
when the run's tool (and its versionControlProvenance, or the proof that the file has none)
came before them; otherwise they are kept aside (or read again) until the run ends. The walk
yields results as Pieces (`stream_units`), which `piece_findings` turns into findings here or in
another process (aiva.parsers.parallel), which rebuilds the run's context from the file itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, ClassVar

import orjson

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._jsonstream import Piece
from aiva.parsers._sast_helpers import entry_errors
from aiva.parsers.base import (
    JsonStream,
    ParseContext,
    ReportSource,
    cwe_refs,
    first,
    parse_cvss,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import CvssScore, CWEReference, Finding, ToolInfo, new_finding, new_location
from aiva.secrets import redact, scrub, secret_hash

LEVELS = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW, "none": Severity.INFO}
# Above this size the log is streamed (a batch of results at a time) instead of loaded whole: a loaded
# log holds about 5 times its size in memory, and the garbage collector walks all of it again and again.
STREAM_ABOVE_BYTES = 16 * 1024 * 1024
# Streaming: results met before their run's tool, kept decoded (above this: read again).
DEFER_IN_MEMORY = 10_000
# What entry_errors turns into a ReportParseError (caught here first: a `with` per result is slow).
_ENTRY_ERRORS = (AttributeError, KeyError, IndexError, TypeError, ValueError)
SECRET_TOOLS = frozenset({"gitleaks", "trufflehog", "detect-secrets", "ggshield", "secretlint"})
_CWE_IN_TEXT = re.compile(r"CWE[-_/ ]?0*(\d{1,5})", re.IGNORECASE)
_VULN_IN_TEXT = re.compile(r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3})\b", re.IGNORECASE)


class SarifParser:
    """Static Analysis Results Interchange Format 2.1.0."""

    name: ClassVar[str] = "sarif"
    tool_name: ClassVar[str | None] = None  # named by the run's driver
    fingerprint_version: ClassVar[str] = "sarif/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object naming a SARIF version or schema, with runs."""
        head = source.text_head()
        return head.startswith("{") and '"runs"' in head and ("sarif" in head.lower() or '"version"' in head)

    def coverage(self, source: ReportSource) -> tuple[str | None, str | None]:
        """(target, tool) of a report whose runs share one driver (and one repository, if named)."""
        if source.size > STREAM_ABOVE_BYTES:
            return None, None
        doc = source.load_json(self.name)
        runs = [r for r in (doc.get("runs") or []) if isinstance(r, dict)] if isinstance(doc, dict) else []
        contexts = [_RunContext(r, ParseContext()) for r in runs]
        tools = {c.tool.name for c in contexts}
        targets = {c.target for c in contexts}
        if len(tools) != 1:
            return None, None
        return (targets.pop() if len(targets) == 1 else None), tools.pop()

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per result of every run."""
        if source.size > STREAM_ABOVE_BYTES:
            yield from self._parse_streaming(source, ctx)
            return
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
            raise ReportParseError(source.path, self.name, "not a SARIF log: no 'runs' array at the top")
        seen: set[str] = set()
        for r, run in enumerate(doc["runs"]):
            for finding in self._run(run, f"runs[{r}]", source, ctx):
                if finding.fingerprint not in seen:
                    seen.add(finding.fingerprint)
                    yield finding

    def _run(self, run: Any, where: str, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """One run's results; a wrong-typed field raises ReportParseError naming the result."""
        if not isinstance(run, dict):
            raise ReportParseError(source.path, self.name, "a run is not an object", where)
        with entry_errors(source.path, self.name, where):
            rc = _RunContext(run, ctx)
        results = run.get("results") or []
        if not isinstance(results, list):
            raise ReportParseError(source.path, self.name, "'results' is not an array", f"{where}.results")
        for i, result in enumerate(results):
            yield self._finding_at(result, rc, ctx, source, f"{where}.results[{i}]")

    def _finding_at(
        self, result: Any, rc: _RunContext, ctx: ParseContext, source: ReportSource, where: str
    ) -> Finding:
        if not isinstance(result, dict):
            raise ReportParseError(source.path, self.name, "a result is not an object", where)
        try:
            return self._finding(result, rc, ctx)
        except _ENTRY_ERRORS:
            with entry_errors(source.path, self.name, where):  # the same ReportParseError, naming the result
                raise

    def stream_units(self, source: ReportSource, ctx: ParseContext) -> Iterator[Piece | Finding] | None:
        """For a log streamed (above STREAM_ABOVE_BYTES): its results as Pieces, in log order, and the
        findings made on the way (results kept aside in memory); None when the log is loaded.

        Not deduplicated: `parse` (and the parallel ingest) keep the first of each fingerprint.
        """
        return self._stream_runs(source, ctx) if source.size > STREAM_ABOVE_BYTES else None

    def piece_findings(
        self, spec: Any, first: int, items: list[Any], path: str, ctx: ParseContext
    ) -> list[Finding]:
        """The findings of one Piece (in this process or another); a bad result is a ReportParseError."""
        return self._batch(items, first, spec.run_context(path, ctx), ctx, path, spec.where)

    def _parse_streaming(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        seen: set[str] = set()
        for unit in self._stream_runs(source, ctx):
            if isinstance(unit, Piece):
                findings = self.piece_findings(unit.spec, unit.first, unit.items, source.path, ctx)
            else:
                findings = [unit]
            for finding in findings:
                if finding.fingerprint not in seen:
                    seen.add(finding.fingerprint)
                    yield finding

    def _stream_runs(self, source: ReportSource, ctx: ParseContext) -> Iterator[Piece | Finding]:
        not_sarif = "not a SARIF log: no 'runs' array at the top"
        token = uuid.uuid4().hex  # names this reading's run contexts in other processes
        with source.open() as f:
            js = JsonStream(f, source.path, self.name)
            if js.peek() != "{":
                raise ReportParseError(source.path, self.name, not_sarif)
            # Whether a run may name its repository (the findings' target) after its results.
            vcp = not ctx.target and js.may_contain_key("versionControlProvenance")
            has_runs = False
            for key in js.object_items():
                if key != "runs":
                    js.skip_value()
                    continue
                if js.peek() != "[":
                    raise ReportParseError(source.path, self.name, not_sarif)
                has_runs = True
                for r in js.array_items():
                    yield from self._stream_run(js, r, vcp, source, ctx, token)
            if not has_runs:
                raise ReportParseError(source.path, self.name, not_sarif)

    def _stream_run(
        self, js: JsonStream, r: int, vcp: bool, source: ReportSource, ctx: ParseContext, token: str
    ) -> Iterator[Piece | Finding]:
        where = f"runs[{r}]"
        if js.peek() != "{":
            raise ReportParseError(source.path, self.name, "a run is not an object", where)
        run: dict[str, Any] = {}
        spans: list[tuple[str, int, int]] = []  # where each of them is in the file, for other processes
        rc: _RunContext | None = None
        pending: tuple[bool, Any] | None = None  # (True, file offset) or (False, the results)
        for key in js.object_items():
            if key in ("tool", "versionControlProvenance"):
                at = js.tell()
                run[key] = js.value()
                spans.append((key, at, js.tell()))
            elif key == "results":
                ready = "tool" in run and (not vcp or "versionControlProvenance" in run)
                if js.peek() == "[" and ready:
                    with entry_errors(source.path, self.name, where):
                        rc = _RunContext(run, ctx)
                    yield from _pieces(js, _RunSpec(rc, token, r, tuple(spans), where))
                elif js.peek() == "[":
                    pending = _set_aside(js)
                else:  # null, or not an array: as in a loaded log
                    pending = (False, js.value())
            else:
                js.skip_value()
        if rc is not None or pending is None:
            if rc is None:  # no results: still check the run as a loaded log does
                with entry_errors(source.path, self.name, where):
                    _RunContext(run, ctx)
            return
        with entry_errors(source.path, self.name, where):
            rc = _RunContext(run, ctx)
        is_offset, value = pending
        if not is_offset:
            results = value or []
            if not isinstance(results, list):
                raise ReportParseError(source.path, self.name, "'results' is not an array", f"{where}.results")
            yield from self._batch(results, 0, rc, ctx, source.path, where)
            return
        back = js.tell()
        js.seek(value)
        yield from _pieces(js, _RunSpec(rc, token, r, tuple(spans), where))
        js.seek(back)

    def _batch(
        self, results: list[Any], start: int, rc: _RunContext, ctx: ParseContext, path: str, where: str
    ) -> list[Finding]:
        out: list[Finding] = []
        for i, result in enumerate(results, start):
            if not isinstance(result, dict):
                raise ReportParseError(path, self.name, "a result is not an object", f"{where}.results[{i}]")
            try:
                out.append(self._finding(result, rc, ctx))
            except _ENTRY_ERRORS:
                with entry_errors(path, self.name, f"{where}.results[{i}]"):
                    raise
        return out

    def _finding(self, result: dict[str, Any], rc: _RunContext, ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        rule_id = _rule_id(result)
        rule = rc.rule(rule_id, result)
        if rule_id is None and rule.get("id") is not None:
            rule_id = str(rule["id"])  # referenced by index only
        elif rule_id is None:
            rule_id, rule = rc.rule_from_message(_text(result.get("message")))
        result_props = result.get("properties")
        # Without properties of its own, a result has its rule's: worked out once per rule.
        d = _Derived({**(rule.get("properties") or {}), **result_props}, rule) if result_props else rc.derived(rule)
        message = _text(result.get("message")) or d.short or rule_id or "SARIF result"
        phys, logical = _primary_location(result)
        region = phys.get("region") or {}
        uri = (phys.get("artifactLocation") or {}).get("uri")
        line = region.get("startLine")
        column = region.get("startColumn")
        snippet = _text(region.get("snippet"))
        fps = result.get("fingerprints") or {}
        identity: tuple[Any, ...]
        if isinstance(fps, dict) and fps:
            identity = ("fp", sorted(f"{k}={v}" for k, v in fps.items()))
        else:
            col = column if isinstance(column, int) else None
            # An int enters a fingerprint as its text: given as text, it skips the generic path.
            identity = ("loc", uri, str(line) if type(line) is int else line, str(col) if type(col) is int else col,
                        logical)
        is_secret = rc.is_secret
        secret_h = None
        if is_secret:
            secret = _secret_of(result)
            if secret:
                secret_h = secret_hash(secret, ctx.secret_key)
                snippet = scrub(snippet, secret) if snippet else redact(secret)
                message = scrub(message, secret)
            elif snippet:
                secret_h = secret_hash(snippet, ctx.secret_key)
                message = message.replace(snippet, redact(snippet))
                snippet = redact(snippet)
        locs = result.get("locations")
        if isinstance(locs, list) and len(locs) > 1:
            others = _other_locations(result)
            if others:
                message += "\n\nAlso at: " + ", ".join(others)
        severity = d.severity if d.severity is not None else _level_severity(result, rule)
        vulns = [rule_id] if rule_id and _is_vuln_id(rule_id) else []
        vulns += _ids_in(message[:2000])
        end_line = region.get("endLine")
        return new_finding({
            "fingerprint": fingerprint(self.fingerprint_version, rc.tool.name, rule_id, *identity),
            "fingerprint_version": self.fingerprint_version,
            "format": self.name,
            "tool": rc.tool,
            "category": FindingCategory.SECRET if is_secret else rc.category,
            "rule_id": rule_id,
            "title": d.title if d.title is not None else _title(rule, rule_id, message),
            "description": message,
            "severity": severity,
            "confidence": d.confidence,
            "cwes": d.cwes(is_secret, warnings),
            "vulnerability_ids": vuln_refs(vulns),
            "cvss_v3": d.cvss(warnings),
            "location": new_location({
                "file_path": _strip_file_scheme(uri),
                "start_line": line if isinstance(line, int) and line >= 0 else None,
                "end_line": end_line if isinstance(end_line, int) else None,
                "snippet": snippet,
            }),
            "target": rc.target,
            "references": d.references,
            "remediation": d.remediation,
            "raw_id": result.get("guid") or result.get("correlationGuid"),
            "suppressed": bool(result.get("suppressions")),
            "secret_hash": secret_h,
            "tags": d.tags,
            "warnings": tuple(warnings),
        })


class _Derived:
    """What a result's merged properties (and its rule) say, apart from the result itself."""

    __slots__ = ("_cvss", "_cwes", "confidence", "cwe_sources", "references", "remediation", "severity", "short",
                 "tags", "title", "vector")

    def __init__(self, props: dict[str, Any], rule: dict[str, Any]) -> None:
        tags = [str(t) for t in (props.get("tags") or []) if isinstance(t, (str, int))]
        cwe_sources: list[Any] = [m.group(1) for t in tags for m in _CWE_IN_TEXT.finditer(t)]
        for key in ("cwe", "CWE", "cwe_id"):
            val = props.get(key)
            for item in val if isinstance(val, list) else [val]:
                if item is not None:
                    cwe_sources += [m.group(1) for m in _CWE_IN_TEXT.finditer(str(item))] or [item]
        self.tags = tuple(tags[:20])
        self.cwe_sources = cwe_sources
        self.severity = _score_severity(props)
        self.confidence = _confidence(props)
        vector = props.get("cvssV3_vector") or props.get("cvssv3_baseVector") or props.get("cvss_vector")
        self.vector = vector if isinstance(vector, str) else None
        self.short = _text(rule.get("shortDescription"))
        # The title when the rule decides it (its short description or name), else None: the message does.
        title = first(self.short, rule.get("name"))
        self.title = str(title)[:500] if title else None
        self.references = tuple(x for x in (rule.get("helpUri"),) if x)
        self.remediation = _text(rule.get("help"))
        self._cwes: dict[bool, tuple[tuple[CWEReference, ...], list[str]]] = {}
        self._cvss: tuple[CvssScore | None, list[str]] | None = None

    def cwes(self, is_secret: bool, warnings: list[str]) -> tuple[CWEReference, ...]:
        """The CWE references (CWE-798 for a secret scanner's result naming none), worked out once."""
        hit = self._cwes.get(is_secret)
        if hit is None:
            warned: list[str] = []
            hit = self._cwes[is_secret] = (cwe_refs(self.cwe_sources or ([798] if is_secret else []), warned), warned)
        warnings.extend(hit[1])
        return hit[0]

    def cvss(self, warnings: list[str]) -> CvssScore | None:
        """The scored CVSS vector, worked out once (an invalid one warns every time)."""
        if self._cvss is None:
            warned: list[str] = []
            self._cvss = (parse_cvss(self.vector, warned), warned)
        warnings.extend(self._cvss[1])
        return self._cvss[0]


class _RunContext:
    """A run's tool, rules and target, looked up once per run."""

    def __init__(self, run: dict[str, Any], ctx: ParseContext) -> None:
        driver = ((run.get("tool") or {}).get("driver")) or {}
        self.tool = ToolInfo(
            name=str(driver.get("name") or "sarif"),
            version=first(driver.get("semanticVersion"), driver.get("version")),
        )
        self.rules_list: list[dict[str, Any]] = [r for r in driver.get("rules") or [] if isinstance(r, dict)]
        self.rules = {str(r.get("id")): r for r in self.rules_list if r.get("id") is not None}
        prov = run.get("versionControlProvenance") or []
        repo = prov[0].get("repositoryUri") if prov and isinstance(prov[0], dict) else None
        self.target = ctx.target or repo
        self.is_secret = self.tool.name.lower() in SECRET_TOOLS
        self.category = FindingCategory.SECRET if self.is_secret else FindingCategory.SAST
        self._derived: dict[int, tuple[dict[str, Any], _Derived]] = {}

    def derived(self, rule: dict[str, Any]) -> _Derived:
        """The rule's derived properties, worked out once (for results without properties of their own)."""
        hit = self._derived.get(id(rule))
        if hit is not None and hit[0] is rule:
            return hit[1]
        d = _Derived({**(rule.get("properties") or {})}, rule)
        if rule:  # the run's rules live as long as the run; an empty stand-in is not kept
            self._derived[id(rule)] = (rule, d)
        return d

    def rule(self, rule_id: str | None, result: dict[str, Any]) -> dict[str, Any]:
        idx = result.get("ruleIndex")
        if idx is None:
            idx = (result.get("rule") or {}).get("index")
        if isinstance(idx, int) and 0 <= idx < len(self.rules_list):
            return self.rules_list[idx]
        return self.rules.get(rule_id or "", {})

    def rule_from_message(self, message: str) -> tuple[str | None, dict[str, Any]]:
        """For a result naming no rule: the rule whose id (or name) starts the message, longest first."""
        best: tuple[str | None, dict[str, Any]] = (None, {})
        best_len = 0
        for r in self.rules_list:
            for label in (r.get("id"), r.get("name")):
                if isinstance(label, str) and len(label) > best_len and message.startswith(label):
                    rest = message[len(label):len(label) + 1]
                    if rest in ("", " ", ":", ".", ","):
                        best, best_len = (str(r.get("id") or label), r), len(label)
        return best


class _RunSpec:
    """A streamed run's context for its Pieces: its `_RunContext` here; in another process, rebuilt
    (once per process) from the bytes of the run's tool and versionControlProvenance in the file."""

    __slots__ = ("rc", "run", "spans", "token", "where")

    def __init__(
        self, rc: _RunContext | None, token: str, run: int, spans: tuple[tuple[str, int, int], ...], where: str
    ) -> None:
        self.rc = rc
        self.token = token
        self.run = run
        self.spans = spans
        self.where = where

    def __reduce__(self) -> tuple[Any, ...]:
        # The run context may be large (every rule of the tool): a process reads it from the file itself.
        return (_RunSpec, (None, self.token, self.run, self.spans, self.where))

    def run_context(self, path: str, ctx: ParseContext) -> _RunContext:
        """The run's context, rebuilt from the file at most once per process and reading."""
        if self.rc is not None:
            return self.rc
        key = (self.token, self.run)
        rc = _REBUILT.get(key)
        if rc is None:
            run: dict[str, Any] = {}
            with open(path, "rb") as f:
                for name, start, end in self.spans:
                    f.seek(start)
                    run[name] = orjson.loads(f.read(end - start))
            rc = _RunContext(run, ctx)
            _REBUILT[key] = rc
            while len(_REBUILT) > _REBUILT_MAX:
                del _REBUILT[next(iter(_REBUILT))]
        return rc


# Run contexts rebuilt in this process (a parallel ingest's worker), the most recent last.
_REBUILT: dict[tuple[str, int], _RunContext] = {}
_REBUILT_MAX = 8


def _pieces(js: JsonStream, spec: _RunSpec) -> Iterator[Piece]:
    """A run's results array, cut into Pieces numbered by result index."""
    i = 0
    for raw, batch in js.array_pieces():
        yield Piece(spec, i, raw, batch)
        i += len(batch)


def _set_aside(js: JsonStream) -> tuple[bool, Any]:
    """Pass over results that cannot be read yet: keep them if few, else remember where they start."""
    start = js.tell()
    kept: list[Any] | None = []
    for batch in js.array_batches():
        if kept is not None:
            kept.extend(batch)
            if len(kept) > DEFER_IN_MEMORY:
                kept = None
    return (False, kept) if kept is not None else (True, start)


def _ids_in(text: str) -> list[str]:
    """`_VULN_IN_TEXT.findall(text)`, the regex tried only where an id can start.

    Scanning a 130-character message costs the regex about 30k instructions, wherever it matches;
    every match starts with "cve-" or "ghsa-" once case-folded (casefold, like the regex, takes the
    long s for an s), and in ASCII text (lower-cased letter for letter) at the same index.
    """
    if not text.isascii():
        folded = text.casefold()
        return _VULN_IN_TEXT.findall(text) if "cve-" in folded or "ghsa-" in folded else []
    low = text.lower()
    starts: list[int] = []
    for needle in ("cve-", "ghsa-"):
        i = low.find(needle)
        while i >= 0:
            starts.append(i)
            i = low.find(needle, i + 1)
    found: list[str] = []
    end = 0
    for i in sorted(starts):
        if i >= end and (m := _VULN_IN_TEXT.match(text, i)) is not None:  # \b sees text[i - 1]
            found.append(m.group(1))
            end = m.end()
    return found


@lru_cache(maxsize=4_096)
def _is_vuln_id(rule_id: str) -> bool:
    """Is the rule id itself a CVE or GHSA id (a rule per advisory: grype, trivy)?"""
    return _VULN_IN_TEXT.fullmatch(rule_id) is not None


def _secret_of(result: dict[str, Any]) -> str | None:
    """The secret a secret scanner put in the result's properties (gitleaks: offender), if any."""
    props = result.get("properties")
    if not isinstance(props, dict):
        return None
    for key in ("offender", "secret", "Secret", "match", "Match"):
        value = props.get(key)
        if isinstance(value, str) and value.strip() and value.strip() != "REDACTED":
            return value.strip()
    return None


def _other_locations(result: dict[str, Any]) -> list[str]:
    """'uri:line' of every location after the first (SARIF: all must change to fix the result)."""
    out: list[str] = []
    locs = result.get("locations")
    for loc in locs[1:] if isinstance(locs, list) else []:
        phys = loc.get("physicalLocation") if isinstance(loc, dict) else None
        if not isinstance(phys, dict):
            continue
        uri = _strip_file_scheme((phys.get("artifactLocation") or {}).get("uri"))
        line = (phys.get("region") or {}).get("startLine")
        if uri:
            out.append(f"{uri}:{line}" if isinstance(line, int) else uri)
    return out[:20]


def _rule_id(result: dict[str, Any]) -> str | None:
    rid = result.get("ruleId") or (result.get("rule") or {}).get("id")
    return str(rid) if rid is not None else None


def _text(msg: Any) -> str:
    if isinstance(msg, dict):
        return str(first(msg.get("text"), msg.get("markdown")) or "")
    return str(msg) if isinstance(msg, str) else ""


def _title(rule: dict[str, Any], rule_id: str | None, message: str) -> str:
    short = _text(rule.get("shortDescription"))
    title = first(short, rule.get("name"), message.split("\n", 1)[0], rule_id) or "SARIF result"
    return str(title)[:500]


def _primary_location(result: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    locs = result.get("locations") or []
    if not locs or not isinstance(locs[0], dict):
        return {}, None
    loc = locs[0]
    logical = loc.get("logicalLocations") or []
    lname = logical[0].get("fullyQualifiedName") or logical[0].get("name") if logical else None
    return loc.get("physicalLocation") or {}, lname


def _strip_file_scheme(uri: str | None) -> str | None:
    if not uri:
        return None
    return uri[7:] if uri.startswith("file://") else uri


def _severity(result: dict[str, Any], rule: dict[str, Any], props: dict[str, Any]) -> Severity:
    return _score_severity(props) or _level_severity(result, rule)


def _score_severity(props: dict[str, Any]) -> Severity | None:
    sec = props.get("security-severity")
    try:
        if sec is not None:
            return Severity.from_cvss_score(float(sec))
    except (TypeError, ValueError):
        pass
    return None


def _level_severity(result: dict[str, Any], rule: dict[str, Any]) -> Severity:
    level = result.get("level") or (rule.get("defaultConfiguration") or {}).get("level") or "warning"
    return severity_from_table(level, LEVELS, Severity.MEDIUM)


def _confidence(props: dict[str, Any]) -> Confidence:
    p = str(props.get("precision") or props.get("confidence") or "").lower()
    return {
        "very-high": Confidence.CERTAIN, "high": Confidence.FIRM, "medium": Confidence.FIRM,
        "low": Confidence.TENTATIVE,
    }.get(p, Confidence.UNKNOWN)


PARSER = SarifParser()
SNIFF_PRIORITY = 90
