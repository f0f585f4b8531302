"""Case requests (one per case management step) and the case as the API shows it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, StrictInt

from api.models.common import Command, Day, Moment, Name, Reference, Statement, Text, Username
from domain.case import (
    LEAST_URGENT,
    MOST_URGENT,
    AssessedNeed,
    AssessmentDomain,
    AssessmentRecorded,
    Case,
    CaseSource,
    ClosureReason,
    ContactMode,
    ContactOutcome,
    FollowUpFocus,
    Goal,
    GoalOutcome,
    Intervention,
    ReceivedInformation,
    ReferralStatus,
    ScreeningResult,
)
from domain.events import CaretrailEvent, event_payload
from services.application import CareTrail, Provenance

Priority = Field(default=2, ge=MOST_URGENT, le=LEAST_URGENT, description="1 is the most urgent")


class CaseStep(Command):
    occurred_at: Moment | None = Field(
        default=None, description="When it happened (clinical time), if not now"
    )


class OpenCase(CaseStep):
    patient_id: UUID
    source: CaseSource
    reason: Statement


class ScreenClient(CaseStep):
    result: ScreeningResult
    notes: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.screen(case_id, self.result, self.notes, by, expected)


class GiveConsent(CaseStep):
    given_by: Name = Field(description="The client, or their legal representative")
    method: Name = Field(examples=["written", "verbal, witnessed"])

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.give_consent(case_id, self.given_by, self.method, by, expected)


class WithdrawConsent(CaseStep):
    reason: Statement

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.withdraw_consent(case_id, self.reason, by, expected)


class AssignCaseManager(CaseStep):
    case_manager: Username
    reason: Statement

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.assign_case_manager(case_id, self.case_manager, self.reason, by, expected)


class Need(BaseModel):
    domain: AssessmentDomain
    description: Statement
    priority: StrictInt = Priority
    part2: StrictBool = Field(
        default=False,
        description="From a substance-use disorder program's record (42 CFR Part 2): shown "
        "only under the client's Part 2 consent or in an emergency",
    )


class RecordAssessment(CaseStep):
    needs: list[Need] = Field(max_length=50)
    preferred_language: Name
    interpreter_needed: StrictBool
    summary: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        needs = [AssessedNeed(n.domain, n.description, n.priority, n.part2) for n in self.needs]
        app.record_assessment(
            case_id, needs, self.preferred_language, self.interpreter_needed, self.summary, by,
            expected,
        )  # fmt: skip


class GoalIn(BaseModel):
    goal_id: Reference
    description: Statement
    measure: Statement
    priority: StrictInt = Priority
    target_date: Day


class InterventionIn(BaseModel):
    intervention_id: Reference
    goal_id: Reference
    description: Statement
    owner: Name
    due_date: Day


class RevisePlan(CaseStep):
    goals: list[GoalIn] = Field(min_length=1, max_length=50)
    interventions: list[InterventionIn] = Field(default=[], max_length=100)
    reason: Text = Field(default="", description="Required for every version after the first")

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        goals = [
            Goal(g.goal_id, g.description, g.measure, g.priority, g.target_date) for g in self.goals
        ]
        interventions = [
            Intervention(i.intervention_id, i.goal_id, i.description, i.owner, i.due_date)
            for i in self.interventions
        ]
        app.revise_plan(case_id, goals, interventions, self.reason, by, expected)


class MakeReferral(CaseStep):
    referral_id: Reference
    service: Name
    provider: Name
    reason: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.refer(case_id, self.referral_id, self.service, self.provider, self.reason, by, expected)


class AnswerReferral(CaseStep):
    referral_id: Reference
    answer: Literal["accept", "decline", "complete"]
    note: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.answer_referral(case_id, self.referral_id, self.answer, self.note, by, expected)


class LogContact(CaseStep):
    mode: ContactMode
    outcome: ContactOutcome
    contacted: Name = Field(examples=["client", "daughter (caregiver)"])
    notes: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.log_contact(case_id, self.mode, self.outcome, self.contacted, self.notes, by, expected)


class RecordMedicationReconciliation(CaseStep):
    discrepancies_found: StrictInt = Field(ge=0, le=1000)
    notes: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.record_medication_reconciliation(
            case_id, self.discrepancies_found, self.notes, by, expected
        )


class RecordFollowUpVisit(CaseStep):
    mode: ContactMode
    provider: Name
    focus: FollowUpFocus = Field(
        default=FollowUpFocus.GENERAL,
        description="What it was for: HEDIS FUH/FUM count mental_health visits, FUA "
        "substance_use ones",
    )
    notes: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.record_follow_up_visit(
            case_id, self.mode, self.provider, self.notes, by, expected, focus=self.focus
        )


class RecordInformationReceived(CaseStep):
    information: ReceivedInformation
    received_from: Name = Field(examples=["GENHOSP 4 West", "state HIE"])
    notes: Text = ""

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.record_information_received(
            case_id, self.information, self.received_from, self.notes, by, expected
        )


class NoteBarrier(CaseStep):
    barrier_id: Reference
    description: Statement

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.note_barrier(case_id, self.barrier_id, self.description, by, expected)


class ResolveBarrier(CaseStep):
    barrier_id: Reference
    resolution: Statement

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.resolve_barrier(case_id, self.barrier_id, self.resolution, by, expected)


class EvaluateGoal(CaseStep):
    goal_id: Reference
    outcome: GoalOutcome
    evidence: Statement

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.evaluate_goal(case_id, self.goal_id, self.outcome, self.evidence, by, expected)


class CloseCase(CaseStep):
    reason: ClosureReason
    post_closure_direction: Statement = Field(
        description="What the client should do if their conditions change"
    )

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.close_case(case_id, self.reason, self.post_closure_direction, by, expected)


class ReopenCase(CaseStep):
    reason: Statement

    def send(self, app: CareTrail, case_id: UUID, by: Provenance, expected: int | None) -> None:
        app.reopen_case(case_id, self.reason, by, expected)


# Views


class GoalView(BaseModel):
    goal_id: str
    description: str
    measure: str
    priority: int
    target_date: date
    outcome: GoalOutcome | None


class InterventionView(BaseModel):
    intervention_id: str
    goal_id: str
    description: str
    owner: str
    due_date: date


class PlanView(BaseModel):
    version: int
    reason: str
    goals: list[GoalView]
    interventions: list[InterventionView]


class ReferralView(BaseModel):
    referral_id: str
    service: str
    provider: str
    status: ReferralStatus
    note: str


class BarrierView(BaseModel):
    barrier_id: str
    description: str
    resolution: str | None


class CaseView(BaseModel):
    case_id: UUID
    version: int
    patient_id: UUID
    status: Literal["open", "closed"]
    closure_reason: ClosureReason | None
    opened_from: CaseSource
    reason: str
    screening: ScreeningResult | None
    consent_active: bool
    case_manager: str | None
    assessments: int
    preferred_language: str | None
    interpreter_needed: bool
    plan_of_care: PlanView | None
    referrals: list[ReferralView]
    barriers: list[BarrierView]
    contacts_logged: int
    as_of: datetime | None = Field(description="Set when this is the case as known at that time")

    @classmethod
    def of(cls, case: Case, as_of: datetime | None = None) -> CaseView:
        return cls(
            case_id=case.id,
            version=case.version,
            patient_id=case.patient_id,
            status="closed" if case.is_closed else "open",
            closure_reason=case.closure,
            opened_from=case.case_source,
            reason=case.reason,
            screening=case.screening,
            consent_active=case.consent_active,
            case_manager=case.case_manager,
            assessments=case.assessments,
            preferred_language=case.preferred_language,
            interpreter_needed=case.interpreter_needed,
            plan_of_care=_plan_view(case),
            referrals=[ReferralView(**vars(r)) for r in case.referrals.values()],
            barriers=[BarrierView(**vars(b)) for b in case.barriers.values()],
            contacts_logged=case.contacts,
            as_of=as_of,
        )


def _plan_view(case: Case) -> PlanView | None:
    plan = case.plan_of_care
    if plan is None:
        return None
    return PlanView(
        version=plan.version,
        reason=plan.reason,
        goals=[
            GoalView(**vars(goal), outcome=case.goal_outcomes.get(goal.goal_id))
            for goal in sorted(plan.goals, key=lambda goal: goal.priority)
        ],
        interventions=[InterventionView(**vars(item)) for item in plan.interventions],
    )


class CaseEvent(BaseModel):
    """One step in a case's history, with who recorded it, when, and from where."""

    version: int
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    source: str | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, event: CaretrailEvent, disclose_part2: bool) -> CaseEvent:
        payload = event_payload(event)
        if isinstance(event, AssessmentRecorded) and not disclose_part2:
            payload["needs"] = [need for need in payload["needs"] if not need["part2"]]
        return cls(
            version=event.originator_version,
            event_type=event.TOPIC,
            occurred_at=event.occurred_at,
            recorded_at=event.timestamp,
            actor=event.actor,
            source=event.source,
            payload=payload,
        )


def shows_part2(event: CaretrailEvent) -> bool:
    return isinstance(event, AssessmentRecorded) and any(need.part2 for need in event.needs)
