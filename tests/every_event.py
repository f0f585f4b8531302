"""One or more of every event the domain can emit, made by running the domain's own aggregates.

A new event type is not covered until a step here emits it; the schema and envelope tests fail
until then, which is the point.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.access import CasePrivacy, PurposeOfUse, ReadInteraction, RecordRead, RecordType
from domain.alert import Alert, AlertCause
from domain.alert_rules import Severity
from domain.case import (
    AssessedNeed,
    AssessmentDomain,
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
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ScreeningResult,
)
from domain.diagnoses import Diagnosis, DiagnosisType
from domain.encounter import Disposition, Encounter, PatientClass, TransitionKind
from domain.events import Action, CaretrailEvent
from domain.identifier_index import PatientIdentifierClaim, VisitNumberClaim
from domain.message_receipt import AdtMessageReceipt, ReceiptOutcome
from domain.patient import Demographics, Identifier, Patient

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(hour: int) -> Action:
    """A case manager's action `hour` hours into the story, recorded a minute later."""
    occurred = START + timedelta(hours=hour)
    return Action("cm.okafor", occurred, occurred + timedelta(minutes=1), f"MSG{hour:04d}")


def every_event() -> list[CaretrailEvent]:
    """The events of one patient's story through every aggregate, in the order they happened."""
    patient, retired = _patients()
    encounter = _encounter(patient.id)
    case = _case(patient.id)
    aggregates: list[Aggregate] = [
        patient,
        retired,
        encounter,
        case,
        _alert(patient.id, encounter.id),
        _privacy(case.id, patient.id),
        _read(case.id, patient.id),
        PatientIdentifierClaim.claim(uuid4(), patient.id, at(0)),
        _visit_number(encounter.id, patient.id),
        _receipt(encounter.id, patient.id),
    ]
    events: list[CaretrailEvent] = []
    for aggregate in aggregates:
        for event in aggregate.collect_events():
            assert isinstance(event, CaretrailEvent)
            events.append(event)
    return events


def _patients() -> tuple[Patient, Patient]:
    lee = Demographics("Lee", "Grace", date(1948, 5, 17), "F")
    patient = Patient.register(uuid4(), [Identifier("884422", "GENHOSP")], lee, at(0))
    patient.update_demographics(replace(lee, family_name="Lee-Park"), at(1))
    patient.add_identifier(Identifier("M-1001", "STMARY", "MB"), at(1))
    duplicate = Patient.register(uuid4(), [Identifier("990011", "GENHOSP")], lee, at(2))
    duplicate.merge_into(patient, at(2))
    duplicate.unmerge_from(patient, at(3))
    return patient, duplicate


def _encounter(patient_id: UUID) -> Encounter:
    encounter = Encounter.register(
        uuid4(),
        patient_id,
        facility="GENHOSP",
        visit_number="V0000042",
        patient_class=PatientClass.PREADMIT,
        location="4W^401^A",
        action=at(4),
        preadmission=True,
    )
    encounter.admit(PatientClass.INPATIENT, "4W^401^A", at(5))
    encounter.transfer("ICU^2^B", "intensive care", at(6))
    encounter.start_leave_of_absence(at(7))
    encounter.end_leave_of_absence(at(8))
    encounter.change_patient_class(PatientClass.OUTPATIENT, at(9))
    encounter.update_visit("ICU^2^B", "dr.osei", at(9))
    encounter.discharge(Disposition.HOME_HEALTH, at(10))
    depression = Diagnosis("F32.9", "I10", "Major depressive disorder", DiagnosisType.FINAL, 1)
    encounter.record_diagnoses([depression], at(10))
    discharge = encounter.latest_transition(TransitionKind.DISCHARGE)
    encounter.cancel(discharge.number, "sent in error", at(11))
    return encounter


