"""A client's case, run through the CMSA case management process from screening to closure.

Every step is an event carrying who did it and when. Services (plan of care, referrals,
interventions) need active consent; a closed case accepts nothing but a reopen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.calendar import utc_instant
from domain.errors import (
    CaseIsClosed,
    ConsentRequired,
    ImplausibleDate,
    InvalidTransition,
    InvalidValue,
    UnknownReference,
    require_stated,
)
from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic

# Priorities of needs and goals; the API and the CLI's plan file take the same range.
MOST_URGENT, LEAST_URGENT = 1, 5


class CaseSource(StrEnum):
    REFERRAL = "referral"
    RISK_SCREEN = "risk_screen"
    ADT_TRIGGER = "adt_trigger"
    SELF_REFERRAL = "self_referral"


class ScreeningResult(StrEnum):
    APPROPRIATE = "appropriate"
    NOT_APPROPRIATE = "not_appropriate"


class AssessmentDomain(StrEnum):
    MEDICAL = "medical"
    FUNCTIONAL = "functional"
    BEHAVIORAL = "behavioral"
    COGNITIVE = "cognitive"
    HOUSING = "housing"
    FOOD = "food"
    TRANSPORTATION = "transportation"
    FINANCIAL = "financial"
    CAREGIVER_SUPPORT = "caregiver_support"
    HEALTH_LITERACY = "health_literacy"
    CULTURAL_LINGUISTIC = "cultural_linguistic"


class ReferralStatus(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"


class ContactMode(StrEnum):
    PHONE = "phone"
    FACE_TO_FACE = "face_to_face"
    VIDEO = "video"
    ELECTRONIC = "electronic"


class ContactOutcome(StrEnum):
    SUCCESSFUL = "successful"
    UNSUCCESSFUL = "unsuccessful"


class FollowUpFocus(StrEnum):
    """What a follow-up visit was for: HEDIS FUH/FUM count only a mental health follow-up, FUA
    only a substance use one."""

    GENERAL = "general"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"


class GoalOutcome(StrEnum):
    MET = "met"
    PARTIALLY_MET = "partially_met"
    NOT_MET = "not_met"


class ClosureReason(StrEnum):
    GOALS_MET = "goals_met"
    CLIENT_DECLINED = "client_declined"
    TRANSFERRED = "transferred"
    MOVED = "moved"
    DECEASED = "deceased"
    LOST_TO_CONTACT = "lost_to_contact"
    BENEFIT_ENDED = "benefit_ended"
    NOT_APPROPRIATE = "not_appropriate"


@dataclass(frozen=True)
class AssessedNeed:
    domain: AssessmentDomain
    description: str
    priority: int = 2
    # 42 CFR Part 2: the need comes from a substance-use disorder program's record, so it is
    # shown only under the client's Part 2 consent (see domain/access.py). Defaults to False so
    # needs stored before the tag existed read back unchanged.
    part2: bool = False

    def require_valid(self) -> None:
        require_stated(self.description, f"the {self.domain} need has no description")
        _require_priority(self.priority, f"the {self.domain} need")


@dataclass(frozen=True)
class Goal:
    """A prioritized, measurable goal agreed with the client."""

    goal_id: str
    description: str
    measure: str
    priority: int
    target_date: date

    def require_valid(self) -> None:
        _require_priority(self.priority, f"goal '{self.goal_id}'")


@dataclass(frozen=True)
class Intervention:
    intervention_id: str
    goal_id: str
    description: str
    owner: str
    due_date: date


@dataclass(frozen=True)
class PlanOfCare:
    """One version of the plan. Revisions make a new version; none is overwritten."""

    version: int
    goals: tuple[Goal, ...]
    interventions: tuple[Intervention, ...]
    reason: str

    def goal(self, goal_id: str) -> Goal:
        for goal in self.goals:
            if goal.goal_id == goal_id:
                return goal
        raise UnknownReference(f"plan version {self.version} has no goal '{goal_id}'")


@dataclass(frozen=True)
class Referral:
    referral_id: str
    service: str
    provider: str
    status: ReferralStatus = ReferralStatus.SENT
    note: str = ""


@dataclass(frozen=True)
class Barrier:
    barrier_id: str
    description: str
    resolution: str | None = None


class CaseOpened(CaretrailCreated):
    TOPIC = "caretrail.CaseOpened"
    case_source: CaseSource
    reason: str

    def apply(self, aggregate: Case) -> None:
        aggregate.patient_id = self.patient_id
        aggregate.case_source = CaseSource(self.case_source)
        aggregate.reason = self.reason
        aggregate.screening = None
        aggregate.consent_active = False
        aggregate.case_manager = None
        aggregate.assessments = 0
        aggregate.preferred_language = None
        aggregate.interpreter_needed = False
        aggregate.plans = []
        aggregate.referrals = {}
        aggregate.barriers = {}
        aggregate.goal_outcomes = {}
        aggregate.contacts = 0
        aggregate.closure = None
        aggregate.opened_at = self.occurred_at
        aggregate.closed_at = None


class ClientScreened(CaretrailEvent):
    TOPIC = "caretrail.ClientScreened"
    result: ScreeningResult
    notes: str

    def apply(self, aggregate: Case) -> None:
        aggregate.screening = ScreeningResult(self.result)


class ConsentGiven(CaretrailEvent):
    TOPIC = "caretrail.ConsentGiven"
    given_by: str
    method: str

    def apply(self, aggregate: Case) -> None:
        aggregate.consent_active = True


class ConsentWithdrawn(CaretrailEvent):
    TOPIC = "caretrail.ConsentWithdrawn"
    reason: str

    def apply(self, aggregate: Case) -> None:
        aggregate.consent_active = False


class CaseManagerAssigned(CaretrailEvent):
    TOPIC = "caretrail.CaseManagerAssigned"
    case_manager: str
    previous_case_manager: str | None
    reason: str

    def apply(self, aggregate: Case) -> None:
        aggregate.case_manager = self.case_manager


class AssessmentRecorded(CaretrailEvent):
    TOPIC = "caretrail.AssessmentRecorded"
    needs: list[AssessedNeed]
    preferred_language: str
    interpreter_needed: bool
    summary: str

    def apply(self, aggregate: Case) -> None:
        aggregate.assessments += 1
        aggregate.preferred_language = self.preferred_language
        aggregate.interpreter_needed = self.interpreter_needed


class PlanOfCareRevised(CaretrailEvent):
    """A new version of the plan; version 1 is the first draft."""

    TOPIC = "caretrail.PlanOfCareRevised"
    plan_version: int
    goals: list[Goal]
    interventions: list[Intervention]
    reason: str

    def apply(self, aggregate: Case) -> None:
        aggregate.plans.append(
            PlanOfCare(self.plan_version, tuple(self.goals), tuple(self.interventions), self.reason)
        )


class ReferralMade(CaretrailEvent):
    TOPIC = "caretrail.ReferralMade"
    referral_id: str
    service: str
    provider: str
    reason: str

    def apply(self, aggregate: Case) -> None:
        aggregate.referrals[self.referral_id] = Referral(
            self.referral_id, self.service, self.provider, note=self.reason
        )


class ReferralStatusChanged(CaretrailEvent):
    """Base of the referral answers; each names the status it moves the referral to."""

    referral_id: str
    note: str

    def apply(self, aggregate: Case) -> None:
        referral = aggregate.referrals[self.referral_id]
        aggregate.referrals[self.referral_id] = replace(
            referral, status=REFERRAL_STATUS_OF[type(self)], note=self.note
        )


class ReferralAccepted(ReferralStatusChanged):
    TOPIC = "caretrail.ReferralAccepted"


class ReferralDeclined(ReferralStatusChanged):
    TOPIC = "caretrail.ReferralDeclined"


class ReferralCompleted(ReferralStatusChanged):
    TOPIC = "caretrail.ReferralCompleted"


REFERRAL_STATUS_OF: dict[type[ReferralStatusChanged], ReferralStatus] = {
    ReferralAccepted: ReferralStatus.ACCEPTED,
    ReferralDeclined: ReferralStatus.DECLINED,
    ReferralCompleted: ReferralStatus.COMPLETED,
}

# Which status a referral must be in for each answer: a declined one cannot be completed.
REFERRAL_ANSWERABLE_FROM: dict[type[ReferralStatusChanged], ReferralStatus] = {
    ReferralAccepted: ReferralStatus.SENT,
    ReferralDeclined: ReferralStatus.SENT,
    ReferralCompleted: ReferralStatus.ACCEPTED,
}


class ContactLogged(CaretrailEvent):
    TOPIC = "caretrail.ContactLogged"
    mode: ContactMode
    outcome: ContactOutcome
    contacted: str
    notes: str

    def apply(self, aggregate: Case) -> None:
        aggregate.contacts += 1


class MedicationReconciliationRecorded(CaretrailEvent):
    TOPIC = "caretrail.MedicationReconciliationRecorded"
    discrepancies_found: int
    notes: str


class FollowUpVisitRecorded(CaretrailEvent):
    TOPIC = "caretrail.FollowUpVisitRecorded"
    class_version = 2
    mode: ContactMode
    provider: str
    notes: str
    focus: FollowUpFocus

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        """Visits recorded before the focus existed were general follow-ups."""
        state["focus"] = FollowUpFocus.GENERAL.value


class TransitionInformationReceived(CaretrailEvent):
    """Base of the HEDIS TRC receipts: the care team got word of a transition from the hospital
    (by phone, fax, HIE or portal) and says so; each names what it received."""

    received_from: str
    notes: str


class AdmissionNotificationReceived(TransitionInformationReceived):
    TOPIC = "caretrail.AdmissionNotificationReceived"


class DischargeInformationReceived(TransitionInformationReceived):
    TOPIC = "caretrail.DischargeInformationReceived"


class ReceivedInformation(StrEnum):
    ADMISSION_NOTIFICATION = "admission_notification"
    DISCHARGE_INFORMATION = "discharge_information"


RECEIPT_OF: dict[ReceivedInformation, type[TransitionInformationReceived]] = {
    ReceivedInformation.ADMISSION_NOTIFICATION: AdmissionNotificationReceived,
    ReceivedInformation.DISCHARGE_INFORMATION: DischargeInformationReceived,
}


class BarrierNoted(CaretrailEvent):
    TOPIC = "caretrail.BarrierNoted"
    barrier_id: str
    description: str

    def apply(self, aggregate: Case) -> None:
        aggregate.barriers[self.barrier_id] = Barrier(self.barrier_id, self.description)


class BarrierResolved(CaretrailEvent):
    TOPIC = "caretrail.BarrierResolved"
    barrier_id: str
    resolution: str

    def apply(self, aggregate: Case) -> None:
        barrier = aggregate.barriers[self.barrier_id]
        aggregate.barriers[self.barrier_id] = replace(barrier, resolution=self.resolution)


class GoalEvaluated(CaretrailEvent):
    TOPIC = "caretrail.GoalEvaluated"
    goal_id: str
    outcome: GoalOutcome
    evidence: str

    def apply(self, aggregate: Case) -> None:
        aggregate.goal_outcomes[self.goal_id] = GoalOutcome(self.outcome)


class CaseClosed(CaretrailEvent):
    TOPIC = "caretrail.CaseClosed"
    reason: ClosureReason
    post_closure_direction: str

    def apply(self, aggregate: Case) -> None:
        aggregate.closure = ClosureReason(self.reason)
        aggregate.closed_at = self.occurred_at
        # Consent covers one episode of case management; a reopened case asks again.
        aggregate.consent_active = False


class CaseReopened(CaretrailEvent):
    TOPIC = "caretrail.CaseReopened"
    reason: str

    def apply(self, aggregate: Case) -> None:
        aggregate.closure = None
        aggregate.closed_at = None


@stable_topic("caretrail.Case")
class Case(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        patient_id: UUID
        case_source: CaseSource
        reason: str
        screening: ScreeningResult | None
        consent_active: bool
        case_manager: str | None
        assessments: int
        preferred_language: str | None
        interpreter_needed: bool
        plans: list[PlanOfCare]
        referrals: dict[str, Referral]
        barriers: dict[str, Barrier]
        goal_outcomes: dict[str, GoalOutcome]
        contacts: int
        closure: ClosureReason | None
        opened_at: datetime  # clinical times (occurred_at), not created_on or modified_on
        closed_at: datetime | None

    @classmethod
    def open(
        cls, case_id: UUID, patient_id: UUID, source: CaseSource, reason: str, action: Action
    ) -> Case:
        require_stated(reason, "opening a case needs a reason")
        return cls._create(
            CaseOpened,
            id=case_id,
            case_source=source,
            reason=reason,
            **recorded(action, patient_id),
        )

    @property
    def is_closed(self) -> bool:
        return self.closure is not None

    @property
    def plan_of_care(self) -> PlanOfCare | None:
        return self.plans[-1] if self.plans else None

    def screen(self, result: ScreeningResult, notes: str, action: Action) -> None:
        self._require_open()
        self._record(ClientScreened, action, result=result, notes=notes)

    def give_consent(self, given_by: str, method: str, action: Action) -> None:
        self._require_open()
        require_stated(given_by, "consent needs who gave it: the client or their representative")
        require_stated(method, "consent needs how it was given")
        if self.consent_active:
            raise InvalidTransition("consent is already active on this case")
        if self.screening is ScreeningResult.NOT_APPROPRIATE:
            raise InvalidTransition(
                "the client was screened not appropriate for case management; rescreen first"
            )
        self._record(ConsentGiven, action, given_by=given_by, method=method)

    def withdraw_consent(self, reason: str, action: Action) -> None:
        self._require_open()
        require_stated(reason, "withdrawing consent needs a reason")
        if not self.consent_active:
            raise InvalidTransition("there is no active consent to withdraw")
        self._record(ConsentWithdrawn, action, reason=reason)

    def assign(self, case_manager: str, reason: str, action: Action) -> None:
        self._require_open()
        require_stated(case_manager, "assigning a case needs the case manager's user id")
        if case_manager == self.case_manager:
            raise InvalidTransition(f"the case is already assigned to {case_manager}")
        self._record(
            CaseManagerAssigned,
            action,
            case_manager=case_manager,
            previous_case_manager=self.case_manager,
            reason=reason,
        )

    def record_assessment(
        self,
        needs: list[AssessedNeed],
        preferred_language: str,
        interpreter_needed: bool,
        summary: str,
        action: Action,
    ) -> None:
        self._require_open()
        require_stated(preferred_language, "an assessment needs the client's preferred language")
        for need in needs:
            need.require_valid()
        self._record(
            AssessmentRecorded,
            action,
            needs=list(needs),
            preferred_language=preferred_language,
            interpreter_needed=interpreter_needed,
            summary=summary,
        )

    def revise_plan(
        self,
        goals: list[Goal],
        interventions: list[Intervention],
        reason: str,
        action: Action,
    ) -> None:
        """Draft (first version) or revise the plan of care; every version keeps its reason."""
        self._require_services_allowed("a plan of care")
        _check_plan(goals, interventions, action.occurred_at.date(), self.plan_of_care)
        if self.plans and not reason.strip():
            raise InvalidTransition("a plan revision needs a reason")
        self._record(
            PlanOfCareRevised,
            action,
            plan_version=len(self.plans) + 1,
            goals=list(goals),
            interventions=list(interventions),
            reason=reason or "initial plan of care",
        )

    def refer(
        self, referral_id: str, service: str, provider: str, reason: str, action: Action
    ) -> None:
        self._require_services_allowed("a referral")
        require_stated(referral_id, "a referral needs an id")
        require_stated(service, "a referral needs the service")
        require_stated(provider, "a referral needs the provider")
        if referral_id in self.referrals:
            raise InvalidTransition(f"referral '{referral_id}' already exists on this case")
        self._record(
            ReferralMade,
            action,
            referral_id=referral_id,
            service=service,
            provider=provider,
            reason=reason,
        )

    def answer_referral(
        self, answer: type[ReferralStatusChanged], referral_id: str, note: str, action: Action
    ) -> None:
        """Record a provider's acceptance, decline or completion of a referral."""
        self._require_open()
        referral = self.referral(referral_id)
        required = REFERRAL_ANSWERABLE_FROM[answer]
        if referral.status is not required:
            raise InvalidTransition(
                f"referral '{referral_id}' is {referral.status}; it must be {required} to be "
                f"{REFERRAL_STATUS_OF[answer]}"
            )
        self._record(answer, action, referral_id=referral_id, note=note)

    def log_contact(
        self,
        mode: ContactMode,
        outcome: ContactOutcome,
        contacted: str,
        notes: str,
        action: Action,
    ) -> None:
        self._require_open()
        require_stated(contacted, "a contact needs whom it was with")
        self._record(
            ContactLogged, action, mode=mode, outcome=outcome, contacted=contacted, notes=notes
        )

    def record_medication_reconciliation(
        self, discrepancies_found: int, notes: str, action: Action
    ) -> None:
        self._require_open()
        if discrepancies_found < 0:
            raise ValueError("discrepancies found cannot be negative")
        self._record(
            MedicationReconciliationRecorded,
            action,
            discrepancies_found=discrepancies_found,
            notes=notes,
        )

    def record_follow_up_visit(
        self,
        mode: ContactMode,
        provider: str,
        notes: str,
        action: Action,
        *,
        focus: FollowUpFocus = FollowUpFocus.GENERAL,
    ) -> None:
        self._require_open()
        require_stated(provider, "a follow-up visit needs the provider seen")
        self._record(
            FollowUpVisitRecorded, action, mode=mode, provider=provider, notes=notes, focus=focus
        )

    def record_information_received(
        self, information: ReceivedInformation, received_from: str, notes: str, action: Action
    ) -> None:
        """Record the receipt of an admission notification or of discharge information."""
        self._require_open()
        require_stated(received_from, f"a receipt of {information} needs whom it came from")
        self._record(
            RECEIPT_OF[ReceivedInformation(information)],
            action,
            received_from=received_from,
            notes=notes,
        )

    def note_barrier(self, barrier_id: str, description: str, action: Action) -> None:
        self._require_open()
        require_stated(barrier_id, "a barrier needs an id")
        require_stated(description, "noting a barrier needs a description")
        if barrier_id in self.barriers:
            raise InvalidTransition(f"barrier '{barrier_id}' is already noted on this case")
        self._record(BarrierNoted, action, barrier_id=barrier_id, description=description)

    def resolve_barrier(self, barrier_id: str, resolution: str, action: Action) -> None:
        self._require_open()
        barrier = self.barriers.get(barrier_id)
        if barrier is None:
            raise UnknownReference(f"the case has no barrier '{barrier_id}'")
        if barrier.resolution is not None:
            raise InvalidTransition(f"barrier '{barrier_id}' is already resolved")
        require_stated(resolution, "resolving a barrier needs the resolution")
        self._record(BarrierResolved, action, barrier_id=barrier_id, resolution=resolution)

    def evaluate_goal(
        self, goal_id: str, outcome: GoalOutcome, evidence: str, action: Action
    ) -> None:
        self._require_open()
        if self.plan_of_care is None:
            raise UnknownReference("the case has no plan of care yet")
        self.plan_of_care.goal(goal_id)
        require_stated(evidence, "a goal evaluation needs evidence")
        self._record(GoalEvaluated, action, goal_id=goal_id, outcome=outcome, evidence=evidence)

    def close(self, reason: ClosureReason, post_closure_direction: str, action: Action) -> None:
        self._require_open()
        require_stated(
            post_closure_direction,
            "closing a case needs the direction given to the client if conditions change",
        )
        self._record(
            CaseClosed, action, reason=reason, post_closure_direction=post_closure_direction
        )

    def reopen(self, reason: str, action: Action) -> None:
        if self.closed_at is None:
            raise InvalidTransition("only a closed case can be reopened")
        require_stated(reason, "reopening a case needs a reason")
        if utc_instant(action.occurred_at) < utc_instant(self.closed_at):
            raise ImplausibleDate(
                f"the case was closed {_as_seen_by(action, self.closed_at)}; it cannot be "
                f"reopened before that, at {_as_seen_by(action, action.occurred_at)}"
            )
        self._record(CaseReopened, action, reason=reason)

    def referral(self, referral_id: str) -> Referral:
        try:
            return self.referrals[referral_id]
        except KeyError:
            raise UnknownReference(f"the case has no referral '{referral_id}'") from None

    def _record(self, event_class: type[CaretrailEvent], action: Action, **facts: object) -> None:
        self._require_since_opening(action)
        self.trigger_event(event_class, **facts, **recorded(action, self.patient_id))

    def _require_since_opening(self, action: Action) -> None:
        if utc_instant(action.occurred_at) < utc_instant(self.opened_at):
            raise ImplausibleDate(
                f"the case was opened {_as_seen_by(action, self.opened_at)}; nothing on it can "
                f"have happened before that, at {_as_seen_by(action, action.occurred_at)}"
            )

    def _require_open(self) -> None:
        if self.is_closed:
            raise CaseIsClosed(f"case {self.id} is closed ({self.closure}); reopen it first")

    def _require_services_allowed(self, what: str) -> None:
        self._require_open()
        if not self.consent_active:
            raise ConsentRequired(f"{what} needs the client's active consent")


