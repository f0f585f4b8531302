"""The patient aggregate: identifiers, demographics, and reversible merges that lose nothing.

Pure domain tests: aggregates are built directly, times are fixed, nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.errors import ImplausibleDate, InvalidValue, MergeRefused
from domain.events import Action, recorded
from domain.patient import (
    HL7_DELIMITERS,
    Demographics,
    DemographicsUpdated,
    Identifier,
    IdentifierAdded,
    Patient,
    PatientMergeAbsorbed,
    PatientMergedInto,
    PatientMergeReleased,
    PatientRegistered,
    PatientUnmerged,
)

SURVIVOR_ID = UUID("0b7e6a4e-1f1d-4c11-9d2a-6f1f3c1e0a01")
RETIRED_ID = UUID("c3d2e1f0-5a4b-4c3d-9e8f-7a6b5c4d3e04")
OTHER_ID = UUID("f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a05")
REGISTERED_AT = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

MRN_SURVIVOR = Identifier("MRN100", "MERCY")
MRN_RETIRED = Identifier("MRN200", "MERCY")
MEMBER_ID = Identifier("W123456", "ACME-HEALTH-PLAN", "MB")
JANE = Demographics("Doe", "Jane", date(1950, 5, 17), "F")


def at(hours: float, *, actor: str = "adt.mercy") -> Action:
    occurred = REGISTERED_AT + timedelta(hours=hours)
    return Action(actor, occurred, occurred + timedelta(seconds=30), "HL7v2:MLLP")


def register(
    patient_id: UUID = SURVIVOR_ID, identifiers: list[Identifier] | None = None
) -> Patient:
    return Patient.register(patient_id, identifiers or [MRN_SURVIVOR], JANE, at(0))


def pair() -> tuple[Patient, Patient]:
    """A survivor and a duplicate registration of the same person under another MRN."""
    return register(SURVIVOR_ID), register(RETIRED_ID, [MRN_RETIRED, MEMBER_ID])


def merged() -> tuple[Patient, Patient]:
    survivor, retired = pair()
    retired.merge_into(survivor, at(5, actor="him.clerk"))
    return survivor, retired


def events(patient: Patient) -> list[Any]:
    """The patient's new events (typed loosely: each event class adds its own fields)."""
    return list(patient.pending_events)


def state(patient: Patient) -> tuple[int, int]:
    return patient.version, len(patient.pending_events)


@contextmanager
def refused(exception: type[Exception], *patients: Patient) -> Iterator[None]:
    """The command raises exactly `exception` and records no event on any of `patients`."""
    before = [state(p) for p in patients]
    with pytest.raises(exception) as raised:
        yield
    assert type(raised.value) is exception
    assert [state(p) for p in patients] == before


# --- registration ---------------------------------------------------------------------------------


def test_register_keeps_the_given_internal_id_and_identifiers() -> None:
    patient = register(SURVIVOR_ID, [MRN_SURVIVOR, MEMBER_ID])

    assert patient.id == SURVIVOR_ID
    assert patient.identifiers == [MRN_SURVIVOR, MEMBER_ID]
    assert patient.demographics == JANE
    assert (patient.merged_into, patient.absorbed, patient.carried) == (None, [], {})
    [event] = events(patient)
    assert type(event) is PatientRegistered
    assert (event.patient_id, event.actor, event.occurred_at) == (
        SURVIVOR_ID,
        "adt.mercy",
        REGISTERED_AT,
    )
    assert event.timestamp == REGISTERED_AT + timedelta(seconds=30)


@pytest.mark.parametrize(
    "identifiers", [[MRN_SURVIVOR], [MRN_RETIRED], [MEMBER_ID, MRN_SURVIVOR]], ids=str
)
def test_internal_id_is_the_given_uuid_whatever_the_mrn(identifiers: list[Identifier]) -> None:
    patient = register(OTHER_ID, identifiers)
    [event] = events(patient)
    assert (patient.id, event.originator_id, event.patient_id) == (OTHER_ID, OTHER_ID, OTHER_ID)


