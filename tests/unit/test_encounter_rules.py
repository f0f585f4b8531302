"""The encounter aggregate against the ADT transitions of care, cancels included.

Pure domain tests: aggregates are built directly, times are fixed, nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.diagnoses import Diagnosis, DiagnosisType
from domain.encounter import (
    Disposition,
    Encounter,
    EncounterDiagnosesRecorded,
    EncounterRegistered,
    EncounterStatus,
    LeaveOfAbsenceEnded,
    LeaveOfAbsenceStarted,
    PatientAdmitted,
    PatientClass,
    PatientClassChanged,
    PatientDischarged,
    PatientTransferred,
    Transition,
    TransitionCancelled,
    TransitionKind,
    VisitUpdated,
)
from domain.errors import (
    ImplausibleDate,
    InvalidTransition,
    TransitionAlreadyCancelled,
    UnknownTransition,
)
from domain.events import Action

PATIENT_ID = UUID("0b7e6a4e-1f1d-4c11-9d2a-6f1f3c1e0a01")
ENCOUNTER_ID = UUID("9a1f0c55-3b7e-4d2a-8e61-0c4d5e6f7a03")
ADMITTED_AT = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
FEED = "adt.mercy"


def at(hours: float, *, recorded_after: timedelta = timedelta(seconds=40)) -> Action:
    """A feed action `hours` after the admission, recorded shortly after it happened."""
    occurred = ADMITTED_AT + timedelta(hours=hours)
    return Action(FEED, occurred, occurred + recorded_after, "HL7v2:MLLP")


def admitted(patient_class: PatientClass = PatientClass.INPATIENT) -> Encounter:
    return Encounter.register(
        ENCOUNTER_ID,
        PATIENT_ID,
        facility="MERCY",
        visit_number="V1001",
        patient_class=patient_class,
        location="ED^01",
        action=at(0),
    )


def preadmitted() -> Encounter:
    return Encounter.register(
        ENCOUNTER_ID,
        PATIENT_ID,
        facility="MERCY",
        visit_number="V1001",
        patient_class=PatientClass.PREADMIT,
        location="PREOP",
        action=at(-48),
        preadmission=True,
    )


def events(encounter: Encounter) -> list[Any]:
    """The encounter's new events (typed loosely: each event class adds its own fields)."""
    return list(encounter.pending_events)


def state(encounter: Encounter) -> tuple[int, int]:
    return encounter.version, len(encounter.pending_events)


@contextmanager
def refused(exception: type[Exception], encounter: Encounter) -> Iterator[None]:
    """The command raises exactly `exception` and records no event."""
    before = state(encounter)
    with pytest.raises(exception) as raised:
        yield
    assert type(raised.value) is exception
    assert state(encounter) == before


def snapshot(encounter: Encounter) -> dict[str, object]:
    return {
        "status": encounter.status,
        "location": encounter.location,
        "patient_class": encounter.patient_class,
        "admitted_at": encounter.admitted_at,
        "discharged_at": encounter.discharged_at,
        "disposition": encounter.disposition,
    }


# --- registration and admission -------------------------------------------------------------------


def test_register_admission() -> None:
    encounter = admitted()

    assert encounter.id == ENCOUNTER_ID
    assert encounter.patient_id == PATIENT_ID
    assert (encounter.facility, encounter.visit_number) == ("MERCY", "V1001")
    assert snapshot(encounter) == {
        "status": EncounterStatus.ACTIVE,
        "location": "ED^01",
        "patient_class": PatientClass.INPATIENT,
        "admitted_at": ADMITTED_AT,
        "discharged_at": None,
        "disposition": None,
    }
    assert encounter.attending is None
    assert encounter.transitions == [Transition(1, TransitionKind.ADMISSION, ADMITTED_AT)]
    [event] = events(encounter)
    assert type(event) is EncounterRegistered
    assert (event.actor, event.source, event.patient_id) == (FEED, "HL7v2:MLLP", PATIENT_ID)
    assert event.preadmission is False


