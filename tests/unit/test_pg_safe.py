"""NUL characters in scanner text (PostgreSQL refuses them) become U+FFFD; literal '\\u0000' text stays."""

import json

import pytest

from aiva.store.ingest import pg_safe


@pytest.mark.parametrize("text, expected", [
    ("a\x00b", "a\ufffdb"),
    ("literal \\u0000 text", "literal \\u0000 text"),
    ("both \x00 and \\u0000", "both \ufffd and \\u0000"),
    ("\\\x00", "\\\ufffd"),
])
def test_nul_is_replaced_only_where_it_is_a_character(text: str, expected: str) -> None:
    rec = (1, 0, "fp", "to\x00ol", "tar\x00get", "high", json.dumps({"t": text}))
    out = pg_safe(rec)
    assert json.loads(out[6])["t"] == expected
    assert out[3] == "to\ufffdol" and out[4] == "tar\ufffdget"
