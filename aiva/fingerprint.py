"""Stable finding fingerprints.

A fingerprint is a hash of identity fields only: never descriptions, timestamps
or other scanner prose, which change between runs of the same scanner. The
recipe is versioned per format ("trivy/1"): changing what goes into a format's
fingerprint means bumping its version, so stored findings are not silently
orphaned.
"""

from __future__ import annotations

import hashlib

_SEP = "\x1f"


def _norm(part: object) -> str:
    if part is None:
        return ""
    if isinstance(part, (list, tuple, set, frozenset)):
        return ",".join(sorted(_norm(p) for p in part))
    return str(part).strip()


def fingerprint(version: str, *identity: object) -> str:
    """Hash a format's recipe version and its identity fields into a 40-hex-digit fingerprint."""
    # Runs once per finding of every report: str and None (nearly every part) inline, in a plain
    # loop (a generator expression: 18.4k instructions a call against 16.3k, callgrind).
    parts = [version]
    for p in identity:
        if type(p) is str:
            parts.append(p.strip())
        elif p is None:
            parts.append("")
        else:
            parts.append(_norm(p))
    return hashlib.sha256(_SEP.join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:40]