def test_preadmission_then_admit() -> None:
    encounter = preadmitted()
    assert encounter.status is EncounterStatus.PREADMITTED
    assert encounter.admitted_at is None
    assert encounter.transitions == [
        Transition(1, TransitionKind.PREADMISSION, ADMITTED_AT - timedelta(hours=48))
    ]

    encounter.admit(PatientClass.INPATIENT, "4W^12", at(0))

    assert snapshot(encounter) == {
        "status": EncounterStatus.ACTIVE,
        "location": "4W^12",
        "patient_class": PatientClass.INPATIENT,
        "admitted_at": ADMITTED_AT,
        "discharged_at": None,
        "disposition": None,
    }
    assert encounter.transitions[-1] == Transition(
        2,
        TransitionKind.ADMISSION,
        ADMITTED_AT,
        previous_status=EncounterStatus.PREADMITTED,
        previous_location="PREOP",
        previous_class=PatientClass.PREADMIT,
    )
    event = events(encounter)[-1]
    assert type(event) is PatientAdmitted
    assert (event.transition_number, event.location) == (2, "4W^12")
    assert event.patient_id == PATIENT_ID


def test_admit_an_admitted_encounter_is_refused() -> None:
    encounter = admitted()
    with refused(InvalidTransition, encounter):
        encounter.admit(PatientClass.INPATIENT, "4W^12", at(1))


def test_admit_twice_after_preadmission_is_refused() -> None:
    encounter = preadmitted()
    encounter.admit(PatientClass.INPATIENT, "4W^12", at(0))
    with refused(InvalidTransition, encounter):
        encounter.admit(PatientClass.INPATIENT, "4W^14", at(1))


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda e: e.transfer("4W^12", None, at(1)), id="transfer"),
        pytest.param(lambda e: e.discharge(Disposition.HOME, at(1)), id="discharge"),
        pytest.param(lambda e: e.start_leave_of_absence(at(1)), id="leave"),
        pytest.param(lambda e: e.end_leave_of_absence(at(1)), id="return"),
        pytest.param(
            lambda e: e.change_patient_class(PatientClass.INPATIENT, at(1)), id="class change"
        ),
    ],
)
def test_preadmitted_encounter_refuses_transitions_before_admission(
    command: Callable[[Encounter], None],
) -> None:
    encounter = preadmitted()
    with refused(InvalidTransition, encounter):
        command(encounter)


# --- transfers, discharge, leave of absence, class changes, visit updates ------------------------


def test_transfer_moves_and_records_from_location() -> None:
    encounter = admitted()
    encounter.transfer("ICU^03", "intensive", at(2))
    encounter.transfer("4W^12", "med-surg", at(30))

    assert encounter.location == "4W^12"
    assert [(t.number, t.kind, t.previous_location) for t in encounter.transitions] == [
        (1, TransitionKind.ADMISSION, None),
        (2, TransitionKind.TRANSFER, "ED^01"),
        (3, TransitionKind.TRANSFER, "ICU^03"),
    ]
    first, second = events(encounter)[1:]
    assert type(first) is PatientTransferred
    assert (first.from_location, first.to_location, first.level_of_care) == (
        "ED^01",
        "ICU^03",
        "intensive",
    )
    assert (second.from_location, second.to_location, second.transition_number) == (
        "ICU^03",
        "4W^12",
        3,
    )


@pytest.mark.parametrize("disposition", list(Disposition))
def test_discharge_with_disposition(disposition: Disposition) -> None:
    encounter = admitted()
    encounter.discharge(disposition, at(72))

    assert encounter.status is EncounterStatus.DISCHARGED
    assert encounter.discharged_at == ADMITTED_AT + timedelta(hours=72)
    assert encounter.disposition is disposition
    event = events(encounter)[-1]
    assert type(event) is PatientDischarged
    assert (event.disposition, event.transition_number) == (disposition, 2)


def test_leave_of_absence_out_and_back() -> None:
    encounter = admitted()
    encounter.start_leave_of_absence(at(24))
    on_leave = encounter.status
    encounter.end_leave_of_absence(at(30))

    assert (on_leave, encounter.status) == (EncounterStatus.ON_LEAVE, EncounterStatus.ACTIVE)
    assert encounter.discharged_at is None
    assert [type(e) for e in events(encounter)[1:]] == [LeaveOfAbsenceStarted, LeaveOfAbsenceEnded]
    assert [t.kind for t in encounter.transitions[1:]] == [
        TransitionKind.LEAVE_OF_ABSENCE,
        TransitionKind.RETURN_FROM_LEAVE,
    ]


