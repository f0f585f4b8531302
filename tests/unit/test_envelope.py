"""The Kafka envelope: what it says, how it turns back into the same event, how it upcasts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.case import FollowUpFocus, FollowUpVisitRecorded
from domain.events import CaretrailEvent
from services.application import CareTrail, LoggedEvent
from services.envelope import (
    UPCASTERS,
    EnvelopeError,
    Upcasters,
    decode,
    encode,
    from_envelope,
    published_event_classes,
    schema_version,
    to_envelope,
)
from tests.every_event import every_event


@pytest.fixture(scope="module")
def app() -> CareTrail:
    return CareTrail(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture(scope="module")
def stored(app: CareTrail) -> list[LoggedEvent]:
    """Every event type as the relay reads it back from the event store."""
    mapper = app.mapper
    return [
        LoggedEvent(n, mapper.to_domain_event(mapper.to_stored_event(event)))  # type: ignore[arg-type]
        for n, event in enumerate(every_event(), start=1)
    ]


def test_an_event_comes_back_from_its_envelope_as_the_event_store_gives_it(
    stored: list[LoggedEvent],
) -> None:
    for logged in stored:
        decoded = decode(encode(to_envelope(logged)))
        assert decoded.position == logged.position
        assert type(decoded.event) is type(logged.event)
        # repr, not ==: an enum member equals its plain value, but projections must see the
        # very same kinds of value in Kafka mode as in embedded mode.
        assert repr(vars(decoded.event)) == repr(vars(logged.event))


def test_the_envelope_carries_what_every_event_has(stored: list[LoggedEvent]) -> None:
    logged = stored[0]
    event = logged.event
    envelope = to_envelope(logged)

    assert envelope == envelope | {
        "type": "caretrail.PatientRegistered",
        "schema_version": 1,
        "aggregate_id": str(event.originator_id),
        "aggregate_type": "caretrail.Patient",
        "version": 1,
        "patient_id": str(event.patient_id),
        "occurred_at": "2025-03-03T09:00:00+00:00",
        "recorded_at": "2025-03-03T09:01:00+00:00",
        "actor": "cm.okafor",
        "source": "MSG0000",
        "position": 1,
    }
    assert envelope["payload"]["demographics"]["birth_date"] == "1948-05-17"
    assert to_envelope(stored[1])["aggregate_type"] is None


def test_event_ids_are_stable_and_differ_between_events(stored: list[LoggedEvent]) -> None:
    ids = [to_envelope(logged)["event_id"] for logged in stored]
    again = [to_envelope(LoggedEvent(99, logged.event))["event_id"] for logged in stored]

    assert ids == again  # republishing after a relay crash keeps the id
    assert len(set(ids)) == len(ids)
    assert all(UUID(event_id).version == 5 for event_id in ids)


def test_each_event_types_schema_version_can_be_reached_by_upcasting() -> None:
    for event_class in published_event_classes():
        assert UPCASTERS.newest_version(event_class.TOPIC) == schema_version(event_class)


# --- Upcasting: an event type that changed after records of it were published -----------------


class FollowUpCallPlanned(CaretrailEvent):
    """Version 2 added `channel`; version 1 records meant a phone call."""

    TOPIC = "caretrail.test.FollowUpCallPlanned"
    class_version = 2
    reason: str
    channel: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["channel"] = "phone"


UPCASTS = Upcasters()


@UPCASTS.register(FollowUpCallPlanned.TOPIC, from_version=1)
def _phone_by_default(payload: dict[str, Any]) -> dict[str, Any]:
    return payload | {"channel": "phone"}


PATIENT = UUID("5b0c7f64-93c1-4a7e-9e0d-2f5c1b8f3a10")
WHEN = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def version_1_envelope() -> dict[str, Any]:
    return {
        "event_id": str(uuid4()),
        "type": FollowUpCallPlanned.TOPIC,
        "schema_version": 1,
        "aggregate_id": str(PATIENT),
        "version": 4,
        "aggregate_type": None,
        "patient_id": str(PATIENT),
        "occurred_at": WHEN.isoformat(),
        "recorded_at": WHEN.isoformat(),
        "actor": "cm.chen",
        "source": None,
        "position": 17,
        "payload": {"reason": "discharged on a Friday"},
    }


def test_a_version_1_envelope_of_a_changed_event_is_upcast_to_the_current_event() -> None:
    event = from_envelope(version_1_envelope(), UPCASTS)

    assert isinstance(event, FollowUpCallPlanned)
    assert (event.reason, event.channel) == ("discharged on a Friday", "phone")
    assert to_envelope(LoggedEvent(17, event))["schema_version"] == 2


def test_upcasting_on_kafka_and_in_the_event_store_give_the_same_event(app: CareTrail) -> None:
    envelope = version_1_envelope()
    # The same version 1 event as an event store written before the change holds it.
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": WHEN.isoformat()},
        "actor": "cm.chen",
        "source": None,
        "occurred_at": {"_type_": "datetime_iso", "_data_": WHEN.isoformat()},
        "patient_id": {"_type_": "uuid_hex", "_data_": PATIENT.hex},
        "reason": "discharged on a Friday",
    }
    stored = StoredEvent(PATIENT, 4, FollowUpCallPlanned.TOPIC, json.dumps(state).encode())

    from_store = app.mapper.to_domain_event(stored)

    from_kafka = from_envelope(envelope, UPCASTS)
    assert repr(sorted(vars(from_kafka).items())) == repr(sorted(vars(from_store).items()))


def test_a_follow_up_visit_recorded_before_it_had_a_focus_reads_as_a_general_one(
    app: CareTrail,
) -> None:
    visit = {"mode": "face_to_face", "provider": "Dr. Osei", "notes": ""}
    envelope = version_1_envelope() | {"type": FollowUpVisitRecorded.TOPIC, "payload": visit}
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": WHEN.isoformat()},
        "actor": "cm.chen",
        "source": None,
        "occurred_at": {"_type_": "datetime_iso", "_data_": WHEN.isoformat()},
        "patient_id": {"_type_": "uuid_hex", "_data_": PATIENT.hex},
        **visit,
    }
    stored = StoredEvent(PATIENT, 4, FollowUpVisitRecorded.TOPIC, json.dumps(state).encode())

    from_store = app.mapper.to_domain_event(stored)
    from_kafka = from_envelope(envelope)

    assert isinstance(from_store, FollowUpVisitRecorded)
    assert from_store.focus == FollowUpFocus.GENERAL
    assert repr(sorted(vars(from_kafka).items())) == repr(sorted(vars(from_store).items()))


def test_a_current_envelope_is_not_upcast() -> None:
    envelope = version_1_envelope() | {
        "schema_version": 2,
        "payload": {"reason": "discharged on a Friday", "channel": "video"},
    }
    event = from_envelope(envelope, UPCASTS)
    assert isinstance(event, FollowUpCallPlanned)
    assert event.channel == "video"


def test_upcasters_are_registered_one_version_after_another() -> None:
    upcasters = Upcasters()
    with pytest.raises(ValueError, match="next one is from version 1"):
        upcasters.register("caretrail.test.Anything", from_version=2)


# --- Records that are not envelopes caretrail can apply -----------------------------------------


def test_a_version_newer_than_this_consumer_knows_is_refused() -> None:
    envelope = version_1_envelope() | {"schema_version": 3}
    with pytest.raises(EnvelopeError, match="upgrade this consumer"):
        from_envelope(envelope, UPCASTS)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\xff\xfe", "not a JSON envelope"),
        (b"[1, 2]", "not a JSON envelope"),
        (None, "not a JSON envelope"),
        (b'{"type": "caretrail.NoSuchThing"}', "unknown event type"),
        (b'{"type": "caretrail.Patient"}', "not a caretrail event"),
    ],
)
def test_undecodable_records_are_refused_with_the_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        decode(value)


@pytest.mark.parametrize(
    "damage",
    [
        {"payload": {}},
        {"payload": {"reason": "x", "channel": "phone", "extra": 1}},
        {"payload": {"reason": 7, "channel": "phone"}},
        {"version": "4"},
        {"version": True},
        {"occurred_at": "2025-03-03T09:00:00"},
        {"patient_id": "not-a-uuid"},
        {"schema_version": "2"},
    ],
    ids=str,
)
def test_malformed_envelopes_are_refused(damage: dict[str, Any]) -> None:
    envelope = version_1_envelope() | {
        "schema_version": 2,
        "payload": {"reason": "x", "channel": "phone"},
    }
    with pytest.raises(EnvelopeError):
        from_envelope(envelope | damage, UPCASTS)


@pytest.mark.parametrize("position", [0, -3, "12", None, 1.5, True])
def test_an_envelope_without_a_log_position_is_refused(
    stored: list[LoggedEvent], position: object
) -> None:
    """Consumers file events by their place in the log (the audit trail's index)."""
    envelope = to_envelope(stored[0]) | {"position": position}
    with pytest.raises(EnvelopeError, match="not a log position"):
        decode(encode(envelope))
