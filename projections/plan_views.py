"""The current plan of care per case, and each case manager's caseload worklist.

Goals by priority, interventions with owner and due date, referrals and their status, barriers,
consent state and the assigned case manager, kept current from the case events. Earlier plan
versions stay in the event store ("what did the plan say on March 3rd?" is a replay as of then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Final
from uuid import UUID

from sqlalchemy import (
    BindParameter,
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
    update,
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
from projections.deadlines import UtcDateTime
from projections.store import Projection, metadata

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


_THE_CASE: BindParameter[str] = bindparam("w_case")
_TOUCH_CASE = update(plan_cases).where(plan_cases.c.case_id == _THE_CASE)
_THE_GOAL = and_(plan_goals.c.case_id == _THE_CASE, plan_goals.c.goal_id == bindparam("w_goal"))
_CHANGE_GOAL = update(plan_goals).where(_THE_GOAL)
_DROP_GOALS = delete(plan_goals).where(
    plan_goals.c.case_id == _THE_CASE,
    plan_goals.c.goal_id.not_in(bindparam("kept", expanding=True)),
)
_DROP_INTERVENTIONS = delete(plan_interventions).where(plan_interventions.c.case_id == _THE_CASE)
_CHANGE_REFERRAL = update(plan_referrals).where(
    plan_referrals.c.case_id == _THE_CASE, plan_referrals.c.referral_id == bindparam("w_referral")
)
_CHANGE_BARRIER = update(plan_barriers).where(
    plan_barriers.c.case_id == _THE_CASE, plan_barriers.c.barrier_id == bindparam("w_barrier")
)


class PlanViews(Projection):
    name: ClassVar[str] = "plan_views"
    tables: ClassVar[tuple[Table, ...]] = (
        plan_cases, plan_goals, plan_interventions, plan_referrals, plan_barriers,
    )  # fmt: skip

    def __init__(self) -> None:
        # Each handler changes its own rows and returns the changes to the case row.
        self._handlers: dict[type[CaretrailEvent], Callable[[Connection, Any], _Changes]] = {
            CaseOpened: self._opened,
            PlanOfCareRevised: self._plan_revised,
            GoalEvaluated: self._goal_evaluated,
            ReferralMade: self._referral_made,
            **dict.fromkeys(_REFERRAL_STATUS, self._referral_answered),
            BarrierNoted: self._barrier_noted,
            BarrierResolved: self._barrier_resolved,
        }

    def apply(self, db: Connection, event: CaretrailEvent) -> None:
        if type(event) in _CASE_CHANGES:
            self._touch(db, event, **_CASE_CHANGES[type(event)](event))
        elif (handler := self._handlers.get(type(event))) is not None:
            self._touch(db, event, **handler(db, event))

    def _opened(self, db: Connection, event: CaseOpened) -> _Changes:
        db.execute(
            plan_cases.insert(),
            {
                "case_id": str(event.originator_id),
                "patient_id": str(event.patient_id),
                "status": "open",
                "opened_from": str(event.case_source),
                "reason": event.reason,
                "consent": "none",
                "plan_version": 0,
                "changed_at": event.timestamp,
            },
        )
        return {}

    def _plan_revised(self, db: Connection, event: PlanOfCareRevised) -> _Changes:
        """The new version replaces the current plan; evaluated goals it keeps keep outcomes."""
        case_id = str(event.originator_id)
        kept = sorted(goal.goal_id for goal in event.goals)
        db.execute(_DROP_GOALS, {"w_case": case_id, "kept": kept})
        db.execute(_DROP_INTERVENTIONS, {"w_case": case_id})
        for goal in event.goals:
            values = {
                "priority": goal.priority,
                "description": goal.description,
                "measure": goal.measure,
                "target_date": goal.target_date,
            }
            changed = db.execute(
                _CHANGE_GOAL, {"w_case": case_id, "w_goal": goal.goal_id, **values}
            )
            if not changed.rowcount:
                db.execute(
                    plan_goals.insert(), {"case_id": case_id, "goal_id": goal.goal_id, **values}
                )
        if event.interventions:
            db.execute(
                plan_interventions.insert(),
                [
                    {
                        "case_id": case_id,
                        "intervention_id": item.intervention_id,
                        "goal_id": item.goal_id,
                        "description": item.description,
                        "owner": item.owner,
                        "due_date": item.due_date,
                    }
                    for item in event.interventions
                ],
            )
        return {"plan_version": event.plan_version, "plan_reason": event.reason}

    def _goal_evaluated(self, db: Connection, event: GoalEvaluated) -> _Changes:
        db.execute(
            _CHANGE_GOAL,
            {"w_case": str(event.originator_id), "w_goal": event.goal_id,
             "outcome": str(event.outcome)},
        )  # fmt: skip
        return {}

    def _referral_made(self, db: Connection, event: ReferralMade) -> _Changes:
        db.execute(
            plan_referrals.insert(),
            {
                "case_id": str(event.originator_id),
                "referral_id": event.referral_id,
                "service": event.service,
                "provider": event.provider,
                "status": ReferralStatus.SENT.value,
                "note": event.reason,
            },
        )
        return {}

    def _referral_answered(self, db: Connection, event: ReferralStatusChanged) -> _Changes:
        db.execute(
            _CHANGE_REFERRAL,
            {
                "w_case": str(event.originator_id),
                "w_referral": event.referral_id,
                "status": _REFERRAL_STATUS[type(event)].value,
                "note": event.note,
            },
        )
        return {}

    def _barrier_noted(self, db: Connection, event: BarrierNoted) -> _Changes:
        db.execute(
            plan_barriers.insert(),
            {
                "case_id": str(event.originator_id),
                "barrier_id": event.barrier_id,
                "description": event.description,
                "resolution": None,
            },
        )
        return {}

    def _barrier_resolved(self, db: Connection, event: BarrierResolved) -> _Changes:
        db.execute(
            _CHANGE_BARRIER,
            {
                "w_case": str(event.originator_id),
                "w_barrier": event.barrier_id,
                "resolution": event.resolution,
            },
        )
        return {}

    def _touch(self, db: Connection, event: CaretrailEvent, **values: Any) -> None:
        db.execute(
            _TOUCH_CASE,
            {"w_case": str(event.originator_id), **values, "changed_at": event.timestamp},
        )


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


def _count_per_case(table: Table, condition: Any) -> Any:
    return (
        select(table.c.case_id, func.count().label("count"))
        .where(condition)
        .group_by(table.c.case_id)
        .subquery()
    )