def test_discharge_while_on_leave() -> None:
    encounter = admitted()
    encounter.start_leave_of_absence(at(24))
    encounter.discharge(Disposition.HOME, at(30))
    assert encounter.status is EncounterStatus.DISCHARGED


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda e: e.transfer("4W^12", None, at(25)), id="transfer"),
        pytest.param(lambda e: e.start_leave_of_absence(at(25)), id="leave again"),
        pytest.param(
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(25)), id="class change"
        ),
    ],
)
def test_on_leave_refuses_transitions_that_need_presence(
    command: Callable[[Encounter], None],
) -> None:
    encounter = admitted()
    encounter.start_leave_of_absence(at(24))
    with refused(InvalidTransition, encounter):
        command(encounter)


def test_return_without_leave_is_refused() -> None:
    encounter = admitted()
    with refused(InvalidTransition, encounter):
        encounter.end_leave_of_absence(at(2))


@pytest.mark.parametrize(
    ("start", "to_class"),
    [
        pytest.param(PatientClass.OUTPATIENT, PatientClass.INPATIENT, id="A06"),
        pytest.param(PatientClass.INPATIENT, PatientClass.OUTPATIENT, id="A07"),
    ],
)
def test_patient_class_change(start: PatientClass, to_class: PatientClass) -> None:
    encounter = admitted(start)
    encounter.change_patient_class(to_class, at(6))

    assert encounter.patient_class is to_class
    event = events(encounter)[-1]
    assert type(event) is PatientClassChanged
    assert (event.from_class, event.to_class) == (start, to_class)
    assert encounter.transitions[-1].kind is TransitionKind.CLASS_CHANGE
    assert encounter.transitions[-1].previous_class == start


def test_change_to_the_same_class_is_refused() -> None:
    encounter = admitted(PatientClass.INPATIENT)
    with refused(InvalidTransition, encounter):
        encounter.change_patient_class(PatientClass.INPATIENT, at(6))


def test_visit_update_is_not_a_transition() -> None:
    encounter = admitted()
    encounter.update_visit("ED^02", "1234^House^Gregory", at(1))

    assert (encounter.location, encounter.attending) == ("ED^02", "1234^House^Gregory")
    assert len(encounter.transitions) == 1
    event = events(encounter)[-1]
    assert type(event) is VisitUpdated
    assert event.patient_id == PATIENT_ID


def test_visit_update_after_discharge_is_accepted() -> None:
    encounter = admitted()
    encounter.discharge(Disposition.HOME, at(48))
    encounter.update_visit("ED^01", "5678^Grey^Meredith", at(49))
    assert encounter.attending == "5678^Grey^Meredith"
    assert encounter.status is EncounterStatus.DISCHARGED


# --- refusals after discharge, and time plausibility ---------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda e: e.discharge(Disposition.HOME, at(50)), id="discharge twice"),
        pytest.param(lambda e: e.transfer("4W^12", None, at(50)), id="transfer"),
        pytest.param(lambda e: e.start_leave_of_absence(at(50)), id="leave"),
        pytest.param(lambda e: e.end_leave_of_absence(at(50)), id="return"),
        pytest.param(
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(50)), id="class change"
        ),
        pytest.param(lambda e: e.admit(PatientClass.INPATIENT, "4W^12", at(50)), id="admit"),
    ],
)
def test_discharged_encounter_refuses_transitions(command: Callable[[Encounter], None]) -> None:
    encounter = admitted()
    encounter.discharge(Disposition.SKILLED_NURSING, at(48))
    with refused(InvalidTransition, encounter):
        command(encounter)
    assert encounter.disposition is Disposition.SKILLED_NURSING


def transferred() -> Encounter:
    """Admitted at 0h, moved to ICU at 10h."""
    encounter = admitted()
    encounter.transfer("ICU^03", None, at(10))
    return encounter


def reclassified() -> Encounter:
    """Admitted at 0h as an outpatient, made an inpatient at 10h."""
    encounter = admitted(PatientClass.OUTPATIENT)
    encounter.change_patient_class(PatientClass.INPATIENT, at(10))
    return encounter


def on_leave() -> Encounter:
    """Admitted at 0h, on leave from 24h."""
    encounter = admitted()
    encounter.start_leave_of_absence(at(24))
    return encounter


def back_from_leave() -> Encounter:
    """Admitted at 0h, on leave from 24h, back at 30h."""
    encounter = on_leave()
    encounter.end_leave_of_absence(at(30))
    return encounter


