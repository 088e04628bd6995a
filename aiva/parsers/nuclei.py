"""ProjectDiscovery Nuclei results: JSON Lines (`-jsonl`, one result event per line;
older releases' `-json`) and the JSON array of `-json-export`.

Both the current field names (`template-id`, `matched-at`, `matcher-name`,
`extracted-results`) and the v2.x ones (`templateID`, `matched`, `matcher_name`,
`extracted_results`) are read.

Counting: one finding per template x matcher (x extractor, x fuzzed parameter) x
matched location. The location is `matched-at` reduced to scheme://host:port/path
(host:port for network templates; `host` / `url` / `port` when nuclei gives no
`matched-at`, the IP address only when it gives nothing else). The query string is
left out: it carries payloads with random out-of-band host names. Nuclei prints one
event per extracted value for some templates (`tls-version` once for tls12 and once
for tls13): events with the same identity are merged into the first one and their
extracted values are kept together.

Severity table (the template's `info.severity`): critical->critical, high->high,
medium->medium, low->low, info->info, unknown (or missing)->info. A CVSS vector in
`info.classification.cvss-metrics` is scored (cvss_v3) but does not change the
template author's severity.

Category: http / headless / javascript / code templates are DAST; network, ssl, dns,
whois and the rest are NETWORK.

Secrets: request / response bodies are never kept. `meta` values under credential
keys (default-login templates put the working username/password there) and
credential-looking extracted values are redacted; the keyed hash of the first one is
the finding's `secret_hash`.

Fingerprint "nuclei/1": template id, matcher name, extractor name, fuzzing parameter
and the location identity above; never the timestamp, the extracted values, the
request, or the IP address when a host name or URL is known.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._netutil import (
    SECRET_KEYS,
    as_list,
    as_port,
    as_str,
    clip,
    endpoint_from_target,
    scrub_credentials,
    unique,
    url_identity,
)
from aiva.parsers.base import (
    ParseContext,
    ReportSource,
    cwe_refs,
    first,
    parse_cvss,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import Endpoint, Finding, ToolInfo
from aiva.secrets import redact, secret_hash

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "unknown": Severity.INFO,
}
_DAST_TYPES = frozenset({"http", "headless", "javascript", "code", "file"})
_TYPE_PROTOCOL = {
    "network": "tcp",
    "tcp": "tcp",
    "ssl": "tcp",
    "dns": "dns",
    "whois": "tcp",
    "websocket": "tcp",
}
_SECRET_TAGS = frozenset(
    {"token", "tokens", "secret", "secrets", "credential", "credentials", "default-login", "apikey"}
)
_TOOL = ToolInfo(name="nuclei")
_DROPPED = frozenset({"request", "response", "curl-command", "template-encoded", "interaction"})


@dataclass
class _Group:
    """The first event of an identity, and what later duplicates add."""

    event: dict[str, Any]
    extracted: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)


class NucleiParser:
    """Nuclei's JSON Lines / JSON export."""

    name: ClassVar[str] = "nuclei"
    tool_name: ClassVar[str | None] = "nuclei"
    fingerprint_version: ClassVar[str] = "nuclei/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object (or array of objects) with a template id and a template `info` block."""
        head = source.text_head()
        if head[:1] not in ("{", "["):
            return False
        has_id = '"template-id"' in head or '"templateID"' in head
        return (
            has_id
            and '"info"' in head
            and ('"type"' in head or '"matched-at"' in head or '"matched"' in head)
        )

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per template x matcher x location (duplicates merged, first kept)."""
        groups: dict[tuple[str, str, str, str, str], _Group] = {}
        for pos, event in self._events(source):
            if not isinstance(event, dict):
                raise ReportParseError(source.path, self.name, "a result is not a JSON object", pos)
            tid = as_str(first(event.get("template-id"), event.get("templateID")))
            if not tid:
                raise ReportParseError(source.path, self.name, "a result has no template-id", pos)
            key = _identity(event, tid)
            g = groups.get(key)
            if g is None:  # keep the event without its bulky (and sensitive) request / response
                g = groups[key] = _Group({k: v for k, v in event.items() if k not in _DROPPED})
            g.extracted += as_list(first(event.get("extracted-results"), event.get("extracted_results")))
            g.matched += as_list(first(event.get("matched-at"), event.get("matched")))
        for key, g in groups.items():
            yield self._finding(key, g, ctx)

    def _events(self, source: ReportSource) -> Iterator[tuple[str, Any]]:
        if source.text_head(1) == "[":
            doc = source.load_json(self.name)
            if not isinstance(doc, list):
                raise ReportParseError(source.path, self.name, "expected a JSON array of results")
            for i, ev in enumerate(doc):
                yield f"item {i}", ev
            return
        for i, ev in enumerate(source.iter_json_lines(self.name), 1):
            if isinstance(ev, list):  # a JSON array on one line is the export form too
                for j, item in enumerate(ev):
                    yield f"record {i}, item {j}", item
            else:
                yield f"record {i}", ev

    def _finding(self, key: tuple[str, str, str, str, str], g: _Group, ctx: ParseContext) -> Finding:
        ev = g.event
        warnings: list[str] = []
        info: dict[str, Any] = ev["info"] if isinstance(ev.get("info"), dict) else {}
        cls: dict[str, Any] = info["classification"] if isinstance(info.get("classification"), dict) else {}
        tid, matcher, _extractor, fuzz_param, _loc = key
        rtype = as_str(ev.get("type")).lower()
        tags = [t.lower() for t in as_list(info.get("tags"), r"\s*,\s*")]
        is_secret = bool(_SECRET_TAGS.intersection(tags)) or "/tokens/" in as_str(ev.get("template-path"))

        matched = as_str(first(ev.get("matched-at"), ev.get("matched")))
        endpoint = _endpoint(ev, matched, rtype, fuzz_param or None)
        name = as_str(info.get("name")) or tid
        title = f"{name}: {matcher}" if matcher else name

        # Evidence: extracted values and meta, with credentials redacted.
        s_hash: str | None = None
        evidence: list[str] = []
        extracted = unique(g.extracted)
        if extracted:
            shown: list[str] = []
            for value in extracted[:50]:
                if is_secret:
                    s_hash = s_hash or secret_hash(value, ctx.secret_key)
                    shown.append(redact(value))
                else:
                    scrubbed, h = scrub_credentials(value, ctx.secret_key)
                    s_hash = s_hash or h
                    shown.append(scrubbed)
            evidence.append("Extracted: " + ", ".join(shown))
        meta = ev.get("meta")
        if isinstance(meta, dict) and meta:
            parts = []
            for k, v in meta.items():
                sv = as_str(v)
                if SECRET_KEYS.search(str(k)) and sv:
                    s_hash = s_hash or secret_hash(sv, ctx.secret_key)
                    sv = redact(sv)
                parts.append(f"{k}={sv}")
            evidence.append("Meta: " + ", ".join(parts))
        others = [m for m in unique(g.matched) if m != matched]
        if others:
            evidence.append("Also matched at: " + ", ".join(others[:20]))
        description = "\n\n".join(
            x for x in (as_str(info.get("description")), as_str(info.get("impact")), *evidence) if x
        )

        cves = as_list(cls.get("cve-id"), r"[,\s]+")
        if tid.upper().startswith("CVE-"):
            cves.append(tid)
        vector = as_str(cls.get("cvss-metrics"))
        refs = as_list(info.get("reference"), r"\s*\n\s*(?:-\s*)?|\s*,\s*")
        refs = [r.lstrip("- ").strip() for r in refs]
        target = ctx.target or _unslash(
            as_str(first(ev.get("host"), ev.get("url"), endpoint.host if endpoint else None))
        )
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, *key),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.DAST if rtype in _DAST_TYPES else FindingCategory.NETWORK,
            rule_id=tid,
            title=title[:500],
            description=clip(description),
            severity=severity_from_table(info.get("severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(as_list(cls.get("cwe-id"), r"[,\s]+"), warnings),
            vulnerability_ids=vuln_refs(cves),
            cvss_v3=parse_cvss(vector, warnings) if vector and not vector.startswith("CVSS:4") else None,
            cvss_v4=parse_cvss(vector, warnings) if vector.startswith("CVSS:4") else None,
            endpoint=endpoint,
            target=target or None,
            references=tuple(r for r in unique(refs) if r)[:50],
            remediation=as_str(info.get("remediation")) or None,
            raw_id=as_str(ev.get("template-url")) or None,
            secret_hash=s_hash,
            tags=tuple(unique([*tags, *(["secret"] if s_hash else [])]))[:30],
            warnings=tuple(warnings),
        )


def _identity(ev: dict[str, Any], tid: str) -> tuple[str, str, str, str, str]:
    matcher = as_str(first(ev.get("matcher-name"), ev.get("matcher_name")))
    extractor = as_str(first(ev.get("extractor-name"), ev.get("extractor_name")))
    fuzz = as_str(first(ev.get("fuzzing_parameter"), ev.get("fuzzing-parameter")))
    matched = as_str(first(ev.get("matched-at"), ev.get("matched")))
    if matched:
        loc = url_identity(matched)
    else:  # javascript / dns templates may give only host, url, port or ip
        parts = [url_identity(_unslash(as_str(ev.get(k)))) for k in ("host", "url", "port")]
        if not any(parts[:2]):  # the resolved IP only when nuclei names nothing else (it can change)
            parts.append(as_str(ev.get("ip")))
        loc = "|".join(parts)
    return tid, matcher, extractor, fuzz, loc


def _endpoint(ev: dict[str, Any], matched: str, rtype: str, parameter: str | None) -> Endpoint | None:
    port = as_port(ev.get("port"))
    proto = None if "://" in matched else _TYPE_PROTOCOL.get(rtype)
    ep = endpoint_from_target(matched, protocol=proto, port=None, parameter=parameter) if matched else None
    if ep is None:
        raw = _unslash(as_str(first(ev.get("host"), ev.get("url"), ev.get("ip"))))
        ep = endpoint_from_target(raw, protocol=_TYPE_PROTOCOL.get(rtype), port=port, parameter=parameter)
    if ep is not None and ep.port is None and port is not None:
        ep = ep.model_copy(update={"port": port})
    return ep


def _unslash(value: str) -> str:
    """Nuclei 3 writes `url` as "/http://host/" for some templates: drop the stray leading slash."""
    return value[1:] if value.startswith("/") and "://" in value[:12] else value


PARSER = NucleiParser()
SNIFF_PRIORITY = 60