def _case(patient_id: UUID) -> Case:
    case = Case.open(uuid4(), patient_id, CaseSource.ADT_TRIGGER, "inpatient discharge", at(12))
    case.screen(ScreeningResult.APPROPRIATE, "high readmission risk", at(12))
    case.give_consent("client", "verbal", at(12))
    case.withdraw_consent("wants to think it over", at(13))
    case.give_consent("client", "written", at(13))
    case.assign("cm.okafor", "caseload rotation", at(13))
    need = AssessedNeed(AssessmentDomain.TRANSPORTATION, "no car; bus twice a week", 1)
    case.record_assessment([need], "Spanish", True, "lives alone", at(14))
    target = START.date() + timedelta(days=30)
    goals = [Goal("g1", "Weigh daily", "days weighed per week", 1, target)]
    interventions = [Intervention("i1", "g1", "Teach-back on scale use", "cm.okafor", target)]
    case.revise_plan(goals, interventions, "", at(14))
    case.refer("r1", "home health", "Visiting Nurses", "post-discharge", at(15))
    case.answer_referral(ReferralAccepted, "r1", "starts Monday", at(16))
    case.answer_referral(ReferralCompleted, "r1", "six visits", at(17))
    case.refer("r2", "meals", "Meals on Wheels", "no one cooks", at(15))
    case.answer_referral(ReferralDeclined, "r2", "outside service area", at(16))
    case.log_contact(ContactMode.PHONE, ContactOutcome.SUCCESSFUL, "client", "", at(18))
    case.record_medication_reconciliation(1, "duplicate diuretic", at(18))
    case.record_follow_up_visit(ContactMode.FACE_TO_FACE, "dr.osei", "stable", at(19))
    case.record_follow_up_visit(
        ContactMode.VIDEO, "dr.amari", "mood improving", at(19), focus=FollowUpFocus.MENTAL_HEALTH
    )
    case.record_information_received(
        ReceivedInformation.ADMISSION_NOTIFICATION, "GENHOSP ED", "by phone", at(12)
    )
    case.record_information_received(
        ReceivedInformation.DISCHARGE_INFORMATION, "GENHOSP 4 West", "summary by fax", at(19)
    )
    case.note_barrier("b1", "no scale at home", at(19))
    case.resolve_barrier("b1", "scale delivered", at(20))
    case.evaluate_goal("g1", GoalOutcome.MET, "weighed 7 of 7 days", at(21))
    case.close(ClosureReason.GOALS_MET, "call the care line if symptoms return", at(22))
    case.reopen("readmitted", at(23))
    return case


def _alert(patient_id: UUID, encounter_id: UUID) -> Alert:
    cause = AlertCause(
        "tcm-contact-2bd", "1", Severity.HIGH, "discharged home without a contact",
        {"disposition": "home_health"}, START + timedelta(days=2), encounter_id, 5,
    )  # fmt: skip
    alert = Alert.raise_for(patient_id, f"tcm-contact/{encounter_id}", cause, at(10))
    alert.report(replace(cause, reason="discharge re-sent"), at(11))
    alert.acknowledge("calling today", at(11))
    alert.snooze("client asked to call back", START + timedelta(days=1), at(12))
    alert.escalate("supervisor.diaz", "two business days passed", at(13))
    alert.resolve("caretrail.ContactLogged", at(18))
    alert.report(cause, at(19))
    alert.retract("caretrail.TransitionCancelled", "the discharge was cancelled", at(20))
    return alert


def _privacy(case_id: UUID, patient_id: UUID) -> CasePrivacy:
    privacy = CasePrivacy.open(case_id, patient_id, at(12))
    privacy.give_part2_consent("client", "signed form", at(12))
    privacy.revoke_part2_consent("changed their mind", at(13))
    privacy.break_glass("unconscious in the ED, needs history", timedelta(hours=1), at(14))
    return privacy


def _read(case_id: UUID, patient_id: UUID) -> RecordRead:
    return RecordRead.record(
        uuid4(),
        patient_id,
        record_type=RecordType.CASE,
        record_id=case_id,
        interaction=ReadInteraction.READ,
        detail="plan of care",
        purpose=PurposeOfUse.TREATMENT,
        network_address="10.1.2.3",
        user_agent="Firefox/128.0",
        part2_disclosed=False,
        action=at(15),
    )


def _visit_number(encounter_id: UUID, patient_id: UUID) -> VisitNumberClaim:
    claim = VisitNumberClaim.claim(uuid4(), uuid4(), patient_id, at(4))
    claim.reassign(encounter_id, patient_id, at(5))
    return claim


def _receipt(encounter_id: UUID, patient_id: UUID) -> AdtMessageReceipt:
    receipt = AdtMessageReceipt.accept(
        uuid4(),
        dedup_key=("EPIC", "GENHOSP", "MSG0011"),
        content_hash="9f2c41d0",
        trigger="A03",
        outcome=ReceiptOutcome.ARRIVED_LATE,
        note="discharge older than the transfer on record",
        patient_id=patient_id,
        action=at(11),
    )
    receipt.report_late_arrival(
        encounter_id, "discharge", START + timedelta(hours=6), "before the transfer", at(11)
    )
    return receipt
