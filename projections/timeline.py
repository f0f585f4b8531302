"""A patient's timeline: encounters and transitions, case actions and alerts, in clinical order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final
from uuid import UUID

from sqlalchemy import Column, Connection, Integer, String, Table, Text, select

from domain import alert, case, encounter, patient
from domain.alert_rules import PART2_WITHHELD, discloses_substance_use
from domain.events import CaretrailEvent
from projections.store import AppendOnlyProjection, FeedPosition, UtcDateTime, metadata

timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("category", String(20), nullable=False),
    Column("what", String(60), nullable=False),
    Column("summary", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("source", String(500)),
)

_CATEGORY_OF_MODULE: Final = {
    encounter.__name__: "encounter",
    case.__name__: "case",
    alert.__name__: "alert",
    patient.__name__: "patient",
}

_Summary = Callable[[Any], str]

# The facts worth a line on a timeline; any other event is summarised by its name alone.
_SUMMARIES: Final[Mapping[type[CaretrailEvent], _Summary]] = {
    encounter.EncounterRegistered: lambda e: (
        f"{'pre-admitted' if e.preadmission else 'registered'} at {e.facility}"
        f" as class {e.patient_class}, {e.location}"
    ),
    encounter.PatientAdmitted: lambda e: f"admitted as class {e.patient_class}, {e.location}",
    encounter.PatientTransferred: lambda e: f"transferred {e.from_location} -> {e.to_location}",
    encounter.PatientDischarged: lambda e: f"discharged ({e.disposition})",
    encounter.PatientClassChanged: lambda e: f"class {e.from_class} -> {e.to_class}",
    # The codes stay off the timeline: a substance-use diagnosis is 42 CFR Part 2 data.
    encounter.EncounterDiagnosesRecorded: lambda e: f"diagnoses recorded ({len(e.diagnoses)})",
    encounter.TransitionCancelled: lambda e: (
        f"{e.cancelled_kind} (transition {e.transition_number}) cancelled: {e.reason}"
    ),
    case.CaseOpened: lambda e: f"case opened from {e.case_source}: {e.reason}",
    case.ClientScreened: lambda e: f"screened {e.result}",
    case.ConsentWithdrawn: lambda e: f"consent withdrawn: {e.reason}",
    case.CaseManagerAssigned: lambda e: f"assigned to {e.case_manager}",
    case.PlanOfCareRevised: lambda e: f"plan of care version {e.plan_version}: {e.reason}",
    case.ReferralMade: lambda e: f"referral {e.referral_id} to {e.service} at {e.provider}",
    case.ContactLogged: lambda e: f"{e.mode} contact with {e.contacted}: {e.outcome}",
    # Without its focus for the same reason: a substance use follow-up discloses the disorder.
    case.FollowUpVisitRecorded: lambda e: f"{e.mode} follow-up visit with {e.provider}",
    case.AdmissionNotificationReceived: lambda e: (
        f"admission notification received from {e.received_from}"
    ),
    case.DischargeInformationReceived: lambda e: (
        f"discharge information received from {e.received_from}"
    ),
    case.GoalEvaluated: lambda e: f"goal {e.goal_id} {e.outcome}",
    case.CaseClosed: lambda e: f"case closed ({e.reason})",
    alert.AlertRaised: lambda e: f"alert raised ({e.severity}): {_alert_reason(e)}",
    alert.AlertUpdated: lambda e: f"alert updated ({e.severity}): {_alert_reason(e)}",
    alert.AlertReopened: lambda e: f"alert reopened ({e.severity}): {_alert_reason(e)}",
    alert.AlertSnoozed: lambda e: f"alert snoozed until {e.until.isoformat()}: {e.reason}",
    alert.AlertEscalated: lambda e: f"alert escalated to {e.escalated_to}: {e.reason}",
    alert.AlertResolved: lambda e: f"alert resolved by {e.satisfied_by}",
    alert.AlertRetracted: lambda e: f"alert retracted: {e.reason}",
}


def _alert_reason(event: alert.AlertCauseNoted) -> str:
    # The timeline is shown to every reader of the patient; Part 2 consent is not checked there.
    return PART2_WITHHELD if discloses_substance_use(event.rule_id) else event.reason


def _what(event: CaretrailEvent) -> str:
    return event.TOPIC.removeprefix("caretrail.")


class Timeline(AppendOnlyProjection):
    name: ClassVar[str] = "timeline"
    tables: ClassVar[tuple[Table, ...]] = (timeline_entries,)

    def row(
        self,
        event: CaretrailEvent,
        delivered: FeedPosition,  # noqa: ARG002 - a timeline is in clinical order, not log order
    ) -> dict[str, Any]:
        summary = _SUMMARIES.get(type(event), _what)
        return {
            "aggregate_id": str(event.originator_id),
            "version": event.originator_version,
            "patient_id": str(event.patient_id),
            "occurred_at": event.occurred_at,
            "recorded_at": event.timestamp,
            "category": _CATEGORY_OF_MODULE.get(type(event).__module__, "other"),
            "what": _what(event),
            "summary": summary(event),
            "actor": event.actor,
            "source": event.source,
        }


@dataclass(frozen=True)
class TimelineEntry:
    occurred_at: datetime
    recorded_at: datetime
    category: str
    what: str
    summary: str
    actor: str
    source: str | None
    aggregate_id: UUID


def patient_timeline(db: Connection, records: Iterable[UUID]) -> list[TimelineEntry]:
    """The timeline of a patient: of every record given (theirs and those merged into it)."""
    rows = db.execute(
        select(timeline_entries)
        .where(timeline_entries.c.patient_id.in_(sorted(str(record) for record in records)))
        .order_by(
            timeline_entries.c.occurred_at,
            timeline_entries.c.recorded_at,
            timeline_entries.c.aggregate_id,
            timeline_entries.c.version,
        )
    )
    return [
        TimelineEntry(
            row.occurred_at, row.recorded_at, row.category, row.what, row.summary, row.actor,
            row.source, UUID(row.aggregate_id),
        )
        for row in rows
    ]  # fmt: skip
