"""Pure lifecycle rules."""

from aiva.enums import VulnerabilityStatus as S
from aiva.lifecycle import change_label, on_missing, on_seen


def test_first_sighting_is_new_then_active() -> None:
    assert on_seen(None).to_status is S.NEW
    assert on_seen(S.NEW).to_status is S.ACTIVE
    assert on_seen(S.ACTIVE) is None
    assert on_seen(S.REOPENED) is None


def test_mitigated_comes_back_reopened() -> None:
    assert on_seen(S.MITIGATED).to_status is S.REOPENED


def test_human_decisions_are_never_changed_by_scans() -> None:
    for s in (S.FALSE_POSITIVE, S.RISK_ACCEPTED, S.OUT_OF_SCOPE):
        assert on_seen(s) is None
        assert on_missing(s, in_scope=True, scan_complete=True) is None


def test_missing_mitigates_only_inside_a_complete_scope() -> None:
    assert on_missing(S.ACTIVE, in_scope=True, scan_complete=True).to_status is S.MITIGATED
    assert on_missing(S.ACTIVE, in_scope=False, scan_complete=True) is None
    assert on_missing(S.ACTIVE, in_scope=True, scan_complete=False) is None
    assert on_missing(S.MITIGATED, in_scope=True, scan_complete=True) is None


def test_change_labels() -> None:
    assert change_label(None, on_seen(None)) == "new"
    assert change_label(S.MITIGATED, on_seen(S.MITIGATED)) == "reopened"
    assert change_label(S.NEW, on_seen(S.NEW)) == "unchanged"
    assert change_label(S.ACTIVE, on_missing(S.ACTIVE, True, True)) == "mitigated"
    assert change_label(S.ACTIVE, None) == "unchanged"
