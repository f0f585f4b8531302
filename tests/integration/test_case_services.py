"""The application services, run against every persistence module: memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from domain.case import (
    AssessedNeed,
    AssessmentDomain,
    CaseSource,
    ClosureReason,
    ContactMode,
    ContactOutcome,
    Goal,
    GoalOutcome,
    Intervention,
    ReferralStatus,
    ScreeningResult,
)
from domain.encounter import Disposition, EncounterStatus, PatientClass, TransitionKind
from domain.errors import CaseIsClosed, ConsentRequired, InvalidTransition
from domain.patient import Demographics, Identifier
from services.application import CareTrail, Provenance
from services.errors import NotFound, VersionConflict
from tests.clock import ManualClock

NURSE = Provenance("cm.rivera")
FEED = Provenance("feed:genhosp", source="GENHOSP|ADT|MSG0001")


def a_patient(app: CareTrail, mrn: str = "MRN1") -> UUID:
    return app.register_patient(
        [Identifier(mrn, "GENHOSP")], Demographics("Garcia", "Maria", date(1948, 5, 2), "F"), FEED
    )


def a_consented_case(app: CareTrail) -> UUID:
    case_id = app.open_case(a_patient(app), CaseSource.ADT_TRIGGER, "discharged home", NURSE)
    app.screen(case_id, ScreeningResult.APPROPRIATE, "3 admissions this year", NURSE)
    app.give_consent(case_id, "client", "verbal", NURSE)
    return case_id


def plan(clock: ManualClock, goal: str = "Weigh daily") -> tuple[list[Goal], list[Intervention]]:
    today = clock().date()
    goals = [Goal("g1", goal, "days weighed per week", 1, today + timedelta(days=30))]
    return goals, [Intervention("i1", "g1", "Teach-back", "cm.rivera", today + timedelta(days=2))]


def stored_count(app: CareTrail) -> int:
    return sum(1 for _ in app.event_log())


def test_a_case_runs_from_screening_to_closure_and_reopening(
    app: CareTrail, clock: ManualClock
) -> None:
    case_id = a_consented_case(app)
    app.assign_case_manager(case_id, "cm.rivera", "new referral", NURSE)
    app.record_assessment(
        case_id,
        [AssessedNeed(AssessmentDomain.TRANSPORTATION, "no car")],
        "Spanish",
        True,
        "lives alone",
        NURSE,
    )
    app.revise_plan(case_id, *plan(clock), "", NURSE)
    app.refer(case_id, "r1", "home health", "Visiting Nurses", "post-discharge", NURSE)
    app.answer_referral(case_id, "r1", "accept", "", NURSE)
    app.answer_referral(case_id, "r1", "complete", "first visit done", NURSE)
    app.log_contact(case_id, ContactMode.PHONE, ContactOutcome.SUCCESSFUL, "client", "", NURSE)
    app.record_medication_reconciliation(case_id, 1, "stopped duplicate diuretic", NURSE)
    app.record_follow_up_visit(case_id, ContactMode.FACE_TO_FACE, "Dr. Osei", "", NURSE)
    app.note_barrier(case_id, "b1", "no scale at home", NURSE)
    app.resolve_barrier(case_id, "b1", "scale delivered", NURSE)
    app.evaluate_goal(case_id, "g1", GoalOutcome.MET, "weighed 7/7 days", NURSE)
    app.close_case(case_id, ClosureReason.GOALS_MET, "call the care line", NURSE)
    app.reopen_case(case_id, "readmitted", NURSE)

    case = app.case(case_id)
    assert case.version == 17
    assert not case.is_closed
    assert case.case_manager == "cm.rivera"
    assert case.interpreter_needed
    assert case.referral("r1").status is ReferralStatus.COMPLETED
    assert case.barriers["b1"].resolution == "scale delivered"
    assert case.goal_outcomes == {"g1": GoalOutcome.MET}
    assert [type(e).__name__ for e in app.history(case_id)][-2:] == ["CaseClosed", "CaseReopened"]


def test_every_stored_event_carries_actor_source_and_times(
    app: CareTrail, clock: ManualClock
) -> None:
    patient_id = a_patient(app)
    clinical = clock() - timedelta(hours=30)
    encounter_id = app.register_encounter(
        patient_id,
        facility="GENHOSP",
        visit_number="V1",
        patient_class=PatientClass.INPATIENT,
        location="4W^401^A",
        by=Provenance("feed:genhosp", clinical, "GENHOSP|ADT|MSG0002"),
    )
    logged = list(app.event_log())
    assert [entry.position for entry in logged] == sorted(entry.position for entry in logged)
    registered = logged[-1].event
    assert registered.originator_id == encounter_id
    assert registered.patient_id == patient_id
    assert registered.actor == "feed:genhosp"
    assert registered.source == "GENHOSP|ADT|MSG0002"
    assert registered.occurred_at == clinical
    assert registered.timestamp == clock()


def test_plan_revisions_are_versions_and_as_of_reads_show_the_older_plan(
    app: CareTrail, clock: ManualClock
) -> None:
    case_id = a_consented_case(app)
    app.revise_plan(case_id, *plan(clock, "Weigh daily"), "", NURSE)
    first_plan_known_at = clock()
    clock.advance(days=1)
    app.revise_plan(case_id, *plan(clock, "Weigh twice daily"), "readmitted for fluid", NURSE)

    then = app.case_as_of(case_id, first_plan_known_at)
    now = app.case(case_id)
    assert then.plan_of_care is not None
    assert now.plan_of_care is not None
    assert then.plan_of_care.goals[0].description == "Weigh daily"
    assert now.plan_of_care.goals[0].description == "Weigh twice daily"
    assert [p.version for p in now.plans] == [1, 2]
    assert now.plans[1].reason == "readmitted for fluid"


def test_as_of_before_the_case_existed_is_not_found(app: CareTrail, clock: ManualClock) -> None:
    before = clock()
    clock.advance(minutes=5)
    case_id = a_consented_case(app)
    with pytest.raises(NotFound, match="was known at"):
        app.case_as_of(case_id, before)


def test_a_case_can_be_read_at_a_given_version(app: CareTrail) -> None:
    case_id = a_consented_case(app)
    assert app.case(case_id, version=1).screening is None
    assert app.case(case_id, version=2).screening is ScreeningResult.APPROPRIATE
    assert not app.case(case_id, version=2).consent_active


def test_a_stale_expected_version_is_refused_and_nothing_is_written(app: CareTrail) -> None:
    case_id = a_consented_case(app)
    before = stored_count(app)
    with pytest.raises(VersionConflict, match="is at version 3, not 2") as refused:
        app.withdraw_consent(case_id, "moving away", NURSE, expected_version=2)
    assert refused.value.current == 3
    assert stored_count(app) == before
    assert app.case(case_id).consent_active


def test_the_current_expected_version_is_accepted(app: CareTrail) -> None:
    case_id = a_consented_case(app)
    app.withdraw_consent(case_id, "moving away", NURSE, expected_version=3)
    assert app.case(case_id).version == 4


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_concurrent_writers_on_one_store_conflict_instead_of_overwriting(
    store_url: str, open_app: Callable[[str], CareTrail], clock: ManualClock
) -> None:
    first, second = open_app(store_url), open_app(store_url)
    case_id = a_consented_case(first)
    stale = second.case(case_id)
    first.revise_plan(case_id, *plan(clock), "", NURSE)
    stale.withdraw_consent("changed mind", second._action(NURSE))
    with pytest.raises(VersionConflict):
        second._save(stale)
    assert first.case(case_id).plan_of_care is not None
    assert second.case(case_id).consent_active


def test_domain_refusals_write_nothing(app: CareTrail, clock: ManualClock) -> None:
    case_id = app.open_case(a_patient(app), CaseSource.REFERRAL, "PCP referral", NURSE)
    before = stored_count(app)
    with pytest.raises(ConsentRequired):
        app.revise_plan(case_id, *plan(clock), "", NURSE)
    with pytest.raises(ConsentRequired):
        app.refer(case_id, "r1", "meals", "Meals on Wheels", "", NURSE)
    app.close_case(case_id, ClosureReason.CLIENT_DECLINED, "call us any time", NURSE)
    with pytest.raises(CaseIsClosed):
        app.log_contact(case_id, ContactMode.PHONE, ContactOutcome.SUCCESSFUL, "client", "", NURSE)
    assert stored_count(app) == before + 1


def test_unknown_ids_and_ids_of_the_wrong_kind_are_not_found(app: CareTrail) -> None:
    patient_id = a_patient(app)
    with pytest.raises(NotFound, match="no case with id"):
        app.case(uuid4())
    with pytest.raises(NotFound, match="is not a case"):
        app.case(patient_id)
    with pytest.raises(NotFound, match="no patient"):
        app.open_case(uuid4(), CaseSource.REFERRAL, "x", NURSE)


def test_an_encounter_discharge_can_be_cancelled_and_sent_again(
    app: CareTrail, clock: ManualClock
) -> None:
    patient_id = a_patient(app)
    admitted = clock() - timedelta(days=3)
    encounter_id = app.register_encounter(
        patient_id,
        facility="GENHOSP",
        visit_number="V9",
        patient_class=PatientClass.INPATIENT,
        location="4W",
        by=Provenance("feed:genhosp", admitted),
    )
    app.discharge(encounter_id, Disposition.HOME, Provenance("feed:genhosp", clock()))
    app.cancel_latest(encounter_id, TransitionKind.DISCHARGE, "wrong patient", FEED)
    assert app.encounter(encounter_id).status is EncounterStatus.ACTIVE
    app.discharge(encounter_id, Disposition.SKILLED_NURSING, FEED)
    encounter = app.encounter(encounter_id)
    assert encounter.disposition is Disposition.SKILLED_NURSING
    assert [t.cancelled for t in encounter.transitions] == [False, True, False]
    with pytest.raises(InvalidTransition):
        app.discharge(encounter_id, Disposition.HOME, FEED)


def test_merge_then_unmerge_keeps_every_event_of_both_patients(app: CareTrail) -> None:
    retired, survivor = a_patient(app, "MRN-OLD"), a_patient(app, "MRN-NEW")
    app.merge_patients(retired, survivor, FEED)
    assert app.patient(retired).merged_into == survivor
    assert app.patient(survivor).absorbed == [retired]
    app.unmerge_patients(retired, survivor, FEED)
    assert app.patient(retired).merged_into is None
    assert app.patient(survivor).absorbed == []
    assert [e.originator_version for e in app.history(retired)] == [1, 2, 3]
    assert [e.originator_version for e in app.history(survivor)] == [1, 2, 3]
