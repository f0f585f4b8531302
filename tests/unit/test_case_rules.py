"""The case aggregate against the CMSA case management process: every rule, every refusal.

Pure domain tests: aggregates are built directly, times are fixed, nothing is stored.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from domain.case import (
    LEAST_URGENT,
    MOST_URGENT,
    REFERRAL_ANSWERABLE_FROM,
    AdmissionNotificationReceived,
    AssessedNeed,
    AssessmentDomain,
    AssessmentRecorded,
    Barrier,
    BarrierNoted,
    BarrierResolved,
    Case,
    CaseClosed,
    CaseManagerAssigned,
    CaseOpened,
    CaseReopened,
    CaseSource,
    ClientScreened,
    ClosureReason,
    ConsentGiven,
    ConsentWithdrawn,
    ContactLogged,
    ContactMode,
    ContactOutcome,
    DischargeInformationReceived,
    FollowUpFocus,
    FollowUpVisitRecorded,
    Goal,
    GoalEvaluated,
    GoalOutcome,
    Intervention,
    MedicationReconciliationRecorded,
    PlanOfCareRevised,
    ReceivedInformation,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralMade,
    ReferralStatus,
    ReferralStatusChanged,
    ScreeningResult,
)
from domain.errors import (
    CaseIsClosed,
    ConsentRequired,
    ImplausibleDate,
    InvalidTransition,
    InvalidValue,
    UnknownReference,
)
from domain.events import Action, CaretrailEvent

PATIENT_ID = UUID("0b7e6a4e-1f1d-4c11-9d2a-6f1f3c1e0a01")
CASE_ID = UUID("5d0c2f3a-8a55-4e3f-b0f4-2b6f1c9d7e02")
OPENED_AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
TODAY = OPENED_AT.date()

GOAL_READMISSION = Goal(
    "g1", "No readmission within 30 days", "readmissions in 30 days == 0", 1, date(2024, 3, 31)
)
GOAL_MEDS = Goal("g2", "Takes medications as prescribed", "weekly pill count", 2, date(2024, 4, 15))
CALLS = Intervention("i1", "g1", "Weekly phone check-in", "cm.alvarez", date(2024, 3, 8))
PILLBOX = Intervention("i2", "g2", "Pillbox set-up with caregiver", "rn.okafor", date(2024, 3, 5))
NEEDS = [
    AssessedNeed(AssessmentDomain.TRANSPORTATION, "no car, misses appointments", 1),
    AssessedNeed(AssessmentDomain.CULTURAL_LINGUISTIC, "prefers Spanish", 2),
]


def action(
    when: datetime = OPENED_AT,
    *,
    actor: str = "cm.alvarez",
    source: str | None = "web",
    recorded_at: datetime | None = None,
) -> Action:
    """A command context at a fixed clinical time, recorded a few minutes later by default."""
    return Action(actor, when, recorded_at or when + timedelta(minutes=3), source)


def later(hours: float) -> Action:
    return action(OPENED_AT + timedelta(hours=hours))


def new_case() -> Case:
    return Case.open(CASE_ID, PATIENT_ID, CaseSource.REFERRAL, "high utilizer", action())


def consented_case() -> Case:
    case = new_case()
    case.screen(ScreeningResult.APPROPRIATE, "3 admissions in 6 months", later(1))
    case.give_consent("client", "verbal", later(2))
    return case


def case_with_services() -> Case:
    """Consent, a plan (g1), a sent referral r1 and an open barrier b1."""
    case = consented_case()
    case.revise_plan([GOAL_READMISSION], [CALLS], "", later(3))
    case.refer("r1", "home health", "Acme Home Health", "PT/OT after discharge", later(4))
    case.note_barrier("b1", "no transportation", later(5))
    return case


def events(case: Case) -> list[Any]:
    """The case's new events (typed loosely: each event class adds its own fields)."""
    return list(case.pending_events)


def state(case: Case) -> tuple[int, int]:
    return case.version, len(case.pending_events)


@contextmanager
def refused(exception: type[Exception], case: Case) -> Iterator[None]:
    """The command raises exactly `exception` and records no event."""
    before = state(case)
    with pytest.raises(exception) as raised:
        yield
    assert type(raised.value) is exception
    assert state(case) == before


# --- the happy path, step by step --------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Case, Action], None]
    event: type[CaretrailEvent]
    fields: dict[str, Any]
    # A read of the case after the step and what it must give.
    read: Callable[[Case], object] = field(default=lambda case: None)
    expected: object = None


