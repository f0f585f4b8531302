"""Transition alert rules at their boundaries (domain.md, "Safety alert rules")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.alert_rules import (
    FOLLOW_UP_OBLIGATIONS,
    IMMEDIATE_TRIGGERS,
    ActionFact,
    ActionKind,
    CaseContext,
    Complexity,
    Deadline,
    DeadlineRule,
    Disposition,
    HighUtilizerRule,
    ImmediateRule,
    PatientClass,
    ReadmissionRule,
    RuleSet,
    Severity,
    StaleEncounterRule,
    TransitionFact,
    TransitionKind,
    Window,
    WindowUnit,
    deadlines_for,
    detect_high_utilizer,
    detect_readmission,
    effective_due_at,
    immediate_alerts,
    is_met_on_time,
    is_overdue,
    is_satisfied,
    is_stale_ed_encounter,
    stale_ed_encounter_alert,
)
from domain.calendar import BusinessCalendar

NEW_YORK = ZoneInfo("America/New_York")
CALENDAR = BusinessCalendar(timezone=NEW_YORK)
VERSION = "2026.test"
MINUTE = timedelta(minutes=1)
BUSINESS = WindowUnit.BUSINESS_DAYS
DAYS = WindowUnit.CALENDAR_DAYS

WINDOWS: dict[str, tuple[Window, Window | None]] = {
    "tcm-interactive-contact": (Window(2, BUSINESS), None),
    "tcm-face-to-face": (Window(14, DAYS), Window(7, DAYS)),
    "trc-medication-reconciliation": (Window(30, DAYS), None),
    "trc-admission-notification": (Window(2, DAYS), None),
    "trc-discharge-information": (Window(2, DAYS), None),
    "trc-patient-engagement": (Window(30, DAYS), None),
    "fuh-7": (Window(7, DAYS), None),
    "fuh-30": (Window(30, DAYS), None),
    "fum-7": (Window(7, DAYS), None),
    "fum-30": (Window(30, DAYS), None),
    "fua-7": (Window(7, DAYS), None),
    "fua-30": (Window(30, DAYS), None),
}


def deadline_rule(rule_id: str, *, enabled: bool = True) -> DeadlineRule:
    window, high_complexity_window = WINDOWS[rule_id]
    return DeadlineRule(
        rule_id=rule_id,
        source=f"Source of {rule_id}",
        severity=Severity.HIGH,
        enabled=enabled,
        obligation=FOLLOW_UP_OBLIGATIONS[rule_id],
        window=window,
        high_complexity_window=high_complexity_window,
    )


RULES = RuleSet(
    version=VERSION,
    rules=(
        *(deadline_rule(rule_id) for rule_id in WINDOWS),
        ReadmissionRule(
            rule_id="readmission-30",
            source="CMS HRRP; NCQA HEDIS PCR",
            severity=Severity.HIGH,
            window_days=30,
            direct_transfer_days=1,
        ),
        HighUtilizerRule(
            rule_id="high-utilizer",
            source="ENS practice",
            severity=Severity.MEDIUM,
            visits=3,
            window_days=60,
        ),
        StaleEncounterRule(
            rule_id="stale-ed-encounter",
            source="ENS practice",
            severity=Severity.LOW,
            max_open_hours=48,
        ),
        *(
            ImmediateRule(
                rule_id=rule_id, source="Project RED", severity=Severity.HIGH, trigger=trigger
            )
            for rule_id, trigger in IMMEDIATE_TRIGGERS.items()
        ),
    ),
)
TCM_AND_TRC = {
    "tcm-interactive-contact",
    "tcm-face-to-face",
    "trc-medication-reconciliation",
    "trc-discharge-information",
    "trc-patient-engagement",
}
NO_CASE = CaseContext(has_open_case=False, follow_up_planned=True)

FRIDAY_2350 = datetime(2026, 11, 20, 23, 50, tzinfo=NEW_YORK)


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def end_of(day: date) -> datetime:
    return CALENDAR.end_of_day(day)


def discharge(
    at: datetime = FRIDAY_2350,
    *,
    encounter: str = "E1",
    patient_class: PatientClass = PatientClass.INPATIENT,
    disposition: Disposition = Disposition.HOME,
    behavioral_health: bool | None = None,
    cancelled: bool = False,
) -> TransitionFact:
    return TransitionFact(
        kind=TransitionKind.DISCHARGE,
        encounter_id=encounter,
        patient_id="P1",
        occurred_at=at,
        patient_class=patient_class,
        disposition=disposition,
        behavioral_health=behavioral_health,
        cancelled=cancelled,
    )


def admission(
    at: datetime,
    *,
    encounter: str = "E2",
    patient_class: PatientClass = PatientClass.INPATIENT,
    cancelled: bool = False,
) -> TransitionFact:
    return TransitionFact(
        kind=TransitionKind.ADMISSION,
        encounter_id=encounter,
        patient_id="P1",
        occurred_at=at,
        patient_class=patient_class,
        cancelled=cancelled,
    )


def ed_visit(
    at: datetime,
    *,
    encounter: str = "ED1",
    behavioral_health: bool | None = None,
    substance_use: bool | None = None,
    cancelled: bool = False,
) -> TransitionFact:
    return TransitionFact(
        kind=TransitionKind.ED_VISIT,
        encounter_id=encounter,
        patient_id="P1",
        occurred_at=at,
        patient_class=PatientClass.EMERGENCY,
        behavioral_health=behavioral_health,
        substance_use=substance_use,
        cancelled=cancelled,
    )


def done(kind: ActionKind, at: datetime, *, successful: bool = True) -> ActionFact:
    return ActionFact(kind=kind, occurred_at=at, successful=successful)


def only(deadlines: list[Deadline], rule_id: str) -> Deadline:
    (deadline,) = [deadline for deadline in deadlines if deadline.rule_id == rule_id]
    return deadline


def rule_ids(deadlines: list[Deadline]) -> set[str]:
    return {deadline.rule_id for deadline in deadlines}


def bh_discharge_deadline(rule_id: str) -> Deadline:
    return only(deadlines_for(discharge(behavioral_health=True), RULES, CALENDAR), rule_id)


class TestDeadlinesAfterDischarge:
    def test_home_discharge_starts_tcm_and_trc_clocks_only(self) -> None:
        assert rule_ids(deadlines_for(discharge(), RULES, CALENDAR)) == TCM_AND_TRC

    @pytest.mark.parametrize(
        ("rule_id", "complexity", "last_day"),
        [
            ("tcm-interactive-contact", Complexity.HIGH, date(2026, 11, 24)),
            ("tcm-face-to-face", Complexity.HIGH, date(2026, 11, 27)),
            ("tcm-face-to-face", Complexity.MODERATE, date(2026, 12, 4)),
            ("trc-medication-reconciliation", Complexity.HIGH, date(2026, 12, 20)),
            ("trc-discharge-information", Complexity.HIGH, date(2026, 11, 22)),
            ("trc-patient-engagement", Complexity.HIGH, date(2026, 12, 20)),
        ],
    )
    def test_due_at_end_of_last_local_day(
        self, rule_id: str, complexity: Complexity, last_day: date
    ) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR, complexity), rule_id)

        assert deadline.due_at == end_of(last_day)

    @pytest.mark.parametrize(
        ("rule_id", "last_day"),
        [("fuh-7", date(2026, 11, 27)), ("fuh-30", date(2026, 12, 20))],
    )
    def test_fuh_due_dates(self, rule_id: str, last_day: date) -> None:
        assert bh_discharge_deadline(rule_id).due_at == end_of(last_day)

    def test_deadline_records_rule_version_severity_and_a_citing_reason(self) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR), "tcm-interactive-contact")

        assert (deadline.rule_version, deadline.severity) == (VERSION, Severity.HIGH)
        assert deadline.reason == (
            "Interactive contact due within 2 business days of inpatient discharge on "
            "Fri 2026-11-20 23:50 EST (encounter E1, disposition home) "
            "[Source of tcm-interactive-contact; rule tcm-interactive-contact v2026.test]"
        )

    def test_every_deadline_carries_the_rule_version(self) -> None:
        deadlines = deadlines_for(discharge(behavioral_health=True), RULES, CALENDAR)

        assert {deadline.rule_version for deadline in deadlines} == {VERSION}

    def test_face_to_face_reason_names_the_complexity(self) -> None:
        deadlines = deadlines_for(discharge(), RULES, CALENDAR, Complexity.MODERATE)

        assert "within 14 days (moderate complexity)" in only(deadlines, "tcm-face-to-face").reason

    def test_deadline_is_computed_from_clinical_time_in_local_days(self) -> None:
        # Saturday 04:50 UTC is still Friday evening at the hospital.
        clinical = datetime(2026, 11, 21, 4, 50, tzinfo=UTC)

        deadline = only(
            deadlines_for(discharge(clinical), RULES, CALENDAR), "tcm-interactive-contact"
        )

        assert deadline.due_at == end_of(date(2026, 11, 24))
        assert "Fri 2026-11-20 23:50 EST" in deadline.reason

    @pytest.mark.parametrize(
        "disposition",
        [
            Disposition.EXPIRED,
            Disposition.HOSPICE,
            Disposition.SKILLED_NURSING,
            Disposition.REHABILITATION,
            Disposition.TRANSFERRED,
        ],
    )
    def test_no_follow_up_clock_when_the_patient_does_not_go_home(
        self, disposition: Disposition
    ) -> None:
        assert deadlines_for(discharge(disposition=disposition), RULES, CALENDAR) == []

    @pytest.mark.parametrize(
        "disposition",
        [
            Disposition.HOME_HEALTH,
            Disposition.AGAINST_MEDICAL_ADVICE,
            Disposition.OTHER,
            Disposition.UNKNOWN,
        ],
    )
    def test_community_and_unreported_dispositions_start_the_clocks(
        self, disposition: Disposition
    ) -> None:
        deadlines = deadlines_for(discharge(disposition=disposition), RULES, CALENDAR)

        assert rule_ids(deadlines) == TCM_AND_TRC

    def test_observation_stay_starts_tcm_but_not_hedis_trc_clocks(self) -> None:
        deadlines = deadlines_for(
            discharge(patient_class=PatientClass.OBSERVATION), RULES, CALENDAR
        )

        assert rule_ids(deadlines) == {
            "tcm-interactive-contact",
            "tcm-face-to-face",
            "trc-medication-reconciliation",
        }

    def test_ed_discharge_starts_no_tcm_clock(self) -> None:
        ed_discharge = discharge(patient_class=PatientClass.EMERGENCY)

        assert deadlines_for(ed_discharge, RULES, CALENDAR) == []

    def test_cancelled_discharge_starts_nothing(self) -> None:
        assert deadlines_for(discharge(cancelled=True), RULES, CALENDAR) == []

    def test_disabled_rule_starts_nothing(self) -> None:
        rules = RuleSet(
            version=VERSION,
            rules=tuple(
                deadline_rule(rule_id, enabled=rule_id != "tcm-face-to-face") for rule_id in WINDOWS
            ),
        )

        assert "tcm-face-to-face" not in rule_ids(deadlines_for(discharge(), rules, CALENDAR))


class TestMentalHealthAndSubstanceUse:
    @pytest.mark.parametrize("flag", [None, False])
    def test_fuh_only_when_flagged(self, flag: bool | None) -> None:
        deadlines = deadlines_for(discharge(behavioral_health=flag), RULES, CALENDAR)

        assert not rule_ids(deadlines) & {"fuh-7", "fuh-30"}

    def test_fuh_when_flagged(self) -> None:
        deadlines = deadlines_for(discharge(behavioral_health=True), RULES, CALENDAR)

        assert rule_ids(deadlines) == TCM_AND_TRC | {"fuh-7", "fuh-30"}

    def test_fum_after_flagged_ed_visit(self) -> None:
        deadlines = deadlines_for(ed_visit(FRIDAY_2350, behavioral_health=True), RULES, CALENDAR)

        assert rule_ids(deadlines) == {"fum-7", "fum-30"}
        assert only(deadlines, "fum-7").due_at == end_of(date(2026, 11, 27))
        assert not only(deadlines, "fum-7").part2_protected

    def test_fua_after_flagged_ed_visit_is_part2_protected(self) -> None:
        deadlines = deadlines_for(ed_visit(FRIDAY_2350, substance_use=True), RULES, CALENDAR)

        assert rule_ids(deadlines) == {"fua-7", "fua-30"}
        assert all(deadline.part2_protected for deadline in deadlines)

    def test_unflagged_ed_visit_starts_nothing(self) -> None:
        assert deadlines_for(ed_visit(FRIDAY_2350), RULES, CALENDAR) == []

    def test_fuh_does_not_count_a_visit_on_the_day_of_discharge(self) -> None:
        discharged = local(2026, 11, 20, 9)
        deadline = only(
            deadlines_for(discharge(discharged, behavioral_health=True), RULES, CALENDAR), "fuh-7"
        )
        same_day = done(ActionKind.MENTAL_HEALTH_FOLLOW_UP, local(2026, 11, 20, 16))
        next_day = done(ActionKind.MENTAL_HEALTH_FOLLOW_UP, local(2026, 11, 21, 0, 1))

        assert not is_satisfied(deadline, [same_day])
        assert is_satisfied(deadline, [next_day])

    def test_fuh_needs_a_mental_health_visit(self) -> None:
        deadline = bh_discharge_deadline("fuh-7")
        primary_care = done(ActionKind.FOLLOW_UP_VISIT, local(2026, 11, 23))

        assert not is_satisfied(deadline, [primary_care])


class TestBoundaries:
    @pytest.mark.parametrize(
        ("offset", "overdue"), [(-MINUTE, False), (0 * MINUTE, True), (MINUTE, True)]
    )
    @pytest.mark.parametrize("rule_id", sorted(TCM_AND_TRC))
    def test_overdue_from_due_instant_on(
        self, rule_id: str, offset: timedelta, overdue: bool
    ) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR), rule_id)

        assert is_overdue(deadline, [], deadline.due_at + offset, CALENDAR) is overdue

    @pytest.mark.parametrize(
        ("offset", "on_time"), [(-MINUTE, True), (0 * MINUTE, False), (MINUTE, False)]
    )
    def test_action_on_time_only_before_due_instant(self, offset: timedelta, on_time: bool) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR), "tcm-interactive-contact")
        contact = done(ActionKind.CONTACT, deadline.due_at + offset)

        assert is_met_on_time(deadline, [contact], CALENDAR) is on_time
        assert is_satisfied(deadline, [contact])

    @pytest.mark.parametrize(
        ("rule_id", "last_day"),
        [
            ("trc-discharge-information", date(2026, 11, 22)),  # discharge day + 2
            ("trc-medication-reconciliation", date(2026, 12, 20)),  # discharge day + 30
            ("trc-patient-engagement", date(2026, 12, 20)),
        ],
    )
    def test_last_minute_of_last_day_is_on_time_and_next_day_is_late(
        self, rule_id: str, last_day: date
    ) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR), rule_id)
        kind = min(deadline.required_actions)
        last_minute = local(last_day.year, last_day.month, last_day.day, 23, 59)

        assert is_met_on_time(deadline, [done(kind, last_minute)], CALENDAR)
        assert not is_met_on_time(deadline, [done(kind, last_minute + MINUTE)], CALENDAR)

    def test_action_before_the_transition_does_not_count(self) -> None:
        deadline = only(
            deadlines_for(discharge(local(2026, 11, 20, 15)), RULES, CALENDAR),
            "tcm-interactive-contact",
        )

        assert not is_satisfied(deadline, [done(ActionKind.CONTACT, local(2026, 11, 20, 14, 59))])
        assert is_satisfied(deadline, [done(ActionKind.CONTACT, local(2026, 11, 20, 15))])

    def test_unsuccessful_contact_attempt_does_not_satisfy(self) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR), "tcm-interactive-contact")
        attempt = done(ActionKind.CONTACT, local(2026, 11, 23), successful=False)

        assert not is_satisfied(deadline, [attempt])
        assert is_overdue(deadline, [attempt], deadline.due_at, CALENDAR)

    def test_late_action_resolves_the_overdue_deadline(self) -> None:
        deadline = only(deadlines_for(discharge(), RULES, CALENDAR), "tcm-interactive-contact")
        late_contact = done(ActionKind.CONTACT, deadline.due_at + timedelta(hours=3))

        assert is_overdue(deadline, [late_contact], deadline.due_at + timedelta(hours=1), CALENDAR)
        assert not is_overdue(
            deadline, [late_contact], deadline.due_at + timedelta(hours=4), CALENDAR
        )

    def test_admission_notification_due_end_of_admission_day_plus_two(self) -> None:
        deadlines = deadlines_for(admission(FRIDAY_2350), RULES, CALENDAR)

        assert rule_ids(deadlines) == {"trc-admission-notification"}
        assert deadlines[0].due_at == end_of(date(2026, 11, 22))


class TestMedicationReconciliationByFaceToFaceVisit:
    def deadline(self) -> Deadline:
        return only(deadlines_for(discharge(), RULES, CALENDAR), "trc-medication-reconciliation")

    def test_due_moves_to_the_end_of_the_face_to_face_day(self) -> None:
        visit = done(ActionKind.FACE_TO_FACE_VISIT, local(2026, 11, 23, 10))

        assert effective_due_at(self.deadline(), [visit], CALENDAR) == end_of(date(2026, 11, 23))
        assert is_overdue(self.deadline(), [visit], local(2026, 11, 24, 0, 0), CALENDAR)

    def test_reconciled_the_same_day_after_the_visit_is_on_time(self) -> None:
        actions = [
            done(ActionKind.FACE_TO_FACE_VISIT, local(2026, 11, 23, 10)),
            done(ActionKind.MEDICATION_RECONCILIATION, local(2026, 11, 23, 16)),
        ]

        assert is_met_on_time(self.deadline(), actions, CALENDAR)

    def test_reconciled_after_the_visit_day_is_late_but_resolves(self) -> None:
        actions = [
            done(ActionKind.FACE_TO_FACE_VISIT, local(2026, 11, 23, 10)),
            done(ActionKind.MEDICATION_RECONCILIATION, local(2026, 11, 26, 9)),
        ]

        assert not is_met_on_time(self.deadline(), actions, CALENDAR)
        assert is_satisfied(self.deadline(), actions)

    def test_without_visit_the_hedis_window_applies(self) -> None:
        assert effective_due_at(self.deadline(), [], CALENDAR) == end_of(date(2026, 12, 20))

    def test_replay_ignores_a_visit_that_had_not_happened_yet(self) -> None:
        visit = done(ActionKind.FACE_TO_FACE_VISIT, local(2026, 11, 30, 10))

        assert not is_overdue(self.deadline(), [visit], local(2026, 11, 29), CALENDAR)


class TestReadmission:
    DISCHARGED = local(2026, 11, 20, 10)

    @pytest.mark.parametrize(
        ("days_later", "readmitted"),
        [(0, False), (1, False), (2, True), (30, True), (31, False)],
        ids=["same-day", "next-day", "day-2", "day-30", "day-31"],
    )
    def test_window_and_direct_transfer(self, days_later: int, readmitted: bool) -> None:
        admitted = self.DISCHARGED + timedelta(days=days_later, hours=2)

        found = detect_readmission(
            [discharge(self.DISCHARGED)], admission(admitted), RULES, CALENDAR
        )

        assert (found is not None) is readmitted

    def test_days_are_local_calendar_days_not_24_hour_periods(self) -> None:
        late_discharge = discharge(local(2026, 11, 20, 23, 30))
        early_admission = admission(local(2026, 11, 22, 0, 30))  # 25 hours later, day 2

        found = detect_readmission([late_discharge], early_admission, RULES, CALENDAR)

        assert found is not None
        assert found.days_after_discharge == 2

    def test_readmission_cites_rule_and_facts(self) -> None:
        found = detect_readmission(
            [discharge(self.DISCHARGED)], admission(local(2026, 12, 2, 8)), RULES, CALENDAR
        )

        assert found is not None
        assert (found.rule_id, found.rule_version, found.severity) == (
            "readmission-30",
            VERSION,
            Severity.HIGH,
        )
        assert (found.index_encounter_id, found.encounter_id) == ("E1", "E2")
        assert found.observed_at == local(2026, 12, 2, 8)
        assert "Readmitted 12 days after discharge" in found.reason
        assert "CMS HRRP; NCQA HEDIS PCR" in found.reason

    def test_the_latest_discharge_is_the_index(self) -> None:
        history = [
            discharge(local(2026, 11, 1), encounter="E0"),
            discharge(self.DISCHARGED, encounter="E1"),
        ]

        found = detect_readmission(history, admission(local(2026, 11, 21)), RULES, CALENDAR)

        assert found is None  # next day after E1: a direct transfer, though 20 days after E0

    def test_cancelled_discharge_is_ignored(self) -> None:
        history = [
            discharge(local(2026, 11, 1), encounter="E0"),
            discharge(self.DISCHARGED, encounter="E1", cancelled=True),
        ]

        found = detect_readmission(history, admission(local(2026, 11, 21)), RULES, CALENDAR)

        assert found is not None
        assert found.index_encounter_id == "E0"

    def test_cancelled_admission_is_not_a_readmission(self) -> None:
        cancelled = admission(local(2026, 11, 25), cancelled=True)

        assert detect_readmission([discharge(self.DISCHARGED)], cancelled, RULES, CALENDAR) is None

    @pytest.mark.parametrize("patient_class", [PatientClass.EMERGENCY, PatientClass.OBSERVATION])
    def test_only_inpatient_stays_count(self, patient_class: PatientClass) -> None:
        other_stay = discharge(self.DISCHARGED, patient_class=patient_class)
        other_admission = admission(local(2026, 11, 25), patient_class=patient_class)
        inpatient_admission = admission(local(2026, 11, 25))

        assert detect_readmission([other_stay], inpatient_admission, RULES, CALENDAR) is None
        assert (
            detect_readmission([discharge(self.DISCHARGED)], other_admission, RULES, CALENDAR)
            is None
        )

    def test_same_encounter_is_not_a_readmission(self) -> None:
        same_encounter = admission(local(2026, 11, 25), encounter="E1")

        assert (
            detect_readmission([discharge(self.DISCHARGED)], same_encounter, RULES, CALENDAR)
            is None
        )

    def test_no_discharge_no_readmission(self) -> None:
        assert detect_readmission([], admission(local(2026, 11, 25)), RULES, CALENDAR) is None


class TestHighUtilizer:
    FIRST = local(2026, 1, 5, 14)

    def visits(self, *days: int) -> list[TransitionFact]:
        return [ed_visit(self.FIRST + timedelta(days=day), encounter=f"ED{day}") for day in days]

    def test_third_visit_within_60_days_triggers(self) -> None:
        visits = self.visits(0, 30, 59)

        found = detect_high_utilizer(visits, visits[-1].occurred_at, RULES, CALENDAR)

        assert found is not None
        assert found.visit_encounter_ids == ("ED0", "ED30", "ED59")
        assert (found.encounter_id, found.severity, found.rule_version) == (
            "ED59",
            Severity.MEDIUM,
            VERSION,
        )
        assert "3 ED visits in 60 days (threshold 3)" in found.reason

    def test_visits_spread_over_61_days_do_not_trigger(self) -> None:
        visits = self.visits(0, 30, 60)

        assert detect_high_utilizer(visits, visits[-1].occurred_at, RULES, CALENDAR) is None

    def test_two_visits_do_not_trigger(self) -> None:
        visits = self.visits(0, 1)

        assert detect_high_utilizer(visits, visits[-1].occurred_at, RULES, CALENDAR) is None

    def test_cancelled_visit_is_not_counted(self) -> None:
        visits = [*self.visits(0, 10), ed_visit(local(2026, 1, 20), encounter="X", cancelled=True)]

        assert detect_high_utilizer(visits, local(2026, 1, 21), RULES, CALENDAR) is None

    def test_repeated_facts_of_one_encounter_count_once(self) -> None:
        visits = [*self.visits(0, 10), ed_visit(local(2026, 1, 16), encounter="ED10")]

        assert detect_high_utilizer(visits, local(2026, 1, 21), RULES, CALENDAR) is None

    def test_visits_after_the_evaluation_time_are_ignored(self) -> None:
        visits = self.visits(0, 10, 20)

        assert detect_high_utilizer(visits, local(2026, 1, 24), RULES, CALENDAR) is None

    def test_one_alert_per_patient_updated_by_each_visit(self) -> None:
        visits = self.visits(0, 10, 20, 30)

        third = detect_high_utilizer(visits[:3], visits[2].occurred_at, RULES, CALENDAR)
        fourth = detect_high_utilizer(visits, visits[3].occurred_at, RULES, CALENDAR)

        assert third is not None
        assert fourth is not None
        assert third.condition_key == fourth.condition_key == "high-utilizer/P1"


class TestStaleEdEncounter:
    STARTED = local(2026, 11, 20, 8)

    @pytest.mark.parametrize(
        ("open_for", "stale"),
        [(timedelta(hours=48) - MINUTE, False), (timedelta(hours=48), True)],
    )
    def test_open_48_hours(self, open_for: timedelta, stale: bool) -> None:
        now = (self.STARTED.astimezone(UTC) + open_for).astimezone(NEW_YORK)

        assert is_stale_ed_encounter(self.STARTED, now, RULES) is stale

    def test_elapsed_hours_across_fall_back(self) -> None:
        started = local(2026, 10, 31, 12)

        # 11:00 two days later is 47 wall-clock hours but 48 elapsed hours.
        assert is_stale_ed_encounter(started, local(2026, 11, 2, 11), RULES)
        assert not is_stale_ed_encounter(started, local(2026, 11, 2, 10, 59), RULES)

    def test_alert_for_stale_visit(self) -> None:
        visit = ed_visit(self.STARTED)

        alert = stale_ed_encounter_alert(visit, local(2026, 11, 22, 9), RULES, CALENDAR)

        assert alert is not None
        assert (alert.rule_id, alert.severity) == ("stale-ed-encounter", Severity.LOW)
        assert alert.reason.startswith("ED visit still open after 48 h without a discharge")

    def test_no_alert_before_48_hours_or_for_cancelled_visit(self) -> None:
        cancelled = ed_visit(self.STARTED, cancelled=True)
        later = local(2026, 11, 22, 9)

        assert (
            stale_ed_encounter_alert(
                ed_visit(self.STARTED), later - timedelta(hours=2), RULES, CALENDAR
            )
            is None
        )
        assert stale_ed_encounter_alert(cancelled, later, RULES, CALENDAR) is None

    def test_disabled_rule_never_flags(self) -> None:
        rules = RuleSet(
            version=VERSION,
            rules=(
                StaleEncounterRule(
                    rule_id="stale-ed-encounter",
                    source="ENS practice",
                    severity=Severity.LOW,
                    enabled=False,
                    max_open_hours=48,
                ),
            ),
        )

        assert not is_stale_ed_encounter(self.STARTED, local(2026, 12, 20), rules)


class TestImmediateAlerts:
    @pytest.mark.parametrize("patient_class", [PatientClass.INPATIENT, PatientClass.EMERGENCY])
    def test_discharge_against_medical_advice_is_immediate_and_high(
        self, patient_class: PatientClass
    ) -> None:
        ama = discharge(patient_class=patient_class, disposition=Disposition.AGAINST_MEDICAL_ADVICE)

        (alert,) = immediate_alerts(ama, NO_CASE, RULES, CALENDAR)

        assert (alert.rule_id, alert.severity, alert.rule_version) == (
            "discharge-ama",
            Severity.HIGH,
            VERSION,
        )
        assert alert.observed_at == FRIDAY_2350
        assert alert.reason.startswith("Discharged against medical advice:")

    def test_home_discharge_without_follow_up_planned(self) -> None:
        no_plan = CaseContext(has_open_case=False, follow_up_planned=False)

        (alert,) = immediate_alerts(discharge(), no_plan, RULES, CALENDAR)

        assert alert.rule_id == "discharge-home-no-follow-up"

    @pytest.mark.parametrize(
        ("disposition", "follow_up_planned"),
        [(Disposition.HOME, True), (Disposition.HOME_HEALTH, False)],
    )
    def test_no_alert_with_follow_up_or_home_health(
        self, disposition: Disposition, follow_up_planned: bool
    ) -> None:
        case = CaseContext(has_open_case=False, follow_up_planned=follow_up_planned)

        assert immediate_alerts(discharge(disposition=disposition), case, RULES, CALENDAR) == []

    def test_admission_of_client_with_open_case(self) -> None:
        open_case = CaseContext(has_open_case=True, follow_up_planned=True)

        (alert,) = immediate_alerts(admission(FRIDAY_2350), open_case, RULES, CALENDAR)

        assert alert.rule_id == "admission-open-case"
        assert alert.condition_key == "admission-open-case/P1/E2"
        assert immediate_alerts(admission(FRIDAY_2350), NO_CASE, RULES, CALENDAR) == []

    def test_cancelled_transition_raises_nothing(self) -> None:
        ama = discharge(disposition=Disposition.AGAINST_MEDICAL_ADVICE, cancelled=True)
        open_case = CaseContext(has_open_case=True, follow_up_planned=False)

        assert immediate_alerts(ama, open_case, RULES, CALENDAR) == []


class TestValueObjects:
    @pytest.mark.parametrize(
        ("window", "text"),
        [
            (Window(1, BUSINESS), "1 business day"),
            (Window(2, BUSINESS), "2 business days"),
            (Window(7, DAYS), "7 days"),
            (Window(48, WindowUnit.HOURS), "48 hours"),
        ],
    )
    def test_window_reads_as_in_the_rule_table(self, window: Window, text: str) -> None:
        assert str(window) == text

    def test_hour_window_counts_elapsed_hours(self) -> None:
        due = Window(24, WindowUnit.HOURS).due_at(local(2026, 11, 1, 0, 30), CALENDAR)

        assert due == local(2026, 11, 1, 23, 30)  # the day has 25 hours

    def test_negative_window_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            Window(-1, DAYS)

    def test_rule_ids_are_unique_within_a_rule_set(self) -> None:
        rule = deadline_rule("fuh-7")

        with pytest.raises(ValueError, match="fuh-7"):
            RuleSet(version=VERSION, rules=(rule, rule))

    def test_rule_set_needs_a_version(self) -> None:
        with pytest.raises(ValueError, match="version"):
            RuleSet(version="", rules=())

    def test_naive_clinical_time_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="no time zone"):
            discharge(datetime(2026, 11, 20, 12))