@pytest.mark.parametrize(
    ("make", "command"),
    [
        pytest.param(
            admitted, lambda e: e.discharge(Disposition.HOME, at(-1)), id="discharge<admission"
        ),
        pytest.param(
            admitted, lambda e: e.transfer("4W^12", None, at(-0.5)), id="transfer<admission"
        ),
        pytest.param(admitted, lambda e: e.start_leave_of_absence(at(-24)), id="leave<admission"),
        pytest.param(
            admitted,
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(-1)),
            id="class change<admission",
        ),
        pytest.param(
            preadmitted,
            lambda e: e.admit(PatientClass.INPATIENT, "4W^12", at(-49)),
            id="admission<preadmission",
        ),
        pytest.param(
            transferred, lambda e: e.discharge(Disposition.HOME, at(9)), id="discharge<transfer"
        ),
        pytest.param(
            transferred, lambda e: e.transfer("4W^12", None, at(9.5)), id="transfer<transfer"
        ),
        pytest.param(transferred, lambda e: e.start_leave_of_absence(at(5)), id="leave<transfer"),
        pytest.param(
            transferred,
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(9)),
            id="class change<transfer",
        ),
        pytest.param(
            reclassified, lambda e: e.transfer("4W^12", None, at(9)), id="transfer<class change"
        ),
        pytest.param(
            reclassified,
            lambda e: e.discharge(Disposition.HOME, at(1)),
            id="discharge<class change",
        ),
        pytest.param(
            on_leave, lambda e: e.discharge(Disposition.HOME, at(23)), id="discharge<leave"
        ),
        pytest.param(on_leave, lambda e: e.end_leave_of_absence(at(20)), id="return<leave"),
        pytest.param(on_leave, lambda e: e.end_leave_of_absence(at(-5)), id="return<admission"),
        pytest.param(
            back_from_leave, lambda e: e.discharge(Disposition.HOME, at(29)), id="discharge<return"
        ),
        pytest.param(
            back_from_leave, lambda e: e.start_leave_of_absence(at(26)), id="leave<return"
        ),
    ],
)
def test_transition_before_the_newest_transition_in_force_is_implausible(
    make: Callable[[], Encounter], command: Callable[[Encounter], None]
) -> None:
    encounter = make()
    before = snapshot(encounter)
    with refused(ImplausibleDate, encounter):
        command(encounter)
    assert snapshot(encounter) == before


@pytest.mark.parametrize(
    ("make", "command"),
    [
        pytest.param(
            transferred, lambda e: e.discharge(Disposition.HOME, at(10)), id="discharge=transfer"
        ),
        pytest.param(on_leave, lambda e: e.end_leave_of_absence(at(24)), id="return=leave"),
        pytest.param(
            preadmitted,
            lambda e: e.admit(PatientClass.INPATIENT, "4W^12", at(-48)),
            id="admission=preadmission",
        ),
        pytest.param(
            reclassified,
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(10)),
            id="class change=class change",
        ),
    ],
)
def test_transition_at_the_instant_of_the_newest_one_is_plausible(
    make: Callable[[], Encounter], command: Callable[[Encounter], None]
) -> None:
    encounter = make()
    command(encounter)
    assert len(encounter.transitions) == len(make().transitions) + 1


def test_transition_at_the_admission_instant_is_plausible() -> None:
    encounter = admitted()
    encounter.transfer("4W^12", None, at(0))
    encounter.discharge(Disposition.HOME, at(0))
    assert encounter.status is EncounterStatus.DISCHARGED


def test_discharge_before_a_later_admission_after_preadmission_is_implausible() -> None:
    encounter = preadmitted()
    encounter.admit(PatientClass.INPATIENT, "4W^12", at(0))
    with refused(ImplausibleDate, encounter):
        encounter.discharge(Disposition.HOME, at(-24))


def test_a_cancelled_transition_no_longer_sets_the_earliest_time() -> None:
    """Once the 10h transfer is voided, the newest transition in force is the admission."""
    encounter = transferred()
    encounter.cancel(2, "wrong bed", at(11))
    encounter.transfer("4W^12", None, at(5))
    encounter.discharge(Disposition.HOME, at(8))
    encounter.cancel(4, "discharged in error", at(9))

    with refused(ImplausibleDate, encounter):
        encounter.discharge(Disposition.HOME, at(4.5))
    encounter.discharge(Disposition.HOME, at(6))

    assert [(t.number, t.cancelled) for t in encounter.transitions] == [
        (1, False),
        (2, True),
        (3, False),
        (4, True),
        (5, False),
    ]
    assert encounter.discharged_at == ADMITTED_AT + timedelta(hours=6)