LIFECYCLE: list[Step] = [
    Step(
        "screen",
        lambda c, a: c.screen(ScreeningResult.APPROPRIATE, "3 admissions", a),
        ClientScreened,
        {"result": ScreeningResult.APPROPRIATE, "notes": "3 admissions"},
        lambda c: c.screening,
        ScreeningResult.APPROPRIATE,
    ),
    Step(
        "consent",
        lambda c, a: c.give_consent("client", "written", a),
        ConsentGiven,
        {"given_by": "client", "method": "written"},
        lambda c: c.consent_active,
        True,
    ),
    Step(
        "assign",
        lambda c, a: c.assign("cm.alvarez", "new case", a),
        CaseManagerAssigned,
        {"case_manager": "cm.alvarez", "previous_case_manager": None, "reason": "new case"},
        lambda c: c.case_manager,
        "cm.alvarez",
    ),
    Step(
        "reassign",
        lambda c, a: c.assign("cm.baker", "caseload rebalance", a),
        CaseManagerAssigned,
        {
            "case_manager": "cm.baker",
            "previous_case_manager": "cm.alvarez",
            "reason": "caseload rebalance",
        },
        lambda c: c.case_manager,
        "cm.baker",
    ),
    Step(
        "assess",
        lambda c, a: c.record_assessment(NEEDS, "es", True, "needs rides and interpreter", a),
        AssessmentRecorded,
        {
            "needs": NEEDS,
            "preferred_language": "es",
            "interpreter_needed": True,
            "summary": "needs rides and interpreter",
        },
        lambda c: (c.assessments, c.preferred_language, c.interpreter_needed),
        (1, "es", True),
    ),
    Step(
        "draft plan",
        lambda c, a: c.revise_plan([GOAL_READMISSION], [CALLS], "", a),
        PlanOfCareRevised,
        {
            "plan_version": 1,
            "goals": [GOAL_READMISSION],
            "interventions": [CALLS],
            "reason": "initial plan of care",
        },
        lambda c: (c.plan_of_care.version, len(c.plans)) if c.plan_of_care else None,
        (1, 1),
    ),
    Step(
        "revise plan",
        lambda c, a: c.revise_plan(
            [GOAL_READMISSION, GOAL_MEDS], [CALLS, PILLBOX], "ED visit: medication confusion", a
        ),
        PlanOfCareRevised,
        {
            "plan_version": 2,
            "goals": [GOAL_READMISSION, GOAL_MEDS],
            "interventions": [CALLS, PILLBOX],
            "reason": "ED visit: medication confusion",
        },
        lambda c: [(p.version, p.goals, p.interventions, p.reason) for p in c.plans],
        [
            (1, (GOAL_READMISSION,), (CALLS,), "initial plan of care"),
            (2, (GOAL_READMISSION, GOAL_MEDS), (CALLS, PILLBOX), "ED visit: medication confusion"),
        ],
    ),
    Step(
        "refer",
        lambda c, a: c.refer("r1", "home health", "Acme Home Health", "PT/OT", a),
        ReferralMade,
        {
            "referral_id": "r1",
            "service": "home health",
            "provider": "Acme Home Health",
            "reason": "PT/OT",
        },
        lambda c: c.referral("r1").status,
        ReferralStatus.SENT,
    ),
    Step(
        "referral accepted",
        lambda c, a: c.answer_referral(ReferralAccepted, "r1", "start of care Monday", a),
        ReferralAccepted,
        {"referral_id": "r1", "note": "start of care Monday"},
        lambda c: (c.referral("r1").status, c.referral("r1").note),
        (ReferralStatus.ACCEPTED, "start of care Monday"),
    ),
    Step(
        "referral completed",
        lambda c, a: c.answer_referral(ReferralCompleted, "r1", "discharged from HH", a),
        ReferralCompleted,
        {"referral_id": "r1", "note": "discharged from HH"},
        lambda c: c.referral("r1").status,
        ReferralStatus.COMPLETED,
    ),
    Step(
        "second referral",
        lambda c, a: c.refer("r2", "meals", "Meals on Wheels", "food insecurity", a),
        ReferralMade,
        {
            "referral_id": "r2",
            "service": "meals",
            "provider": "Meals on Wheels",
            "reason": "food insecurity",
        },
        lambda c: sorted(c.referrals),
        ["r1", "r2"],
    ),
    Step(
        "referral declined",
        lambda c, a: c.answer_referral(ReferralDeclined, "r2", "outside service area", a),
        ReferralDeclined,
        {"referral_id": "r2", "note": "outside service area"},
        lambda c: c.referral("r2").status,
        ReferralStatus.DECLINED,
    ),
    Step(
        "contact",
        lambda c, a: c.log_contact(
            ContactMode.PHONE, ContactOutcome.SUCCESSFUL, "client", "doing well", a
        ),
        ContactLogged,
        {
            "mode": ContactMode.PHONE,
            "outcome": ContactOutcome.SUCCESSFUL,
            "contacted": "client",
            "notes": "doing well",
        },
        lambda c: c.contacts,
        1,
    ),
    Step(
        "medication reconciliation",
        lambda c, a: c.record_medication_reconciliation(2, "duplicate statin stopped", a),
        MedicationReconciliationRecorded,
        {"discrepancies_found": 2, "notes": "duplicate statin stopped"},
    ),
    Step(
        "follow-up visit",
        lambda c, a: c.record_follow_up_visit(
            ContactMode.FACE_TO_FACE, "Dr. Reyes (PCP)", "seen day 5", a
        ),
        FollowUpVisitRecorded,
        {
            "mode": ContactMode.FACE_TO_FACE,
            "provider": "Dr. Reyes (PCP)",
            "notes": "seen day 5",
            "focus": FollowUpFocus.GENERAL,
        },
    ),
    Step(
        "mental health follow-up visit",
        lambda c, a: c.record_follow_up_visit(
            ContactMode.VIDEO, "Dr. Amari (psychiatry)", "", a, focus=FollowUpFocus.MENTAL_HEALTH
        ),
        FollowUpVisitRecorded,
        {"provider": "Dr. Amari (psychiatry)", "focus": FollowUpFocus.MENTAL_HEALTH},
    ),
    Step(
        "admission notification received",
        lambda c, a: c.record_information_received(
            ReceivedInformation.ADMISSION_NOTIFICATION, "GENHOSP ED", "by phone", a
        ),
        AdmissionNotificationReceived,
        {"received_from": "GENHOSP ED", "notes": "by phone"},
    ),
    Step(
        "discharge information received",
        lambda c, a: c.record_information_received(
            ReceivedInformation.DISCHARGE_INFORMATION, "GENHOSP 4 West", "summary by fax", a
        ),
        DischargeInformationReceived,
        {"received_from": "GENHOSP 4 West", "notes": "summary by fax"},
    ),
    Step(
        "barrier noted",
        lambda c, a: c.note_barrier("b1", "no transportation", a),
        BarrierNoted,
        {"barrier_id": "b1", "description": "no transportation"},
        lambda c: c.barriers,
        {"b1": Barrier("b1", "no transportation")},
    ),
    Step(
        "barrier resolved",
        lambda c, a: c.resolve_barrier("b1", "Medicaid ride benefit", a),
        BarrierResolved,
        {"barrier_id": "b1", "resolution": "Medicaid ride benefit"},
        lambda c: c.barriers,
        {"b1": Barrier("b1", "no transportation", "Medicaid ride benefit")},
    ),
    Step(
        "goal evaluated",
        lambda c, a: c.evaluate_goal("g1", GoalOutcome.MET, "no admission at day 30", a),
        GoalEvaluated,
        {"goal_id": "g1", "outcome": GoalOutcome.MET, "evidence": "no admission at day 30"},
        lambda c: c.goal_outcomes,
        {"g1": GoalOutcome.MET},
    ),
    Step(
        "close",
        lambda c, a: c.close(ClosureReason.GOALS_MET, "call 555-0100 if symptoms return", a),
        CaseClosed,
        {
            "reason": ClosureReason.GOALS_MET,
            "post_closure_direction": "call 555-0100 if symptoms return",
        },
        lambda c: (c.is_closed, c.closure, c.consent_active),
        (True, ClosureReason.GOALS_MET, False),
    ),
    Step(
        "reopen",
        lambda c, a: c.reopen("readmitted", a),
        CaseReopened,
        {"reason": "readmitted"},
        lambda c: (c.is_closed, c.closure, c.consent_active),
        (False, None, False),
    ),
]


