"""XML safety of the XML parsers (dependency_check, cyclonedx XML, zap XML, burp).

(a) XXE: an external entity pointing at a local file is refused with UnsafeInputError, and
    the file's content appears nowhere (not in the error, not in any finding);
(b) billion laughs (and quadratic blow-up): refused quickly, with bounded memory, measured in a
    fresh child process (its own peak RSS, under an address-space limit so that a regression
    fails instead of swapping the shared machine);
(c) truncated XML: ReportParseError naming the file, the format and the line.
Burp's internal DTD (element/attribute declarations, no entities) must still parse.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aiva.errors import ReportParseError, UnsafeInputError
from aiva.parsers import get, open_report
from aiva.parsers.base import ParseContext, ReportSource
from tests.corpus import require_corpus
from tests.parsers._xmlgroup_util import FIXTURES, parse, truncated_copy

ROOT = Path(__file__).resolve().parents[2]
MARKER = "AIVA-XXE-CANARY-7f3e9c"

# For each XML format: an opening that its sniffer recognises, where an entity reference fits,
# and the closing. `{ref}` is replaced by an entity reference (or plain text).
DOCS = {
    "dependency_check": (
        '<analysis xmlns="https://jeremylong.github.io/DependencyCheck/dependency-check.4.0.xsd">'
        "<projectInfo><name>{ref}</name></projectInfo><dependencies><dependency><fileName>a.jar</fileName>"
        "<filePath>/a.jar</filePath><vulnerabilities><vulnerability source=\"NVD\"><name>CVE-2099-1</name>"
        "<severity>HIGH</severity><description>{ref}</description></vulnerability></vulnerabilities>"
        "</dependency></dependencies></analysis>"
    ),
    "cyclonedx": (
        '<bom xmlns="http://cyclonedx.org/schema/bom/1.4" version="1"><components>'
        '<component type="library" bom-ref="c"><name>x</name><version>1</version></component></components>'
        "<vulnerabilities><vulnerability><id>CVE-2099-1</id><description>{ref}</description>"
        "<affects><target><ref>c</ref></target></affects></vulnerability></vulnerabilities></bom>"
    ),
    "zap": (
        '<OWASPZAPReport version="2.15.0" generated="x"><site name="http://h" host="h" port="80" ssl="false">'
        "<alerts><alertitem><pluginid>1</pluginid><alert>{ref}</alert><riskcode>3</riskcode><desc>{ref}</desc>"
        "<instances><instance><uri>http://h/</uri><method>GET</method><param>p</param>"
        "<evidence>{ref}</evidence></instance></instances></alertitem></alerts></site></OWASPZAPReport>"
    ),
    "burp": (
        '<issues burpVersion="2024.1"><issue><serialNumber>1</serialNumber><type>1</type><name>{ref}</name>'
        "<host>http://h</host><path>/</path><location>/</location><severity>High</severity>"
        "<confidence>Firm</confidence><issueDetail>{ref}</issueDetail></issue></issues>"
    ),
}
XML_FORMATS = sorted(DOCS)


def _root_name(fmt: str) -> str:
    return DOCS[fmt].split(" ", 1)[0].split(">", 1)[0].lstrip("<")


def _write(path: Path, fmt: str, doctype: str, ref: str) -> Path:
    body = DOCS[fmt].replace("{ref}", ref)
    path.write_text('<?xml version="1.0"?>\n' + doctype + "\n" + body, encoding="utf-8")
    return path


@pytest.fixture()
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "secret.txt"
    p.write_text(f"{MARKER} root:x:0:0:root:/root:/bin/bash\n")
    return p


def test_plain_documents_parse(tmp_path: Path) -> None:
    """The attack documents below differ from these only by their DOCTYPE: these parse."""
    for fmt in XML_FORMATS:
        p = _write(tmp_path / f"{fmt}.xml", fmt, "", "plain text")
        parser, findings = open_report(str(p))
        assert parser.name == fmt
        assert len(list(findings)) == 1


# ---- (a) XXE ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize("target", ["secret", "/etc/passwd"])
def test_xxe_external_entity_is_refused(fmt: str, target: str, secret_file: Path, tmp_path: Path) -> None:
    uri = secret_file.as_uri() if target == "secret" else "file:///etc/passwd"
    doctype = f'<!DOCTYPE {_root_name(fmt)} [<!ENTITY xxe SYSTEM "{uri}">]>'
    p = _write(tmp_path / f"xxe-{fmt}.xml", fmt, doctype, "&xxe;")
    with pytest.raises(UnsafeInputError) as e:
        list(get(fmt).parse(ReportSource(str(p)), ParseContext()))
    assert e.value.format == fmt and e.value.path == str(p)
    _assert_no_leak(str(e.value), secret_file)
    # The same through detection: the sniffer claims the file, the parse refuses it.
    with pytest.raises(UnsafeInputError) as e2:
        _parser, findings = open_report(str(p))
        list(findings)
    _assert_no_leak(str(e2.value) + repr(e2.value.__dict__), secret_file)


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_xxe_parameter_entity_is_refused(fmt: str, secret_file: Path, tmp_path: Path) -> None:
    doctype = f'<!DOCTYPE {_root_name(fmt)} [<!ENTITY % p SYSTEM "{secret_file.as_uri()}"> %p;]>'
    p = _write(tmp_path / f"pe-{fmt}.xml", fmt, doctype, "plain")
    with pytest.raises(UnsafeInputError) as e:
        parse(fmt, p)
    _assert_no_leak(str(e.value), secret_file)


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_external_dtd_is_never_fetched(fmt: str, secret_file: Path, tmp_path: Path) -> None:
    """A DOCTYPE naming an external DTD: the parser must not read it (it may refuse or ignore it)."""
    doctype = f'<!DOCTYPE {_root_name(fmt)} SYSTEM "{secret_file.as_uri()}">'
    p = _write(tmp_path / f"dtd-{fmt}.xml", fmt, doctype, "plain")
    try:
        findings = parse(fmt, p)
    except UnsafeInputError as e:
        _assert_no_leak(str(e), secret_file)
    else:
        _assert_no_leak("".join(f.model_dump_json() for f in findings), secret_file)


def _assert_no_leak(text: str, secret_file: Path) -> None:
    assert MARKER not in text
    assert "root:x:0:0" not in text
    if Path("/etc/passwd").is_file():
        first_line = Path("/etc/passwd").read_text(errors="replace").splitlines()[:1]
        if first_line and len(first_line[0]) > 8:
            assert first_line[0] not in text


# ---- (b) entity expansion ----------------------------------------------------------------------

def _billion_laughs(fmt: str) -> str:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f"<!DOCTYPE {_root_name(fmt)} [\n" + "\n".join(lines) + "\n]>"


def _quadratic(fmt: str) -> tuple[str, str]:
    return f'<!DOCTYPE {_root_name(fmt)} [<!ENTITY big "{"A" * 100_000}">]>', "&big;" * 2_000


CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from aiva.errors import UnsafeInputError
    from aiva.parsers import get
    from aiva.parsers.base import ParseContext, ReportSource
    fmt, path = sys.argv[1], sys.argv[2]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # a regression must fail with MemoryError, not thrash a shared machine
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, hard))
    t0 = time.monotonic()
    try:
        list(get(fmt).parse(ReportSource(path), ParseContext()))
        outcome = "parsed"
    except UnsafeInputError:
        outcome = "UnsafeInputError"
    except MemoryError:
        outcome = "MemoryError"
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "seconds": elapsed, "rss_growth_kb": after - before}))
    """
)


