"""Parsers of the network group: nuclei, tenable_nessus (Nessus / WAS XML), tenable_csv, nmap.

Golden values on our own fixtures (always run) and on corpus files (skipped without the
corpus), fingerprints stable across a re-parse and independent of the order of results,
secrets never in clear, and bad input (truncated files) -> ReportParseError naming the
file, the format and the position.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree.ElementTree import ElementTree

import pytest

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError, UnsafeInputError
from aiva.parsers import detect, get
from aiva.parsers.base import ParseContext, ReportSource
from aiva.schemas import Finding
from tests.corpus import require_corpus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def parse(fmt: str, path: Path | str, ctx: ParseContext | None = None) -> list[Finding]:
    return list(get(fmt).parse(ReportSource(str(path)), ctx or ParseContext()))


def fps(fmt: str, path: Path | str) -> list[str]:
    return [f.fingerprint for f in parse(fmt, path)]


def one(findings: list[Finding], **want: object) -> Finding:
    hits = [f for f in findings if all(getattr(f, k) == v for k, v in want.items())]
    assert len(hits) == 1, f"expected one finding with {want}, got {len(hits)}"
    return hits[0]


def dump(findings: list[Finding]) -> str:
    return "\n".join(f.model_dump_json() for f in findings)


def truncate(src: Path, tmp_path: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    out = tmp_path / f"truncated{src.suffix}"
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def corpus_file(rel: str) -> Path:
    return require_corpus() / rel


# ---- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("nuclei/results.jsonl", "nuclei"),
        ("nuclei/export.json", "nuclei"),
        ("tenable_nessus/two_hosts.nessus", "tenable_nessus"),
        ("tenable_nessus/was.xml", "tenable_nessus"),
        ("tenable_csv/nessus.csv", "tenable_csv"),
        ("tenable_csv/vm_export.csv", "tenable_csv"),
        ("nmap/scan.xml", "nmap"),
    ],
)
def test_fixture_detected(path: str, fmt: str) -> None:
    assert detect(ReportSource(str(FIXTURES / path))).name == fmt


# ---- nuclei ------------------------------------------------------------------------------------


def test_nuclei_fixture() -> None:
    fs = parse("nuclei", FIXTURES / "nuclei/results.jsonl")
    # 8 events: the two tls-version events (tls12, tls13) on the same host:port are one finding.
    assert len(fs) == 7
    assert len({f.fingerprint for f in fs}) == 7

    git = one(fs, rule_id="git-config")
    assert git.severity is Severity.MEDIUM
    assert git.category is FindingCategory.DAST
    assert [c.id for c in git.cwes] == [200]
    assert git.cvss_v3 is not None and git.cvss_v3.base_score == 5.3
    assert git.endpoint is not None
    assert (git.endpoint.host, git.endpoint.port, git.endpoint.protocol) == ("app.test.example", 443, "https")
    assert git.endpoint.url == "https://app.test.example/.git/config"
    assert git.remediation == "Block access to .git."
    assert git.target == "https://app.test.example"
    assert "[core]" not in git.description  # the response body is never kept

    log4j = one(fs, rule_id="CVE-2021-44228")
    assert log4j.severity is Severity.CRITICAL
    assert [v.id for v in log4j.vulnerability_ids] == ["CVE-2021-44228"]
    assert [c.id for c in log4j.cwes] == [502]
    assert log4j.cvss_v3 is not None and log4j.cvss_v3.base_score == 10.0
    assert log4j.endpoint is not None and log4j.endpoint.parameter == "x"
    assert log4j.tags[:2] == ("cve", "cve2021")  # the v2 comma-separated tags string

    tls = one(fs, rule_id="tls-version")
    assert tls.category is FindingCategory.NETWORK
    assert tls.endpoint == tls.endpoint.__class__(host="app.test.example", port=443, protocol="tcp")
    assert "tls12, tls13" in tls.description

    tech = [f for f in fs if f.rule_id == "tech-detect"]
    assert len(tech) == 2  # same host name, two ports: two findings
    assert {f.endpoint.port for f in tech if f.endpoint} == {8080, 9090}
    assert {f.title for f in tech} == {"Wappalyzer Technology Detection: nginx"}

    ns = one(fs, rule_id="nameserver-fingerprint")
    assert ns.endpoint is not None and (ns.endpoint.host, ns.endpoint.protocol) == ("test.example", "dns")


def test_nuclei_secret_meta_is_redacted() -> None:
    fs = parse("nuclei", FIXTURES / "nuclei/results.jsonl")
    login = one(fs, rule_id="default-admin-login")
    assert login.secret_hash and len(login.secret_hash) == 64
    assert "secret" in login.tags
    assert "username=admin" in login.description
    assert "S3cr3t-Passw0rd" not in dump(fs)


def test_nuclei_json_export_same_as_jsonl() -> None:
    assert fps("nuclei", FIXTURES / "nuclei/export.json") == fps("nuclei", FIXTURES / "nuclei/results.jsonl")


def test_nuclei_fingerprint_ignores_volatile_fields(tmp_path: Path) -> None:
    """A re-run changes the timestamp, the IP, the out-of-band host in the payload: same identity."""
    lines = (FIXTURES / "nuclei/results.jsonl").read_text().splitlines()
    changed = []
    for line in lines:
        ev = json.loads(line)
        ev["timestamp"] = "2030-01-01T00:00:00Z"
        ev["ip"] = "198.51.100.99"
        for key in ("matched-at", "matched"):
            if key in ev:
                ev[key] = ev[key].replace("abc123.oast.example", "zzz999.oast.example")
        changed.append(json.dumps(ev))
    out = tmp_path / "rerun.jsonl"
    out.write_text("\n".join(changed) + "\n")
    assert fps("nuclei", out) == fps("nuclei", FIXTURES / "nuclei/results.jsonl")


def test_nuclei_reordered_same_fingerprints(tmp_path: Path) -> None:
    lines = (FIXTURES / "nuclei/results.jsonl").read_text().splitlines()
    out = tmp_path / "reversed.jsonl"
    out.write_text("\n".join(reversed(lines)) + "\n")
    assert set(fps("nuclei", out)) == set(fps("nuclei", FIXTURES / "nuclei/results.jsonl"))


def test_nuclei_truncated_jsonl(tmp_path: Path) -> None:
    bad = truncate(FIXTURES / "nuclei/results.jsonl", tmp_path)
    with pytest.raises(ReportParseError) as e:
        parse("nuclei", bad)
    assert e.value.path == str(bad) and e.value.format == "nuclei"
    assert e.value.position is not None and e.value.position.startswith("line ")


def test_nuclei_truncated_json_export(tmp_path: Path) -> None:
    bad = truncate(FIXTURES / "nuclei/export.json", tmp_path)
    with pytest.raises(ReportParseError) as e:
        parse("nuclei", bad)
    assert e.value.format == "nuclei" and e.value.position and "column" in e.value.position


def test_nuclei_wrong_shapes(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"template-id": "x", "info": {"severity": "low"}}\n[1, 2]\n')
    with pytest.raises(ReportParseError, match="not a JSON object"):
        parse("nuclei", p)
    p.write_text('{"info": {"severity": "low"}, "type": "http"}\n')
    with pytest.raises(ReportParseError, match="no template-id"):
        parse("nuclei", p)
    p.write_text('{"template-id": "x", "info": "oops", "type": "http", "matched-at": 5}\n')
    (f,) = parse("nuclei", p)  # wrong types inside an event degrade, they do not crash
    assert f.title == "x" and f.severity is Severity.INFO


def test_nuclei_corpus_golden() -> None:
    fs = parse("nuclei", corpus_file("nuclei/issue_14071.json"))
    login = one(fs, rule_id="dvwa-default-login")
    assert login.severity is Severity.CRITICAL
    assert [c.id for c in login.cwes] == [798]
    assert login.endpoint is not None
    assert (login.endpoint.host, login.endpoint.port, login.endpoint.url) == (
        "dvwa_dvwa_1",
        80,
        "http://dvwa_dvwa_1/index.php",
    )
    assert login.secret_hash is not None
    assert "password=password" not in dump(fs)
    assert "90af3b3f9792ec373da1611de12e09a8" not in dump(fs)  # a session cookie in extracted results
    cookies = one(fs, rule_id="cookies-without-httponly")  # no matched-at: url "/http://host/" and port
    assert cookies.endpoint is not None and (cookies.endpoint.host, cookies.endpoint.port) == (
        "dvwa_dvwa_1",
        80,
    )
    assert cookies.target == "http://dvwa_dvwa_1/"

    new = parse("nuclei", corpus_file("nuclei/many_findings_new.json"))
    cve = one(new, rule_id="CVE-2018-15473")
    assert cve.severity is Severity.MEDIUM
    assert [v.id for v in cve.vulnerability_ids] == ["CVE-2018-15473"]
    assert [c.id for c in cve.cwes] == [362]
    assert cve.cvss_v3 is not None and cve.cvss_v3.version == "3.0" and cve.cvss_v3.base_score == 5.3
    assert cve.endpoint is not None
    assert (cve.endpoint.host, cve.endpoint.port, cve.endpoint.protocol) == ("nuclei-example.com", 22, "tcp")

    v3 = parse("nuclei", corpus_file("nuclei/multiple_v3.json"))
    tls = one(v3, rule_id="tls-version")
    assert "tls12" in tls.description and "tls13" in tls.description

    old = parse("nuclei", corpus_file("nuclei/many_findings.json"))
    ssh = one(old, rule_id="openssh5.3-detect")
    assert ssh.severity is Severity.LOW
    # info.reference is a YAML-ish "- url" string list in this old output
    assert "https://security-tracker.debian.org/tracker/CVE-2016-6210" in ssh.references


def test_nuclei_corpus_reordered(tmp_path: Path) -> None:
    src = corpus_file("nuclei/many_findings.json")
    out = tmp_path / "reversed.json"
    out.write_text("\n".join(reversed(src.read_text().splitlines())) + "\n")
    assert set(fps("nuclei", out)) == set(fps("nuclei", src))
    assert fps("nuclei", src) == fps("nuclei", src)


# ---- tenable_nessus ----------------------------------------------------------------------------


def test_nessus_fixture() -> None:
    fs = parse("tenable_nessus", FIXTURES / "tenable_nessus/two_hosts.nessus")
    # 6 ReportItems; the repeated plugin 58987 on web01:443 is one finding.
    assert len(fs) == 5
    assert {f.tool.version for f in fs} == {"10.6.2"}  # from plugin 19506's output
    php = one(fs, rule_id="58987", target="web01.test.example")
    assert php.severity is Severity.HIGH  # severity="3" wins over risk_factor Critical
    assert php.endpoint is not None
    assert (php.endpoint.host, php.endpoint.port, php.endpoint.protocol) == ("192.0.2.11", 443, "tcp")
    assert [v.id for v in php.vulnerability_ids] == ["CVE-2019-11043"]
    assert [c.id for c in php.cwes] == [1104]
    assert php.cvss_v3 is not None and php.cvss_v3.base_score == 9.8
    assert "exploit-available" in php.tags
    assert php.references == ("http://php.net/eol.php", "https://www.php.net/supported-versions.php")
    assert "Installed version : 5.6.40" in php.description
    assert "5.1.6 (second install)" in php.description  # the repeat's output is kept
    assert php.category is FindingCategory.NETWORK
    snmp = one(fs, rule_id="41028")
    assert snmp.severity is Severity.HIGH  # no severity attribute: risk_factor
    assert snmp.endpoint is not None and snmp.endpoint.protocol == "udp"
    login = one(fs, rule_id="10862")
    assert login.secret_hash is not None
    assert "toor-Secret-99" not in dump(fs)
    other = one(fs, rule_id="58987", target="192.0.2.12")
    assert other.fingerprint != php.fingerprint


def test_nessus_target_override() -> None:
    fs = parse("tenable_nessus", FIXTURES / "tenable_nessus/two_hosts.nessus", ParseContext(target="dc-1"))
    assert {f.target for f in fs} == {"dc-1"}


def test_nessus_was_fixture() -> None:
    fs = parse("tenable_nessus", FIXTURES / "tenable_nessus/was.xml")
    assert len(fs) == 2  # one plugin, two URLs
    assert {f.category for f in fs} == {FindingCategory.DAST}
    search = one(fs, endpoint=fs[0].endpoint)
    assert search.endpoint is not None
    assert (search.endpoint.url, search.endpoint.parameter) == ("https://shop.test.example/search", "q")
    assert search.severity is Severity.CRITICAL
    assert [c.id for c in search.cwes] == [89]


def _reverse_xml(src: Path, dst: Path, parent_tag: str, child_tag: str) -> None:
    root = ReportSource(str(src)).load_xml("test")
    for parent in root.iter(parent_tag):
        children = [c for c in parent if c.tag == child_tag]
        for c in children:
            parent.remove(c)
        parent.extend(reversed(children))
    ElementTree(root).write(dst, encoding="utf-8", xml_declaration=True)


def test_nessus_reordered_same_fingerprints(tmp_path: Path) -> None:
    src = FIXTURES / "tenable_nessus/two_hosts.nessus"
    out = tmp_path / "reversed.nessus"
    _reverse_xml(src, out, "ReportHost", "ReportItem")
    _reverse_xml(out, out, "Report", "ReportHost")
    assert set(fps("tenable_nessus", out)) == set(fps("tenable_nessus", src))


def test_nessus_truncated(tmp_path: Path) -> None:
    bad = truncate(FIXTURES / "tenable_nessus/two_hosts.nessus", tmp_path)
    with pytest.raises(ReportParseError) as e:
        parse("tenable_nessus", bad)
    assert e.value.path == str(bad) and e.value.format == "tenable_nessus"
    assert e.value.position is not None and e.value.position.startswith("line ")


def test_nessus_entity_expansion_refused(tmp_path: Path) -> None:
    p = tmp_path / "xxe.nessus"
    p.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        "<NessusClientData_v2><Report><ReportHost name='h'><ReportItem pluginID='1' port='0'>"
        "<plugin_output>&x;</plugin_output></ReportItem></ReportHost></Report></NessusClientData_v2>"
    )
    with pytest.raises(UnsafeInputError):
        parse("tenable_nessus", p)


def test_nessus_wrong_root(tmp_path: Path) -> None:
    with pytest.raises(ReportParseError, match="NessusClientData_v2"):
        parse("tenable_nessus", FIXTURES / "nmap/scan.xml")


def test_nessus_corpus_golden() -> None:
    fs = parse("tenable_nessus", corpus_file("tenable/nessus/nessus_with_cvssv3.nessus"))
    assert len(fs) == 48
    php = one(fs, rule_id="58987")
    assert php.severity is Severity.CRITICAL
    assert "5.6.40-38" in php.description and "5.1.6" in php.description
    assert php.endpoint is not None and (php.endpoint.host, php.endpoint.port) == ("44.228.249.3", 80)
    assert php.target == "testphp.vulnweb.com"
    assert {f.tool.version for f in fs} == {"10.1.1"}
    old = one(fs, title="PHP < 5.2.3 Multiple Vulnerabilities")
    assert old.cvss_v3 is not None and old.cvss_v3.vector.startswith(
        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L"
    )
    assert {c.id for c in old.cwes} == {189, 264}
    assert "CVE-2007-1887" in {v.id for v in old.vulnerability_ids}

    was = parse("tenable_nessus", corpus_file("tenable/nessus_was/nessus_was_many_vuln.xml"))
    xss = one(was, rule_id="98104")
    assert xss.severity is Severity.HIGH and xss.category is FindingCategory.DAST
    assert xss.endpoint is not None
    assert (xss.endpoint.host, xss.endpoint.url, xss.endpoint.parameter) == (
        "google.com",
        "http://google.com/search.jsp",
        "query",
    )
    assert [c.id for c in xss.cwes] == [79]

    many = parse("tenable_nessus", corpus_file("tenable/nessus/nessus_v_unknown.xml"))
    assert len({f.endpoint.host for f in many if f.endpoint}) == 7
    nla = [f for f in many if f.rule_id == "58453"]
    assert nla and {f.severity for f in nla} == {Severity.MEDIUM}


def test_nessus_corpus_reordered(tmp_path: Path) -> None:
    src = corpus_file("tenable/nessus/nessus_v_unknown.xml")
    out = tmp_path / "reversed.xml"
    _reverse_xml(src, out, "ReportHost", "ReportItem")
    _reverse_xml(out, out, "Report", "ReportHost")
    assert set(fps("tenable_nessus", out)) == set(fps("tenable_nessus", src))


# ---- tenable_csv -------------------------------------------------------------------------------


def test_tenable_csv_nessus_fixture() -> None:
    fs = parse("tenable_csv", FIXTURES / "tenable_csv/nessus.csv")
    assert len(fs) == 4  # the two CVE rows of plugin 176703 are one finding; the blank row is skipped
    maria = one(fs, rule_id="176703")
    assert [v.id for v in maria.vulnerability_ids] == ["CVE-2021-46666", "CVE-2021-46663"]
    assert maria.severity is Severity.HIGH
    assert maria.remediation == "Run 'yum update mariadb'."
    assert maria.references == ("https://example.org/EXA-2023-1",)
    web = [f for f in fs if f.rule_id == "10107"]
    assert {(f.endpoint.host, f.endpoint.port) for f in web if f.endpoint} == {
        ("192.0.2.30", 80),
        ("192.0.2.30", 443),
        ("192.0.2.31", 80),
    }
    assert all(f.remediation is None for f in web)  # "n/a"
    assert {f.severity for f in web} == {Severity.INFO}


def test_tenable_csv_vm_export_fixture() -> None:
    fs = parse("tenable_csv", FIXTURES / "tenable_csv/vm_export.csv")
    assert len(fs) == 2  # the FIXED row is not a finding
    cbc = one(fs, rule_id="70658")
    assert cbc.endpoint is not None and (cbc.endpoint.host, cbc.endpoint.port) == ("10.9.0.1", 22)
    assert cbc.target == "db01"
    assert [v.id for v in cbc.vulnerability_ids] == ["CVE-2008-5161"]
    assert [c.id for c in cbc.cwes] == [200]
    assert cbc.cvss_v3 is not None and cbc.cvss_v3.base_score == 3.7
    assert "state:resurfaced" in cbc.tags
    daemons = one(fs, rule_id="33851")
    assert daemons.references == ("https://example.org/a", "https://example.org/b")
    assert "/usr/local/bin/exporter" in daemons.description


def test_tenable_csv_reordered_same_fingerprints(tmp_path: Path) -> None:
    for name in ("nessus.csv", "vm_export.csv"):
        src = FIXTURES / "tenable_csv" / name
        header, *rows = _csv_records(src)
        out = tmp_path / name
        out.write_text(header + "".join(reversed(rows)))
        assert set(fps("tenable_csv", out)) == set(fps("tenable_csv", src))


def _csv_records(path: Path) -> list[str]:
    """Split a CSV file into records (multi-line quoted cells kept whole)."""
    records, cur, quotes = [], "", 0
    for line in path.read_text().splitlines(keepends=True):
        cur += line
        quotes += line.count('"')
        if quotes % 2 == 0:
            records.append(cur if cur.endswith("\n") else cur + "\n")
            cur, quotes = "", 0
    return records


def test_tenable_csv_truncated(tmp_path: Path) -> None:
    src = FIXTURES / "tenable_csv/nessus.csv"
    text = src.read_text()
    bad = tmp_path / "cut.csv"
    bad.write_text(text[: text.index("nginx") - 3])  # inside a quoted multi-line cell
    with pytest.raises(ReportParseError) as e:
        parse("tenable_csv", bad)
    assert e.value.path == str(bad) and e.value.format == "tenable_csv"
    assert e.value.position is not None and e.value.position.startswith("line ")
    short = tmp_path / "short.csv"
    short.write_text(text.split("\n")[0] + '\n"176703","CVE-2021-46666","5.0","High","192.0.2.30"\n')
    with pytest.raises(ReportParseError, match="truncated"):
        parse("tenable_csv", short)


def test_tenable_csv_corpus_golden() -> None:
    fs = parse("tenable_csv", corpus_file("tenable/tenable_many_vuln.csv"))
    maria = one(fs, rule_id="176703")
    assert len(maria.vulnerability_ids) == 10
    assert maria.cvss_v3 is not None
    assert maria.cvss_v3.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # bare vector read as v3.1
    assert maria.endpoint is not None and maria.endpoint.host == "127.0.0.1"
    assert maria.target == "ip-127-0-0-1.us-west-2.compute.internal"

    vm = parse("tenable_csv", corpus_file("tenable/nessus/nessus_new.csv"))
    first = vm[0]
    assert first.rule_id == "33851" and first.severity is Severity.LOW
    assert "installed manually" in first.description  # the description column has a blank header
    assert first.endpoint is not None and first.endpoint.host == "10.0.0.1"

    legacy = parse("tenable_csv", corpus_file("tenable/nessus/nessus_many_vuln2-default.csv"))
    tls = one(legacy, rule_id="104743")
    assert tls.severity is Severity.MEDIUM
    assert fps("tenable_csv", corpus_file("tenable/tenable_many_vuln.csv")) == [f.fingerprint for f in fs]


def test_tenable_csv_corpus_reordered(tmp_path: Path) -> None:
    src = corpus_file("tenable/tenable_many_vuln.csv")
    header, *rows = _csv_records(src)
    out = tmp_path / "reversed.csv"
    out.write_text(header + "".join(reversed(rows)))
    assert set(fps("tenable_csv", out)) == set(fps("tenable_csv", src))


# ---- nmap --------------------------------------------------------------------------------------


def test_nmap_fixture() -> None:
    fs = parse("nmap", FIXTURES / "nmap/scan.xml")
    # open 22 and 445; closed 3306, open|filtered 161 and the down host are not findings;
    # vulners: 2 CVEs (the 2 Metasploit modules folded in) + 1 exploit naming no CVE; ms17-010.
    assert len(fs) == 6
    ports = [f for f in fs if f.rule_id == "open-port"]
    assert {f.endpoint.port for f in ports if f.endpoint} == {22, 445}
    ssh = one(ports, title="Open port 22/tcp: ssh (OpenSSH 7.4 protocol 2.0)")
    assert ssh.severity is Severity.INFO and ssh.category is FindingCategory.NETWORK
    assert ssh.component is not None and (ssh.component.name, ssh.component.version) == ("OpenSSH", "7.4")
    assert ssh.target == "files.test.example"  # the name the user gave nmap
    assert ssh.endpoint is not None and ssh.endpoint.host == "192.0.2.40"
    assert ssh.tool.version == "7.94"
    smb = one(ports, title="Open port 445/tcp: microsoft-ds (Samba smbd 4.6.2)")
    assert "OS: Windows 6.1" in smb.description  # a non-vuln script's output

    cve = one(fs, rule_id="CVE-2023-38408")
    assert cve.severity is Severity.CRITICAL
    assert cve.confidence is Confidence.TENTATIVE
    assert "exploit" in cve.tags
    assert "https://vulners.com/metasploit/MSF:ILITIES/DEBIAN-CVE-2023-38408/" in cve.references
    assert one(fs, rule_id="CVE-2018-15473").severity is Severity.MEDIUM
    edb = one(fs, rule_id="EDB-ID:45233")
    assert edb.severity is Severity.MEDIUM and "exploit" in edb.tags

    ms17 = one(fs, rule_id="smb-vuln-ms17-010:CVE-2017-0143")
    assert ms17.severity is Severity.HIGH
    assert [v.id for v in ms17.vulnerability_ids] == ["CVE-2017-0143"]
    assert ms17.endpoint is not None and (ms17.endpoint.host, ms17.endpoint.port) == ("192.0.2.40", None)
    assert ms17.references == ("https://technet.microsoft.com/en-us/library/security/ms17-010.aspx",)
    assert len({f.fingerprint for f in fs}) == 6


def test_nmap_host_listed_twice(tmp_path: Path) -> None:
    text = (FIXTURES / "nmap/scan.xml").read_text()
    start, end = text.index("<host "), text.index("</host>") + len("</host>")
    out = tmp_path / "twice.xml"
    out.write_text(text[:end] + "\n" + text[start:end] + text[end:])
    assert fps("nmap", out) == fps("nmap", FIXTURES / "nmap/scan.xml")


def test_nmap_reordered_same_fingerprints(tmp_path: Path) -> None:
    src = FIXTURES / "nmap/scan.xml"
    out = tmp_path / "reversed.xml"
    _reverse_xml(src, out, "ports", "port")
    _reverse_xml(out, out, "nmaprun", "host")
    assert set(fps("nmap", out)) == set(fps("nmap", src))


def test_nmap_truncated_xml(tmp_path: Path) -> None:
    bad = truncate(FIXTURES / "nmap/scan.xml", tmp_path)
    with pytest.raises(ReportParseError) as e:
        parse("nmap", bad)
    assert e.value.path == str(bad) and e.value.format == "nmap"
    assert e.value.position is not None and e.value.position.startswith("line ")


def test_nmap_bad_port(tmp_path: Path) -> None:
    p = tmp_path / "bad.xml"
    p.write_text(
        '<nmaprun version="7.94"><host><status state="up"/><address addr="192.0.2.1" addrtype="ipv4"/>'
        '<ports><port protocol="tcp" portid="http"><state state="open"/></port></ports></host></nmaprun>'
    )
    with pytest.raises(ReportParseError, match="portid") as e:
        parse("nmap", p)
    assert e.value.position == "host 0, port 0"


def test_nmap_corpus_golden() -> None:
    fs = parse("nmap", corpus_file("nmap/issue4406.xml"))
    assert len([f for f in fs if f.rule_id == "open-port"]) == 25
    cve = one(fs, rule_id="CVE-2019-6111")
    assert cve.severity is Severity.MEDIUM  # CVSS 5.8
    assert sum("metasploit" in r for r in cve.references) == 18
    assert cve.component is not None and cve.component.name == "OpenSSH"
    assert cve.endpoint is not None and (cve.endpoint.host, cve.endpoint.port) == ("10.250.195.71", 22)
    assert one(fs, rule_id="CVE-2018-20685").severity is Severity.LOW
    assert one(fs, rule_id="EDB-ID:46193").severity is Severity.INFO  # CVSS 0.0

    (only,) = parse("nmap", corpus_file("nmap/nmap_1port.xml"))
    assert only.endpoint is not None
    assert (only.endpoint.host, only.endpoint.port, only.endpoint.protocol) == ("127.0.0.1", 5432, "tcp")
    assert only.tool.version == "6.40"
    assert parse("nmap", corpus_file("nmap/nmap_0port.xml")) == []


def test_nmap_corpus_reordered(tmp_path: Path) -> None:
    src = corpus_file("nmap/issue4406.xml")
    out = tmp_path / "reversed.xml"
    _reverse_xml(src, out, "ports", "port")
    assert set(fps("nmap", out)) == set(fps("nmap", src))
    assert fps("nmap", src) == fps("nmap", src)
