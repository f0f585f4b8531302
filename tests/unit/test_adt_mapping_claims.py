"""What ADT ingestion keeps in the domain: identifier and visit-number claims, receipts, and the
keyed ids that keep MRNs out of the store's ids. Pure: no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from domain.events import Action
from domain.identifier_index import (
    PatientIdentifierClaim,
    PatientIdentifierClaimed,
    VisitNumberClaim,
    VisitNumberReassigned,
)
from domain.message_receipt import (
    AdtEventArrivedLate,
    AdtMessageAccepted,
    AdtMessageReceipt,
    ReceiptOutcome,
)
from domain.patient import Identifier
from services.ingestion import IdentityKeys, receipt_id

WHEN = datetime(2024, 3, 12, 8, 5, tzinfo=UTC)
FEED = Action("feed:EPIC@UMCMAIN", WHEN, WHEN + timedelta(minutes=1), "EPIC|UMCMAIN|EPC1")
MRN = Identifier("E1048823", "EPIC", "MR")


def test_a_claim_names_its_patient_and_nothing_of_the_identifier() -> None:
    patient_id = uuid4()
    claim = PatientIdentifierClaim.claim(uuid4(), patient_id, FEED)

    (event,) = claim.collect_events()
    assert isinstance(event, PatientIdentifierClaimed)
    assert (claim.patient_id, event.patient_id, event.source) == (
        patient_id,
        patient_id,
        "EPIC|UMCMAIN|EPC1",
    )
    assert MRN.value not in repr(vars(event))


def test_a_visit_number_can_be_reassigned_to_a_new_encounter() -> None:
    patient_id, cancelled, current = uuid4(), uuid4(), uuid4()
    claim = VisitNumberClaim.claim(uuid4(), cancelled, patient_id, FEED)
    claim.reassign(current, patient_id, FEED)

    assert claim.encounter_id == current
    reassigned = claim.collect_events()[-1]
    assert isinstance(reassigned, VisitNumberReassigned)
    assert (reassigned.previous_encounter_id, reassigned.encounter_id) == (cancelled, current)


def test_a_receipt_keeps_what_the_feed_was_told_and_a_late_arrival() -> None:
    patient_id, encounter_id = uuid4(), uuid4()
    receipt = AdtMessageReceipt.accept(
        receipt_id(("EPIC", "UMCMAIN", "EPC1")),
        dedup_key=("EPIC", "UMCMAIN", "EPC1"),
        content_hash="ab" * 32,
        trigger="A02",
        outcome=ReceiptOutcome.ARRIVED_LATE,
        note="transfer arrived after the discharge",
        patient_id=patient_id,
        action=FEED,
    )
    receipt.report_late_arrival(encounter_id, "transfer", WHEN + timedelta(days=4), "late", FEED)

    accepted, late = receipt.collect_events()
    assert isinstance(accepted, AdtMessageAccepted)
    assert (accepted.control_id, accepted.trigger, accepted.outcome) == (
        "EPC1",
        "A02",
        "arrived_late",
    )
    assert isinstance(late, AdtEventArrivedLate)
    assert (late.encounter_id, late.patient_id, late.occurred_at) == (
        encounter_id,
        patient_id,
        WHEN,
    )
    assert (receipt.content_hash, receipt.note) == (
        "ab" * 32,
        "transfer arrived after the discharge",
    )


def test_receipt_ids_follow_the_dedup_key_only() -> None:
    assert receipt_id(("EPIC", "UMCMAIN", "1")) == receipt_id(("EPIC", "UMCMAIN", "1"))
    assert receipt_id(("EPIC", "UMCMAIN", "1")) != receipt_id(("EPIC", "UMCMAIN1", ""))


def test_claim_ids_are_keyed_by_the_site_secret() -> None:
    site, other_site = IdentityKeys(b"site secret"), IdentityKeys(b"another secret")

    assert site.patient_identifier(MRN) == site.patient_identifier(MRN)
    assert site.patient_identifier(MRN) != other_site.patient_identifier(MRN)
    assert site.patient_identifier(MRN) != site.patient_identifier(Identifier("E1048823", "CERNER"))
    assert site.visit_number("UMCMAIN", "V1") != site.patient_identifier(
        Identifier("V1", "UMCMAIN")
    )
    assert isinstance(site.visit_number("UMCMAIN", "V1"), UUID)