def step_action(index: int) -> Action:
    """Each step has its own actor, source, clinical time and (later, distinct) recorded time."""
    occurred = OPENED_AT + timedelta(hours=index + 1)
    recorded_at = occurred + timedelta(days=1, minutes=index)
    return Action(f"user{index}", occurred, recorded_at, f"src{index}")


def run_lifecycle(steps: list[Step]) -> Case:
    case = new_case()
    for index, step in enumerate(steps):
        step.run(case, step_action(index))
    return case


def test_open_records_source_reason_and_who() -> None:
    opened = action(actor="intake.lee", source="adt", recorded_at=OPENED_AT + timedelta(hours=2))
    case = Case.open(CASE_ID, PATIENT_ID, CaseSource.ADT_TRIGGER, "3rd admission", opened)

    assert case.id == CASE_ID
    assert case.patient_id == PATIENT_ID
    assert case.case_source is CaseSource.ADT_TRIGGER
    assert case.reason == "3rd admission"
    assert (case.screening, case.consent_active, case.case_manager) == (None, False, None)
    assert (case.plans, case.plan_of_care, case.is_closed) == ([], None, False)
    [event] = events(case)
    assert type(event) is CaseOpened
    assert (event.actor, event.source, event.patient_id) == ("intake.lee", "adt", PATIENT_ID)
    assert event.occurred_at == OPENED_AT
    assert event.timestamp == OPENED_AT + timedelta(hours=2)
    assert case.created_on == OPENED_AT + timedelta(hours=2)


@pytest.mark.parametrize("index", range(len(LIFECYCLE)), ids=[s.name for s in LIFECYCLE])
def test_lifecycle_step(index: int) -> None:
    case = run_lifecycle(LIFECYCLE[:index])
    before = len(events(case))
    step = LIFECYCLE[index]
    act = step_action(index)

    step.run(case, act)

    new_events = events(case)[before:]
    assert [type(e) for e in new_events] == [step.event]
    [event] = new_events
    assert {name: getattr(event, name) for name in step.fields} == step.fields
    assert event.actor == act.actor
    assert event.source == act.source
    assert event.occurred_at == act.occurred_at
    assert event.timestamp == act.recorded_at
    assert event.patient_id == PATIENT_ID
    assert event.originator_id == CASE_ID
    assert event.originator_version == index + 2
    assert case.version == index + 2
    assert case.modified_on == act.recorded_at
    assert step.read(case) == step.expected


def test_lifecycle_end_state_keeps_everything() -> None:
    case = run_lifecycle(LIFECYCLE)

    assert [type(e) for e in events(case)] == [CaseOpened] + [s.event for s in LIFECYCLE]
    assert {e.patient_id for e in events(case)} == {PATIENT_ID}
    assert case.screening is ScreeningResult.APPROPRIATE
    assert not case.consent_active  # the close ended it; the reopened case asks again
    assert case.case_manager == "cm.baker"
    assert (case.assessments, case.preferred_language, case.interpreter_needed) == (1, "es", True)
    assert [p.version for p in case.plans] == [1, 2]
    assert case.plans[0].goals == (GOAL_READMISSION,)
    assert case.plan_of_care is case.plans[1]
    assert {r: case.referral(r).status for r in case.referrals} == {
        "r1": ReferralStatus.COMPLETED,
        "r2": ReferralStatus.DECLINED,
    }
    assert case.barriers["b1"].resolution == "Medicaid ride benefit"
    assert case.goal_outcomes == {"g1": GoalOutcome.MET}
    assert case.contacts == 1
    assert not case.is_closed