def test_clinical_time_is_kept_apart_from_recorded_time() -> None:
    """A discharge on March 4th, fed in on March 7th, is a March 4th discharge."""
    encounter = admitted()
    happened = ADMITTED_AT + timedelta(days=3)
    late = Action(FEED, happened, happened + timedelta(days=3, hours=2), "HL7v2:batch")
    encounter.discharge(Disposition.HOME_HEALTH, late)

    event = events(encounter)[-1]
    assert event.occurred_at == happened
    assert event.timestamp == happened + timedelta(days=3, hours=2)
    assert encounter.discharged_at == happened
    assert encounter.transitions[-1].occurred_at == happened
    assert encounter.modified_on == happened + timedelta(days=3, hours=2)
    assert encounter.created_on == ADMITTED_AT + timedelta(seconds=40)
    assert encounter.admitted_at == ADMITTED_AT


def test_every_event_names_the_patient() -> None:
    encounter = preadmitted()
    encounter.admit(PatientClass.INPATIENT, "4W^12", at(0))
    encounter.transfer("ICU^01", None, at(1))
    encounter.change_patient_class(PatientClass.OBSTETRICS, at(2))
    encounter.update_visit("ICU^02", None, at(3))
    encounter.start_leave_of_absence(at(4))
    encounter.end_leave_of_absence(at(5))
    encounter.discharge(Disposition.HOME, at(6))
    encounter.cancel(7, "wrong patient", at(7))

    assert len(events(encounter)) == 9
    assert {e.patient_id for e in events(encounter)} == {PATIENT_ID}
    assert {e.actor for e in events(encounter)} == {FEED}
    assert [t.number for t in encounter.transitions] == list(range(1, 8))


# --- cancels: compensating events ----------------------------------------------------------------


def test_cancel_discharge_makes_the_encounter_active_and_dischargeable_again() -> None:
    encounter = admitted()
    encounter.discharge(Disposition.HOME, at(48))
    discharge = encounter.latest_transition(TransitionKind.DISCHARGE)

    encounter.cancel(discharge.number, "discharged in error", at(49))

    assert snapshot(encounter)["status"] is EncounterStatus.ACTIVE
    assert (encounter.discharged_at, encounter.disposition) == (None, None)
    event = events(encounter)[-1]
    assert type(event) is TransitionCancelled
    assert (event.transition_number, event.cancelled_kind, event.reason) == (
        2,
        TransitionKind.DISCHARGE,
        "discharged in error",
    )
    # History keeps both: the voided discharge stays, marked cancelled.
    assert encounter.transitions[1] == Transition(
        2,
        TransitionKind.DISCHARGE,
        ADMITTED_AT + timedelta(hours=48),
        cancelled=True,
        previous_status=EncounterStatus.ACTIVE,
        previous_location="ED^01",
        previous_class=PatientClass.INPATIENT,
    )

    encounter.discharge(Disposition.SKILLED_NURSING, at(72))
    assert encounter.status is EncounterStatus.DISCHARGED
    assert encounter.disposition is Disposition.SKILLED_NURSING
    assert encounter.latest_transition(TransitionKind.DISCHARGE).number == 3


@pytest.mark.parametrize("make", [admitted, preadmitted], ids=["admission", "preadmission"])
def test_cancel_admission_cancels_the_encounter(make: Callable[[], Encounter]) -> None:
    encounter = make()
    encounter.cancel(1, "registered in error", at(1))

    assert encounter.status is EncounterStatus.CANCELLED
    assert encounter.transitions[0].cancelled
    assert events(encounter)[-1].cancelled_kind is encounter.transitions[0].kind


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda e: e.transfer("4W^12", None, at(2)), id="transfer"),
        pytest.param(lambda e: e.discharge(Disposition.HOME, at(2)), id="discharge"),
        pytest.param(lambda e: e.start_leave_of_absence(at(2)), id="leave"),
        pytest.param(lambda e: e.end_leave_of_absence(at(2)), id="return"),
        pytest.param(
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(2)), id="class change"
        ),
        pytest.param(lambda e: e.admit(PatientClass.INPATIENT, "4W^12", at(2)), id="admit"),
        pytest.param(lambda e: e.update_visit("4W^12", None, at(2)), id="visit update"),
    ],
)
def test_cancelled_encounter_refuses_further_transitions(
    command: Callable[[Encounter], None],
) -> None:
    encounter = admitted()
    encounter.cancel(1, "registered in error", at(1))
    with refused(InvalidTransition, encounter):
        command(encounter)


