"""The operation recorder: a run's audit timeline, read from its Temporal workflow history.

Temporal writes ACTIVITY_TASK_STARTED only when an activity closes, with the
attempt number and the last failure of earlier attempts; so one row per activity
shows its attempts, its total time (scheduled to closed, retries included) and
its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory


@dataclass
class ActivityRecord:
    """One activity of a run, as the history tells it."""

    name: str
    activity_id: str
    scheduled: datetime
    started: datetime | None = None
    closed: datetime | None = None
    attempts: int = 0
    outcome: str = "running"
    failure: str | None = None
    last_retry_failure: str | None = None

    @property
    def label(self) -> str:
        """The activity type, qualified where the workflow named the activity "type:qualifier".

        The remediation stage runs one `open_tickets` per integration with ids such as
        "open_tickets:jira", so feedback and stats can tell JIRA's retries from Slack's.
        """
        head, sep, qualifier = self.activity_id.partition(":")
        return f"{self.name}:{qualifier}" if sep and head == self.name and qualifier else self.name

    @property
    def duration_ms(self) -> float | None:
        """Scheduled to closed, retries included."""
        if self.closed is None:
            return None
        return (self.closed - self.scheduled).total_seconds() * 1000


@dataclass
class Timeline:
    """A run's audit trail."""

    workflow_id: str
    run_id: str
    started: datetime | None = None
    closed: datetime | None = None
    status: str = "running"
    activities: list[ActivityRecord] = field(default_factory=list)
    signals: list[tuple[datetime, str]] = field(default_factory=list)
    failure: str | None = None


_CLOSE = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("completed", "activity_task_completed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("failed", "activity_task_failed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("timed_out", "activity_task_timed_out_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("cancelled", "activity_task_canceled_event_attributes"),
}
_WF_CLOSE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "cancelled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
}


def _failure_message(failure: object) -> str | None:
    msg = getattr(failure, "message", "") or ""
    cause = getattr(failure, "cause", None)
    if cause is not None and getattr(cause, "message", ""):
        msg = f"{msg}: {cause.message}" if msg else cause.message
    return msg or None


def timeline(history: WorkflowHistory) -> Timeline:
    """Fold a workflow history into the run's audit timeline."""
    tl = Timeline(workflow_id=history.workflow_id, run_id="")
    by_scheduled: dict[int, ActivityRecord] = {}
    for e in history.events:
        t = e.event_time.ToDatetime()
        et = e.event_type
        if et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            tl.started = t
            tl.run_id = e.workflow_execution_started_event_attributes.original_execution_run_id
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            rec = ActivityRecord(name=a.activity_type.name, activity_id=a.activity_id, scheduled=t)
            by_scheduled[e.event_id] = rec
            tl.activities.append(rec)
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            a = e.activity_task_started_event_attributes
            rec = by_scheduled[a.scheduled_event_id]
            rec.started = t
            rec.attempts = a.attempt
            if a.HasField("last_failure"):
                rec.last_retry_failure = _failure_message(a.last_failure)
        elif et in _CLOSE:
            outcome, field_name = _CLOSE[et]
            a = getattr(e, field_name)
            rec = by_scheduled[a.scheduled_event_id]
            rec.closed = t
            rec.outcome = outcome
            rec.attempts = max(rec.attempts, 1)
            if hasattr(a, "failure") and a.HasField("failure"):
                rec.failure = _failure_message(a.failure)
        elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            tl.signals.append((t, e.workflow_execution_signaled_event_attributes.signal_name))
        elif et in _WF_CLOSE:
            tl.closed = t
            tl.status = _WF_CLOSE[et]
            if et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                tl.failure = _failure_message(e.workflow_execution_failed_event_attributes.failure)
    return tl


def payload_bytes(msg: Any) -> int:
    """The bytes of every Payload inside a history event (or any protobuf message): the claim check's measure."""
    if isinstance(msg, Payload):
        return len(msg.data) + sum(len(k) + len(v) for k, v in msg.metadata.items())
    total = 0
    for descriptor, value in msg.ListFields():
        if descriptor.type != descriptor.TYPE_MESSAGE:
            continue
        if hasattr(value, "ListFields"):
            total += payload_bytes(value)
        elif hasattr(value, "items"):  # a map of messages
            total += sum(payload_bytes(v) for v in value.values() if hasattr(v, "ListFields"))
        else:  # a repeated field of messages
            total += sum(payload_bytes(v) for v in value)
    return total
