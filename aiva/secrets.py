"""Secret redaction: a found secret is never stored, logged or reported in clear.

What stays is a redacted form for people (a short prefix and the length) and a
keyed hash (HMAC-SHA256 with the deployment's key) so that the same secret seen
again, by another tool or in another file, still matches.
"""

from __future__ import annotations

import hashlib
import hmac

_KEEP = 4


def redact(secret: str) -> str:
    """Show at most four leading characters and the length: 'AKIA…(20 chars)'."""
    s = secret.strip()
    if not s:
        return ""
    keep = min(_KEEP, len(s) // 4)
    return f"{s[:keep]}…({len(s)} chars, redacted)"


def secret_hash(secret: str, key: bytes) -> str:
    """Keyed hash of a secret for matching without keeping it."""
    return hmac.new(key, secret.strip().encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def scrub(text: str, secret: str) -> str:
    """Replace every occurrence of a secret inside free text (a snippet, a message)."""
    s = secret.strip()
    if len(s) < 4 or not text:
        return text
    return text.replace(s, redact(s))