def test_same_mrn_under_two_internal_ids_stays_two_patients() -> None:
    first, second = register(SURVIVOR_ID, [MRN_SURVIVOR]), register(RETIRED_ID, [MRN_SURVIVOR])
    assert (first.id, second.id) == (SURVIVOR_ID, RETIRED_ID)


def test_register_needs_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        Patient.register(SURVIVOR_ID, [], JANE, at(0))


@pytest.mark.parametrize(
    ("value", "authority"),
    [("", "MERCY"), ("   ", "MERCY"), ("MRN100", ""), ("MRN100", " \t")],
)
def test_identifier_needs_value_and_authority(value: str, authority: str) -> None:
    with pytest.raises(InvalidValue, match="value and an assigning authority"):
        Identifier(value, authority)


def test_identifier_defaults_to_medical_record_number() -> None:
    assert Identifier("MRN100", "MERCY").identifier_type == "MR"


@pytest.mark.parametrize(
    "identifier",
    [
        Identifier(" MRN100", "MERCY"),
        Identifier("MRN100\t", "MERCY"),
        Identifier("MRN100", "MERCY "),
        *(Identifier(f"MRN{delimiter}100", "MERCY") for delimiter in HL7_DELIMITERS),
        Identifier("MRN100^^^MERCY^MR", "MERCY"),
        Identifier("MRN100", "MERCY&1.2.3"),
    ],
    ids=repr,
)
def test_an_identifier_is_entered_as_the_feed_sends_it(identifier: Identifier) -> None:
    """Patients are matched on the exact value: a blank around it would make a second patient of
    the same MRN, and an HL7 delimiter means a pasted PID-3 field rather than the value."""
    patient = register()
    with refused(InvalidValue, patient):
        patient.add_identifier(identifier, at(1))
    with pytest.raises(InvalidValue, match="MERCY"):
        Patient.register(OTHER_ID, [MRN_SURVIVOR, identifier], JANE, at(0))
    with pytest.raises(InvalidValue, match="MERCY") as refusal:
        Patient.register_from_feed(OTHER_ID, [identifier], JANE, at(0))
    assert "100" not in str(refusal.value), "a refusal names the authority, never the value"


def test_an_identifier_held_from_before_these_rules_is_no_news_when_sent_again() -> None:
    patient = register()
    stored_long_ago = Identifier("MRN^100", "MERCY")
    patient.trigger_event(
        IdentifierAdded, identifier=stored_long_ago, **recorded(at(1), SURVIVOR_ID)
    )
    before = state(patient)
    patient.add_identifier(Identifier("MRN^100", "MERCY"), at(2))
    assert state(patient) == before


@pytest.mark.parametrize(
    "demographics",
    [Demographics("", "Jane"), Demographics("Doe", "  "), Demographics("", "")],
    ids=repr,
)
def test_registration_at_intake_needs_family_and_given_name(demographics: Demographics) -> None:
    with pytest.raises(InvalidValue, match="registering a patient needs their"):
        Patient.register(SURVIVOR_ID, [MRN_SURVIVOR], demographics, at(0))


def test_the_feed_may_register_a_patient_it_knows_by_identifiers_only() -> None:
    """PID-5 may be empty; the patient's admission must be recorded, and its deadlines run."""
    patient = Patient.register_from_feed(SURVIVOR_ID, [MRN_SURVIVOR], Demographics("", ""), at(0))
    assert patient.demographics == Demographics("", "")


BORN_ON_REGISTRATION_DAY = Demographics("Doe", "Baby", REGISTERED_AT.date())
BORN_THE_DAY_AFTER = Demographics("Doe", "Baby", REGISTERED_AT.date() + timedelta(days=1))
BORN_TWO_DAYS_AFTER = Demographics("Doe", "Baby", REGISTERED_AT.date() + timedelta(days=2))