def test_case_can_be_screened_and_assessed_without_consent() -> None:
    case = new_case()
    case.screen(ScreeningResult.APPROPRIATE, "", later(1))
    case.record_assessment(NEEDS, "en", False, "", later(2))
    case.log_contact(
        ContactMode.PHONE, ContactOutcome.UNSUCCESSFUL, "client", "no answer", later(3)
    )

    assert not case.consent_active
    assert [type(e) for e in events(case)] == [
        CaseOpened,
        ClientScreened,
        AssessmentRecorded,
        ContactLogged,
    ]


def test_reassessment_counts_and_updates_language() -> None:
    case = new_case()
    case.record_assessment(NEEDS, "es", True, "", later(1))
    case.record_assessment(NEEDS, "en", False, "after transition", later(2))

    assert (case.assessments, case.preferred_language, case.interpreter_needed) == (2, "en", False)


# --- consent ------------------------------------------------------------------------------------


SERVICES: dict[str, Callable[[Case, Action], None]] = {
    "plan": lambda c, a: c.revise_plan([GOAL_READMISSION], [CALLS], "", a),
    "referral": lambda c, a: c.refer("r9", "DME", "Acme DME", "walker", a),
}


def never_consented() -> Case:
    case = new_case()
    case.screen(ScreeningResult.APPROPRIATE, "", later(1))
    return case


def consent_withdrawn() -> Case:
    case = consented_case()
    case.withdraw_consent("client no longer wants calls", later(3))
    return case


def reopened() -> Case:
    """Consented, closed (which ends the consent), then reopened."""
    case = consented_case()
    case.close(ClosureReason.LOST_TO_CONTACT, "call 555-0100 to restart", later(3))
    case.reopen("client called back", later(3.5))
    return case


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("make_case", [never_consented, consent_withdrawn, reopened])
def test_services_need_active_consent(service: str, make_case: Callable[[], Case]) -> None:
    case = make_case()
    with refused(ConsentRequired, case):
        SERVICES[service](case, later(4))


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("make_case", [consent_withdrawn, reopened])
def test_services_proceed_after_consent_is_given_again(
    service: str, make_case: Callable[[], Case]
) -> None:
    case = make_case()
    case.give_consent("client", "verbal", later(4))
    SERVICES[service](case, later(5))

    assert type(events(case)[-1]) in (PlanOfCareRevised, ReferralMade)


def test_consent_given_twice_is_refused() -> None:
    case = consented_case()
    with refused(InvalidTransition, case):
        case.give_consent("daughter (POA)", "written", later(3))


@pytest.mark.parametrize("make_case", [new_case, consent_withdrawn, reopened])
def test_withdraw_without_active_consent_is_refused(make_case: Callable[[], Case]) -> None:
    case = make_case()
    with refused(InvalidTransition, case):
        case.withdraw_consent("changed mind", later(4))


def test_close_ends_consent_and_reopen_does_not_restore_it() -> None:
    case = consented_case()
    case.close(ClosureReason.GOALS_MET, "call 555-0100 if symptoms return", later(3))
    assert not case.consent_active
    assert [type(e) for e in events(case)][-2:] == [ConsentGiven, CaseClosed]

    case.reopen("readmitted", later(4))
    assert not case.consent_active

    case.give_consent("client", "written", later(5))
    assert case.consent_active


def test_withdrawal_is_recorded_not_overridden() -> None:
    case = consent_withdrawn()
    assert not case.consent_active
    event = events(case)[-1]
    assert type(event) is ConsentWithdrawn
    assert event.reason == "client no longer wants calls"


def test_consent_after_not_appropriate_screen_is_refused() -> None:
    case = new_case()
    case.screen(ScreeningResult.NOT_APPROPRIATE, "no needs found", later(1))
    with refused(InvalidTransition, case):
        case.give_consent("client", "verbal", later(2))


def test_consent_allowed_after_rescreen_appropriate() -> None:
    case = new_case()
    case.screen(ScreeningResult.NOT_APPROPRIATE, "no needs found", later(1))
    case.screen(ScreeningResult.APPROPRIATE, "new diagnosis", later(2))
    case.give_consent("client", "verbal", later(3))
    assert case.consent_active


# --- a closed case accepts nothing but a reopen -------------------------------------------------


COMMANDS: dict[str, Callable[[Case, Action], None]] = {
    "screen": lambda c, a: c.screen(ScreeningResult.APPROPRIATE, "", a),
    "give_consent": lambda c, a: c.give_consent("client", "verbal", a),
    "withdraw_consent": lambda c, a: c.withdraw_consent("moved away", a),
    "assign": lambda c, a: c.assign("cm.new", "coverage", a),
    "record_assessment": lambda c, a: c.record_assessment(NEEDS, "en", False, "", a),
    "revise_plan": lambda c, a: c.revise_plan([GOAL_READMISSION], [], "reassessed", a),
    "refer": lambda c, a: c.refer("r2", "meals", "Meals on Wheels", "food", a),
    "answer_referral": lambda c, a: c.answer_referral(ReferralAccepted, "r1", "ok", a),
    "log_contact": lambda c, a: c.log_contact(
        ContactMode.VIDEO, ContactOutcome.SUCCESSFUL, "client", "", a
    ),
    "record_medication_reconciliation": lambda c, a: c.record_medication_reconciliation(0, "", a),
    "record_follow_up_visit": lambda c, a: c.record_follow_up_visit(
        ContactMode.PHONE, "PCP", "", a
    ),
    "record_information_received": lambda c, a: c.record_information_received(
        ReceivedInformation.DISCHARGE_INFORMATION, "GENHOSP", "", a
    ),
    "note_barrier": lambda c, a: c.note_barrier("b2", "cost of meds", a),
    "resolve_barrier": lambda c, a: c.resolve_barrier("b1", "bus pass", a),
    "evaluate_goal": lambda c, a: c.evaluate_goal("g1", GoalOutcome.NOT_MET, "readmitted", a),
    "close": lambda c, a: c.close(ClosureReason.MOVED, "call the county line", a),
}

