"""Remediation SLAs (pure): due dates per severity, paused while risk accepted, and breaches.

Rules:
- days per severity come from the product (`products.sla_days`, e.g. `{"critical": 3}`)
  over the defaults critical 7, high 30, medium 90, low 120, info none; `null` means
  no SLA for that severity;
- the clock starts at `first_seen`; after a reopen, the `restart` policy starts a
  fresh clock at the reopen time, `continue` keeps the original clock (as if the
  finding had never been closed: DefectDojo's behaviour without "restart SLA on
  reactivation");
- time inside a risk-accepted interval does not count: the due date moves by the
  paused time; an interval with no end (accepted now) means no due date at all;
- a finding is in breach when it is open and `now` is past its due date.

Datetimes without a time zone are read as UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from aiva.enums import Severity
from aiva.errors import ConfigError

DEFAULT_SLA_DAYS: Mapping[Severity, int | None] = MappingProxyType({
    Severity.CRITICAL: 7,
    Severity.HIGH: 30,
    Severity.MEDIUM: 90,
    Severity.LOW: 120,
    Severity.INFO: None,
})


class RestartPolicy(str, Enum):
    """What a reopen does to the SLA clock."""

    RESTART = "restart"
    CONTINUE = "continue"


@dataclass(frozen=True)
class Interval:
    """A span of time; `end=None` means it has not ended."""

    start: dt.datetime
    end: dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        if self.end is not None:
            object.__setattr__(self, "end", _utc(self.end))
            if self.end < self.start:
                raise ValueError(f"interval ends ({self.end.isoformat()}) before it starts "
                                 f"({self.start.isoformat()})")


@dataclass(frozen=True)
class SlaPolicy:
    """Days allowed per severity, and what a reopen does to the clock."""

    days: Mapping[Severity, int | None] = field(default_factory=lambda: DEFAULT_SLA_DAYS)
    on_reopen: RestartPolicy = RestartPolicy.RESTART

    @classmethod
    def from_settings(
        cls, sla_days: Mapping[str, object] | None = None, on_reopen: str | RestartPolicy = RestartPolicy.RESTART
    ) -> SlaPolicy:
        """A product's policy: its `sla_days` overrides (severity name -> days or None) over the defaults."""
        days: dict[Severity, int | None] = dict(DEFAULT_SLA_DAYS)
        for key, value in (sla_days or {}).items():
            try:
                sev = Severity(str(key).strip().lower())
            except ValueError as e:
                raise ConfigError(f"sla_days: unknown severity {key!r} (use {', '.join(s.value for s in Severity)})"
                                  ) from e
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"sla_days.{sev.value}: expected a number of days >= 0 or null, got {value!r}")
            days[sev] = value
        try:
            policy = RestartPolicy(on_reopen)
        except ValueError as e:
            raise ConfigError(f"SLA reopen policy must be 'restart' or 'continue', got {on_reopen!r}") from e
        return cls(days=MappingProxyType(days), on_reopen=policy)

    def days_for(self, severity: Severity) -> int | None:
        """Days allowed for a severity (None: no SLA)."""
        return self.days.get(severity, DEFAULT_SLA_DAYS[severity])


DEFAULT_POLICY = SlaPolicy()


@dataclass(frozen=True)
class SlaItem:
    """What the SLA of one finding depends on."""

    fingerprint: str
    severity: Severity
    first_seen: dt.datetime
    is_open: bool = True
    reopened_at: dt.datetime | None = None
    accepted: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class SlaStatus:
    """Where one finding stands against its SLA at `now`."""

    fingerprint: str
    severity: Severity
    due: dt.datetime | None
    paused: bool
    breached: bool
    overdue: dt.timedelta
    remaining: dt.timedelta | None


def clock_start(item: SlaItem, policy: SlaPolicy = DEFAULT_POLICY) -> dt.datetime:
    """When the finding's SLA clock started: first seen, or the last reopen under `restart`."""
    if item.reopened_at is not None and policy.on_reopen is RestartPolicy.RESTART:
        return max(_utc(item.first_seen), _utc(item.reopened_at))
    return _utc(item.first_seen)


def due_date(item: SlaItem, policy: SlaPolicy = DEFAULT_POLICY) -> dt.datetime | None:
    """The due date, moved by every risk-accepted pause after the clock start; None when no SLA applies.

    None also when the finding is accepted right now (an interval with no end that
    begins before the due date): the clock is stopped.
    """
    days = policy.days_for(item.severity)
    if days is None:
        return None
    start = clock_start(item, policy)
    due = start + dt.timedelta(days=days)
    for s, e in _merged(item.accepted):
        if e is not None and e <= start:
            continue
        s = max(s, start)
        if s >= due:
            break
        if e is None:
            return None
        due += e - s
    return due


def sla_status(item: SlaItem, now: dt.datetime, policy: SlaPolicy = DEFAULT_POLICY) -> SlaStatus:
    """The finding's due date, whether it is paused or in breach, and by how much."""
    now = _utc(now)
    due = due_date(item, policy)
    paused = any(iv.end is None or iv.start <= now < iv.end for iv in item.accepted if iv.start <= now)
    breached = item.is_open and due is not None and now > due
    overdue = now - due if breached and due is not None else dt.timedelta(0)
    remaining = None if due is None or not item.is_open else max(due - now, dt.timedelta(0))
    return SlaStatus(item.fingerprint, item.severity, due, paused, breached, overdue, remaining)


def breaches(items: Iterable[SlaItem], now: dt.datetime, policy: SlaPolicy = DEFAULT_POLICY) -> list[SlaStatus]:
    """The findings in breach at `now`, most overdue first (ties: higher severity, then fingerprint)."""
    out = [s for s in (sla_status(i, now, policy) for i in items) if s.breached]
    out.sort(key=lambda s: (-s.overdue.total_seconds(), -s.severity.rank, s.fingerprint))
    return out


def _merged(intervals: Iterable[Interval]) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """Sorted, overlapping intervals joined; an open-ended one swallows every later one."""
    out: list[tuple[dt.datetime, dt.datetime | None]] = []
    for iv in sorted(intervals, key=lambda i: i.start):
        if out:
            s, e = out[-1]
            if e is None:
                break
            if iv.start <= e:
                out[-1] = (s, None if iv.end is None else max(e, iv.end))
                continue
        out.append((iv.start, iv.end))
    return out


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
