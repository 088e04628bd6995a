"""Finding lifecycle transitions across re-scans (pure).

Rules:
- first sighting -> new
- seen again while new -> active; while active or reopened -> unchanged
- seen again while mitigated -> reopened
- not seen, inside the scope a COMPLETE scan of this run covered (product + asset
  + tool), while new/active/reopened -> mitigated; outside that scope -> untouched
- human decisions (false positive, risk accepted, out of scope) are never changed
  by a scan, seen or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiva.enums import VulnerabilityStatus as S


@dataclass(frozen=True)
class Transition:
    """A status change and why it happened (written as a finding event)."""

    to_status: S
    reason: str


def on_seen(current: S | None) -> Transition | None:
    """What a sighting in this run does to a finding in state `current` (None = never seen)."""
    if current is None:
        return Transition(S.NEW, "first seen")
    if current is S.NEW:
        return Transition(S.ACTIVE, "seen again by a later scan")
    if current is S.MITIGATED:
        return Transition(S.REOPENED, "seen again after it was mitigated")
    return None  # active, reopened, or a human decision: unchanged


def on_missing(current: S, in_scope: bool, scan_complete: bool) -> Transition | None:
    """What absence from this run does: mitigate only open findings inside a complete scan's scope."""
    if in_scope and scan_complete and current.is_open:
        return Transition(S.MITIGATED, "absent from a complete re-scan of its scope")
    return None


def change_label(before: S | None, transition: Transition | None) -> str:
    """The per-run change a report shows: new, reopened, mitigated or unchanged."""
    if transition is None:
        return "unchanged"
    if before is None:
        return "new"
    if transition.to_status is S.REOPENED:
        return "reopened"
    if transition.to_status is S.MITIGATED:
        return "mitigated"
    return "unchanged"
