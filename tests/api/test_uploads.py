"""Uploads: the size bound holds while streaming (413, nothing on disk), file names cannot leave the inbox."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from temporalio.worker import Worker

from aiva.settings import Settings
from starter.api_upload import safe_file_name
from tests.api.support import ApiFactory, KeyFactory, bearer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SARIF = FIXTURES / "sarif" / "small.sarif"
LIMIT = 64 * 1024


class Endless(io.RawIOBase):
    """A file of `total` bytes produced on demand; counts what was actually read from it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self.total - self.read_bytes)
        b[:n] = b"x" * n
        self.read_bytes += n
        return n


def _inbox_entries(settings: Settings) -> list[Path]:
    inbox = settings.resolved_inbox_dir
    return sorted(inbox.rglob("*")) if inbox.exists() else []


async def test_an_upload_over_the_limit_is_refused_while_streaming_and_leaves_nothing(
        make_api: ApiFactory, api_settings: Settings, new_key: KeyFactory) -> None:
    s = api_settings.model_copy(update={"max_report_bytes": LIMIT})
    api = make_api(settings=s)
    _, token = await new_key("runs:write")
    big = Endless(200 * LIMIT)  # 12.5 MiB offered, 64 KiB allowed
    r = await api.post("/api/v1/runs", headers=bearer(token), data={"product": "too-big"},
                       files=[("files", ("ok.sarif", SARIF.read_bytes())), ("files", ("huge.json", big))])
    assert r.status_code == 413, r.text
    err = r.json()["error"]
    assert err["type"] == "ReportTooLarge" and err["file"] == "huge.json" and err["limit"] == LIMIT
    assert "huge.json" in err["message"] and f"{LIMIT:,}" in err["message"]
    # The server stopped reading soon after the limit instead of taking the whole body first.
    assert big.read_bytes < 10 * LIMIT
    assert _inbox_entries(s) == []  # neither the big file, nor the small one before it, nor the staging folder


async def test_path_traversal_file_names_stay_inside_the_run_folder(
        api: httpx.AsyncClient, api_settings: Settings, new_key: KeyFactory, worker: Worker, tmp_path: Path) -> None:
    _, token = await new_key("runs:write")
    content = SARIF.read_bytes()
    names = ["../../escape.sarif", "..\\..\\windows.sarif", "/etc/passwd", "..", ".hidden.sarif", "a b;$(x).sarif"]
    r = await api.post("/api/v1/runs", headers=bearer(token), data={"product": "traversal", "formats": "json"},
                       files=[("files", (n, content)) for n in names])
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    folder = (api_settings.resolved_inbox_dir / run_id).resolve()
    stored = [Path(p) for p in r.json()["reports"]]
    assert len(stored) == len(names)
    for p in stored:
        assert p.parent == folder and p.is_file() and p.read_bytes() == content
        assert not p.name.startswith(".")
    assert [p.name for p in stored] == ["000-escape.sarif", "001-windows.sarif", "002-passwd", "003-report",
                                        "004-hidden.sarif", "005-a_b_x_.sarif"]
    assert not (tmp_path / "escape.sarif").exists() and not (api_settings.resolved_inbox_dir.parent / "escape.sarif"
                                                             ).exists()


def test_safe_file_name_keeps_only_the_last_segment() -> None:
    assert safe_file_name("../../../x.json", 3) == "003-x.json"
    assert safe_file_name("C:\\Users\\me\\trivy.json", 0) == "000-trivy.json"
    assert safe_file_name("", 1) == "001-report"
    assert "/" not in safe_file_name("a/" * 300 + "b" * 300, 2) and len(safe_file_name("b" * 300, 2)) <= 124


async def test_bad_forms_are_422_or_415_and_leave_nothing(
        api: httpx.AsyncClient, api_settings: Settings, new_key: KeyFactory) -> None:
    _, token = await new_key("runs:write")
    files = [("files", ("a.sarif", SARIF.read_bytes()))]
    cases = [
        ({}, files, "product"),
        ({"product": "p"}, None, "files"),
        ({"product": "p", "formats": "html,docx"}, files, "report_formats"),
        ({"product": "p", "format": "no-such-format"}, files, "format"),
        ({"product": "p", "min_ticket_severity": "urgent"}, files, "min_ticket_severity"),
        ({"product": "p", "colour": "blue"}, files, "colour"),
        ({"product": "p"}, [*files, ("files", ("empty.json", b""))], "files"),
    ]
    for data, fs, field in cases:
        if fs is None:  # a multipart body with no file part at all
            r = await api.post("/api/v1/runs", headers=bearer(token), data=data, files={"other": ("", b"")})
            assert r.status_code == 422 and r.json()["error"]["field"] == "other", r.text
            r = await api.post("/api/v1/runs", headers=bearer(token), files=[("product", (None, b"p"))])
        else:
            r = await api.post("/api/v1/runs", headers=bearer(token), data=data, files=fs)
        assert r.status_code == 422, (field, r.text)
        assert field in r.json()["error"]["field"], (field, r.json())
    r = await api.post("/api/v1/runs", headers=bearer(token), json={"product": "p"})
    assert r.status_code == 415 and r.json()["error"]["type"] == "UnsupportedMediaType"
    assert _inbox_entries(api_settings) == []
