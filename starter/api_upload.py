"""Streaming multipart uploads: report files go to disk as they arrive, the size bound checked on every chunk.

FastAPI's `UploadFile` would let Starlette spool the whole body to a temporary file before
the endpoint runs, with no bound; here python-multipart's streaming parser is fed the
request body chunk by chunk, so a file over AIVA_MAX_REPORT_BYTES is refused the moment
it crosses the limit and everything already written for the request is removed.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect, Request

from starter.api_models import ApiError

MAX_FIELDS = 20
MAX_FIELD_BYTES = 8192
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str, index: int) -> str:
    """A name that cannot leave its directory: the last path segment, safe characters only, numbered."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).lstrip(".")[:120]
    # The number keeps two uploads called report.json apart and the name never starts with a dot.
    return f"{index:03d}-{base or 'report'}"


@dataclass
class SavedFile:
    """One uploaded file, on disk."""

    original_name: str
    path: Path
    size: int = 0


@dataclass
class Upload:
    """The form's text fields and the files written to the staging directory."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[SavedFile] = field(default_factory=list)


@dataclass
class _Part:
    name: str = ""
    file: SavedFile | None = None
    data: bytearray = field(default_factory=bytearray)


class _Receiver:
    """python-multipart callbacks (sync, memory only) that queue file work for the async loop."""

    def __init__(self, staging: Path, max_bytes: int, max_files: int, file_field: str) -> None:
        self.staging = staging
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.file_field = file_field
        self.upload = Upload()
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.disposition = b""
        self.n_fields = 0
        # (file, data) to write, or (file, None) to close, in arrival order.
        self.pending: list[tuple[SavedFile, bytes | None]] = []

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.strip().lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if b"name" not in options:
            raise ApiError(422, "ValidationError", "a multipart part has no name", field="body")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:
            self.n_fields += 1
            if self.n_fields > MAX_FIELDS:
                raise ApiError(422, "ValidationError", f"more than {MAX_FIELDS} form fields", field="body")
            return
        if self.part.name != self.file_field:
            raise ApiError(422, "ValidationError", f"report files go in the form field {self.file_field!r}",
                           field=self.part.name)
        if len(self.upload.files) >= self.max_files:
            raise ApiError(422, "ValidationError", f"at most {self.max_files} report files per run",
                           field=self.file_field)
        original = options[b"filename"].decode("utf-8", "replace")
        index = len(self.upload.files)
        saved = SavedFile(original_name=original, path=self.staging / safe_file_name(original, index))
        if saved.path.resolve().parent != self.staging.resolve():  # the sanitiser is the guard; this is a tripwire
            raise ApiError(422, "ValidationError", "unsafe file name", field=self.file_field)
        self.upload.files.append(saved)
        self.part.file = saved

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.file is not None:
            self.pending.append((self.part.file, chunk))
            return
        self.part.data += chunk
        if len(self.part.data) > MAX_FIELD_BYTES:
            raise ApiError(422, "ValidationError", f"form field over {MAX_FIELD_BYTES} bytes", field=self.part.name)

    def on_part_end(self) -> None:
        if self.part.file is not None:
            self.pending.append((self.part.file, None))
        else:
            self.upload.fields.setdefault(self.part.name, []).append(self.part.data.decode("utf-8", "replace"))


async def receive_upload(request: Request, staging: Path, max_bytes: int, max_files: int,
                         file_field: str = "files") -> Upload:
    """Stream a multipart/form-data body: text fields in memory, files into `staging` (created here).

    On any error (too large, malformed, client gone) nothing is left: `staging` is removed.
    """
    ctype, params = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(415, "UnsupportedMediaType", "send the reports as multipart/form-data",
                       content_type=ctype.decode("latin-1"))
    receiver = _Receiver(staging, max_bytes, max_files, file_field)
    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": receiver.on_part_begin, "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value, "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished, "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end,
    })
    await asyncio.to_thread(staging.mkdir, parents=True)
    handles: dict[Path, BinaryIO] = {}
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await _flush(receiver, handles)
        parser.finalize()
        await _flush(receiver, handles)
        if handles:  # the body ended inside a file part
            raise ApiError(422, "ValidationError", "the multipart body ended inside a file", field="body")
        return receiver.upload
    except FormParserError as e:
        await _discard(staging, handles)
        raise ApiError(422, "ValidationError", f"malformed multipart body: {e}", field="body") from e
    except (ApiError, ClientDisconnect, OSError, asyncio.CancelledError):
        await _discard(staging, handles)
        raise


async def _flush(receiver: _Receiver, handles: dict[Path, BinaryIO]) -> None:
    """Write (or close) what the parser queued; refuse a file the moment it passes the limit."""
    for saved, data in receiver.pending:
        fh = handles.get(saved.path)
        if data is None:
            if fh is None:  # an empty file: no data part arrived
                fh = await asyncio.to_thread(saved.path.open, "xb")
            await asyncio.to_thread(fh.close)
            handles.pop(saved.path, None)
            continue
        saved.size += len(data)
        if saved.size > receiver.max_bytes:
            raise ApiError(413, "ReportTooLarge",
                           f"{saved.original_name}: over the limit of {receiver.max_bytes:,} bytes "
                           f"(AIVA_MAX_REPORT_BYTES)", file=saved.original_name, limit=receiver.max_bytes)
        if fh is None:
            fh = handles[saved.path] = await asyncio.to_thread(saved.path.open, "xb")
        await asyncio.to_thread(fh.write, data)
    receiver.pending.clear()


async def _discard(staging: Path, handles: dict[Path, BinaryIO]) -> None:
    """Close open files and remove the staging directory with everything in it."""
    for fh in handles.values():
        await asyncio.to_thread(fh.close)
    handles.clear()
    await asyncio.to_thread(shutil.rmtree, staging, True)
