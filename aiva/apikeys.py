"""API keys (pure): token format, hashing, scopes. No I/O; the store is `aiva.store.apikeys`.

Token format: ``aiva_<key id>_<secret>``

- ``key id``: 12 lowercase hex digits, public. It is the row's primary key, so a
  request finds its key with one index lookup, and `aiva apikey list` can show it.
- ``secret``: ``secrets.token_urlsafe(32)``, 256 random bits. It is shown once, at
  creation, and never stored, logged or returned again.

Hashing: the store keeps ``HMAC-SHA256(AIVA_SECRET_HASH_KEY, secret)``, hex.
The secret is random with 256 bits of entropy, not a password a person chose, so a
slow password hash (bcrypt, argon2) would add latency to every request and no
protection: nobody can brute-force 2**256. A plain SHA-256 would already be safe
against guessing; the HMAC adds that a stolen copy of the ``api_keys`` table cannot
even be used to check a guess without the deployment's key, and that a key from
one deployment never verifies on another. The cost: rotating AIVA_SECRET_HASH_KEY
invalidates every API key (they must be re-issued), as it re-keys secret hashes.
Comparison is constant-time (`hmac.compare_digest`).

Scopes (`SCOPES`): ``runs:write`` start and cancel runs; ``runs:read`` list runs and
read their progress; ``findings:read`` read a product's current findings;
``triage:write`` record triage decisions; ``admin`` implies every other scope.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from aiva.errors import ApiKeyFormatError

SCOPES: dict[str, str] = {
    "runs:write": "start runs (upload reports) and cancel them",
    "runs:read": "list runs and read a run's progress",
    "findings:read": "read a product's current findings",
    "triage:write": "record triage decisions (false positive, risk accepted, out of scope)",
    "admin": "every scope",
}
ADMIN = "admin"
PREFIX = "aiva"
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly generated key: the token is shown to the user once and then forgotten."""

    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """The full bearer token, ``aiva_<key id>_<secret>``."""
        return f"{PREFIX}_{self.key_id}_{self.secret}"

    def __repr__(self) -> str:  # a stray log line must not leak the secret
        return f"IssuedKey(key_id={self.key_id!r}, secret=<redacted>)"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key as the API and the CLI see it (never with its hash or secret)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """'active', 'expired' or 'revoked'."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def allows(self, scope: str) -> bool:
        """Whether the key carries the scope (admin carries all)."""
        return has_scope(self.scopes, scope)


def generate() -> IssuedKey:
    """A fresh key id and secret from the OS's CSPRNG."""
    return IssuedKey(key_id=secrets.token_hex(6), secret=secrets.token_urlsafe(_SECRET_BYTES))


def parse_token(token: str) -> tuple[str, str]:
    """Split ``aiva_<key id>_<secret>`` into (key id, secret); `ApiKeyFormatError` when malformed."""
    prefix, sep, rest = token.strip().partition("_")
    if prefix != PREFIX or not sep:
        raise ApiKeyFormatError("an AIVA API key starts with 'aiva_'")
    # The key id is hex, so the first '_' after it is the separator even though the secret may contain '_'.
    key_id, sep, secret = rest.partition("_")
    if not sep or not _KEY_ID.match(key_id):
        raise ApiKeyFormatError("an AIVA API key is aiva_<12 hex digits>_<secret>")
    if not _SECRET.match(secret):
        raise ApiKeyFormatError("the secret part of the API key is malformed")
    return key_id, secret


def hash_secret(secret: str, key: bytes) -> str:
    """HMAC-SHA256 of the secret under the deployment's key (see the module docstring for why)."""
    return hmac.new(key, secret.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def verify_secret(secret: str, stored_hash: str, key: bytes) -> bool:
    """Constant-time check of a presented secret against the stored hash."""
    return hmac.compare_digest(hash_secret(secret, key), stored_hash)


def parse_scopes(text: str | list[str]) -> frozenset[str]:
    """'runs:write,runs:read' (or a list) -> the scope set; unknown or empty lists are refused by name."""
    items = text.split(",") if isinstance(text, str) else text
    scopes = frozenset(s.strip() for s in items if s.strip())
    if not scopes:
        raise ApiKeyFormatError(f"name at least one scope: {', '.join(SCOPES)}")
    unknown = sorted(scopes - SCOPES.keys())
    if unknown:
        raise ApiKeyFormatError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return scopes


def has_scope(granted: frozenset[str] | set[str], needed: str) -> bool:
    """Whether `granted` satisfies `needed` (admin satisfies everything)."""
    return needed in granted or ADMIN in granted
