"""Reading a feed file: bounded, gzip by magic bytes, UTF-8 text, clear errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from pathlib import Path

from aiva.errors import ReportParseError, ReportTooLargeError

MAX_FEED_BYTES = 512 * 1024 * 1024  # uncompressed; the EPSS CSV is about 10 MB
GZIP_MAGIC = b"\x1f\x8b"
CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,19}$")


def read_feed(path: str | Path, fmt: str, max_bytes: int = MAX_FEED_BYTES) -> tuple[str, str]:
    """The feed's text (gunzipped when it starts with the gzip magic) and the sha256 of the file's bytes."""
    p = str(path)
    try:
        raw = Path(p).read_bytes()
    except OSError as e:
        raise ReportParseError(p, fmt, f"cannot read file: {e.strerror}") from e
    sha = hashlib.sha256(raw).hexdigest()
    if raw.startswith(GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                data = gz.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as e:
            raise ReportParseError(p, fmt, f"not a valid gzip file: {e}") from e
    else:
        data = raw
    if len(data) > max_bytes:
        raise ReportTooLargeError(p, len(data), max_bytes)
    if not data.strip():
        raise ReportParseError(p, fmt, "the file is empty")
    try:
        return data.decode("utf-8-sig"), sha
    except UnicodeDecodeError as e:
        raise ReportParseError(p, fmt, "not UTF-8 text", f"byte {e.start}") from e