# Needed to decide which commands must appear above: the case's queries and its lifecycle ends.
NOT_COMMANDS = {"open", "reopen", "referral", "is_closed", "plan_of_care"}


def closed_case() -> Case:
    """A closed case on which every command in COMMANDS would succeed once reopened."""
    case = case_with_services()
    case.close(ClosureReason.TRANSFERRED, "call 555-0100 to restart services", later(6))
    return case


# What a reopened case needs before a command can succeed on it: the close ended the consent.
PREPARE_REOPENED: dict[str, Callable[[Case], None]] = {
    command: lambda c: c.give_consent("client", "verbal", later(7.5))
    for command in ("withdraw_consent", "revise_plan", "refer")
}


def test_every_case_command_is_covered_by_the_closed_case_table() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Case)
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, property))
        and name in Case.__dict__
    }
    assert public - NOT_COMMANDS == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_closed_case_refuses_every_command(command: str) -> None:
    case = closed_case()
    with refused(CaseIsClosed, case):
        COMMANDS[command](case, later(7))


@pytest.mark.parametrize("command", COMMANDS)
def test_same_commands_succeed_once_reopened(command: str) -> None:
    """Proves the refusal above is due to closure and nothing else."""
    case = closed_case()
    case.reopen("client called back", later(7))
    if command in PREPARE_REOPENED:
        PREPARE_REOPENED[command](case)
    before = case.version

    COMMANDS[command](case, later(8))

    assert case.version == before + 1


def test_reopen_keeps_history() -> None:
    case = closed_case()
    before = list(events(case))
    case.reopen("client called back", later(7))

    assert events(case)[: len(before)] == before
    assert type(events(case)[-1]) is CaseReopened
    assert case.plans[0].goals == (GOAL_READMISSION,)
    assert "r1" in case.referrals


def test_reopen_of_an_open_case_is_refused() -> None:
    case = consented_case()
    with refused(InvalidTransition, case):
        case.reopen("just in case", later(3))


# --- assignment -----------------------------------------------------------------------------------


def test_reassign_to_the_same_manager_is_refused() -> None:
    case = new_case()
    case.assign("cm.alvarez", "new case", later(1))
    with refused(InvalidTransition, case):
        case.assign("cm.alvarez", "again", later(2))


# --- plan of care ---------------------------------------------------------------------------------


def past(days: int = 1) -> date:
    return TODAY - timedelta(days=days)


@pytest.mark.parametrize(
    ("goals", "interventions", "exception"),
    [
        pytest.param([], [], InvalidTransition, id="no goals"),
        pytest.param(
            [GOAL_READMISSION, Goal("g1", "other", "m", 2, date(2024, 4, 1))],
            [],
            InvalidTransition,
            id="duplicate goal ids",
        ),
        pytest.param(
            [Goal("g1", "d", "m", 1, past())], [], ImplausibleDate, id="goal target in the past"
        ),
        pytest.param(
            [GOAL_READMISSION, Goal("g2", "d", "m", 2, past(30))],
            [],
            ImplausibleDate,
            id="second goal target in the past",
        ),
        pytest.param(
            [GOAL_READMISSION],
            [Intervention("i1", "g1", "call", "cm", past())],
            ImplausibleDate,
            id="intervention due in the past",
        ),
        pytest.param(
            [GOAL_READMISSION],
            [Intervention("i1", "g9", "call", "cm", date(2024, 3, 8))],
            UnknownReference,
            id="intervention names unknown goal",
        ),
        pytest.param(
            [GOAL_READMISSION],
            [CALLS, Intervention("i1", "g1", "home visit", "rn.okafor", date(2024, 3, 9))],
            InvalidTransition,
            id="duplicate intervention ids",
        ),
        pytest.param(
            [GOAL_READMISSION], [CALLS, CALLS], InvalidTransition, id="same intervention twice"
        ),
    ],
)
@pytest.mark.parametrize("first_version", [True, False], ids=["draft", "revision"])
def test_plan_content_rules(
    goals: list[Goal],
    interventions: list[Intervention],
    exception: type[Exception],
    first_version: bool,
) -> None:
    case = consented_case()
    if not first_version:
        case.revise_plan([GOAL_READMISSION], [CALLS], "", later(3))
    with refused(exception, case):
        case.revise_plan(goals, interventions, "reassessed", later(4))
    assert len(case.plans) == (0 if first_version else 1)


def test_target_and_due_date_equal_to_the_clinical_day_are_allowed() -> None:
    case = consented_case()
    goal = Goal("g1", "d", "m", 1, TODAY)
    intervention = Intervention("i1", "g1", "call", "cm", TODAY)
    case.revise_plan([goal], [intervention], "", action(OPENED_AT + timedelta(hours=14)))

    assert case.plan_of_care is not None
    assert case.plan_of_care.goals == (goal,)


