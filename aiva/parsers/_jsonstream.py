"""Streaming large JSON reports in bounded memory, at orjson's speed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from aiva.errors import ReportParseError

_NON_WS = re.compile(rb"[^ \t\r\n]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_SCALAR = re.compile(rb"-?[0-9][0-9.eE+-]*|true|false|null")
_NEXT_OBJECT = re.compile(rb"[ \t\r\n]*,[ \t\r\n]*\{")
_END_OF_ARRAY = re.compile(rb"[ \t\r\n]*\]")
# Bytes of whole elements per batch (see JsonStream), and per read of the file.
BATCH_BYTES = 1 << 14
READ_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Piece:
    """A batch of whole elements of a streamed array, with what turns them into findings anywhere.

    `raw` is the batch as a JSON array (what `JsonStream.array_pieces` cut), `items` its decoded
    elements, `first` the index of the first one in its array, and `spec` the parser's context for
    the list (small and picklable, so that another process can do the work from `raw` alone).
    """

    spec: Any
    first: int
    raw: bytes
    items: list[Any]


class JsonStream:
    """Walk one large JSON document without loading it: objects key by key, arrays in batches.

    Big arrays of objects are decoded by orjson a batch (about `batch_bytes`, BATCH_BYTES by default)
    at a time: the batch is cut after a `}` followed by `, {` (or by the `]`), and decoded as `[` +
    bytes + `]`. A cut inside a string or a nested value can never decode (the string or the value
    stays open), so a batch that decodes is exactly the next whole elements; after a few cuts that
    do not decode (text full of "}, {" ...) one element is decoded alone. `array_pieces` gives each
    batch with those bytes, for another process to decode again. Memory is a few batches (and a
    read of READ_BYTES), whatever the file size. Batches are small (16 KiB) so that their objects
    die young: the garbage collector's full passes, not the decoding, are what large batches cost.
    Errors name the byte offset; where they are raised depends on the bytes before the fault, not
    on where batches were cut. Positions can be remembered (`tell`) and revisited (`seek`).
    """

    def __init__(
        self, f: IO[bytes], path: str, fmt: str, batch_bytes: int | None = None, read_bytes: int = READ_BYTES
    ) -> None:
        self._f = f
        self._path = path
        self._fmt = fmt
        self._batch = batch_bytes or BATCH_BYTES
        # Reads are larger than batches: a read per batch costs a system call per 16 KiB.
        self._read = max(read_bytes, self._batch)
        self._buf = b""
        self._pos = 0
        self._base = 0
        self._eof = False
        if self._fill(3) and self._buf.startswith(b"\xef\xbb\xbf"):
            self._pos = 3

    # -- buffer ---------------------------------------------------------------------------------

    def tell(self) -> int:
        """The file offset of the next unread byte."""
        return self._base + self._pos

    def seek(self, offset: int) -> None:
        """Continue reading at a file offset (one `tell` returned)."""
        self._f.seek(offset)
        self._buf, self._pos, self._base, self._eof = b"", 0, offset, False

    def _fill(self, need: int) -> bool:
        """Have at least `need` bytes buffered from the position on; False when the file ends first."""
        avail = len(self._buf) - self._pos
        if avail >= need:
            return True
        if self._eof:
            return False
        parts = [self._buf[self._pos:]]
        self._base += self._pos
        self._pos = 0
        while avail < need:
            data = self._f.read(max(need - avail, self._read))
            if not data:
                self._eof = True
                break
            parts.append(data)
            avail += len(data)
        self._buf = b"".join(parts)
        return avail >= need

    def _error(self, reason: str, at: int | None = None) -> ReportParseError:
        return ReportParseError(self._path, self._fmt, reason, f"byte {self.tell() if at is None else at}")

    def peek(self) -> str:
        """The next non-blank character ("" at the end of the file), without consuming it."""
        while True:
            m = _NON_WS.search(self._buf, self._pos)
            if m is not None:
                self._pos = m.start()
                return chr(self._buf[self._pos])
            self._pos = len(self._buf)
            if not self._fill(1):
                return ""

    def _expect(self, ch: str) -> None:
        got = self.peek()
        if got != ch:
            raise self._error(f"invalid JSON: expected {ch!r}, found {got or 'the end of the file'!r}")
        self._pos += 1

    # -- values ---------------------------------------------------------------------------------

    def value(self) -> Any:
        """Decode the next value whole (any type and size)."""
        c = self.peek()
        if c == "":
            raise self._error("invalid JSON: unexpected end of data")
        if c == '"':
            return self._string()
        if c not in "{[":
            return self._scalar()
        size = 1 << 16
        while True:
            self._fill(size + 4)
            end = min(len(self._buf), self._pos + size)
            whole = end == len(self._buf)  # _fill stops short only at the end of the file
            if not whole:
                end = _utf8_boundary(self._buf, self._pos, end)
            chunk = self._buf[self._pos:end]
            try:
                v = orjson.loads(chunk)
            except orjson.JSONDecodeError as e:
                if not e.doc:  # orjson checks UTF-8 first; the window never cuts a character
                    raise self._utf8_error(chunk) from e
                at = len(e.doc[: e.pos].encode())
                if e.pos >= len(e.doc):  # ran out of data
                    if whole:
                        raise self._error(f"invalid JSON: {e.msg}", self.tell() + at) from e
                    size *= 2
                    continue
                try:
                    # Content after the value ("unexpected content after document"): what precedes it
                    # decodes only if it is exactly one whole object or array, the one wanted.
                    v = orjson.loads(chunk[:at])
                except orjson.JSONDecodeError:
                    raise self._error(f"invalid JSON: {e.msg}", self.tell() + at) from e
                self._pos += at
                return v
            self._pos = end
            return v

    def _string(self) -> str:
        size = 1 << 12
        more = True
        while True:
            m = _JSON_STRING.match(self._buf, self._pos)
            if m is not None:
                break
            if not more:
                raise self._error("invalid JSON: unterminated string")
            more = self._fill(len(self._buf) - self._pos + size)  # False: the file ends; one last try
            size *= 2
        try:
            s = orjson.loads(self._buf[self._pos:m.end()])
        except orjson.JSONDecodeError as e:
            raise self._error(f"invalid JSON string: {e.msg}") from e
        self._pos = m.end()
        return str(s)

    def _scalar(self) -> Any:
        self._fill(64)
        m = _JSON_SCALAR.match(self._buf, self._pos)
        while m is not None and m.end() == len(self._buf) and self._fill(len(self._buf) - self._pos + 64):
            m = _JSON_SCALAR.match(self._buf, self._pos)
        if m is None:
            raise self._error(f"invalid JSON: unexpected character {chr(self._buf[self._pos])!r}")
        try:
            v = orjson.loads(m.group())
        except orjson.JSONDecodeError as e:
            raise self._error(f"invalid JSON: {e.msg}") from e
        self._pos = m.end()
        return v

    def _utf8_error(self, chunk: bytes) -> ReportParseError:
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as ue:
            return self._error(f"not valid UTF-8 ({ue.reason})", self.tell() + ue.start)
        return self._error("invalid JSON: not valid UTF-8")

    # -- containers -----------------------------------------------------------------------------

    def object_items(self) -> Iterator[str]:
        """Yield each key of the object that starts here; the caller reads (or not) its value."""
        self._expect("{")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self._error("invalid JSON: expected a key")
            key = self._string()
            self._expect(":")
            self.peek()
            start = self.tell()
            yield key
            if self.tell() == start:
                self.skip_value()
            c = self.peek()
            self._pos += 1
            if c == "}":
                return
            if c != ",":
                raise self._error(f"invalid JSON: expected ',' or '}}', found {c or 'the end of the file'!r}")

    def array_items(self) -> Iterator[int]:
        """Yield the index of each element of the array that starts here; the caller reads (or not) it."""
        self._expect("[")
        if self.peek() == "]":
            self._pos += 1
            return
        i = 0
        while True:
            self.peek()
            start = self.tell()
            yield i
            if self.tell() == start:
                self.skip_value()
            c = self.peek()
            self._pos += 1
            if c == "]":
                return
            if c != ",":
                raise self._error(f"invalid JSON: expected ',' or ']', found {c or 'the end of the file'!r}")
            i += 1

    def array_batches(self) -> Iterator[list[Any]]:
        """Decode the array that starts here, yielding its elements a batch (a list) at a time."""
        for _, items in self._batches(False):
            yield items

    def array_pieces(self) -> Iterator[tuple[bytes, list[Any]]]:
        """As `array_batches`, each batch with its bytes: a JSON array (`[` + the elements + `]`).

        The bytes decode (orjson) to exactly that batch, so another process can decode them again;
        the cuts, the batches and the errors are those of `array_batches`.
        """
        return self._batches(True)

    def _batches(self, raw: bool) -> Iterator[tuple[bytes, list[Any]]]:
        self._expect("[")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            self.peek()
            got = self._batch_of_objects()
            if got is None:
                start = self.tell()
                one = [self.value()]
                # value() refills the buffer from the element on, never dropping it: the slice is whole.
                got = (b"[" + self._buf[start - self._base:self._pos] + b"]" if raw else b"", one)
            yield got
            c = self.peek()
            self._pos += 1
            if c == "]":
                return
            if c != ",":
                raise self._error(f"invalid JSON: expected ',' or ']', found {c or 'the end of the file'!r}")

    def _batch_of_objects(self) -> tuple[bytes, list[Any]] | None:
        """Whole elements from here to a cut that decodes, with their bytes; or None (then the caller
        takes one element)."""
        self._fill(self._batch + 1)
        buf, pos = self._buf, self._pos
        if buf[pos:pos + 1] != b"{":
            return None
        end = min(len(buf) - 1, pos + self._batch)
        # Cut before the next element ("}, {"); failing that (the last elements) before the "]".
        for after in (_NEXT_OBJECT, _END_OF_ARRAY):
            i, attempts, looked = end, 0, 0
            while attempts < 2 and looked < 64:
                i = buf.rfind(b"}", pos, i)
                if i < 0:
                    break
                looked += 1
                if after.match(buf, i + 1) is None:
                    continue
                piece = b"[" + buf[pos:i + 1] + b"]"
                try:
                    items = orjson.loads(piece)
                except orjson.JSONDecodeError:
                    attempts += 1
                    continue
                self._pos = i + 1
                return piece, items
        return None

    def skip_value(self) -> None:
        """Pass over the next value, in bounded memory when it is a big array or object."""
        c = self.peek()
        if c == "[":
            for _ in self.array_batches():
                pass
        elif c == "{":
            for _ in self.object_items():
                if self.peek() == "[":
                    for _ in self.array_batches():
                        pass
                else:
                    self.value()
        else:
            self.value()

    def may_contain_key(self, key: str) -> bool:
        """False only when the rest of the file cannot hold this object key (literal or \\u-escaped).

        A cheap byte scan, so that a value that may follow a big array is known not to exist.
        """
        literal = b'"' + key.encode() + b'"'
        escaped = re.compile(
            b'"' + b"".join(
                b"(?:" + re.escape(ch.encode()) + b"|\\\\u00" + _hex_class(ord(ch)) + b")" for ch in key
            ) + b'"'
        )
        keep = 6 * len(key) + 2
        here = self.tell()
        try:
            self._f.seek(here)
            tail = b""
            while True:
                data = self._f.read(1 << 22)
                if not data:
                    return False
                window = tail + data
                if literal in window:
                    return True
                if b"\\u" in window and escaped.search(window):
                    return True
                tail = window[-keep:]
        finally:
            self._f.seek(self._base + len(self._buf))


def _hex_class(n: int) -> bytes:
    """A regex for the two hex digits of a byte, either case."""
    out = b""
    for d in f"{n:02x}":
        out += f"[{d}{d.upper()}]".encode() if d.isalpha() else d.encode()
    return out


def _utf8_boundary(buf: bytes, start: int, end: int) -> int:
    """`end`, moved back so as not to cut a UTF-8 sequence."""
    i = end
    while i > start and i > end - 4 and (buf[i] & 0xC0) == 0x80:
        i -= 1
    return i