def _run_child(fmt: str, path: Path) -> dict[str, object]:
    t0 = time.monotonic()
    proc = subprocess.run(  # our own interpreter and script
        [sys.executable, "-c", CHILD, fmt, str(path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = time.monotonic() - t0
    return result


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_billion_laughs_refused_quickly_bounded_memory(fmt: str, tmp_path: Path) -> None:
    p = _write(tmp_path / f"lol-{fmt}.xml", fmt, _billion_laughs(fmt), "&lol9;")
    r = _run_child(fmt, p)
    assert r["outcome"] == "UnsafeInputError"
    assert float(r["seconds"]) < 2.0  # type: ignore[arg-type]
    assert int(r["rss_growth_kb"]) < 100 * 1024  # type: ignore[call-overload]


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_quadratic_blowup_refused(fmt: str, tmp_path: Path) -> None:
    doctype, ref = _quadratic(fmt)
    p = _write(tmp_path / f"quad-{fmt}.xml", fmt, doctype, ref)
    r = _run_child(fmt, p)
    assert r["outcome"] == "UnsafeInputError"
    assert int(r["rss_growth_kb"]) < 100 * 1024  # type: ignore[call-overload]


def test_billion_laughs_in_process(tmp_path: Path) -> None:
    """The same in this process, through detection, with the resource module's peak RSS."""
    import resource

    p = _write(tmp_path / "lol.xml", "burp", _billion_laughs("burp"), "&lol9;")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    with pytest.raises(UnsafeInputError) as e:
        _parser, findings = open_report(str(p))
        list(findings)
    assert time.monotonic() - t0 < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024
    assert e.value.format == "burp" and "lol" in str(e.value)


# ---- (c) truncated / malformed XML -----------------------------------------------------------

@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize("fraction", [0.5, 0.93])
def test_truncated_xml_names_file_format_line(fmt: str, fraction: float, tmp_path: Path) -> None:
    full = _write(tmp_path / f"full-{fmt}.xml", fmt, "", "plain text")
    bad = truncated_copy(full, tmp_path / f"cut-{fmt}.xml", fraction)
    with pytest.raises(ReportParseError) as e:
        parse(fmt, bad)
    assert e.value.path == str(bad)
    assert e.value.format == fmt
    assert e.value.position and e.value.position.startswith("line ")
    message = str(e.value)
    assert str(bad) in message and fmt in message and "line " in message


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_mismatched_tag_names_line(fmt: str, tmp_path: Path) -> None:
    p = tmp_path / f"broken-{fmt}.xml"
    p.write_text('<?xml version="1.0"?>\n' + DOCS[fmt].replace("{ref}", "x").replace("</", "\n</x", 1))
    with pytest.raises(ReportParseError) as e:
        parse(fmt, p)
    assert e.value.format == fmt and e.value.position == "line 3, column 2"


# ---- Burp's internal DTD ------------------------------------------------------------------------

def test_burp_internal_dtd_still_parses() -> None:
    fs = parse("burp", FIXTURES / "burp/small.xml")
    assert len(fs) == 3


@pytest.mark.parametrize(
    "rel", ["burp/one_finding.xml", "burp/seven_findings.xml", "burp/one_finding_with_cwe.xml"]
)
def test_burp_corpus_doctype_parses(rel: str) -> None:
    path = require_corpus() / rel
    assert path.read_text(errors="replace").lstrip().split("\n", 2)[1].startswith("<!DOCTYPE issues [")
    parser, findings = open_report(str(path))
    assert parser.name == "burp" and len(list(findings)) >= 1