def test_past_is_judged_by_clinical_date_not_recorded_date() -> None:
    """A plan agreed on March 1st and typed in on March 10th may target March 5th."""
    case = consented_case()
    target = TODAY + timedelta(days=4)
    late_entry = action(OPENED_AT, recorded_at=OPENED_AT + timedelta(days=9))
    case.revise_plan([Goal("g1", "d", "m", 1, target)], [], "", late_entry)
    assert case.plan_of_care is not None

    nine_days_on = OPENED_AT + timedelta(days=9)
    clinical_later = action(nine_days_on, recorded_at=nine_days_on)
    with refused(ImplausibleDate, case):
        case.revise_plan([Goal("g1", "reworded", "m", 1, target)], [], "moved", clinical_later)


# A 30-day review on April 5th: by then g1 (target March 31st) and i1 (due March 8th) are overdue.
APRIL_5 = action(datetime(2024, 4, 5, 10, 0, tzinfo=UTC))
NEW_PILLBOX = Intervention("i2", "g2", "Pillbox set-up", "rn.okafor", date(2024, 4, 10))
NEW_HOME_VISIT = Intervention("i3", "g1", "Home visit", "rn.okafor", date(2024, 4, 12))


def overdue_plan() -> Case:
    """Plan version 1 (g1 with i1), drafted on March 1st and overdue on April 5th."""
    case = consented_case()
    case.revise_plan([GOAL_READMISSION], [CALLS], "", later(3))
    return case


@pytest.mark.parametrize(
    ("goals", "interventions"),
    [
        pytest.param([GOAL_READMISSION], [CALLS, NEW_HOME_VISIT], id="all kept, one added"),
        pytest.param([GOAL_READMISSION], [], id="intervention dropped"),
        pytest.param(
            [GOAL_MEDS, GOAL_READMISSION], [NEW_PILLBOX, CALLS], id="kept and new, reordered"
        ),
    ],
)
def test_revision_may_keep_overdue_goals_and_interventions_unchanged(
    goals: list[Goal], interventions: list[Intervention]
) -> None:
    """Carried over unchanged, an overdue goal keeps its date and does not block a revision."""
    case = overdue_plan()
    case.revise_plan(goals, interventions, "30-day review", APRIL_5)

    assert case.plan_of_care is not None
    assert case.plan_of_care.version == 2
    assert (case.plan_of_care.goals, case.plan_of_care.interventions) == (
        tuple(goals),
        tuple(interventions),
    )


@pytest.mark.parametrize(
    ("goals", "interventions"),
    [
        pytest.param(
            [GOAL_READMISSION, Goal("g2", "new", "m", 2, date(2024, 4, 1))],
            [CALLS],
            id="new goal in the past",
        ),
        pytest.param(
            [replace(GOAL_READMISSION, description="No readmission within 60 days")],
            [CALLS],
            id="changed overdue goal",
        ),
        pytest.param(
            [replace(GOAL_READMISSION, priority=2)], [CALLS], id="reprioritized overdue goal"
        ),
        pytest.param(
            [GOAL_READMISSION],
            [CALLS, Intervention("i3", "g1", "home visit", "rn.okafor", date(2024, 4, 1))],
            id="new intervention in the past",
        ),
        pytest.param(
            [GOAL_READMISSION], [replace(CALLS, owner="cm.baker")], id="reassigned overdue one"
        ),
    ],
)
def test_revision_checks_the_dates_of_new_or_changed_goals_and_interventions(
    goals: list[Goal], interventions: list[Intervention]
) -> None:
    case = overdue_plan()
    with refused(ImplausibleDate, case):
        case.revise_plan(goals, interventions, "30-day review", APRIL_5)
    assert len(case.plans) == 1


def test_only_the_previous_version_exempts_a_goal() -> None:
    """A goal dropped in version 2 and brought back in version 3 is new to version 3."""
    case = overdue_plan()
    case.revise_plan([GOAL_MEDS], [], "g1 dropped", later(4))
    with refused(ImplausibleDate, case):
        case.revise_plan([GOAL_MEDS, GOAL_READMISSION], [], "g1 back", APRIL_5)
    assert len(case.plans) == 2


@pytest.mark.parametrize("reason", ["", "  \t"])
def test_revision_needs_a_reason(reason: str) -> None:
    case = consented_case()
    case.revise_plan([GOAL_READMISSION], [CALLS], "", later(3))
    with refused(InvalidTransition, case):
        case.revise_plan([GOAL_READMISSION, GOAL_MEDS], [CALLS], reason, later(4))


@pytest.mark.parametrize(
    ("goals", "interventions"),
    [
        pytest.param([GOAL_READMISSION, GOAL_MEDS], [CALLS, PILLBOX], id="same"),
        pytest.param([GOAL_MEDS, GOAL_READMISSION], [PILLBOX, CALLS], id="same, reordered"),
    ],
)
def test_a_revision_that_changes_nothing_is_refused(
    goals: list[Goal], interventions: list[Intervention]
) -> None:
    case = consented_case()
    case.revise_plan([GOAL_READMISSION, GOAL_MEDS], [CALLS, PILLBOX], "", later(3))
    with refused(InvalidTransition, case):
        case.revise_plan(goals, interventions, "same plan", later(4))
    assert len(case.plans) == 1


@pytest.mark.parametrize("priority", [MOST_URGENT - 1, LEAST_URGENT + 1, 9])
def test_need_and_goal_priorities_run_from_most_to_least_urgent(priority: int) -> None:
    case = consented_case()
    need = AssessedNeed(AssessmentDomain.HOUSING, "unstable housing", priority)
    with refused(InvalidValue, case):
        case.record_assessment([*NEEDS, need], "en", False, "", later(3))
    with refused(InvalidValue, case):
        case.revise_plan(
            [GOAL_READMISSION, replace(GOAL_MEDS, priority=priority)], [], "", later(3)
        )


