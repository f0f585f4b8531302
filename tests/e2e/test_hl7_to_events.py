"""From HL7 bytes on an MLLP socket to events in PostgreSQL: resends, cancels after the fact,
merge then unmerge, and a discharge that arrives before its admission."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from uuid import UUID

import pytest

from domain.encounter import Disposition, EncounterStatus, TransitionKind
from domain.events import CaretrailEvent
from domain.message_receipt import AdtEventArrivedLate, AdtMessageAccepted
from domain.patient import Identifier
from ingest.ack import AckSummary
from ingest.receiver import AdtReceiver
from services.application import CareTrail
from tests.adt_support import (
    LiveMllpServer,
    OpenReceiver,
    fixture_bytes,
    mllp_client,
    names,
    receivers_on,
    stored_events,
)

ADMIT = fixture_bytes("epic_a01_admit_inpatient")
TRANSFER = fixture_bytes("a02_transfer_to_icu")
DISCHARGE = fixture_bytes("a03_discharge_home")
CANCEL_DISCHARGE = fixture_bytes("a13_cancel_discharge")


@pytest.fixture
def receiver_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    yield from receivers_on(open_app)


@pytest.fixture
def feed(receiver_on: OpenReceiver, postgres_url: str) -> Iterator[Feed]:
    receiver = receiver_on(postgres_url)
    with LiveMllpServer(receiver) as server:
        yield Feed(receiver, server.port)


class Feed:
    """A sending system: sends bytes over MLLP, reads what was stored."""

    def __init__(self, receiver: AdtReceiver, port: int) -> None:
        self.receiver = receiver
        self.port = port

    @property
    def app(self) -> CareTrail:
        return self.receiver.service.app

    def send(self, *messages: bytes | str) -> list[AckSummary]:
        payloads = [m.encode() if isinstance(m, str) else m for m in messages]
        with mllp_client(self.port) as client:
            return client.exchange(payloads)

    def events(self) -> list[CaretrailEvent]:
        return stored_events(self.app)

    def new_events(self, since: int) -> list[str]:
        return sorted(names(self.events()[since:]))

    def created(self, event_name: str) -> list[UUID]:
        return [e.originator_id for e in self.events() if type(e).__name__ == event_name]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def test_a_resend_is_answered_again_and_stored_once(feed: Feed) -> None:
    (first,) = feed.send(ADMIT)
    stored = len(feed.events())
    restamped = ADMIT.replace(b"20240312083015-0400", b"20240312090000-0400")
    resent, again = feed.send(ADMIT, restamped)
    (reused,) = feed.send(ADMIT.replace(b"4WEST^412^B", b"5EAST^501^A"))

    assert first == AckSummary("AA", "EPC000184721", None)
    assert resent == again == first
    assert (reused.code, reused.control_id) == ("AE", "EPC000184721")
    assert "already used by a different message" in (reused.text or "")
    assert len(feed.events()) == stored
    (receipt,) = [e for e in feed.events() if isinstance(e, AdtMessageAccepted)]
    assert receipt.source == "EPIC|UMCMAIN|EPC000184721"
    assert [m.control_id for m in feed.receiver.archive.quarantined()] == ["EPC000184721"]


def test_a_discharge_cancelled_after_the_fact_is_voided_and_can_be_sent_again(feed: Feed) -> None:
    assert [ack.code for ack in feed.send(ADMIT, TRANSFER, DISCHARGE)] == ["AA"] * 3
    before = len(feed.events())

    (cancel,) = feed.send(CANCEL_DISCHARGE)

    assert cancel.code == "AA"
    assert feed.new_events(before) == ["AdtMessageAccepted", "TransitionCancelled"]
    (encounter_id,) = feed.created("EncounterRegistered")
    encounter = feed.app.encounter(encounter_id)
    assert encounter.status is EncounterStatus.ACTIVE
    assert (encounter.location, encounter.discharged_at) == ("ICU^ICU-07^A", None)
    cancelled = encounter.transition(3)
    assert (cancelled.kind, cancelled.cancelled) == (TransitionKind.DISCHARGE, True)

    discharged_later = DISCHARGE.replace(b"EPC000186510", b"EPC000186600").replace(b"|01|", b"|06|")
    discharged_later = discharged_later.replace(b"20240316140000-0400", b"20240316170000-0400")
    (again,) = feed.send(discharged_later)

    assert again.code == "AA", again.text
    encounter = feed.app.encounter(encounter_id)
    assert encounter.status is EncounterStatus.DISCHARGED
    assert (encounter.disposition, encounter.discharged_at) == (
        Disposition.HOME_HEALTH,
        at("2024-03-16T17:00:00-04:00"),
    )


def test_merge_then_unmerge(feed: Feed) -> None:
    duplicate_admission = (
        fixture_bytes("a01_bom_and_blank_lines")
        .replace(b"E6600111", b"E1099001")
        .replace(b"KHAN^AISHA", b"RIVERA^MARIA")
    )
    feed.send(ADMIT, duplicate_admission)
    survivor_id, retired_id = feed.created("PatientRegistered")
    before = len(feed.events())

    (merged,) = feed.send(fixture_bytes("a40_merge_patient_identifier_list"))

    assert merged.code == "AA"
    assert feed.new_events(before) == [
        "AdtMessageAccepted",
        "IdentifierAdded",  # MRG-1's second id, never seen, stays with the retired record
        "PatientIdentifierClaimed",
        "PatientMergeAbsorbed",
        "PatientMergedInto",
    ]
    assert feed.app.patient(retired_id).merged_into == survivor_id
    assert Identifier("E1099001", "EPIC", "MR") in feed.app.patient(survivor_id).identifiers
    (while_merged,) = feed.send(_update("E1099001", "WHILEMERGED"))
    before = len(feed.events())

    (unmerged,) = feed.send(_unmerge("E1048823", "E1099001"))

    assert unmerged.code == "AA", unmerged.text
    assert feed.new_events(before) == [
        "AdtMessageAccepted",
        "PatientMergeReleased",
        "PatientUnmerged",
    ]
    (after,) = feed.send(_update("E1099001", "AFTERUNMERGE"))
    survivor = feed.app.patient(survivor_id)
    assert feed.app.patient(retired_id).merged_into is None
    assert Identifier("E1099001", "EPIC", "MR") not in survivor.identifiers
    answered_for = {e.control_id: e.patient_id for e in _receipts(feed.events())}
    assert answered_for["WHILEMERGED"] == survivor_id
    assert answered_for["AFTERUNMERGE"] == retired_id
    assert (while_merged.code, after.code) == ("AA", "AA")


def test_a_discharge_before_its_admission_and_a_late_transfer(feed: Feed) -> None:
    (discharge,) = feed.send(DISCHARGE)
    (admission,) = feed.send(ADMIT)
    before = len(feed.events())
    (transfer,) = feed.send(TRANSFER)

    assert [ack.code for ack in (discharge, admission, transfer)] == ["AA"] * 3
    assert admission.text == "already recorded: the encounter is open"  # MSA-3, before v2.7
    assert "kept as a data-quality report, not applied" in (transfer.text or "")
    (encounter_id,) = feed.created("EncounterRegistered")
    encounter = feed.app.encounter(encounter_id)
    assert encounter.admitted_at == at("2024-03-12T08:05:00-04:00")
    assert encounter.discharged_at == at("2024-03-16T14:00:00-04:00")
    assert [t.kind for t in encounter.transitions] == [
        TransitionKind.ADMISSION,
        TransitionKind.DISCHARGE,
    ]
    assert feed.new_events(before) == ["AdtEventArrivedLate", "AdtMessageAccepted"]
    (late,) = [e for e in feed.events() if isinstance(e, AdtEventArrivedLate)]
    assert (late.transition, late.encounter_id) == ("transfer", encounter_id)
    assert late.occurred_at < late.newest_at == encounter.discharged_at
    outcomes = {e.control_id: e.outcome for e in _receipts(feed.events())}
    assert outcomes == {
        "EPC000186510": "applied",
        "EPC000184721": "already_recorded",
        "EPC000185002": "arrived_late",
    }


def _receipts(events: Sequence[CaretrailEvent]) -> list[AdtMessageAccepted]:
    return [e for e in events if isinstance(e, AdtMessageAccepted)]


def _update(mrn: str, control_id: str) -> str:
    return (
        f"MSH|^~\\&|EPIC|UMCMAIN|CARETRAIL|CTHIE|20240420120000||ADT^A08|{control_id}|P|2.5.1\r"
        "EVN|A08|20240420120000\r"
        f"PID|1||{mrn}^^^EPIC^MR||RIVERA^MARIA^L||19580214|F\r"
    )


def _unmerge(survivor: str, retired: str) -> str:
    return (
        "MSH|^~\\&|EPIC|UMCMAIN|CARETRAIL|CTHIE|20240501120000||ADT^A37|UNMERGE01|P|2.5.1\r"
        "EVN|A37|20240501120000\r"
        f"PID|1||{survivor}^^^EPIC^MR||RIVERA^MARIA\r"
        f"PID|1||{retired}^^^EPIC^MR||RIVERA^MARIA\r"
    )