def test_a_patient_is_born_before_anything_is_recorded_about_them() -> None:
    with pytest.raises(ImplausibleDate, match="birth date"):
        Patient.register(SURVIVOR_ID, [MRN_SURVIVOR], BORN_TWO_DAYS_AFTER, at(0))
    with pytest.raises(ImplausibleDate, match="birth date"):
        Patient.register_from_feed(SURVIVOR_ID, [MRN_SURVIVOR], BORN_TWO_DAYS_AFTER, at(0))
    patient = register()
    with refused(ImplausibleDate, patient):
        patient.update_demographics(BORN_TWO_DAYS_AFTER, at(1))


def test_a_newborn_is_registered_on_its_birth_day_in_any_time_zone() -> None:
    """At 10:00 UTC on March 1st it is midnight, March 2nd, at UTC+14: from then on a birth date
    of March 2nd can be right somewhere."""
    newborn = Patient.register(SURVIVOR_ID, [MRN_SURVIVOR], BORN_ON_REGISTRATION_DAY, at(0))
    with refused(ImplausibleDate, newborn):
        newborn.update_demographics(BORN_THE_DAY_AFTER, at(1.99))
    newborn.update_demographics(BORN_THE_DAY_AFTER, at(2))
    assert newborn.demographics == BORN_THE_DAY_AFTER


# --- updates --------------------------------------------------------------------------------------


def test_demographics_update() -> None:
    patient = register()
    married = Demographics("Smith", "Jane", date(1950, 5, 17), "F")
    patient.update_demographics(married, at(1))

    assert patient.demographics == married
    event = events(patient)[-1]
    assert type(event) is DemographicsUpdated
    assert (event.demographics, event.patient_id) == (married, SURVIVOR_ID)


def test_add_identifier() -> None:
    patient = register()
    patient.add_identifier(MEMBER_ID, at(1))

    assert patient.identifiers == [MRN_SURVIVOR, MEMBER_ID]
    event = events(patient)[-1]
    assert type(event) is IdentifierAdded
    assert event.identifier == MEMBER_ID


@pytest.mark.parametrize(
    "identifier", [MRN_SURVIVOR, Identifier("MRN100", "MERCY", "MR")], ids=["same", "equal"]
)
def test_add_duplicate_identifier_is_a_no_op(identifier: Identifier) -> None:
    patient = register()
    before = state(patient)
    patient.add_identifier(identifier, at(1))

    assert state(patient) == before
    assert patient.identifiers == [MRN_SURVIVOR]


@pytest.mark.parametrize(
    "identifier",
    [Identifier("MRN100", "ST-LUKES"), Identifier("MRN100", "MERCY", "PI")],
    ids=["other authority", "other type"],
)
def test_same_value_from_another_authority_or_type_is_a_new_identifier(
    identifier: Identifier,
) -> None:
    patient = register()
    patient.add_identifier(identifier, at(1))
    assert patient.identifiers == [MRN_SURVIVOR, identifier]


# --- merge and unmerge ----------------------------------------------------------------------------


def test_merge_records_on_both_and_carries_identifiers() -> None:
    survivor, retired = merged()

    assert retired.merged_into == SURVIVOR_ID
    assert survivor.absorbed == [RETIRED_ID]
    assert survivor.merged_into is None
    assert survivor.identifiers == [MRN_SURVIVOR, MRN_RETIRED, MEMBER_ID]
    assert survivor.carried == {RETIRED_ID: [MRN_RETIRED, MEMBER_ID]}
    assert retired.identifiers == [MRN_RETIRED, MEMBER_ID]

    retired_event = events(retired)[-1]
    assert type(retired_event) is PatientMergedInto
    assert (retired_event.survivor_id, retired_event.patient_id) == (SURVIVOR_ID, RETIRED_ID)

    survivor_event = events(survivor)[-1]
    assert type(survivor_event) is PatientMergeAbsorbed
    assert survivor_event.retired_id == RETIRED_ID
    assert survivor_event.identifiers == [MRN_RETIRED, MEMBER_ID]
    assert survivor_event.patient_id == SURVIVOR_ID

    for event in (retired_event, survivor_event):
        assert (event.actor, event.occurred_at) == ("him.clerk", REGISTERED_AT + timedelta(hours=5))
        assert event.timestamp == REGISTERED_AT + timedelta(hours=5, seconds=30)