@pytest.mark.parametrize("priority", [MOST_URGENT, LEAST_URGENT])
def test_the_most_and_least_urgent_priorities_are_taken(priority: int) -> None:
    case = consented_case()
    case.record_assessment(
        [AssessedNeed(AssessmentDomain.HOUSING, "unstable housing", priority)], "en", False, "",
        later(3),
    )  # fmt: skip
    case.revise_plan([replace(GOAL_MEDS, priority=priority)], [], "", later(4))
    assert case.assessments == 1
    assert case.plan_of_care is not None


def test_revision_never_overwrites_earlier_versions() -> None:
    case = consented_case()
    case.revise_plan([GOAL_READMISSION], [CALLS], "", later(3))
    first = case.plans[0]
    case.revise_plan([GOAL_MEDS], [PILLBOX], "goal g1 dropped after reassessment", later(4))
    case.revise_plan([GOAL_MEDS], [], "pillbox done", later(5))

    assert case.plans[0] is first
    assert [(p.version, p.reason) for p in case.plans] == [
        (1, "initial plan of care"),
        (2, "goal g1 dropped after reassessment"),
        (3, "pillbox done"),
    ]
    assert case.plan_of_care is case.plans[-1]


# --- referrals -----------------------------------------------------------------------------------


def test_duplicate_referral_id_is_refused() -> None:
    case = case_with_services()
    with refused(InvalidTransition, case):
        case.refer("r1", "meals", "Meals on Wheels", "other service, same id", later(6))


ANSWERS = [ReferralAccepted, ReferralDeclined, ReferralCompleted]


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: a.__name__)
def test_answering_an_unknown_referral_is_refused(answer: type[ReferralStatusChanged]) -> None:
    case = case_with_services()
    with refused(UnknownReference, case):
        case.answer_referral(answer, "r404", "", later(6))


# How to bring referral r1 (sent by case_with_services) to each status.
REACH: dict[ReferralStatus, list[type[ReferralStatusChanged]]] = {
    ReferralStatus.SENT: [],
    ReferralStatus.ACCEPTED: [ReferralAccepted],
    ReferralStatus.DECLINED: [ReferralDeclined],
    ReferralStatus.COMPLETED: [ReferralAccepted, ReferralCompleted],
}
ALLOWED_ANSWERS = {
    (ReferralStatus.SENT, ReferralAccepted),
    (ReferralStatus.SENT, ReferralDeclined),
    (ReferralStatus.ACCEPTED, ReferralCompleted),
}


def referral_in(status: ReferralStatus) -> Case:
    case = case_with_services()
    for hours, answer in enumerate(REACH[status], start=6):
        case.answer_referral(answer, "r1", "", later(hours))
    assert case.referral("r1").status is status
    return case


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: a.__name__)
@pytest.mark.parametrize("status", list(ReferralStatus))
def test_referral_answer_state_machine(
    status: ReferralStatus, answer: type[ReferralStatusChanged]
) -> None:
    case = referral_in(status)
    if (status, answer) in ALLOWED_ANSWERS:
        case.answer_referral(answer, "r1", "noted", later(9))
        assert type(events(case)[-1]) is answer
        assert case.referral("r1").note == "noted"
    else:
        with refused(InvalidTransition, case):
            case.answer_referral(answer, "r1", "noted", later(9))
        assert case.referral("r1").status is status


def test_allowed_answer_table_matches_the_domain() -> None:
    assert {(s, a) for a, s in REFERRAL_ANSWERABLE_FROM.items()} == ALLOWED_ANSWERS


# --- barriers, goals, medication reconciliation ------------------------------------------------


def test_duplicate_barrier_is_refused() -> None:
    case = case_with_services()
    with refused(InvalidTransition, case):
        case.note_barrier("b1", "no transportation (again)", later(6))


def test_duplicate_barrier_is_refused_even_once_resolved() -> None:
    case = case_with_services()
    case.resolve_barrier("b1", "bus pass", later(6))
    with refused(InvalidTransition, case):
        case.note_barrier("b1", "new problem, old id", later(7))


def test_resolving_an_unknown_barrier_is_refused() -> None:
    case = case_with_services()
    with refused(UnknownReference, case):
        case.resolve_barrier("b404", "n/a", later(6))


def test_resolving_a_resolved_barrier_is_refused() -> None:
    case = case_with_services()
    case.resolve_barrier("b1", "bus pass", later(6))
    with refused(InvalidTransition, case):
        case.resolve_barrier("b1", "taxi voucher", later(7))
    assert case.barriers["b1"].resolution == "bus pass"


def test_goal_evaluation_without_a_plan_is_refused() -> None:
    case = consented_case()
    with refused(UnknownReference, case):
        case.evaluate_goal("g1", GoalOutcome.MET, "no admissions", later(3))


def test_goal_evaluation_of_an_unknown_goal_is_refused() -> None:
    case = case_with_services()
    with refused(UnknownReference, case):
        case.evaluate_goal("g404", GoalOutcome.MET, "no admissions", later(6))


@pytest.mark.parametrize("outcome", list(GoalOutcome))
def test_goal_outcomes(outcome: GoalOutcome) -> None:
    case = case_with_services()
    case.evaluate_goal("g1", outcome, "chart review", later(6))
    assert case.goal_outcomes == {"g1": outcome}


@pytest.mark.parametrize("discrepancies", [-1, -10])
def test_negative_medication_discrepancies_are_refused(discrepancies: int) -> None:
    case = consented_case()
    with refused(ValueError, case):
        case.record_medication_reconciliation(discrepancies, "", later(3))