def test_cancel_transfer_restores_the_location() -> None:
    encounter = admitted()
    encounter.transfer("ICU^03", "intensive", at(2))
    encounter.cancel(2, "transferred in error", at(3))

    assert encounter.location == "ED^01"
    assert encounter.status is EncounterStatus.ACTIVE
    assert encounter.transitions[1].cancelled
    assert events(encounter)[-1].cancelled_kind is TransitionKind.TRANSFER


def test_cancel_class_change_restores_the_class() -> None:
    encounter = admitted(PatientClass.OUTPATIENT)
    encounter.change_patient_class(PatientClass.INPATIENT, at(2))
    encounter.cancel(2, "observation, not inpatient", at(3))

    assert encounter.patient_class is PatientClass.OUTPATIENT


def test_cancel_leave_of_absence_makes_the_patient_present_again() -> None:
    encounter = admitted()
    encounter.start_leave_of_absence(at(24))
    encounter.cancel(2, "never left", at(25))

    assert encounter.status is EncounterStatus.ACTIVE
    encounter.transfer("4W^12", None, at(26))
    assert encounter.location == "4W^12"


def test_cancel_return_from_leave_puts_the_patient_back_on_leave() -> None:
    encounter = admitted()
    encounter.start_leave_of_absence(at(24))
    encounter.end_leave_of_absence(at(30))
    encounter.cancel(3, "returned to wrong encounter", at(31))

    assert encounter.status is EncounterStatus.ON_LEAVE


def test_latest_transition_skips_cancelled_ones() -> None:
    encounter = admitted()
    encounter.transfer("ICU^03", None, at(2))
    encounter.transfer("4W^12", None, at(20))
    assert encounter.latest_transition(TransitionKind.TRANSFER).number == 3

    encounter.cancel(3, "wrong bed", at(21))

    assert encounter.latest_transition(TransitionKind.TRANSFER).number == 2
    assert encounter.location == "ICU^03"
    assert encounter.latest_transition(TransitionKind.ADMISSION).number == 1


def test_latest_transition_of_a_kind_not_in_force_is_unknown() -> None:
    encounter = admitted()
    with pytest.raises(UnknownTransition):
        encounter.latest_transition(TransitionKind.DISCHARGE)
    encounter.discharge(Disposition.HOME, at(48))
    encounter.cancel(2, "error", at(49))
    with pytest.raises(UnknownTransition):
        encounter.latest_transition(TransitionKind.DISCHARGE)


@pytest.mark.parametrize("number", [0, 3, -1, 99])
def test_cancel_of_an_unknown_transition_is_refused(number: int) -> None:
    encounter = admitted()
    encounter.transfer("ICU^03", None, at(2))
    with refused(UnknownTransition, encounter):
        encounter.cancel(number, "?", at(3))


def test_cancel_twice_is_refused() -> None:
    encounter = admitted()
    encounter.discharge(Disposition.HOME, at(48))
    encounter.cancel(2, "error", at(49))
    with refused(TransitionAlreadyCancelled, encounter):
        encounter.cancel(2, "resent A13", at(50))


def fully_cancelled() -> Encounter:
    """Admitted, discharged; the discharge voided (A13), then the admission (A11)."""
    encounter = admitted()
    encounter.discharge(Disposition.HOME, at(48))
    encounter.cancel(2, "wrong patient", at(49))
    encounter.cancel(1, "wrong patient", at(50))
    assert encounter.status is EncounterStatus.CANCELLED
    return encounter


@pytest.mark.parametrize("number", [1, 2, 99], ids=["admission", "discharge", "unknown"])
def test_cancelled_encounter_refuses_any_cancel(number: int) -> None:
    """A voided admission is final: no A13 (or resent A11) revives the encounter."""
    encounter = fully_cancelled()
    with refused(InvalidTransition, encounter):
        encounter.cancel(number, "resent", at(51))
    assert encounter.status is EncounterStatus.CANCELLED
    assert [t.cancelled for t in encounter.transitions] == [True, True]


