"""What the read views answer: the alert worklist, a patient's timeline and audit trail, and the
audit chain's verdict."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.alert_views import WorklistRow
from api.models.common import Moment, Statement, Text
from projections.deadlines import PatientFlag
from projections.timeline import TimelineEntry
from services.audit_chain import AuditRecord, Verdict


class AlertItem(BaseModel):
    alert_id: UUID
    patient_id: UUID
    patient_name: str
    case_id: UUID | None = Field(description="The patient's open case, if any")
    case_manager: str = Field(description="Whose worklist it is on; '(unassigned)' if nobody's")
    rule_id: str = Field(description="'withheld' when 42 CFR Part 2 keeps the rule from you")
    rule_version: str
    severity: str
    state: str
    reason: str
    facts: dict[str, str]
    due_at: datetime | None
    due: str = Field(examples=["overdue by 2 days"])
    escalated_to: str | None
    snoozed_until: datetime | None
    raised_at: datetime
    needs_attention: bool

    @classmethod
    def of(cls, row: WorklistRow) -> AlertItem:
        alert = row.alert
        return cls(
            alert_id=alert.alert_id, patient_id=alert.patient_id, patient_name=row.patient_name,
            case_id=row.case_id, case_manager=alert.case_manager, rule_id=alert.rule_id,
            rule_version=alert.rule_version, severity=alert.severity, state=alert.state.value,
            reason=alert.reason, facts=alert.facts, due_at=alert.due_at, due=row.due,
            escalated_to=alert.escalated_to, snoozed_until=alert.snoozed_until,
            raised_at=alert.raised_at, needs_attention=alert.needs_attention,
        )  # fmt: skip


class Acknowledgement(BaseModel):
    note: Text = ""


class Snooze(BaseModel):
    reason: Statement
    until: Moment = Field(description="When the alert needs attention again")


class TimelineItem(BaseModel):
    occurred_at: datetime
    recorded_at: datetime
    category: str
    what: str
    summary: str
    actor: str
    source: str | None
    aggregate_id: UUID

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineItem:
        return cls(**vars(entry))


class PatientFlagItem(BaseModel):
    flag: str = Field(description="The rule that set it", examples=["readmission-30"])
    label: str = Field(examples=["Readmitted within 30 days"])
    since: datetime = Field(description="Clinical time of the finding behind it")
    reason: str

    @classmethod
    def of(cls, flag: PatientFlag) -> PatientFlagItem:
        return cls(flag=flag.flag, label=flag.label, since=flag.since, reason=flag.reason)


class AuditTrailItem(BaseModel):
    position: int = Field(description="Position in the event log")
    event_type: str
    aggregate_id: UUID
    version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    source: str | None
    sealed: bool = Field(description="Covered by the audit hash chain yet")

    @classmethod
    def of(cls, record: AuditRecord) -> AuditTrailItem:
        event = record.event
        return cls(
            position=record.position, event_type=event.TOPIC, aggregate_id=event.originator_id,
            version=event.originator_version, occurred_at=event.occurred_at,
            recorded_at=event.timestamp, actor=event.actor, source=event.source,
            sealed=record.chain_link is not None,
        )  # fmt: skip


class ChainVerification(BaseModel):
    verdict: Literal["intact", "tampered", "unsealed"] = Field(
        description="unsealed: events are stored and no seal covers them (never sealed, or the "
        "seal was removed), so nothing is proven"
    )
    checked: int = Field(description="Sealed events checked")
    unsealed: int = Field(description="Events stored since the last seal, not checked yet")
    first_bad_position: int | None
    problem: str | None

    @classmethod
    def of(cls, verdict: Verdict) -> ChainVerification:
        return cls(
            verdict=_verdict(verdict), checked=verdict.checked,
            unsealed=verdict.unsealed, first_bad_position=verdict.first_bad_position,
            problem=verdict.problem,
        )  # fmt: skip


def _verdict(verdict: Verdict) -> Literal["intact", "tampered", "unsealed"]:
    if not verdict.intact:
        return "tampered"
    return "unsealed" if verdict.unproven else "intact"
