"""The current plan of care per case, and each case manager's caseload worklist.

Goals by priority, interventions with owner and due date, referrals and their status, barriers,
consent state and the assigned case manager, kept current from the case events. Earlier plan
versions stay in the event store ("what did the plan say on March 3rd?" is a replay as of then).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Final
from uuid import UUID

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
)

from domain.case import (
    AssessmentRecorded,
    BarrierNoted,
    BarrierResolved,
    CaseClosed,
    CaseManagerAssigned,
    CaseOpened,
    CaseReopened,
    ClientScreened,
    ConsentGiven,
    ConsentWithdrawn,
    ContactLogged,
    GoalEvaluated,
    PlanOfCareRevised,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralMade,
    ReferralStatus,
    ReferralStatusChanged,
)
from domain.events import CaretrailEvent
from projections.batch_rows import AggregateRowsProjection, BatchRows
from projections.store import UtcDateTime, metadata

plan_cases = Table(
    "plan_cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("status", String(40), nullable=False),
    Column("opened_from", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("screening", String(20)),
    Column("consent", String(10), nullable=False),
    Column("case_manager", String(200), index=True),
    Column("preferred_language", String(60)),
    Column("plan_version", Integer, nullable=False),
    Column("plan_reason", Text),
    Column("last_contact_at", UtcDateTime),
    Column("changed_at", UtcDateTime, nullable=False),
)

plan_goals = Table(
    "plan_goals",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("goal_id", String(60), primary_key=True),
    Column("priority", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("measure", Text, nullable=False),
    Column("target_date", Date, nullable=False),
    Column("outcome", String(20)),
)

plan_interventions = Table(
    "plan_interventions",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("intervention_id", String(60), primary_key=True),
    Column("goal_id", String(60), nullable=False),
    Column("description", Text, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("due_date", Date, nullable=False),
)

plan_referrals = Table(
    "plan_referrals",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("referral_id", String(60), primary_key=True),
    Column("service", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("note", Text, nullable=False),
)

plan_barriers = Table(
    "plan_barriers",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("barrier_id", String(60), primary_key=True),
    Column("description", Text, nullable=False),
    Column("resolution", Text),
)

_Changes = dict[str, Any]
_Change = Callable[[Any], _Changes]

# Case events that only change the case row.
_CASE_CHANGES: Final[Mapping[type[CaretrailEvent], _Change]] = {
    ClientScreened: lambda event: {"screening": str(event.result)},
    ConsentGiven: lambda _: {"consent": "active"},
    ConsentWithdrawn: lambda _: {"consent": "withdrawn"},
    CaseManagerAssigned: lambda event: {"case_manager": event.case_manager},
    AssessmentRecorded: lambda event: {"preferred_language": event.preferred_language},
    ContactLogged: lambda event: {"last_contact_at": event.occurred_at},
    # Consent covers one episode of case management; a reopened case asks for it again.
    CaseClosed: lambda event: {"status": f"closed ({event.reason})", "consent": "none"},
    CaseReopened: lambda _: {"status": "open"},
}

_REFERRAL_STATUS: Final[Mapping[type[ReferralStatusChanged], ReferralStatus]] = {
    ReferralAccepted: ReferralStatus.ACCEPTED,
    ReferralDeclined: ReferralStatus.DECLINED,
    ReferralCompleted: ReferralStatus.COMPLETED,
}


class PlanViews(AggregateRowsProjection):
    name: ClassVar[str] = "plan_views"
    tables: ClassVar[tuple[Table, ...]] = (
        plan_cases, plan_goals, plan_interventions, plan_referrals, plan_barriers,
    )  # fmt: skip

    def __init__(self) -> None:
        # Each handler changes its own rows and returns the changes to the case row.
        self._handlers: dict[type[CaretrailEvent], Callable[[_Rows, Any], _Changes]] = {
            CaseOpened: self._opened,
            PlanOfCareRevised: self._plan_revised,
            GoalEvaluated: self._goal_evaluated,
            ReferralMade: self._referral_made,
            **dict.fromkeys(_REFERRAL_STATUS, self._referral_answered),
            BarrierNoted: self._barrier_noted,
            BarrierResolved: self._barrier_resolved,
        }

    def handles(self, event: CaretrailEvent) -> bool:
        return type(event) in _CASE_CHANGES or type(event) in self._handlers

    def change(self, rows: _Rows, event: CaretrailEvent) -> None:
        case_change = _CASE_CHANGES.get(type(event))
        changes = (
            case_change(event) if case_change is not None
            else self._handlers[type(event)](rows, event)
        )  # fmt: skip
        case = rows[plan_cases].get(str(event.originator_id))
        if case is not None:
            rows[plan_cases].change(case, **changes, changed_at=event.timestamp)

    def _opened(self, rows: _Rows, event: CaseOpened) -> _Changes:
        rows[plan_cases].put(
            {
                "case_id": str(event.originator_id),
                "patient_id": str(event.patient_id),
                "status": "open",
                "opened_from": str(event.case_source),
                "reason": event.reason,
                "consent": "none",
                "plan_version": 0,
                "changed_at": event.timestamp,
            }
        )
        return {}

    def _plan_revised(self, rows: _Rows, event: PlanOfCareRevised) -> _Changes:
        """The new version replaces the current plan; evaluated goals it keeps keep outcomes."""
        case_id = str(event.originator_id)
        goals, interventions = rows[plan_goals], rows[plan_interventions]
        kept = {goal.goal_id for goal in event.goals}
        for dropped in goals.where("case_id", case_id):
            if dropped["goal_id"] not in kept:
                goals.remove(case_id, dropped["goal_id"])
        for stale in interventions.where("case_id", case_id):
            interventions.remove(case_id, stale["intervention_id"])
        for goal in event.goals:
            held = goals.get(case_id, goal.goal_id)
            goals.put(
                {
                    "case_id": case_id,
                    "goal_id": goal.goal_id,
                    "priority": goal.priority,
                    "description": goal.description,
                    "measure": goal.measure,
                    "target_date": goal.target_date,
                    "outcome": None if held is None else held["outcome"],
                }
            )
        for item in event.interventions:
            interventions.put(
                {
                    "case_id": case_id,
                    "intervention_id": item.intervention_id,
                    "goal_id": item.goal_id,
                    "description": item.description,
                    "owner": item.owner,
                    "due_date": item.due_date,
                }
            )
        return {"plan_version": event.plan_version, "plan_reason": event.reason}

    def _goal_evaluated(self, rows: _Rows, event: GoalEvaluated) -> _Changes:
        _change(rows[plan_goals], (str(event.originator_id), event.goal_id),
                outcome=str(event.outcome))  # fmt: skip
        return {}

    def _referral_made(self, rows: _Rows, event: ReferralMade) -> _Changes:
        rows[plan_referrals].put(
            {
                "case_id": str(event.originator_id),
                "referral_id": event.referral_id,
                "service": event.service,
                "provider": event.provider,
                "status": ReferralStatus.SENT.value,
                "note": event.reason,
            }
        )
        return {}

    def _referral_answered(self, rows: _Rows, event: ReferralStatusChanged) -> _Changes:
        _change(rows[plan_referrals], (str(event.originator_id), event.referral_id),
                status=_REFERRAL_STATUS[type(event)].value, note=event.note)  # fmt: skip
        return {}

    def _barrier_noted(self, rows: _Rows, event: BarrierNoted) -> _Changes:
        rows[plan_barriers].put(
            {
                "case_id": str(event.originator_id),
                "barrier_id": event.barrier_id,
                "description": event.description,
                "resolution": None,
            }
        )
        return {}

    def _barrier_resolved(self, rows: _Rows, event: BarrierResolved) -> _Changes:
        _change(rows[plan_barriers], (str(event.originator_id), event.barrier_id),
                resolution=event.resolution)  # fmt: skip
        return {}


_Rows = Mapping[Table, BatchRows]


def _change(rows: BatchRows, key: tuple[str, str], **values: Any) -> None:
    """Change a row if the read model has it (an event about an unknown item changes nothing)."""
    held = rows.get(*key)
    if held is not None:
        rows.change(held, **values)


# Queries ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalView:
    goal_id: str
    priority: int
    description: str
    measure: str
    target_date: date
    outcome: str | None


@dataclass(frozen=True)
class InterventionView:
    intervention_id: str
    goal_id: str
    description: str
    owner: str
    due_date: date


@dataclass(frozen=True)
class ReferralView:
    referral_id: str
    service: str
    provider: str
    status: str


@dataclass(frozen=True)
class BarrierView:
    barrier_id: str
    description: str
    resolution: str | None


@dataclass(frozen=True)
class PlanView:
    case_id: UUID
    patient_id: UUID
    status: str
    consent: str
    case_manager: str | None
    plan_version: int
    plan_reason: str | None
    goals: list[GoalView]
    interventions: list[InterventionView]
    referrals: list[ReferralView]
    barriers: list[BarrierView]


def plan_view(db: Connection, case_id: UUID) -> PlanView | None:
    key = str(case_id)
    case = db.execute(select(plan_cases).where(plan_cases.c.case_id == key)).first()
    if case is None:
        return None
    goals = db.execute(
        select(plan_goals)
        .where(plan_goals.c.case_id == key)
        .order_by(plan_goals.c.priority, plan_goals.c.goal_id)
    )
    interventions = db.execute(
        select(plan_interventions)
        .where(plan_interventions.c.case_id == key)
        .order_by(plan_interventions.c.due_date, plan_interventions.c.intervention_id)
    )
    referrals = db.execute(
        select(plan_referrals)
        .where(plan_referrals.c.case_id == key)
        .order_by(plan_referrals.c.referral_id)
    )
    barriers = db.execute(
        select(plan_barriers)
        .where(plan_barriers.c.case_id == key)
        .order_by(plan_barriers.c.barrier_id)
    )
    return PlanView(
        case_id=case_id,
        patient_id=UUID(case.patient_id),
        status=case.status,
        consent=case.consent,
        case_manager=case.case_manager,
        plan_version=case.plan_version,
        plan_reason=case.plan_reason,
        goals=[
            GoalView(g.goal_id, g.priority, g.description, g.measure, g.target_date, g.outcome)
            for g in goals
        ],
        interventions=[
            InterventionView(i.intervention_id, i.goal_id, i.description, i.owner, i.due_date)
            for i in interventions
        ],
        referrals=[ReferralView(r.referral_id, r.service, r.provider, r.status) for r in referrals],
        barriers=[BarrierView(b.barrier_id, b.description, b.resolution) for b in barriers],
    )


@dataclass(frozen=True)
class CaseloadEntry:
    """One open case on a case manager's worklist, with what needs doing next."""

    case_id: UUID
    patient_id: UUID
    consent: str
    plan_version: int
    next_intervention_due: date | None
    pending_referrals: int
    open_barriers: int
    last_contact_at: datetime | None