def test_zero_medication_discrepancies_are_recorded() -> None:
    case = consented_case()
    case.record_medication_reconciliation(0, "list matches", later(3))
    event = events(case)[-1]
    assert type(event) is MedicationReconciliationRecorded
    assert event.discrepancies_found == 0


# --- what a step must state -----------------------------------------------------------------------


def test_opening_a_case_needs_a_reason() -> None:
    with pytest.raises(InvalidValue, match="opening a case needs a reason"):
        Case.open(CASE_ID, PATIENT_ID, CaseSource.REFERRAL, " ", action())


# Each step's detail that must not be blank, as (a case ready for the step, the step given it).
STATED: dict[str, tuple[Callable[[], Case], Callable[[Case, str, Action], None]]] = {
    "who consented": (new_case, lambda c, t, a: c.give_consent(t, "verbal", a)),
    "how consent was given": (new_case, lambda c, t, a: c.give_consent("client", t, a)),
    "why consent was withdrawn": (consented_case, lambda c, t, a: c.withdraw_consent(t, a)),
    "the case manager": (new_case, lambda c, t, a: c.assign(t, "coverage", a)),
    "the preferred language": (
        new_case, lambda c, t, a: c.record_assessment(NEEDS, t, False, "", a)
    ),
    "the need": (
        new_case,
        lambda c, t, a: c.record_assessment(
            [AssessedNeed(AssessmentDomain.HOUSING, t)], "en", False, "", a
        ),
    ),
    "the referral id": (consented_case, lambda c, t, a: c.refer(t, "meals", "MoW", "", a)),
    "the referred service": (consented_case, lambda c, t, a: c.refer("r1", t, "MoW", "", a)),
    "the provider referred to": (consented_case, lambda c, t, a: c.refer("r1", "meals", t, "", a)),
    "whom a contact was with": (
        new_case,
        lambda c, t, a: c.log_contact(ContactMode.PHONE, ContactOutcome.SUCCESSFUL, t, "", a),
    ),
    "the provider seen": (
        new_case, lambda c, t, a: c.record_follow_up_visit(ContactMode.PHONE, t, "", a)
    ),
    "whom information came from": (
        new_case,
        lambda c, t, a: c.record_information_received(
            ReceivedInformation.DISCHARGE_INFORMATION, t, "", a
        ),
    ),
    "the barrier id": (new_case, lambda c, t, a: c.note_barrier(t, "no scale", a)),
    "the barrier": (new_case, lambda c, t, a: c.note_barrier("b1", t, a)),
    "the resolution": (case_with_services, lambda c, t, a: c.resolve_barrier("b1", t, a)),
    "the evidence": (
        case_with_services, lambda c, t, a: c.evaluate_goal("g1", GoalOutcome.MET, t, a)
    ),
    "the direction after closure": (
        consented_case, lambda c, t, a: c.close(ClosureReason.GOALS_MET, t, a)
    ),
    "why the case is reopened": (closed_case, lambda c, t, a: c.reopen(t, a)),
}  # fmt: skip


@pytest.mark.parametrize("blank", ["", " \t "])
@pytest.mark.parametrize("detail", STATED)
def test_a_step_needs_its_details_stated(detail: str, blank: str) -> None:
    make_case, step = STATED[detail]
    case = make_case()
    before = case.version
    with refused(InvalidValue, case):
        step(case, blank, later(7))

    step(case, "stated", later(7))  # proves the blank was the only reason
    assert case.version == before + 1


# --- clinical time: nothing happens to a case before it is opened -------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_no_step_can_have_happened_before_the_case_was_opened(command: str) -> None:
    case = closed_case()
    case.reopen("client called back", later(7))
    if command in PREPARE_REOPENED:
        PREPARE_REOPENED[command](case)
    with refused(ImplausibleDate, case):
        COMMANDS[command](case, action(OPENED_AT - timedelta(seconds=1)))


def test_steps_are_placed_by_instant_even_in_the_repeated_hour() -> None:
    """New York's clocks went back at 02:00 on November 3rd, 2024: 01:10 the second time (EST)
    came 40 minutes after 01:30 the first time (EDT), though its clock reads less."""
    first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)
    second = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NEW_YORK)
    case = Case.open(CASE_ID, PATIENT_ID, CaseSource.REFERRAL, "PCP referral", action(first))
    case.screen(ScreeningResult.APPROPRIATE, "", action(second))
    assert case.screening is ScreeningResult.APPROPRIATE


def test_the_opening_is_its_clinical_time_not_when_it_was_recorded() -> None:
    typed_in_later = action(OPENED_AT, recorded_at=OPENED_AT + timedelta(days=2))
    case = Case.open(CASE_ID, PATIENT_ID, CaseSource.REFERRAL, "PCP referral", typed_in_later)
    case.screen(ScreeningResult.APPROPRIATE, "", later(1))
    assert case.opened_at == OPENED_AT


def test_a_reopen_cannot_have_happened_before_the_close_it_undoes() -> None:
    case = closed_case()  # closed at hour 6
    with refused(ImplausibleDate, case):
        case.reopen("readmitted", later(5))
    case.reopen("readmitted", later(6))
    assert not case.is_closed


def test_a_second_reopen_is_judged_against_the_second_close() -> None:
    case = closed_case()
    case.reopen("client called back", later(7))
    case.close(ClosureReason.MOVED, "call the county line", later(9))
    with refused(ImplausibleDate, case):
        case.reopen("readmitted", later(8))