def test_cancel_discharge_from_leave_restores_leave() -> None:
    encounter = on_leave()
    encounter.discharge(Disposition.HOME, at(30))
    assert encounter.transitions[-1].previous_status is EncounterStatus.ON_LEAVE

    encounter.cancel(3, "discharged in error", at(31))

    assert encounter.status is EncounterStatus.ON_LEAVE
    assert (encounter.discharged_at, encounter.disposition) == (None, None)
    encounter.end_leave_of_absence(at(32))
    assert encounter.status is EncounterStatus.ACTIVE


@pytest.mark.parametrize(
    ("make", "command"),
    [
        pytest.param(admitted, lambda e: e.transfer("ICU^03", None, at(2)), id="transfer"),
        pytest.param(admitted, lambda e: e.discharge(Disposition.EXPIRED, at(2)), id="discharge"),
        pytest.param(
            on_leave, lambda e: e.discharge(Disposition.HOME, at(30)), id="discharge on leave"
        ),
        pytest.param(admitted, lambda e: e.start_leave_of_absence(at(2)), id="leave"),
        pytest.param(on_leave, lambda e: e.end_leave_of_absence(at(30)), id="return"),
        pytest.param(
            admitted,
            lambda e: e.change_patient_class(PatientClass.OUTPATIENT, at(2)),
            id="class change",
        ),
        pytest.param(
            transferred, lambda e: e.transfer("4W^12", None, at(20)), id="second transfer"
        ),
    ],
)
def test_cancel_of_the_newest_transition_restores_the_state_before_it(
    make: Callable[[], Encounter], command: Callable[[Encounter], None]
) -> None:
    encounter = make()
    before = snapshot(encounter)
    command(encounter)
    newest = encounter.transitions[-1]
    assert newest.previous_status is before["status"]
    assert snapshot(encounter) != before

    encounter.cancel(newest.number, "in error", at(40))

    assert snapshot(encounter) == before
    assert encounter.transitions[-1] == replace(newest, cancelled=True)


def admitted_after_preadmission() -> Encounter:
    encounter = preadmitted()
    encounter.admit(PatientClass.INPATIENT, "4W^12", at(0))
    return encounter


def test_cancel_admission_of_a_preadmitted_encounter_goes_back_to_preadmitted() -> None:
    encounter = admitted_after_preadmission()

    encounter.cancel(2, "not admitted after all", at(1))

    assert encounter.status is EncounterStatus.PREADMITTED
    assert encounter.admitted_at is None
    assert (encounter.location, encounter.patient_class) == ("PREOP", PatientClass.PREADMIT)
    assert [(t.kind, t.cancelled) for t in encounter.transitions] == [
        (TransitionKind.PREADMISSION, False),
        (TransitionKind.ADMISSION, True),
    ]
    event = events(encounter)[-1]
    assert (type(event), event.cancelled_kind) == (TransitionCancelled, TransitionKind.ADMISSION)

    # Pre-admitted again: it can be admitted (again) or the pre-admission voided in turn.
    encounter.admit(PatientClass.INPATIENT, "4W^14", at(2))
    assert (encounter.status, encounter.admitted_at) == (
        EncounterStatus.ACTIVE,
        ADMITTED_AT + timedelta(hours=2),
    )
    encounter.cancel(3, "not admitted after all", at(3))
    encounter.cancel(1, "procedure cancelled", at(4))
    assert encounter.status is EncounterStatus.CANCELLED


def _older_transfer(encounter: Encounter) -> int:
    encounter.transfer("ICU^03", None, at(2))
    encounter.transfer("4W^12", None, at(20))
    return 2


def _return_then_discharge(encounter: Encounter) -> int:
    encounter.start_leave_of_absence(at(24))
    encounter.end_leave_of_absence(at(30))
    encounter.discharge(Disposition.HOME, at(40))
    return 3


def _admission_under_a_transfer(encounter: Encounter) -> int:
    encounter.transfer("ICU^03", None, at(2))
    return 1


def _admission_under_a_discharge(encounter: Encounter) -> int:
    encounter.transfer("ICU^03", None, at(2))
    encounter.cancel(2, "wrong bed", at(3))
    encounter.discharge(Disposition.HOME, at(4))
    return 1