def _check_plan(
    goals: list[Goal],
    interventions: list[Intervention],
    today: date,
    previous: PlanOfCare | None,
) -> None:
    """Checks a new plan version. Goals and interventions carried over unchanged from the
    previous version keep their dates: a revision must not be blocked by an overdue goal."""
    if not goals:
        raise InvalidTransition("a plan of care needs at least one goal")
    _require_unique("goal", [goal.goal_id for goal in goals])
    _require_unique("intervention", [item.intervention_id for item in interventions])
    kept_goals = set(previous.goals) if previous else set()
    kept_interventions = set(previous.interventions) if previous else set()
    if previous and (set(goals), set(interventions)) == (kept_goals, kept_interventions):
        raise InvalidTransition(
            f"the plan of care already says this (version {previous.version}); a revision must "
            "change a goal or an intervention"
        )
    for goal in goals:
        goal.require_valid()
        if goal not in kept_goals and goal.target_date < today:
            raise ImplausibleDate(
                f"goal '{goal.goal_id}' target date {goal.target_date} is in the past"
            )
    goal_ids = {goal.goal_id for goal in goals}
    for intervention in interventions:
        if intervention.goal_id not in goal_ids:
            raise UnknownReference(
                f"intervention '{intervention.intervention_id}' names unknown goal "
                f"'{intervention.goal_id}'"
            )
        if intervention not in kept_interventions and intervention.due_date < today:
            raise ImplausibleDate(
                f"intervention '{intervention.intervention_id}' due date "
                f"{intervention.due_date} is in the past"
            )


def _require_unique(what: str, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise InvalidTransition(f"{what} ids in a plan must be unique")


def _as_seen_by(action: Action, moment: datetime) -> str:
    """`moment` in the time zone of the clinical time the person acting gave."""
    return moment.astimezone(action.occurred_at.tzinfo).isoformat(timespec="seconds")


def _require_priority(priority: int, of: str) -> None:
    if not MOST_URGENT <= priority <= LEAST_URGENT:
        raise InvalidValue(
            f"priority {priority} of {of} is not from {MOST_URGENT} (most urgent) to {LEAST_URGENT}"
        )
