"""Every transition alert rule through the deadline projection and the scheduler, at its boundaries.

Deadlines fall due (an alert is raised) at the start of the last local day of their window and are
overdue (escalated) at its end; times are in America/New_York, the rule file's organization zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from domain.alert import AlertState
from domain.alert_rules import PatientClass as RulePatientClass
from domain.alert_rules import TransitionKind as RuleTransition
from domain.case import ContactMode, ContactOutcome, FollowUpFocus, ReceivedInformation
from domain.encounter import Disposition, PatientClass, TransitionKind
from projections.deadlines import arrival_kind, rule_class
from tests.ward import Ward, local

SECOND = timedelta(seconds=1)


@pytest.fixture
def ward() -> Iterator[Ward]:
    ward = Ward()
    yield ward
    ward.close()


def assert_falls_due(ward: Ward, rule_id: str, raise_at: datetime, escalate_at: datetime) -> None:
    """Nothing a second before each boundary, the alert at it, its escalation at the next."""
    condition = ward.conditions()[rule_id]
    assert (condition.raise_at, condition.escalate_at) == (raise_at, escalate_at)
    ward.tick(raise_at - SECOND)
    assert ward.alert_state(rule_id) is None
    ward.tick(raise_at)
    assert ward.alert_state(rule_id) is AlertState.OPEN
    assert not ward.conditions()[rule_id].alert_escalated
    ward.tick(escalate_at - SECOND)
    assert not ward.conditions()[rule_id].alert_escalated
    ward.tick(escalate_at)
    assert ward.conditions()[rule_id].alert_escalated


# A discharge late on the Friday before daylight saving time starts (Sunday March 8, 2026).
FRIDAY_LATE = local(2026, 3, 6, 23, 50)


@pytest.mark.parametrize(
    ("rule_id", "raise_at", "escalate_at"),
    [
        # 2 business days: Monday and Tuesday; due by the end of Tuesday, in EDT by then.
        ("tcm-interactive-contact", local(2026, 3, 10), local(2026, 3, 11)),
        ("tcm-face-to-face", local(2026, 3, 13), local(2026, 3, 14)),
        ("trc-discharge-information", local(2026, 3, 8), local(2026, 3, 9)),
        ("trc-medication-reconciliation", local(2026, 4, 5), local(2026, 4, 6)),
        ("trc-patient-engagement", local(2026, 4, 5), local(2026, 4, 6)),
    ],
)
def test_discharge_deadlines_late_on_a_friday_across_the_dst_change(
    ward: Ward, rule_id: str, raise_at: datetime, escalate_at: datetime
) -> None:
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    assert_falls_due(ward, rule_id, raise_at, escalate_at)


def test_the_dst_day_has_23_hours_and_the_deadline_is_still_local_midnight(ward: Ward) -> None:
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    due = ward.conditions()["tcm-interactive-contact"].escalate_at
    assert due.isoformat() == "2026-03-11T04:00:00+00:00"


def test_admission_notification_is_due_the_day_of_admission_plus_two(ward: Ward) -> None:
    ward.admit(local(2026, 3, 2, 23, 59))
    assert_falls_due(ward, "trc-admission-notification", local(2026, 3, 4), local(2026, 3, 5))


def test_the_case_manager_receiving_the_admission_through_caretrail_meets_trc(ward: Ward) -> None:
    ward.open_case(local(2026, 3, 1))
    ward.admit(local(2026, 3, 2, 10))
    assert ward.conditions()["trc-admission-notification"].status == "satisfied"


@pytest.mark.parametrize(
    ("discharged", "due"),
    [
        # Saturday: Monday and Tuesday count.
        (local(2026, 3, 7, 8), local(2026, 3, 11)),
        # Friday before Memorial Day (May 25): Tuesday and Wednesday count.
        (local(2026, 5, 22, 15), local(2026, 5, 28)),
        # Thursday before July 4 (a Saturday; Friday July 3 is the observed holiday).
        (local(2026, 7, 2, 15), local(2026, 7, 8)),
        # Christmas Eve: Christmas is closed, the weekend too.
        (local(2026, 12, 24, 9), local(2026, 12, 30)),
    ],
)
def test_interactive_contact_counts_business_days_over_weekends_and_us_holidays(
    ward: Ward, discharged: datetime, due: datetime
) -> None:
    ward.stay(discharged - timedelta(days=3), discharged)
    assert ward.conditions()["tcm-interactive-contact"].escalate_at == due


def test_face_to_face_is_due_in_7_days_across_the_fall_back(ward: Ward) -> None:
    ward.stay(local(2026, 10, 26, 9), local(2026, 10, 29, 14))
    due = ward.conditions()["tcm-face-to-face"].escalate_at
    assert due == local(2026, 11, 6)
    assert due.isoformat() == "2026-11-06T05:00:00+00:00"


def test_a_contact_before_the_deadline_falls_due_means_no_alert_ever(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.contact(case, local(2026, 3, 9, 11))
    assert ward.conditions()["tcm-interactive-contact"].status == "satisfied"
    ward.tick(local(2026, 3, 12))
    assert "tcm-interactive-contact" not in ward.alerts()


def test_an_unsuccessful_attempt_satisfies_nothing(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.contact(case, local(2026, 3, 9, 11), ContactOutcome.UNSUCCESSFUL)
    assert ward.conditions()["tcm-interactive-contact"].status == "pending"


def test_a_contact_after_the_alert_fired_resolves_it_citing_the_contact(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.tick(local(2026, 3, 11, 8))
    alert = ward.alerts()["tcm-interactive-contact"]
    assert alert.escalated_to == "supervisor"
    ward.contact(case, local(2026, 3, 11, 9))
    assert ward.tick(local(2026, 3, 11, 9, 5))["resolve"] >= 1
    assert "tcm-interactive-contact" not in ward.alerts()
    assert ward.events_of(alert.alert_id) == ["AlertRaised", "AlertEscalated", "AlertResolved"]
    resolved = ward.app.history(alert.alert_id)[-1]
    assert resolved.satisfied_by.startswith("ContactLogged/")  # type: ignore[attr-defined]


def test_medication_reconciliation_is_due_no_later_than_the_face_to_face_visit(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.visit(case, local(2026, 3, 10, 14))
    medication = ward.conditions()["trc-medication-reconciliation"]
    assert medication.escalate_at == local(2026, 3, 11)
    assert ward.conditions()["tcm-face-to-face"].status == "satisfied"


def test_a_video_visit_is_interactive_contact_but_not_a_face_to_face_visit(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.visit(case, local(2026, 3, 9, 14), ContactMode.VIDEO)
    conditions = ward.conditions()
    assert conditions["tcm-interactive-contact"].status == "satisfied"
    assert conditions["tcm-face-to-face"].status == "pending"


def test_a_discharge_against_medical_advice_alerts_at_once_and_a_cancel_retracts_it(
    ward: Ward,
) -> None:
    encounter = ward.admit(local(2026, 3, 2, 10))
    ward.discharge(encounter, local(2026, 3, 3, 16), Disposition.AGAINST_MEDICAL_ADVICE)
    ward.tick(local(2026, 3, 3, 16, 2))
    alert = ward.alerts()["discharge-ama"]
    assert alert.severity == "high"
    assert "against medical advice" in alert.reason
    ward.cancel(encounter, TransitionKind.DISCHARGE, local(2026, 3, 3, 17))
    assert ward.tick(local(2026, 3, 3, 17, 5))["retract"] == 1
    assert "discharge-ama" not in ward.alerts()
    assert ward.alert_state("discharge-ama") is AlertState.RETRACTED
    assert ward.events_of(alert.alert_id) == ["AlertRaised", "AlertRetracted"]
    # The corrected discharge brings the same condition back: the same alert reopens.
    ward.discharge(encounter, local(2026, 3, 3, 18), Disposition.AGAINST_MEDICAL_ADVICE)
    ward.tick(local(2026, 3, 3, 18, 5))
    assert ward.alerts()["discharge-ama"].alert_id == alert.alert_id
    assert ward.events_of(alert.alert_id)[-1] == "AlertReopened"


def test_a_cancelled_discharge_withdraws_its_deadlines_before_they_fall_due(ward: Ward) -> None:
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.cancel(encounter, TransitionKind.DISCHARGE, local(2026, 3, 7, 9))
    assert ward.conditions()["tcm-interactive-contact"].status == "withdrawn"
    ward.tick(local(2026, 3, 12))
    assert set(ward.alerts()) == {"trc-admission-notification"}


def test_home_without_follow_up_alerts_and_a_referral_resolves_it(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 1))
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 4, 12))
    ward.tick(local(2026, 3, 4, 12, 5))
    assert "discharge-home-no-follow-up" in ward.alerts()
    ward.refer(case, local(2026, 3, 4, 15))
    ward.tick(local(2026, 3, 4, 15, 5))
    assert ward.alert_state("discharge-home-no-follow-up") is AlertState.RESOLVED


def test_home_with_a_referral_on_the_plan_is_not_an_alert(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 1))
    ward.refer(case, local(2026, 3, 1, 12))
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 4, 12))
    assert "discharge-home-no-follow-up" not in ward.conditions()


def test_an_admission_while_a_case_is_open_notifies_its_case_manager(ward: Ward) -> None:
    ward.open_case(local(2026, 3, 1))
    ward.admit(local(2026, 3, 2, 10))
    ward.tick(local(2026, 3, 2, 10, 5))
    alert = ward.alerts()["admission-open-case"]
    assert alert.case_manager == "cm.chen"
    assert alert.due_at is None
    assert alert.needs_attention


@pytest.mark.parametrize(
    ("discharged", "readmitted", "alerted"),
    [
        (local(2026, 3, 6, 10), local(2026, 3, 6, 20), False),  # same day: a direct transfer
        (local(2026, 3, 6, 23, 30), local(2026, 3, 7, 0, 30), False),  # next local day
        (local(2026, 3, 6, 10), local(2026, 3, 8, 9), True),  # day 2
        (local(2026, 3, 6, 10), local(2026, 4, 5, 23), True),  # day 30
        (local(2026, 3, 6, 10), local(2026, 4, 6, 1), False),  # day 31
    ],
)
def test_readmission_within_30_days_but_not_a_direct_transfer(
    ward: Ward, discharged: datetime, readmitted: datetime, alerted: bool
) -> None:
    ward.stay(local(2026, 3, 2, 10), discharged)
    ward.admit(readmitted)
    assert ("readmission-30" in ward.conditions()) is alerted
    assert ("readmission-30" in ward.flags()) is alerted


def test_a_discharge_arriving_after_the_readmission_it_explains_still_alerts(ward: Ward) -> None:
    first = ward.admit(local(2026, 3, 2, 10))
    ward.admit(local(2026, 3, 12, 9))
    assert "readmission-30" not in ward.conditions()
    # The first stay's A03 was held up in the interface engine for two weeks.
    ward.discharge(first, local(2026, 3, 5, 10), arrives=local(2026, 3, 16, 8))
    readmission = ward.conditions()["readmission-30"]
    assert readmission.known_at == local(2026, 3, 16, 8)
    ward.tick(local(2026, 3, 16, 8, 5))
    assert "Readmitted 7 days after discharge" in ward.alerts()["readmission-30"].reason


def test_a_readmission_is_retracted_when_its_admission_is_cancelled(ward: Ward) -> None:
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 5, 10))
    second = ward.admit(local(2026, 3, 12, 9))
    ward.tick(local(2026, 3, 12, 9, 5))
    ward.cancel(second, TransitionKind.ADMISSION, local(2026, 3, 12, 11))
    ward.tick(local(2026, 3, 12, 11, 5))
    assert ward.alert_state("readmission-30") is AlertState.RETRACTED
    assert "readmission-30" not in ward.flags()


def test_a_readmission_under_a_merged_duplicate_record_counts(ward: Ward) -> None:
    duplicate = ward.register()
    encounter = ward.admit(local(2026, 3, 2, 10), patient=duplicate)
    ward.discharge(encounter, local(2026, 3, 5, 10))
    ward.admit(local(2026, 3, 12, 9))
    assert "readmission-30" not in ward.conditions()
    ward.merge(duplicate, local(2026, 3, 12, 12))
    assert "readmission-30" in ward.conditions()


def test_three_ed_visits_in_60_days_make_a_high_utilizer_updated_by_the_fourth(
    ward: Ward,
) -> None:
    visits = [ward.admit(local(2026, 1, day, 22), PatientClass.EMERGENCY) for day in (5, 20)]
    assert "high-utilizer" not in ward.conditions()
    visits.append(ward.admit(local(2026, 3, 5, 21), PatientClass.EMERGENCY))  # day 60
    ward.tick(local(2026, 3, 5, 22))
    alert = ward.alerts()["high-utilizer"]
    assert "3 ED visits in 60 days" in alert.reason
    assert "high-utilizer" in ward.flags()
    ward.admit(local(2026, 3, 9, 9), PatientClass.EMERGENCY)
    ward.tick(local(2026, 3, 9, 10))
    assert ward.events_of(alert.alert_id) == ["AlertRaised", "AlertUpdated"]
    assert "3 ED visits in 60 days" in ward.alerts()["high-utilizer"].reason


def test_the_visit_on_day_61_does_not_count(ward: Ward) -> None:
    for moment in (local(2026, 1, 4, 22), local(2026, 1, 20, 9), local(2026, 3, 5, 21)):
        ward.admit(moment, PatientClass.EMERGENCY)
    assert "high-utilizer" not in ward.conditions()


def test_cancelling_an_ed_registration_retracts_the_high_utilizer_alert(ward: Ward) -> None:
    visits = [ward.admit(local(2026, 3, day, 9), PatientClass.EMERGENCY) for day in (2, 9, 16)]
    ward.tick(local(2026, 3, 16, 10))
    ward.cancel(visits[-1], TransitionKind.ADMISSION, local(2026, 3, 16, 11))
    ward.tick(local(2026, 3, 16, 12))
    assert ward.alert_state("high-utilizer") is AlertState.RETRACTED
    assert "high-utilizer" not in ward.flags()


def test_an_ed_visit_open_48_hours_is_stale_and_its_discharge_resolves_it(ward: Ward) -> None:
    # 48 elapsed hours across the spring-forward night end at 10:00 EDT, not 09:00.
    visit = ward.admit(local(2026, 3, 7, 9), PatientClass.EMERGENCY)
    stale_at = ward.conditions()["stale-ed-encounter"].raise_at
    assert stale_at == local(2026, 3, 9, 10)
    ward.tick(stale_at - SECOND)
    assert ward.alert_state("stale-ed-encounter") is None
    ward.tick(stale_at)
    assert ward.alerts()["stale-ed-encounter"].severity == "low"
    ward.discharge(visit, local(2026, 3, 9, 12))
    ward.tick(local(2026, 3, 9, 12, 5))
    assert ward.alert_state("stale-ed-encounter") is AlertState.RESOLVED


def test_an_ed_visit_discharged_in_time_never_goes_stale(ward: Ward) -> None:
    visit = ward.admit(local(2026, 3, 2, 9), PatientClass.EMERGENCY)
    ward.discharge(visit, local(2026, 3, 4, 8, 59))
    ward.tick(local(2026, 3, 5))
    assert "stale-ed-encounter" not in ward.alerts()


BEHAVIORAL_RULES = {"fuh-7", "fuh-30", "fum-7", "fum-30", "fua-7", "fua-30"}


def test_mental_health_and_substance_use_rules_start_no_clock_without_a_diagnosis(
    ward: Ward,
) -> None:
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 5, 10))
    ward.admit(local(2026, 3, 20, 10), PatientClass.EMERGENCY)
    assert not BEHAVIORAL_RULES & set(ward.conditions())


@pytest.mark.parametrize(
    ("rule_id", "raise_at", "escalate_at"),
    [
        # Calendar days from the discharge on Friday March 6: weekends count.
        ("fuh-7", local(2026, 3, 13), local(2026, 3, 14)),
        ("fuh-30", local(2026, 4, 5), local(2026, 4, 6)),
    ],
)
def test_a_stay_for_depression_starts_fuh_from_the_discharge(
    ward: Ward, rule_id: str, raise_at: datetime, escalate_at: datetime
) -> None:
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.diagnose(encounter, FRIDAY_LATE, "F32.9")
    assert "NCQA HEDIS Follow-Up After Hospitalization" in ward.conditions()[rule_id].reason
    assert_falls_due(ward, rule_id, raise_at, escalate_at)


def test_fuh_7_counts_calendar_days_over_the_independence_day_holiday(ward: Ward) -> None:
    # July 4, 2026 is a Saturday, observed on Friday July 3: FUH does not skip it.
    encounter = ward.stay(local(2026, 6, 29, 10), local(2026, 7, 1, 15))
    ward.diagnose(encounter, local(2026, 7, 1, 15), "F20.9")
    assert ward.conditions()["fuh-7"].escalate_at == local(2026, 7, 9)


def test_a_mental_health_visit_on_the_discharge_day_does_not_count_for_fuh(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    encounter = ward.stay(local(2026, 3, 2, 10), local(2026, 3, 6, 9))
    ward.diagnose(encounter, local(2026, 3, 6, 9), "F31.9")
    ward.visit(case, local(2026, 3, 6, 23, 58), ContactMode.VIDEO, FollowUpFocus.MENTAL_HEALTH)
    assert ward.conditions()["fuh-7"].status == "pending"
    ward.visit(case, local(2026, 3, 7, 0, 1), ContactMode.VIDEO, FollowUpFocus.MENTAL_HEALTH)
    assert ward.conditions()["fuh-7"].status == "satisfied"


def test_a_general_follow_up_visit_does_not_satisfy_fuh(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.diagnose(encounter, FRIDAY_LATE, "F32.9")
    ward.visit(case, local(2026, 3, 9, 10))
    conditions = ward.conditions()
    assert conditions["tcm-face-to-face"].status == "satisfied"
    assert (conditions["fuh-7"].status, conditions["fuh-30"].status) == ("pending", "pending")


def test_a_diagnosis_recorded_after_the_discharge_starts_fuh_from_the_discharge(
    ward: Ward,
) -> None:
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    assert "fuh-7" not in ward.conditions()
    ward.diagnose(encounter, local(2026, 3, 9, 11), "F33.1")  # an A08 after coding
    fuh = ward.conditions()["fuh-7"]
    assert (fuh.escalate_at, fuh.known_at) == (local(2026, 3, 14), local(2026, 3, 6, 23, 51))


def test_a_recoded_principal_diagnosis_withdraws_fuh(ward: Ward) -> None:
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.diagnose(encounter, FRIDAY_LATE, "F32.9")
    ward.diagnose(encounter, local(2026, 3, 9, 11), "I50.9", "F32.9")
    assert ward.conditions()["fuh-7"].status == "withdrawn"


def test_cancelling_the_discharge_retracts_the_fuh_alert(ward: Ward) -> None:
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.diagnose(encounter, FRIDAY_LATE, "F32.9")
    ward.tick(local(2026, 3, 13, 8))
    alert = ward.alerts()["fuh-7"]
    ward.cancel(encounter, TransitionKind.DISCHARGE, local(2026, 3, 13, 9))
    assert ward.tick(local(2026, 3, 13, 9, 5))["retract"] >= 1
    assert ward.alert_state("fuh-7") is AlertState.RETRACTED
    assert ward.events_of(alert.alert_id) == ["AlertRaised", "AlertRetracted"]


def test_a_mental_health_follow_up_resolves_the_fuh_alert(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.diagnose(encounter, FRIDAY_LATE, "F32.9")
    ward.tick(local(2026, 3, 13, 8))
    alert = ward.alerts()["fuh-7"]
    ward.visit(case, local(2026, 3, 13, 10), ContactMode.VIDEO, FollowUpFocus.MENTAL_HEALTH)
    ward.tick(local(2026, 3, 13, 10, 5))
    assert ward.alert_state("fuh-7") is AlertState.RESOLVED
    assert ward.conditions()["fuh-30"].status == "satisfied"
    resolved = ward.app.history(alert.alert_id)[-1]
    assert resolved.satisfied_by.startswith("FollowUpVisitRecorded/")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "started", "focus"),
    [
        ("F41.1", {"fum-7", "fum-30"}, FollowUpFocus.MENTAL_HEALTH),
        ("F10.20", {"fua-7", "fua-30"}, FollowUpFocus.SUBSTANCE_USE),
    ],
)
def test_an_ed_visit_for_mental_illness_or_substance_use_starts_fum_or_fua(
    ward: Ward, code: str, started: set[str], focus: FollowUpFocus
) -> None:
    case = ward.open_case(local(2026, 3, 1))
    visit = ward.admit(local(2026, 3, 2, 22), PatientClass.EMERGENCY)
    ward.discharge(visit, local(2026, 3, 3, 2))
    ward.diagnose(visit, local(2026, 3, 3, 2), code)
    conditions = ward.conditions()
    assert BEHAVIORAL_RULES & set(conditions) == started
    assert {conditions[rule].escalate_at for rule in started} == {
        local(2026, 3, 10),
        local(2026, 4, 2),
    }
    ward.visit(case, local(2026, 3, 5, 10), ContactMode.FACE_TO_FACE, focus)
    assert {ward.conditions()[rule].status for rule in started} == {"satisfied"}


def test_a_principal_diagnosis_outside_the_value_sets_starts_nothing(ward: Ward) -> None:
    encounter = ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.diagnose(encounter, FRIDAY_LATE, "I50.9", "F32.9")  # depression is secondary here
    assert not BEHAVIORAL_RULES & set(ward.conditions())


def test_receipt_of_discharge_information_resolves_its_trc_alert(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    ward.tick(local(2026, 3, 8, 9))
    alert = ward.alerts()["trc-discharge-information"]
    ward.received(case, local(2026, 3, 8, 10), ReceivedInformation.DISCHARGE_INFORMATION)
    ward.tick(local(2026, 3, 8, 10, 5))
    assert ward.alert_state("trc-discharge-information") is AlertState.RESOLVED
    resolved = ward.app.history(alert.alert_id)[-1]
    assert resolved.satisfied_by.startswith(  # type: ignore[attr-defined]
        "DischargeInformationReceived/"
    )


def test_discharge_information_received_before_the_discharge_does_not_count(ward: Ward) -> None:
    case = ward.open_case(local(2026, 3, 2))
    ward.received(case, local(2026, 3, 6, 12), ReceivedInformation.DISCHARGE_INFORMATION)
    ward.stay(local(2026, 3, 2, 10), FRIDAY_LATE)
    assert ward.conditions()["trc-discharge-information"].status == "pending"


def test_an_admission_notification_received_by_phone_meets_trc(ward: Ward) -> None:
    # No case manager is assigned, so caretrail's own notice reached no one: the team records it.
    case = ward.open_case(local(2026, 3, 1), manager=None)
    ward.admit(local(2026, 3, 2, 10))
    assert ward.conditions()["trc-admission-notification"].status == "pending"
    ward.received(case, local(2026, 3, 3, 9), ReceivedInformation.ADMISSION_NOTIFICATION)
    assert ward.conditions()["trc-admission-notification"].status == "satisfied"


def test_encounter_classes_map_to_the_rule_classes() -> None:
    assert arrival_kind(PatientClass.EMERGENCY) is RuleTransition.ED_VISIT
    assert arrival_kind(PatientClass.OUTPATIENT) is RuleTransition.ADMISSION
    assert rule_class(PatientClass.OBSTETRICS) is RulePatientClass.INPATIENT
    assert rule_class(PatientClass.PREADMIT) is RulePatientClass.OTHER


def test_an_ed_visit_admitted_as_inpatient_is_not_stale_and_starts_inpatient_rules(
    ward: Ward,
) -> None:
    visit = ward.admit(local(2026, 3, 2, 9), PatientClass.EMERGENCY)
    ward.clock.now = local(2026, 3, 2, 15)
    ward.app.change_patient_class(
        visit, PatientClass.INPATIENT, ward.feed_at(local(2026, 3, 2, 14))
    )
    conditions = ward.conditions()
    assert conditions["stale-ed-encounter"].status == "satisfied"
    assert "trc-admission-notification" in conditions