@pytest.mark.parametrize(
    "scenario",
    [
        _older_transfer,
        _return_then_discharge,
        _admission_under_a_transfer,
        _admission_under_a_discharge,
    ],
    ids=["older transfer", "return under discharge", "admission", "admission under discharge"],
)
def test_cancel_of_a_superseded_transition_is_refused(
    scenario: Callable[[Encounter], int],
) -> None:
    """Only the newest transition in force can be voided: cancel the later ones first."""
    encounter = admitted()
    number = scenario(encounter)
    before = snapshot(encounter)
    transitions = list(encounter.transitions)

    with refused(InvalidTransition, encounter):
        encounter.cancel(number, "late cancel", at(41))

    assert snapshot(encounter) == before
    assert encounter.transitions == transitions


def test_cancel_of_an_admission_superseded_after_preadmission_is_refused() -> None:
    encounter = admitted_after_preadmission()
    encounter.transfer("ICU^03", None, at(1))
    with refused(InvalidTransition, encounter):
        encounter.cancel(2, "not admitted after all", at(2))
    with refused(InvalidTransition, encounter):
        encounter.cancel(1, "procedure cancelled", at(2))
    assert (encounter.status, encounter.admitted_at) == (EncounterStatus.ACTIVE, ADMITTED_AT)


def test_transitions_can_be_cancelled_newest_first() -> None:
    """A12 then A12 again: each cancel makes the transition before it the newest in force."""
    encounter = admitted()
    encounter.transfer("ICU^03", None, at(2))
    encounter.transfer("4W^12", None, at(20))

    encounter.cancel(3, "wrong bed", at(21))
    assert encounter.location == "ICU^03"
    encounter.cancel(2, "never left the ED", at(22))
    assert encounter.location == "ED^01"
    encounter.cancel(1, "wrong patient", at(23))

    assert encounter.status is EncounterStatus.CANCELLED
    assert all(t.cancelled for t in encounter.transitions)


# --- diagnoses ------------------------------------------------------------------------------------

ADMITTING_CHEST_PAIN = Diagnosis("R07.9", "I10", "Chest pain", DiagnosisType.ADMITTING)
FINAL_DEPRESSION = Diagnosis("F32.9", "I10", "Major depressive disorder", DiagnosisType.FINAL, 1)


def test_diagnoses_recorded_replace_the_earlier_list() -> None:
    encounter = admitted()
    encounter.record_diagnoses([ADMITTING_CHEST_PAIN], at(0))
    encounter.discharge(Disposition.HOME, at(48))
    encounter.record_diagnoses([FINAL_DEPRESSION], at(48))

    assert encounter.diagnoses == (FINAL_DEPRESSION,)
    assert encounter.diagnosed_at == at(48).occurred_at
    event = events(encounter)[-1]
    assert type(event) is EncounterDiagnosesRecorded
    assert (event.diagnoses, event.patient_id) == ([FINAL_DEPRESSION], PATIENT_ID)


def test_diagnoses_after_discharge_are_accepted_and_are_not_a_transition() -> None:
    encounter = admitted()
    encounter.discharge(Disposition.HOME, at(48))
    encounter.record_diagnoses([FINAL_DEPRESSION], at(72))
    assert encounter.status is EncounterStatus.DISCHARGED
    assert len(encounter.transitions) == 2


@pytest.mark.parametrize(
    ("diagnoses", "when"),
    [
        pytest.param([], 2, id="no diagnosis"),
        pytest.param([ADMITTING_CHEST_PAIN], 2, id="the same list again"),
        pytest.param([FINAL_DEPRESSION], 0.5, id="older than the recorded list"),
    ],
)
def test_diagnoses_that_are_not_news_are_refused(diagnoses: list[Diagnosis], when: float) -> None:
    encounter = admitted()
    encounter.record_diagnoses([ADMITTING_CHEST_PAIN], at(1))
    with refused(InvalidTransition, encounter):
        encounter.record_diagnoses(diagnoses, at(when))


def test_diagnoses_of_a_cancelled_encounter_are_refused() -> None:
    encounter = admitted()
    encounter.cancel(1, "wrong patient", at(1))
    with refused(InvalidTransition, encounter):
        encounter.record_diagnoses([FINAL_DEPRESSION], at(2))
