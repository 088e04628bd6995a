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
    # str and None (nearly every field) inline: this runs once per finding of every report
    payload = _SEP.join([version, *(
        p.strip() if type(p) is str else "" if p is None else _norm(p) for p in identity)])
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:40]