def test_merge_loses_no_event_and_versions_only_grow() -> None:
    survivor, retired = pair()
    retired.update_demographics(Demographics("Doe", "Janet"), at(1))
    retired_history = events(retired)
    survivor_history = events(survivor)

    retired.merge_into(survivor, at(5))
    after_merge = (retired.version, survivor.version)
    retired.unmerge_from(survivor, at(9))

    assert events(retired)[: len(retired_history)] == retired_history
    assert events(survivor)[: len(survivor_history)] == survivor_history
    assert [type(e) for e in events(retired)] == [
        PatientRegistered,
        DemographicsUpdated,
        PatientMergedInto,
        PatientUnmerged,
    ]
    assert [type(e) for e in events(survivor)] == [
        PatientRegistered,
        PatientMergeAbsorbed,
        PatientMergeReleased,
    ]
    assert after_merge == (3, 2)
    assert (retired.version, survivor.version) == (4, 3)
    assert [e.originator_version for e in events(retired)] == [1, 2, 3, 4]
    # The retired patient's own facts are still there, not moved or erased.
    assert retired.demographics == Demographics("Doe", "Janet")
    assert retired.identifiers == [MRN_RETIRED, MEMBER_ID]


def test_unmerge_reverses_the_merge() -> None:
    survivor, retired = merged()
    retired.unmerge_from(survivor, at(9))

    assert retired.merged_into is None
    assert survivor.absorbed == []
    unmerged, released = events(retired)[-1], events(survivor)[-1]
    assert (type(unmerged), unmerged.survivor_id) == (PatientUnmerged, SURVIVOR_ID)
    assert (type(released), released.retired_id) == (PatientMergeReleased, RETIRED_ID)
    assert released.identifiers == [MRN_RETIRED, MEMBER_ID]
    assert (survivor.identifiers, survivor.carried) == ([MRN_SURVIVOR], {})
    assert retired.identifiers == [MRN_RETIRED, MEMBER_ID]

    # Once unmerged, the retired patient takes updates again and can be merged again.
    mrn300 = Identifier("MRN300", "MERCY")
    retired.add_identifier(mrn300, at(10))
    retired.merge_into(survivor, at(11))
    assert survivor.absorbed == [RETIRED_ID]
    assert survivor.identifiers == [MRN_SURVIVOR, MRN_RETIRED, MEMBER_ID, mrn300]
    assert events(survivor)[-1].identifiers == [MRN_RETIRED, MEMBER_ID, mrn300]


def test_a_shared_identifier_is_neither_doubled_nor_taken_on_unmerge() -> None:
    """The survivor already holds the member id: it shows once, and stays after an unmerge."""
    survivor = register(SURVIVOR_ID, [MRN_SURVIVOR, MEMBER_ID])
    retired = register(RETIRED_ID, [MRN_RETIRED, MEMBER_ID])

    retired.merge_into(survivor, at(5))
    absorbed = events(survivor)[-1]
    assert (type(absorbed), absorbed.identifiers) == (
        PatientMergeAbsorbed,
        [MRN_RETIRED, MEMBER_ID],
    )
    assert survivor.identifiers == [MRN_SURVIVOR, MEMBER_ID, MRN_RETIRED]

    retired.unmerge_from(survivor, at(9))
    released = events(survivor)[-1]
    assert (type(released), released.identifiers) == (
        PatientMergeReleased,
        [MRN_RETIRED, MEMBER_ID],
    )
    assert survivor.identifiers == [MRN_SURVIVOR, MEMBER_ID]
    assert retired.identifiers == [MRN_RETIRED, MEMBER_ID]


def test_an_identifier_two_merged_patients_share_stays_until_both_are_unmerged() -> None:
    survivor, retired = merged()
    other = register(OTHER_ID, [MEMBER_ID])
    other.merge_into(survivor, at(6))
    retired.unmerge_from(survivor, at(7))
    assert MEMBER_ID in survivor.identifiers
    other.unmerge_from(survivor, at(8))
    assert survivor.identifiers == [MRN_SURVIVOR]


