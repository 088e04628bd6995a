"""Scanner text on its way into a ticket: one policy for every connector.

Scanner output is attacker-controlled. Whatever a target's own escaping (ADF text
nodes, Markdown code spans, Slack mrkdwn: each stays in its connector), the text first
loses what no ticket should carry: C0/C1 controls (tab and newline aside), zero-width
characters, bidi overrides and isolates ("Trojan Source": text that renders differently
from what it is), the BOM, and lone surrogates (which make a JSON body unencodable).
Then it is bounded: `clip` cuts with an ellipsis, `clean_text` keeps lines, `one_line`
folds them. `ticket_title` and `finding_facts` are the title and the fact list of the
plain-text targets (JIRA, ServiceNow).
"""

from __future__ import annotations

import re
from typing import Any

MAX_FACT = 500  # one line of the fact list (a title, a path, a URL)
MAX_LIST = 20  # CVE / CWE ids listed

# tab (\x09) and newline (\x0a) are the only controls kept
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_BLANK_RUN = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")


def strip_unsafe(value: object) -> str:
    """`value` as text without controls (tab and newline kept), zero-width, bidi or lone-surrogate characters."""
    return _UNSAFE_CHARS.sub("", str(value))


def clip(s: str, limit: int) -> str:
    """`s` cut to at most `limit` characters, an ellipsis marking the cut."""
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def clean_text(value: object, limit: int) -> str:
    """Scanner text made safe to store: unsafe characters dropped, newlines normalised, clipped."""
    s = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return clip(_BLANK_RUN.sub("\n\n", strip_unsafe(s)).strip(), limit)


def one_line(value: object, limit: int) -> str:
    """Scanner text as a single clipped line (summaries, labels of facts)."""
    return clean_text(_SPACES.sub(" ", clean_text(value, limit * 2)), limit)


def ticket_title(finding: dict[str, Any], limit: int) -> str:
    """'[AIVA] SEVERITY: title' on one line of at most `limit` characters, never empty."""
    severity = one_line(finding.get("severity") or "", 20).upper()
    title = one_line(finding.get("title") or "", limit)
    if not title:
        title = f"finding {one_line(finding.get('fingerprint') or '?', 80)[:16]}"
    prefix = f"[AIVA] {severity}: " if severity else "[AIVA] "
    return one_line(prefix + title, limit)


def _join(items: object, limit: int = MAX_LIST) -> str:
    if not isinstance(items, list | tuple):
        return ""
    shown = [str(i) for i in items[:limit]]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(shown) + more


def _component(c: object) -> str:
    if not isinstance(c, dict):
        return str(c) if c else ""
    name = " ".join(str(c[k]) for k in ("name", "version") if c.get(k))
    if c.get("fixed_version"):
        name += f" (fixed in {c['fixed_version']})"
    if c.get("purl"):
        name += f" [{c['purl']}]"
    return name


def _location(loc: object) -> str:
    if not isinstance(loc, dict):
        return str(loc) if loc else ""
    where = str(loc.get("file_path") or "")
    start, end = loc.get("start_line"), loc.get("end_line")
    if start is not None:
        where += f":{start}" + (f"-{end}" if end not in (None, start) else "")
    return where


def _endpoint(ep: object) -> str:
    if not isinstance(ep, dict):
        return str(ep) if ep else ""
    where = str(ep.get("url") or "")
    if not where and ep.get("host"):
        where = str(ep["host"]) + (f":{ep['port']}" if ep.get("port") is not None else "")
        if ep.get("protocol"):
            where = f"{ep['protocol']}://{where}"
    if ep.get("parameter"):
        where += f" (parameter {ep['parameter']})"
    return where


def finding_facts(finding: dict[str, Any], product: str, run_id: str) -> list[tuple[str, str]]:
    """The finding as (label, one-line value) pairs, empty values left out."""
    risk = finding.get("risk_score")
    facts = [
        ("Severity", str(finding.get("severity") or "")),
        ("Risk score", f"{risk:.1f}" if isinstance(risk, int | float) else ""),
        ("Tool", str(finding.get("tool") or "")),
        ("Rule", str(finding.get("rule_id") or "")),
        ("Vulnerabilities", _join(finding.get("vulnerability_ids"))),
        ("Weaknesses", _join(finding.get("cwes"))),
        ("Component", _component(finding.get("component"))),
        ("Location", _location(finding.get("location"))),
        ("Endpoint", _endpoint(finding.get("endpoint"))),
        ("Asset", str(finding.get("asset") or "")),
        ("Change", str(finding.get("change") or "")),
        ("Product", product),
        ("AIVA run", run_id),
        ("Fingerprint", str(finding.get("fingerprint") or "")),
    ]
    cleaned = [(label, one_line(value, MAX_FACT)) for label, value in facts]
    return [(label, value) for label, value in cleaned if value]
