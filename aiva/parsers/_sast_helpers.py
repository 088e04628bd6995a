"""Small helpers shared by the SAST / secret / IaC parsers (semgrep, bandit, gitleaks,
trufflehog, checkov, kics, gitlab_sast, sonarqube); sarif and trivy use `entry_errors`
and `unique`.

Scanner JSON is read defensively: a field of the wrong type becomes None or empty,
never a KeyError or TypeError escaping the parser. The module name starts with an
underscore, so the parser registry skips it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from aiva.enums import Confidence
from aiva.errors import ReportParseError
from aiva.schemas import Finding
from aiva.secrets import redact, scrub

# Finding's text fields hold at most 65,536 characters; longer tool text is cut, not refused.
TEXT_LIMIT = 65_000

_CWE_RE = re.compile(r"CWE[-_ :]?0*(\d{1,5})", re.IGNORECASE)
VULN_ID_RE = re.compile(r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3})\b", re.IGNORECASE)

# The three-level confidence words most tools use (bandit, semgrep, GitLab), and GitLab's extras.
CONFIDENCE_WORDS: dict[str, Confidence] = {
    "confirmed": Confidence.CERTAIN,
    "certain": Confidence.CERTAIN,
    "high": Confidence.CERTAIN,
    "medium": Confidence.FIRM,
    "firm": Confidence.FIRM,
    "low": Confidence.TENTATIVE,
    "experimental": Confidence.TENTATIVE,
    "tentative": Confidence.TENTATIVE,
}


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """A text cut to `limit` characters (with a marker), None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 20] + "\n…(truncated)"


@contextmanager
def entry_errors(path: str, fmt: str, position: str) -> Iterator[None]:
    """Turn a wrong-typed or out-of-range field met while building one finding into a ReportParseError."""
    try:
        yield
    except ReportParseError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
        reason = f"unexpected field type or value ({type(e).__name__}: {' '.join(str(e).split())[:200]})"
        raise ReportParseError(path, fmt, reason, position) from e


def as_dict(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value when it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """A non-empty stripped string from a string or a number; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        v = value.strip()
        return v or None
    return None


def as_int(value: Any) -> int | None:
    """A non-negative int from an int or a decimal string; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer():
        return int(value) if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def line_or_none(value: Any) -> int | None:
    """A 1-based line number; 0 and negatives (tools' "no line") become None."""
    n = as_int(value)
    return n if n else None


def cwe_numbers(values: Iterable[Any]) -> list[str]:
    """Pull CWE numbers out of strings like "CWE-79: Cross-site Scripting", 79 or "79"."""
    out: list[str] = []
    for v in values:
        if v is None or isinstance(v, bool):
            continue
        if isinstance(v, int):
            out.append(str(v))
            continue
        text = str(v).strip()
        found = _CWE_RE.findall(text)
        if found:
            out.extend(found)
        elif text.isdigit():
            out.append(text)
    return out


def vuln_ids_in(*texts: str | None) -> list[str]:
    """CVE and GHSA ids mentioned in free text, in order."""
    out: list[str] = []
    for t in texts:
        if t:
            out.extend(VULN_ID_RE.findall(t[:4000]))
    return out


def first_line(text: str | None, limit: int = 200) -> str | None:
    """The first non-empty line of a text, cut to `limit` characters."""
    if not text:
        return None
    for line in text.splitlines():
        s = line.strip()
        if s:
            return s if len(s) <= limit else s[: limit - 1] + "…"
    return None


def first_sentence(text: str | None, limit: int = 200) -> str | None:
    """The first sentence of a text (lines joined), cut to `limit` characters."""
    if not text:
        return None
    flat = " ".join(text.split())
    if not flat:
        return None
    end = flat.find(". ")
    sentence = flat[: end + 1] if 0 < end < limit else flat
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def unique(findings: Iterable[Finding]) -> Iterator[Finding]:
    """Drop a finding whose fingerprint was already produced (the first one is kept)."""
    seen: set[str] = set()
    for f in findings:
        if f.fingerprint in seen:
            continue
        seen.add(f.fingerprint)
        yield f


def decode_b64_secret(value: str) -> str | None:
    """Decode a base64 value (Go marshals []byte as base64) when it yields printable text."""
    v = value.strip()
    if len(v) < 8 or len(v) % 4:
        return None
    try:
        raw = base64.b64decode(v, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not text or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return text


def scrub_all(text: str | None, secrets: Iterable[str]) -> str | None:
    """Replace every given secret inside a text; secrets shorter than 4 characters are left alone."""
    if text is None:
        return None
    out = text
    for s in sorted({s.strip() for s in secrets if s and s.strip()}, key=len, reverse=True):
        out = scrub(out, s)
    return out


def redacted(secret: str | None) -> str | None:
    """The redacted display form of a secret, None when there is none."""
    if not secret or not secret.strip():
        return None
    return redact(secret)