def test_survivor_can_absorb_several_patients() -> None:
    survivor, retired = merged()
    other = register(OTHER_ID, [Identifier("MRN300", "MERCY")])
    other.merge_into(survivor, at(6))
    assert survivor.absorbed == [RETIRED_ID, OTHER_ID]
    mrn300 = Identifier("MRN300", "MERCY")
    assert survivor.identifiers == [MRN_SURVIVOR, MRN_RETIRED, MEMBER_ID, mrn300]

    retired.unmerge_from(survivor, at(7))
    assert survivor.absorbed == [OTHER_ID]
    assert other.merged_into == SURVIVOR_ID
    assert survivor.identifiers == [MRN_SURVIVOR, mrn300]
    assert survivor.carried == {OTHER_ID: [mrn300]}


def test_survivor_still_takes_updates() -> None:
    survivor, _ = merged()
    mrn900 = Identifier("MRN900", "MERCY")
    survivor.add_identifier(mrn900, at(6))
    assert mrn900 in survivor.identifiers
    assert survivor.own_identifiers[-1] == mrn900
    assert type(events(survivor)[-1]) is IdentifierAdded


def test_survivor_adding_a_carried_identifier_is_a_no_op() -> None:
    survivor, _ = merged()
    before = state(survivor)
    survivor.add_identifier(MEMBER_ID, at(6))
    assert state(survivor) == before
    assert survivor.identifiers == [MRN_SURVIVOR, MRN_RETIRED, MEMBER_ID]


def test_merge_into_self_is_refused() -> None:
    patient = register()
    with refused(MergeRefused, patient):
        patient.merge_into(patient, at(5))


def test_merge_into_a_copy_of_self_is_refused() -> None:
    """Identity is the internal id, not the Python object."""
    patient = register()
    same = register()
    with refused(MergeRefused, patient, same):
        patient.merge_into(same, at(5))


def test_merge_twice_is_refused() -> None:
    survivor, retired = merged()
    with refused(MergeRefused, survivor, retired):
        retired.merge_into(survivor, at(6))


def test_merge_of_a_merged_patient_into_another_is_refused() -> None:
    _, retired = merged()
    other = register(OTHER_ID)
    with refused(MergeRefused, retired, other):
        retired.merge_into(other, at(6))


def test_merge_into_a_merged_patient_is_refused() -> None:
    _, retired = merged()
    other = register(OTHER_ID)
    with refused(MergeRefused, other, retired):
        other.merge_into(retired, at(6))


UPDATES: dict[str, Callable[[Patient, Action], None]] = {
    "demographics": lambda p, a: p.update_demographics(Demographics("Roe", "Jane"), a),
    "new identifier": lambda p, a: p.add_identifier(Identifier("MRN900", "MERCY"), a),
    "known identifier": lambda p, a: p.add_identifier(MRN_RETIRED, a),
}


@pytest.mark.parametrize("update", UPDATES)
def test_updates_to_a_merged_patient_are_refused(update: str) -> None:
    survivor, retired = merged()
    with refused(MergeRefused, retired, survivor):
        UPDATES[update](retired, at(6))


@pytest.mark.parametrize("wrong", ["other", "never merged", "self"])
def test_unmerge_from_the_wrong_survivor_is_refused(wrong: str) -> None:
    survivor, retired = merged()
    other = register(OTHER_ID)
    patient, from_survivor = {
        "other": (retired, other),
        "never merged": (other, survivor),
        "self": (retired, retired),
    }[wrong]
    with refused(MergeRefused, survivor, retired, other):
        patient.unmerge_from(from_survivor, at(6))


def test_unmerge_reversed_direction_is_refused() -> None:
    survivor, retired = merged()
    with refused(MergeRefused, survivor, retired):
        survivor.unmerge_from(retired, at(6))


def test_unmerge_twice_is_refused() -> None:
    survivor, retired = merged()
    retired.unmerge_from(survivor, at(6))
    with refused(MergeRefused, survivor, retired):
        retired.unmerge_from(survivor, at(7))
