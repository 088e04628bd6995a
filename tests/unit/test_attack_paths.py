"""Attack paths over the sample inventory: real paths, in the expected order, and clear inventory errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from aiva.attack_paths import (
    BASELINE_PROBABILITY,
    TRUST_PROBABILITY,
    AssetFinding,
    EdgeKind,
    Inventory,
    attack_paths,
    finding_probability,
    hop_probability,
    load_inventory,
)
from aiva.enums import AssetType, BusinessCriticality
from aiva.errors import ReportParseError

INVENTORY = Path(__file__).resolve().parents[2] / "examples" / "inventory.yaml"
IMAGE = "registry.example.com/shop/api:1.4.2"
F = AssetFinding


def shop_findings() -> dict[str, list[AssetFinding]]:
    return {
        "edge-lb": [F("lb-http2", "HTTP/2 Rapid Reset", 7.5, epss=0.8),
                    F("lb-citrix", "CVE-2023-4966 session token leak", 10.0, in_kev=True, epss=0.94)],
        "shop-web": [F("web-ssti", "Server-side template injection", 8.5), F("web-hdr", "Missing CSP", 2.0)],
        "shop-api": [F("api-ssrf", "SSRF in image import", 8.0)],
        "orders-db": [F("db-weakpw", "Weak password policy", 6.0)],
        "admin-vpn": [F("vpn-old", "Outdated VPN client library", 5.0, epss=0.02)],
        "ci-runner": [F("ci-pwn", "Untrusted pull-request code runs with secrets", 9.0)],
        IMAGE: [F("img-glibc", "CVE-2023-4911 Looney Tunables", 7.8, in_kev=True)],
        "not-in-inventory": [F("ghost", "ignored", 10.0, in_kev=True)],
    }


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(INVENTORY)


def test_sample_inventory_loads(inventory: Inventory) -> None:
    assert len(inventory.assets) == 11 and len(inventory.edges) == 9
    db = inventory.asset("orders-db")
    assert db.crown_jewel and db.type is AssetType.DATABASE and db.criticality is BusinessCriticality.CRITICAL
    assert {a.name for a in inventory.assets if a.internet_facing} == {"edge-lb", "admin-vpn", "ci-runner",
                                                                      "marketing-site"}


def test_paths_come_out_easiest_first(inventory: Inventory) -> None:
    paths = attack_paths(inventory, shop_findings(), k=10)
    assert [p.assets for p in paths] == [
        ("ci-runner", "registry", IMAGE, "shop-api", "payments-vault"),
        ("edge-lb", "shop-web", "shop-api", "payments-vault"),
        ("ci-runner", "registry", IMAGE, "shop-api", "orders-db"),
        ("edge-lb", "shop-web", "shop-api", "orders-db"),
        ("admin-vpn", "jump-host", "orders-db"),
    ]
    costs = [p.cost for p in paths]
    assert costs == sorted(costs)
    for p in paths:
        assert math.isclose(p.probability, math.prod(h.probability for h in p.hops))
        assert "marketing-site" not in p.assets  # an internet-facing dead end


def test_each_hop_lists_the_findings_that_enable_it(inventory: Inventory) -> None:
    web_path = attack_paths(inventory, shop_findings(), k=2)[1]
    entry, web, api, vault = web_path.hops
    assert entry.source is None and entry.target == "edge-lb"
    assert [f.fingerprint for f in entry.findings] == ["lb-citrix", "lb-http2"]  # best first
    assert entry.probability == pytest.approx(0.94)
    assert [f.fingerprint for f in web.findings] == ["web-ssti"]  # the missing CSP does not help
    assert [f.fingerprint for f in api.findings] == ["api-ssrf"] and api.via == "findings"
    assert vault.kind is EdgeKind.TRUST and vault.findings == () and vault.via == "trust"
    vpn_path = attack_paths(inventory, shop_findings(), k=5)[-1]
    assert vpn_path.hops[1].via == "baseline" and vpn_path.hops[1].probability == BASELINE_PROBABILITY


def test_fixing_the_ci_runner_moves_the_web_path_first(inventory: Inventory) -> None:
    fixed = shop_findings()
    del fixed["ci-runner"]
    first = attack_paths(inventory, fixed, k=1)[0]
    assert first.assets == ("edge-lb", "shop-web", "shop-api", "payments-vault")


def test_a_kev_on_the_vpn_and_a_jump_host_finding_open_the_admin_path(inventory: Inventory) -> None:
    hot = shop_findings()
    del hot["ci-runner"]
    hot["admin-vpn"] = [F("vpn-kev", "Pre-auth RCE in the VPN gateway", 9.8, in_kev=True)]
    hot["jump-host"] = [F("jump-sshd", "regreSSHion", 8.1, epss=0.9)]
    top = attack_paths(inventory, hot, k=2)
    assert top[0].assets == ("admin-vpn", "jump-host", "orders-db")
    assert top[0].probability == pytest.approx(0.9 * 0.9 * TRUST_PROBABILITY)


def test_no_findings_still_gives_paths_but_unlikely_ones(inventory: Inventory) -> None:
    paths = attack_paths(inventory, {}, k=3)
    assert paths and paths[0].probability < 0.06
    # trust-only chains are the cheapest once the entry is taken: CI -> registry -> image -> api -> vault
    assert paths[0].assets[0] == "ci-runner"


def test_k_and_unreachable_jewels(inventory: Inventory) -> None:
    assert attack_paths(inventory, shop_findings(), k=0) == []
    assert len(attack_paths(inventory, shop_findings(), k=2)) == 2
    isolated = Inventory.model_validate({"assets": [
        {"name": "www", "internet_facing": True}, {"name": "vault", "crown_jewel": True}]})
    assert attack_paths(isolated, {}, k=3) == []
    no_entry = Inventory.model_validate({"assets": [{"name": "vault", "crown_jewel": True}]})
    assert attack_paths(no_entry, {}) == []


def test_paths_do_not_run_through_one_jewel_to_another() -> None:
    inv = Inventory.model_validate({
        "assets": [{"name": "www", "internet_facing": True}, {"name": "db", "crown_jewel": True},
                   {"name": "backup", "crown_jewel": True}],
        "edges": [{"from": "www", "to": "db"}, {"from": "db", "to": "backup", "kind": "trust"},
                  {"from": "www", "to": "backup"}]})
    paths = attack_paths(inv, {"www": [F("x", risk_score=9.0)]}, k=5)
    assert sorted(p.assets for p in paths) == [("www", "backup"), ("www", "db")]


def test_probabilities() -> None:
    assert finding_probability(F("a", risk_score=10.0)) == pytest.approx(0.8)
    assert finding_probability(F("a", risk_score=2.0, in_kev=True)) == 0.9
    assert finding_probability(F("a", risk_score=2.0, epss=0.99)) == 0.95  # capped
    assert finding_probability(F("a", risk_score=0.0)) == 0.01
    assert hop_probability([], EdgeKind.TRUST) == TRUST_PROBABILITY
    assert hop_probability([F("a", risk_score=1.0)]) == BASELINE_PROBABILITY


def test_json_inventory_is_accepted(tmp_path: Path) -> None:
    doc = yaml.safe_load(INVENTORY.read_text())
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(doc))
    assert load_inventory(path) == load_inventory(INVENTORY)


@pytest.mark.parametrize("doc, position, reason", [
    ({"assets": [{"name": "a"}, {"name": "b", "criticality": "urgent"}]}, "assets[1].criticality (asset 'b')",
     "Input should be"),
    ({"assets": [{"name": "a"}, {"name": "a"}]}, "assets[1] (asset 'a')", "duplicate asset name 'a'"),
    ({"assets": [{"name": "a"}, {"name": "b"}], "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "dbx"}]},
     "edges[1].to (b -> dbx)", "unknown asset 'dbx'"),
    ({"assets": [{"name": "a"}], "edges": [{"from": "a", "to": "a"}]}, "edges[0] (a -> a)", "to itself"),
    ({"assets": [{"name": "a"}, {"name": "b"}], "edges": [{"from": "a", "to": "b", "kind": "magic"}]},
     "edges[0].kind (a -> b)", "Input should be"),
    ({"assets": [{"name": "a", "colour": "red"}]}, "assets[0].colour (asset 'a')", "Extra inputs"),
    ({"assets": []}, "assets", "at least 1"),
])
def test_bad_entries_are_named(tmp_path: Path, doc: dict[str, object], position: str, reason: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ReportParseError) as ei:
        load_inventory(path)
    assert ei.value.format == "inventory" and ei.value.path == str(path)
    assert ei.value.position == position
    assert reason in ei.value.reason


def test_broken_yaml_and_wrong_shape(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("assets:\n  - name: a\n    type: [host\n")
    with pytest.raises(ReportParseError) as ei:
        load_inventory(bad)
    assert "not valid YAML" in ei.value.reason and ei.value.position and ei.value.position.startswith("line ")
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ReportParseError, match="expected a mapping"):
        load_inventory(bad)
    with pytest.raises(ReportParseError, match="cannot read"):
        load_inventory(tmp_path / "absent.yaml")
