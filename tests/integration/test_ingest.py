"""ADT messages through the receiver into the event store: the events each one produces, receipts
and idempotence, matching, ordering, the archive and the quarantine.

Store-independent behaviour runs on every store (memory, SQLite, PostgreSQL); the rest on
PostgreSQL, the production store.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest
from pydantic import SecretStr

from domain.encounter import (
    Disposition,
    Encounter,
    EncounterDiagnosesRecorded,
    EncounterStatus,
    PatientClass,
)
from domain.events import CaretrailEvent
from domain.identifier_index import VisitNumberClaim
from domain.message_receipt import AdtEventArrivedLate, AdtMessageAccepted
from domain.patient import Demographics, Identifier
from ingest.hl7v2 import AckCode
from ingest.receiver import AdtReceiver, Reply
from ingest.synthetic import SyntheticFeed
from services.application import CareTrail, Provenance
from services.ingestion import IdentityKeyMissing, IdentityKeys, identity_key
from tests.adt_support import (
    ACCEPTED,
    NEW_ENCOUNTER,
    NEW_PATIENT,
    OpenReceiver,
    arrival,
    events_by_source,
    expected_events,
    fixture_bytes,
    names,
    receivers_on,
    stored_events,
)


@pytest.fixture
def receiver_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    yield from receivers_on(open_app)


E = TypeVar("E", bound=CaretrailEvent)
MERGED_IN = ["PatientIdentifierClaimed", "IdentifierAdded"]
DIAGNOSED = ["EncounterDiagnosesRecorded"]  # from DG1

# What each fixture produces on an empty store (in any order: one transaction). Cancels of
# visits never seen and a bed status update produce nothing.
EVENTS_ON_AN_EMPTY_STORE: dict[str, list[str]] = {
    "a01_bom_and_blank_lines": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a01_missing_evn": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a01_trigger_in_evn1_only": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "custom_field_separator_star": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "epic_a01_admit_inpatient": NEW_PATIENT + NEW_ENCOUNTER + DIAGNOSED + ACCEPTED,
    "a02_transfer_to_icu": NEW_PATIENT + NEW_ENCOUNTER + ["PatientTransferred"] + ACCEPTED,
    "a03_discharge_ama": NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged"] + ACCEPTED,
    "a03_discharge_depression_dg1": NEW_PATIENT
    + NEW_ENCOUNTER
    + ["PatientDischarged"]
    + DIAGNOSED
    + ACCEPTED,
    "a03_discharge_expired": NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged"] + ACCEPTED,
    "a03_discharge_home": NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged"] + ACCEPTED,
    "a03_discharge_home_health_crlf": NEW_PATIENT
    + NEW_ENCOUNTER
    + ["PatientDischarged"]
    + ACCEPTED,
    "a03_discharge_hospice_v27_truncation": NEW_PATIENT
    + NEW_ENCOUNTER
    + ["PatientDischarged"]
    + ACCEPTED,
    "a03_discharge_rehab_v28": NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged"] + ACCEPTED,
    "a03_discharge_snf": NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged"] + ACCEPTED,
    "a03_timezone_offsets_fractional": NEW_PATIENT
    + NEW_ENCOUNTER
    + ["PatientDischarged"]
    + ACCEPTED,
    "meditech_a03_cp1252_name_lf": NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged"] + ACCEPTED,
    "a04_trailing_empty_fields": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "cerner_a04_ed_registration_crlf": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "custom_encoding_characters": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a05_partial_precision_timestamps": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "meditech_a05_preadmit_lf": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    # A class change for a visit never seen opens it in the new class: nothing left to change.
    "a06_outpatient_to_inpatient": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a07_inpatient_to_outpatient": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a08_repeated_pid3_authorities": ["PatientRegistered"]
    + ["PatientIdentifierClaimed"] * 3
    + NEW_ENCOUNTER
    + ACCEPTED,
    "a08_update_escaped_name": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "cerner_a08_zsegments_lf": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a11_cancel_admit": [],
    "a12_cancel_transfer": [],
    "a13_cancel_discharge": [],
    "a20_bed_status_no_patient": [],
    "a21_leave_of_absence": NEW_PATIENT + NEW_ENCOUNTER + ["LeaveOfAbsenceStarted"] + ACCEPTED,
    # The return from a leave never seen leaves the visit open: what the registration shows.
    "a22_return_from_loa": NEW_PATIENT + NEW_ENCOUNTER + ACCEPTED,
    "a28_add_person_no_pv1": ["PatientRegistered"] + ["PatientIdentifierClaimed"] * 2 + ACCEPTED,
    "a31_update_person_no_evn_no_pv1": NEW_PATIENT + ACCEPTED,
    # A merge of identifiers never seen: they simply become the survivor's.
    "a34_merge_patient_id": [
        *NEW_PATIENT,
        "PatientIdentifierClaimed",
        "IdentifierAdded",
        *ACCEPTED,
    ],
    "a36_merge_patient_id_and_account": [
        *NEW_PATIENT,
        "PatientIdentifierClaimed",
        "IdentifierAdded",
        *ACCEPTED,
    ],
    "a39_merge_person": [*NEW_PATIENT, "PatientIdentifierClaimed", "IdentifierAdded", *ACCEPTED],
    "a40_merge_patient_identifier_list": NEW_PATIENT
    + ["PatientIdentifierClaimed"] * 2
    + ["IdentifierAdded"] * 2
    + ACCEPTED,
}


def receive(receiver: AdtReceiver, *messages: bytes | str) -> list[Reply]:
    return receiver.receive([arrival(message) for message in messages])


def only(receiver: AdtReceiver, message: bytes | str) -> Reply:
    (reply,) = receive(receiver, message)
    return reply


def of_type(receiver: AdtReceiver, kind: type[E]) -> list[E]:
    return [e for e in stored_events(receiver.service.app) if isinstance(e, kind)]


def registered(receiver: AdtReceiver, event_name: str) -> list[UUID]:
    """Ids of the aggregates created by `event_name` events, in the order they were stored."""
    events = stored_events(receiver.service.app)
    return [e.originator_id for e in events if type(e).__name__ == event_name]


def encounter_of(receiver: AdtReceiver) -> Encounter:
    (encounter_id,) = registered(receiver, "EncounterRegistered")
    return receiver.service.app.encounter(encounter_id)


@pytest.mark.parametrize("name", sorted(EVENTS_ON_AN_EMPTY_STORE))
def test_each_fixture_produces_its_events(name: str, receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    reply = only(receiver, fixture_bytes(name))

    events = stored_events(receiver.service.app)
    assert sorted(names(events)) == sorted(EVENTS_ON_AN_EMPTY_STORE[name]), reply.reason
    assert (reply.code is AckCode.AA) == bool(events)
    assert len({event.source for event in events}) <= 1, "one message, one source"
    assert all(event.actor.startswith("feed:") for event in events)


def test_a_story_in_clinical_order_on_postgres(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    """Maria Rivera's stay from the Epic fixtures: admit, ICU, discharge home, a cancel of the
    discharge; then the HIE's A08 naming her and Helena Kowalski's MRN together is refused."""
    receiver = receiver_on(postgres_url)
    story = [
        ("epic_a01_admit_inpatient", NEW_PATIENT + NEW_ENCOUNTER + DIAGNOSED + ACCEPTED),
        ("a02_transfer_to_icu", ["PatientTransferred", *ACCEPTED]),
        ("a03_discharge_home", ["PatientDischarged", *ACCEPTED]),
        ("a13_cancel_discharge", ["TransitionCancelled", *ACCEPTED]),
        ("a03_discharge_snf", NEW_PATIENT + NEW_ENCOUNTER + ["PatientDischarged", *ACCEPTED]),
        ("a08_repeated_pid3_authorities", []),
    ]
    seen = 0
    for name, expected in story:
        reply = only(receiver, fixture_bytes(name))
        events = stored_events(receiver.service.app)
        assert sorted(names(events[seen:])) == sorted(expected), (name, reply.reason)
        seen = len(events)

    assert reply.code is AckCode.AE
    assert reply.reason is not None
    assert "ambiguous patient" in reply.reason
    maria = receiver.service.app.encounter(registered(receiver, "EncounterRegistered")[0])
    assert maria.status is EncounterStatus.ACTIVE
    assert maria.location == "ICU^ICU-07^A"
    assert [t.cancelled for t in maria.transitions] == [False, False, True]


def test_a_resend_gets_the_same_answer_and_no_new_event(
    store_url: str, receiver_on: OpenReceiver
) -> None:
    receiver = receiver_on(store_url)
    first = only(receiver, fixture_bytes("a03_discharge_home"))
    count = len(stored_events(receiver.service.app))
    again = only(receiver, fixture_bytes("a03_discharge_home"))
    restamped = only(
        receiver,
        fixture_bytes("a03_discharge_home").replace(b"20240316143005-0400", b"20240317000000"),
    )

    assert (first.code, first.outcome) == (AckCode.AA, "applied")
    assert (again.code, again.outcome) == (AckCode.AA, "duplicate")
    assert (restamped.code, restamped.outcome) == (AckCode.AA, "duplicate")
    assert _msa(again) == _msa(first)
    assert len(stored_events(receiver.service.app)) == count
    assert len(of_type(receiver, AdtMessageAccepted)) == 1


def test_a_reused_control_id_with_other_content_is_refused_and_quarantined(
    store_url: str, receiver_on: OpenReceiver
) -> None:
    receiver = receiver_on(store_url)
    only(receiver, fixture_bytes("a03_discharge_home"))
    count = len(stored_events(receiver.service.app))

    reused = only(receiver, fixture_bytes("a03_discharge_home").replace(b"|01|", b"|03|"))

    assert (reused.code, reused.outcome) == (AckCode.AE, "key_reused")
    assert "already used by a different message" in (reused.reason or "")
    assert len(stored_events(receiver.service.app)) == count
    (held,) = receiver.archive.quarantined()
    assert (held.id, held.control_id, held.outcome) == (
        reused.archive_id,
        "EPC000186510",
        "key_reused",
    )


def test_duplicates_within_one_batch_are_applied_once(
    store_url: str, receiver_on: OpenReceiver
) -> None:
    receiver = receiver_on(store_url)
    message = fixture_bytes("epic_a01_admit_inpatient")

    replies = receive(receiver, message, message, message)

    assert [r.outcome for r in replies] == ["applied", "duplicate", "duplicate"]
    assert sorted(names(stored_events(receiver.service.app))) == sorted(
        NEW_PATIENT + NEW_ENCOUNTER + DIAGNOSED + ACCEPTED
    )


def test_a_refused_message_in_a_batch_leaves_the_others_applied_and_itself_nothing(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    replies = receive(
        receiver,
        fixture_bytes("epic_a01_admit_inpatient"),
        # Registers a patient, then is refused: its registration must not stay behind.
        fixture_bytes("a12_cancel_transfer"),
        fixture_bytes("a03_discharge_home"),
    )

    assert [r.code for r in replies] == [AckCode.AA, AckCode.AE, AckCode.AA]
    assert len(registered(receiver, "PatientRegistered")) == 1
    assert encounter_of(receiver).status is EncounterStatus.DISCHARGED


def test_a_discharge_dated_in_the_future_is_refused_alone_and_kept_for_retry(
    store_url: str, receiver_on: OpenReceiver
) -> None:
    """A wrong year would put every deadline of the discharge out of reach: refused, not stored."""
    receiver = receiver_on(store_url)
    future = fixture_bytes("a03_discharge_home").replace(
        b"|20240316140000-0400", b"|29240316140000-0400"
    )
    replies = receive(receiver, fixture_bytes("epic_a01_admit_inpatient"), future)

    assert [r.code for r in replies] == [AckCode.AA, AckCode.AE]
    assert "2924-03-16T14:00:00-04:00 is in the future" in (replies[1].reason or "")
    assert "in the future" in replies[1].ack
    assert encounter_of(receiver).status is EncounterStatus.ACTIVE
    assert [m.id for m in receiver.archive.quarantined()] == [replies[1].archive_id]


def test_every_message_is_archived_as_received_with_its_outcome(
    store_url: str, receiver_on: OpenReceiver
) -> None:
    receiver = receiver_on(store_url)
    garbage = b"\x00\xffnot hl7 at all"
    replies = receive(receiver, fixture_bytes("a01_missing_evn"), garbage)

    good, bad = (receiver.archive.message(reply.archive_id) for reply in replies)
    assert good is not None
    assert bad is not None
    assert good.raw == fixture_bytes("a01_missing_evn")
    assert (good.outcome, good.ack_code, good.quarantined) == ("applied", "AA", False)
    assert (good.control_id, good.trigger, good.channel) == ("Q2301122205T0001", "A01", "test")
    assert bad.raw == garbage
    assert (bad.outcome, bad.ack_code, bad.quarantined) == ("rejected", "AR", True)
    assert [m.id for m in receiver.archive.quarantined()] == [bad.id]


def test_bytes_whose_framing_is_broken_are_rejected_for_it_and_read_afresh_by_a_retry(
    store_url: str, receiver_on: OpenReceiver
) -> None:
    """A file's MLLP frames cut short, one holding a whole message after all: both kept, the
    readable one under its control id, so it can be inspected and retried."""
    receiver = receiver_on(store_url)
    fault = "MLLP frame cut short: the file ends before its end block"
    whole, junk = fixture_bytes("a01_missing_evn"), b"\x00\xffnot hl7"

    replies = receiver.receive(
        [replace(arrival(raw), framing_fault=fault) for raw in (whole, junk)]
    )

    assert [(r.code, r.outcome, r.reason) for r in replies] == [(AckCode.AR, "rejected", fault)] * 2
    assert stored_events(receiver.service.app) == []
    held = receiver.archive.quarantined()
    assert [(m.raw, m.control_id, m.reason) for m in held] == [
        (whole, "Q2301122205T0001", fault),
        (junk, "", fault),
    ]
    (retried,) = receiver.retry([held[0].id])
    assert (retried.code, retried.outcome) == (AckCode.AA, "applied")


def test_a_quarantined_message_is_applied_by_a_retry_after_the_cause_is_fixed(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    """A13 before the A03 it cancels: refused; once the A03 is in, the retry applies it."""
    receiver = receiver_on(postgres_url)
    only(receiver, fixture_bytes("epic_a01_admit_inpatient"))
    early = only(receiver, fixture_bytes("a13_cancel_discharge"))
    only(receiver, fixture_bytes("a03_discharge_home"))
    assert early.code is AckCode.AE

    (retried,) = receiver.retry([early.archive_id])

    assert (retried.code, retried.outcome) == (AckCode.AA, "applied")
    assert receiver.archive.quarantined() == []
    row = receiver.archive.message(early.archive_id)
    assert row is not None
    assert (row.attempts, row.outcome) == (2, "applied")
    assert encounter_of(receiver).status is EncounterStatus.ACTIVE


def test_a_discharge_before_its_admission_opens_the_encounter(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    discharge = only(receiver, fixture_bytes("a03_discharge_home"))
    admission = only(receiver, fixture_bytes("epic_a01_admit_inpatient"))

    assert (discharge.outcome, admission.outcome) == ("applied", "already_recorded")
    encounter = encounter_of(receiver)
    # The late A01's admitting diagnosis is still the first the encounter hears of.
    assert [d.code for d in encounter.diagnoses] == ["R07.9"]
    assert encounter.admitted_at == datetime.fromisoformat("2024-03-12T08:05:00-04:00")
    assert encounter.status is EncounterStatus.DISCHARGED
    assert encounter.disposition == Disposition.HOME


def test_a_transfer_arriving_after_the_discharge_is_kept_as_a_late_arrival(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    only(receiver, fixture_bytes("epic_a01_admit_inpatient"))
    only(receiver, fixture_bytes("a03_discharge_home"))
    late = only(receiver, fixture_bytes("a02_transfer_to_icu"))

    assert (late.code, late.outcome) == (AckCode.AA, "arrived_late")
    (report,) = of_type(receiver, AdtEventArrivedLate)
    encounter = encounter_of(receiver)
    assert (report.encounter_id, report.transition) == (encounter.id, "transfer")
    assert report.occurred_at == datetime.fromisoformat("2024-03-13T02:00:00-04:00")
    assert report.newest_at == datetime.fromisoformat("2024-03-16T14:00:00-04:00")
    assert encounter.location == "4WEST^412^B"
    assert encounter.status is EncounterStatus.DISCHARGED


def test_a_cancelled_admission_followed_by_a_new_one_opens_a_new_encounter(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    admit = fixture_bytes("epic_a01_admit_inpatient")
    only(receiver, admit)
    only(receiver, fixture_bytes("a11_cancel_admit"))
    readmit = only(receiver, admit.replace(b"EPC000184721", b"EPC000184800"))

    assert readmit.outcome == "applied"
    made = [
        e for e in stored_events(receiver.service.app) if e.source == "EPIC|UMCMAIN|EPC000184800"
    ]
    assert sorted(names(made)) == [
        "AdtMessageAccepted",
        "EncounterDiagnosesRecorded",
        "EncounterRegistered",
        "VisitNumberReassigned",
    ]
    (claim_id,) = registered(receiver, "VisitNumberClaimed")
    claim: VisitNumberClaim = receiver.service.app.repository.get(claim_id)
    cancelled, current = registered(receiver, "EncounterRegistered")
    assert claim.encounter_id == current
    assert receiver.service.app.encounter(cancelled).status is EncounterStatus.CANCELLED
    assert receiver.service.app.encounter(current).status is EncounterStatus.ACTIVE


def test_an_ed_registration_admitted_on_the_same_visit_changes_class(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    only(receiver, fixture_bytes("cerner_a04_ed_registration_crlf"))
    admitted = fixture_bytes("cerner_a04_ed_registration_crlf").replace(b"ADT^A04", b"ADT^A01")
    admitted = admitted.replace(b"|E|ED^ED12^01^STMARYS", b"|I|ED^ED12^01^STMARYS")
    admitted = admitted.replace(b"Q2294875301T2301", b"Q2294875301T2399").replace(
        b"EVN|A04|201905061414", b"EVN|A01|201905061500||||201905061500"
    )
    reply = only(receiver, admitted)

    assert reply.outcome == "applied", reply.reason
    assert names(stored_events(receiver.service.app))[-2:] == [
        "PatientClassChanged",
        "AdtMessageAccepted",
    ]
    assert encounter_of(receiver).patient_class is PatientClass.INPATIENT


def test_identifiers_of_two_patients_in_one_pid_3_are_refused(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    only(receiver, fixture_bytes("epic_a01_admit_inpatient"))
    only(receiver, fixture_bytes("a03_discharge_snf"))
    count = len(stored_events(receiver.service.app))

    reply = only(receiver, fixture_bytes("a08_repeated_pid3_authorities"))

    assert reply.code is AckCode.AE
    assert reply.reason is not None
    assert "belong to 2 different patients" in reply.reason
    assert "E1048823" not in reply.reason, "reasons name authorities, not identifiers"
    assert len(stored_events(receiver.service.app)) == count


def test_an_identifier_holding_an_escaped_hl7_delimiter_is_refused_without_naming_it(
    receiver_on: OpenReceiver,
) -> None:
    receiver = receiver_on("memory://")
    escaped = fixture_bytes("epic_a01_admit_inpatient").replace(
        b"E1048823^^^EPIC", b"E1048\\S\\823^^^EPIC"
    )

    reply = only(receiver, escaped)

    assert reply.code is AckCode.AE
    assert "the EPIC identifier holds HL7 delimiters" in (reply.reason or "")
    assert "E1048" not in (reply.reason or "")
    assert stored_events(receiver.service.app) == []


def test_a_new_mrn_of_an_authority_the_patient_already_has_one_of_is_refused(
    receiver_on: OpenReceiver,
) -> None:
    """A mistyped MRN beside a matching one must not stick to the patient (it would later pull
    that MRN's real owner into this record)."""
    receiver = receiver_on("memory://")
    only(receiver, fixture_bytes("a28_add_person_no_pv1"))
    mistyped = fixture_bytes("a31_update_person_no_evn_no_pv1").replace(
        b"HIE-00981122^^^STATEHIE^PI", b"HIE-00981122^^^STATEHIE^PI~E5500999^^^EPIC^MR"
    )

    reply = only(receiver, mistyped)

    assert reply.code is AckCode.AE
    assert "does not hold" in (reply.reason or "")


def test_a_new_identifier_of_another_authority_is_added_and_claimed(
    receiver_on: OpenReceiver,
) -> None:
    receiver = receiver_on("memory://")
    only(receiver, fixture_bytes("epic_a01_admit_inpatient"))
    reply = only(receiver, fixture_bytes("a08_repeated_pid3_authorities"))

    assert reply.code is AckCode.AA
    (patient_id,) = registered(receiver, "PatientRegistered")
    patient = receiver.service.app.patient(patient_id)
    assert Identifier("NG5510982", "NORTHGEN", "MR") in patient.identifiers
    assert Identifier("1EG4TE5MK73", "CMS", "MB") in patient.identifiers


def test_a_visit_number_of_another_patient_is_refused(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    only(receiver, fixture_bytes("epic_a01_admit_inpatient"))
    other = fixture_bytes("a03_discharge_home").replace(
        b"E1048823^^^EPIC^MR", b"E7777777^^^EPIC^MR"
    )

    reply = only(receiver, other)

    assert reply.code is AckCode.AE
    assert "belongs to another patient" in (reply.reason or "")


def test_merge_then_unmerge_moves_records_not_identifiers(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    app = receiver.service.app
    only(receiver, fixture_bytes("epic_a01_admit_inpatient"))
    retired_admission = (
        fixture_bytes("a01_bom_and_blank_lines")
        .replace(b"E6600111", b"E1099001")
        .replace(b"KHAN^AISHA", b"RIVERA^MARIA")
    )
    only(receiver, retired_admission)
    survivor_id, retired_id = registered(receiver, "PatientRegistered")

    merged = only(receiver, fixture_bytes("a40_merge_patient_identifier_list"))
    after_merge = only(receiver, _a08_for("E1099001", "MRGA08"))
    unmerge = UNMERGE_TEMPLATE.format(survivor="E1048823", retired="E1099001", control="UNM1")
    unmerged = only(receiver, unmerge)
    after_unmerge = only(receiver, _a08_for("E1099001", "UNMA08"))

    assert [r.outcome for r in (merged, after_merge, unmerged, after_unmerge)] == ["applied"] * 4
    assert after_merge.ack  # the retired MRN was answered for by the survivor meanwhile
    assert app.patient(retired_id).merged_into is None
    receipts = of_type(receiver, AdtMessageAccepted)
    by_control = {r.control_id: r.patient_id for r in receipts}
    assert by_control["MRGA08"] == survivor_id
    assert by_control["UNMA08"] == retired_id


UNMERGE_TEMPLATE = (
    "MSH|^~\\&|EPIC|UMCMAIN|CARETRAIL|CTHIE|20240501120000||ADT^A37|{control}|P|2.5\r"
    "EVN|A37|20240501120000\r"
    "PID|1||{survivor}^^^EPIC^MR||RIVERA^MARIA\r"
    "PID|1||{retired}^^^EPIC^MR||RIVERA^MARIA\r"
)


def _a08_for(mrn: str, control: str) -> str:
    return (
        f"MSH|^~\\&|EPIC|UMCMAIN|CARETRAIL|CTHIE|20240420120000||ADT^A08|{control}|P|2.5\r"
        "EVN|A08|20240420120000\r"
        f"PID|1||{mrn}^^^EPIC^MR||RIVERA^MARIA^L||19580214|F\r"
    )


def test_two_first_messages_for_one_new_patient_at_once_make_one_patient(
    receiver_on: OpenReceiver, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes each receive a first message for the same new MRN and visit: the second
    decided before the first saved, so its save meets the claims and is redone as a match."""
    first, second = receiver_on(postgres_url), receiver_on(postgres_url)
    second_decided, first_saved = threading.Event(), threading.Event()
    save = second.service.app.save
    attempts: list[int] = []

    def save_after_the_first(*aggregates: Any, **kwargs: Any) -> Any:
        attempts.append(len(aggregates))
        second_decided.set()
        assert first_saved.wait(30)
        return save(*aggregates, **kwargs)

    monkeypatch.setattr(second.service.app, "save", save_after_the_first)
    late = threading.Thread(
        target=lambda: replies.append(only(second, fixture_bytes("a02_transfer_to_icu")))
    )
    replies: list[Reply] = []
    late.start()
    assert second_decided.wait(30)
    replies.insert(0, only(first, fixture_bytes("epic_a01_admit_inpatient")))
    first_saved.set()
    late.join(30)

    assert [reply.code for reply in replies] == [AckCode.AA, AckCode.AA]
    assert len(attempts) == 2, "the second receiver's first save conflicted and was redone"
    kinds = Counter(names(stored_events(first.service.app)))
    assert (kinds["PatientRegistered"], kinds["EncounterRegistered"]) == (1, 1)
    assert (kinds["PatientTransferred"], kinds["AdtMessageAccepted"]) == (1, 2)


def test_a_generated_feed_produces_the_events_of_each_message(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    feed = list(SyntheticFeed(seed=11, patients=60).messages(400))
    replies = receiver.receive([arrival(message.raw) for message in feed])

    assert {(r.code, r.outcome) for r in replies} == {(AckCode.AA, "applied")}
    made = events_by_source(receiver.service.app)
    for message in feed:
        assert made[f"EPIC|UMCMAIN|{message.control_id}"] == expected_events(message)


def test_clinical_times_become_the_events_occurred_at(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    only(receiver, fixture_bytes("a03_discharge_snf"))
    events = {type(e).__name__: e for e in stored_events(receiver.service.app)}

    assert events["EncounterRegistered"].occurred_at == datetime.fromisoformat(
        "2024-03-28T11:15:00-05:00"
    )
    assert events["PatientDischarged"].occurred_at == datetime.fromisoformat(
        "2024-04-02T16:30:00-05:00"
    )
    assert events["PatientDischarged"].timestamp == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _msa(reply: Reply) -> str:
    return next(segment for segment in reply.ack.split("\r") if segment.startswith("MSA"))


def test_the_identity_key_is_configured_or_made_only_where_that_is_safe(
    open_app: Callable[[str], CareTrail], postgres_url: str
) -> None:
    memory = open_app("memory://")
    assert identity_key(memory, SecretStr("configured")) == b"configured"
    assert identity_key(memory, None) != identity_key(memory, None), "fresh per process"
    with pytest.raises(IdentityKeyMissing, match="CARETRAIL_IDENTITY_KEY must be set"):
        identity_key(open_app(postgres_url), None)


def test_an_sqlite_store_keeps_its_identity_key_beside_it(
    open_app: Callable[[str], CareTrail], tmp_path: Path
) -> None:
    app = open_app(f"sqlite:///{tmp_path}/caretrail.db")

    key = identity_key(app, None)

    assert identity_key(app, None) == key, "the same key on every start"
    key_file = tmp_path / "caretrail.identity-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(key) == 64


def test_an_sqlite_store_holding_claims_is_not_given_a_new_identity_key(
    open_app: Callable[[str], CareTrail], tmp_path: Path
) -> None:
    """A store moved without its key file: under a new key no stored identifier would be found,
    and the feed would register every patient again."""
    app = open_app(f"sqlite:///{tmp_path}/caretrail.db")
    mrn = Identifier("884422", "GENHOSP")
    claim = IdentityKeys(identity_key(app, None)).patient_identifier(mrn)
    app.register_patient(
        [mrn], Demographics("Nguyen", "Linh", None, None), Provenance("intake"), claim_ids=[claim]
    )
    key_file = tmp_path / "caretrail.identity-key"
    key_file.unlink()

    with pytest.raises(IdentityKeyMissing, match=f"{key_file} is missing.*CARETRAIL_IDENTITY_KEY"):
        identity_key(app, None)
    assert not key_file.exists()


def test_an_a08_after_discharge_recodes_the_diagnoses_and_an_older_one_is_ignored(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    discharge = fixture_bytes("a03_discharge_depression_dg1")
    only(receiver, discharge)

    def a08(control_id: bytes, when: bytes, principal: bytes) -> bytes:
        header, _, rest = discharge.partition(b"\rEVN|A03|")
        update = header.replace(b"ADT^A03^ADT_A03|EPC000230412", b"ADT^A08^ADT_A01|" + control_id)
        evn = b"EVN|A08|" + when + b"||||" + when
        pid_on = rest[rest.index(b"\rPID") :]
        return update + b"\r" + evn + pid_on.replace(b"F32.2^", principal + b"^")

    recoded = only(receiver, a08(b"EPC000230999", b"20240711090000-0400", b"F33.2"))
    # Older than the recoding, so older news, though it differs from what is recorded now.
    older = only(receiver, a08(b"EPC000231000", b"20240708090000-0400", b"F32.9"))

    assert [r.code for r in (recoded, older)] == [AckCode.AA, AckCode.AA]
    recorded = of_type(receiver, EncounterDiagnosesRecorded)
    assert [[d.code for d in e.diagnoses][1] for e in recorded] == ["F32.2", "F33.2"]
    assert encounter_of(receiver).status is EncounterStatus.DISCHARGED
