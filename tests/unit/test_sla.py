"""SLA math edge cases: defaults and overrides, reopen policies, risk-accepted pauses, breaches."""

from __future__ import annotations

import datetime as dt

import pytest

from aiva.enums import Severity
from aiva.errors import ConfigError
from aiva.sla import (
    DEFAULT_POLICY,
    Interval,
    RestartPolicy,
    SlaItem,
    SlaPolicy,
    breaches,
    due_date,
    sla_status,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def item(sev: Severity = Severity.HIGH, **kw: object) -> SlaItem:
    return SlaItem(fingerprint=str(kw.pop("fp", "f1")), severity=sev, first_seen=T0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("sev, days", [(Severity.CRITICAL, 7), (Severity.HIGH, 30), (Severity.MEDIUM, 90),
                                       (Severity.LOW, 120)])
def test_default_days(sev: Severity, days: int) -> None:
    assert due_date(item(sev)) == day(days)


def test_info_has_no_sla_and_never_breaches() -> None:
    assert due_date(item(Severity.INFO)) is None
    assert not sla_status(item(Severity.INFO), day(10_000)).breached


def test_product_overrides_keep_the_other_defaults() -> None:
    policy = SlaPolicy.from_settings({"critical": 3, "LOW": None, "info": 365})
    assert due_date(item(Severity.CRITICAL), policy) == day(3)
    assert due_date(item(Severity.HIGH), policy) == day(30)
    assert due_date(item(Severity.LOW), policy) is None
    assert due_date(item(Severity.INFO), policy) == day(365)


@pytest.mark.parametrize("bad, message", [
    ({"urgent": 1}, "unknown severity"), ({"high": -1}, ">= 0"), ({"high": "30"}, ">= 0"),
    ({"high": 2.5}, ">= 0"), ({"high": True}, ">= 0"),
])
def test_bad_product_settings_are_config_errors(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SlaPolicy.from_settings(bad)
    with pytest.raises(ConfigError, match="restart"):
        SlaPolicy.from_settings({}, "sometimes")


def test_zero_days_is_due_at_first_sight() -> None:
    policy = SlaPolicy.from_settings({"critical": 0})
    assert due_date(item(Severity.CRITICAL), policy) == T0
    assert not sla_status(item(Severity.CRITICAL), T0, policy).breached  # due now, not yet past
    assert sla_status(item(Severity.CRITICAL), T0 + dt.timedelta(seconds=1), policy).breached


def test_restart_policy_starts_a_fresh_clock_at_reopen() -> None:
    reopened = item(reopened_at=day(100))
    assert due_date(reopened) == day(130)
    assert not sla_status(reopened, day(120)).breached


def test_continue_policy_keeps_the_original_clock() -> None:
    policy = SlaPolicy(on_reopen=RestartPolicy.CONTINUE)
    reopened = item(reopened_at=day(100))
    assert due_date(reopened, policy) == day(30)
    assert sla_status(reopened, day(100), policy).overdue == dt.timedelta(days=70)


def test_risk_accepted_time_pauses_the_clock() -> None:
    assert due_date(item(accepted=(Interval(day(10), day(15)),))) == day(35)


def test_pauses_that_overlap_are_counted_once() -> None:
    paused = item(accepted=(Interval(day(10), day(15)), Interval(day(12), day(20)), Interval(day(20), day(21))))
    assert due_date(paused) == day(41)


def test_a_pause_after_the_due_date_changes_nothing() -> None:
    assert due_date(item(accepted=(Interval(day(31), day(60)),))) == day(30)


def test_a_pause_that_starts_inside_the_extended_window_also_counts() -> None:
    # due day 30 -> 40 by the first pause; the second starts on day 35, before the new due date
    chained = item(accepted=(Interval(day(5), day(15)), Interval(day(35), day(45))))
    assert due_date(chained) == day(50)


def test_pause_before_a_restart_is_ignored_and_straddling_pause_is_clipped() -> None:
    before = item(reopened_at=day(100), accepted=(Interval(day(10), day(50)),))
    assert due_date(before) == day(130)
    straddle = item(reopened_at=day(100), accepted=(Interval(day(90), day(110)),))
    assert due_date(straddle) == day(140)


def test_open_ended_acceptance_stops_the_clock() -> None:
    accepted_now = item(accepted=(Interval(day(10)),), is_open=False)
    status = sla_status(accepted_now, day(400))
    assert status.due is None and status.paused and not status.breached
    # an open-ended acceptance that starts after the due date does not hide the breach
    late = item(accepted=(Interval(day(45)),))
    assert due_date(late) == day(30)


def test_closed_findings_never_breach() -> None:
    assert not sla_status(item(Severity.CRITICAL, is_open=False), day(1000)).breached


def test_naive_datetimes_are_utc() -> None:
    naive = SlaItem("f", Severity.CRITICAL, dt.datetime(2024, 1, 1))
    assert due_date(naive) == day(7)
    assert sla_status(naive, dt.datetime(2024, 1, 9)).breached


def test_interval_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Interval(day(5), day(4))


def test_breach_list_is_sorted_most_overdue_first() -> None:
    items = [
        item(Severity.LOW, fp="low-ok"),                              # due day 120
        item(Severity.HIGH, fp="high"),                               # due day 30: 70 days over
        item(Severity.CRITICAL, fp="crit"),                           # due day 7: 93 days over
        item(Severity.CRITICAL, fp="crit-closed", is_open=False),
        item(Severity.MEDIUM, fp="med-paused", accepted=(Interval(day(1), day(20)),)),  # due day 109
        item(Severity.HIGH, fp="high-b"),                             # tie with "high": fingerprint order
    ]
    out = breaches(items, day(100))
    assert [s.fingerprint for s in out] == ["crit", "high", "high-b"]
    assert out[0].overdue == dt.timedelta(days=93) and out[0].remaining == dt.timedelta(0)
    ok = sla_status(items[0], day(100))
    assert ok.remaining == dt.timedelta(days=20) and DEFAULT_POLICY.days_for(Severity.LOW) == 120