def caseload(db: Connection, case_manager: str) -> list[CaseloadEntry]:
    """The open cases of one case manager, the ones with the earliest due intervention first."""
    next_due = (
        select(plan_interventions.c.case_id, func.min(plan_interventions.c.due_date).label("due"))
        .group_by(plan_interventions.c.case_id)
        .subquery()
    )
    pending = _count_per_case(
        plan_referrals, plan_referrals.c.status.in_([ReferralStatus.SENT, ReferralStatus.ACCEPTED])
    )
    barriers = _count_per_case(plan_barriers, plan_barriers.c.resolution.is_(None))
    rows = db.execute(
        select(
            plan_cases,
            next_due.c.due,
            func.coalesce(pending.c.count, 0).label("pending"),
            func.coalesce(barriers.c.count, 0).label("barriers"),
        )
        .join(next_due, next_due.c.case_id == plan_cases.c.case_id, isouter=True)
        .join(pending, pending.c.case_id == plan_cases.c.case_id, isouter=True)
        .join(barriers, barriers.c.case_id == plan_cases.c.case_id, isouter=True)
        .where(plan_cases.c.case_manager == case_manager, plan_cases.c.status == "open")
    )
    entries = [
        CaseloadEntry(
            UUID(row.case_id), UUID(row.patient_id), row.consent, row.plan_version, row.due,
            row.pending, row.barriers, row.last_contact_at,
        )
        for row in rows
    ]  # fmt: skip
    return sorted(entries, key=lambda e: (e.next_intervention_due or date.max, str(e.case_id)))


def cases_of(db: Connection, records: Iterable[UUID]) -> list[UUID]:
    """Every case opened for a patient, under any of their records."""
    wanted = sorted(str(record) for record in records)
    rows = db.scalars(select(plan_cases.c.case_id).where(plan_cases.c.patient_id.in_(wanted)))
    return [UUID(case_id) for case_id in rows]


def _count_per_case(table: Table, condition: Any) -> Any:
    return (
        select(table.c.case_id, func.count().label("count"))
        .where(condition)
        .group_by(table.c.case_id)
        .subquery()
    )
