"""Stored events and aggregates are named by stable topics, never by where the code lives, and
read back whatever rules came after them.

Also the command context every event is made from (`Action`).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.utils import get_topic, resolve_topic

import domain.case
import domain.encounter
import domain.events
import domain.patient
from domain.case import (
    AssessedNeed,
    AssessmentDomain,
    Case,
    CaseSource,
    Goal,
    ReferralStatusChanged,
    TransitionInformationReceived,
)
from domain.encounter import Encounter, PatientClass, TransitionEvent
from domain.errors import ImplausibleDate
from domain.events import CLOCK_DRIFT, Action, CaretrailCreated, CaretrailEvent
from domain.patient import Demographics, Identifier, Patient
from services.transcodings import register_domain_transcodings

DOMAIN_MODULES = {
    module.__name__ for module in (domain.events, domain.patient, domain.encounter, domain.case)
}
SOME_ID = UUID("0b7e6a4e-1f1d-4c11-9d2a-6f1f3c1e0a01")
WHEN = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    sub: type
    for sub in cls.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


EVENT_CLASSES: list[type] = sorted(
    (c for c in all_subclasses(CaretrailEvent) if c.__module__ in DOMAIN_MODULES),
    key=lambda c: c.__qualname__,
)
# Bases that only share fields or behaviour: they are never stored themselves.
BASES = {c for c in EVENT_CLASSES if set(c.__subclasses__()) & set(EVENT_CLASSES)}
CONCRETE = [c for c in EVENT_CLASSES if c not in BASES]

# Topics already written to event stores. Removing or changing one orphans stored events.
PUBLISHED_TOPICS = {
    "caretrail.PatientRegistered",
    "caretrail.DemographicsUpdated",
    "caretrail.IdentifierAdded",
    "caretrail.PatientMergedInto",
    "caretrail.PatientMergeAbsorbed",
    "caretrail.PatientUnmerged",
    "caretrail.PatientMergeReleased",
    "caretrail.EncounterRegistered",
    "caretrail.PatientAdmitted",
    "caretrail.PatientTransferred",
    "caretrail.PatientDischarged",
    "caretrail.LeaveOfAbsenceStarted",
    "caretrail.LeaveOfAbsenceEnded",
    "caretrail.PatientClassChanged",
    "caretrail.VisitUpdated",
    "caretrail.TransitionCancelled",
    "caretrail.CaseOpened",
    "caretrail.ClientScreened",
    "caretrail.ConsentGiven",
    "caretrail.ConsentWithdrawn",
    "caretrail.CaseManagerAssigned",
    "caretrail.AssessmentRecorded",
    "caretrail.PlanOfCareRevised",
    "caretrail.ReferralMade",
    "caretrail.ReferralAccepted",
    "caretrail.ReferralDeclined",
    "caretrail.ReferralCompleted",
    "caretrail.ContactLogged",
    "caretrail.MedicationReconciliationRecorded",
    "caretrail.FollowUpVisitRecorded",
    "caretrail.BarrierNoted",
    "caretrail.BarrierResolved",
    "caretrail.GoalEvaluated",
    "caretrail.CaseClosed",
    "caretrail.CaseReopened",
}
AGGREGATE_TOPICS: dict[type[Aggregate], str] = {
    Patient: "caretrail.Patient",
    Encounter: "caretrail.Encounter",
    Case: "caretrail.Case",
}


def own_topic(cls: type) -> str:
    topic = cls.__dict__.get("TOPIC", "")
    assert isinstance(topic, str)
    return topic


def test_discovery_sees_every_domain_module() -> None:
    assert {c.__module__ for c in CONCRETE} == DOMAIN_MODULES - {"domain.events"}
    assert {
        CaretrailCreated,
        TransitionEvent,
        ReferralStatusChanged,
        TransitionInformationReceived,
    } == BASES
    assert len(CONCRETE) >= len(PUBLISHED_TOPICS)


@pytest.mark.parametrize("event_class", CONCRETE, ids=lambda c: c.__qualname__)
def test_concrete_event_has_its_own_stable_topic(event_class: type[CaretrailEvent]) -> None:
    topic = own_topic(event_class)  # its own, not one inherited from the class it extends

    assert topic.startswith("caretrail.")
    assert resolve_topic(topic) is event_class
    assert get_topic(event_class) == topic  # what eventsourcing writes to the store


def test_event_topics_are_unique() -> None:
    topics = [own_topic(c) for c in CONCRETE] + list(AGGREGATE_TOPICS.values())
    assert len(topics) == len(set(topics))


def test_published_topics_are_all_still_defined() -> None:
    assert {own_topic(c) for c in CONCRETE} >= PUBLISHED_TOPICS


@pytest.mark.parametrize("base", sorted(BASES, key=str), ids=str)
def test_bases_are_never_stored_under_a_topic(base: type) -> None:
    assert own_topic(base) == ""


@pytest.mark.parametrize(
    ("aggregate_class", "topic"), list(AGGREGATE_TOPICS.items()), ids=lambda v: str(v)
)
def test_aggregate_topic(aggregate_class: type[Aggregate], topic: str) -> None:
    assert get_topic(aggregate_class) == topic
    assert resolve_topic(topic) is aggregate_class


def test_created_events_name_the_aggregate_by_its_stable_topic() -> None:
    action = Action("tester", WHEN, WHEN)
    aggregates: list[Aggregate] = [
        Patient.register(SOME_ID, [Identifier("MRN1", "MERCY")], Demographics("Doe", "J"), action),
        Encounter.register(
            SOME_ID,
            SOME_ID,
            facility="MERCY",
            visit_number="V1",
            patient_class=PatientClass.EMERGENCY,
            location="ED",
            action=action,
        ),
        Case.open(SOME_ID, SOME_ID, CaseSource.RISK_SCREEN, "risk score 0.8", action),
    ]
    created = [a.pending_events[0] for a in aggregates]
    assert [e.originator_topic for e in created] == [  # type: ignore[attr-defined]
        "caretrail.Patient",
        "caretrail.Encounter",
        "caretrail.Case",
    ]
    assert [get_topic(type(e)) for e in created] == [
        "caretrail.PatientRegistered",
        "caretrail.EncounterRegistered",
        "caretrail.CaseOpened",
    ]


def test_values_stored_before_a_rule_existed_still_read_back() -> None:
    """Rules added later are checked on what commands enter: a stored value breaking one must
    still decode, or every read of its patient, case and log position would fail."""
    transcoder = JSONTranscoder()
    register_domain_transcodings(transcoder)
    stored = [
        Identifier(" 884422", "GENHOSP"),
        Identifier("a|b^c", "GENHOSP"),
        AssessedNeed(AssessmentDomain.HOUSING, "", priority=9),
        Goal("g1", "Walk daily", "days per week", 9, WHEN.date()),
    ]
    assert transcoder.decode(transcoder.encode(stored)) == stored


# --- Action -------------------------------------------------------------------------------------


NAIVE = datetime(2024, 3, 1, 9, 0)


@pytest.mark.parametrize(
    ("occurred_at", "recorded_at"),
    [(NAIVE, WHEN), (WHEN, NAIVE), (NAIVE, NAIVE)],
    ids=["occurred naive", "recorded naive", "both naive"],
)
def test_action_refuses_naive_datetimes(occurred_at: datetime, recorded_at: datetime) -> None:
    with pytest.raises(ImplausibleDate, match="time zone"):
        Action("cm.alvarez", occurred_at, recorded_at)


def test_an_action_may_have_happened_long_ago_or_a_few_minutes_ahead_of_our_clock() -> None:
    Action("adt.mercy", WHEN - timedelta(days=400), WHEN)
    Action("adt.mercy", WHEN + CLOCK_DRIFT, WHEN)


@pytest.mark.parametrize("ahead", [CLOCK_DRIFT + timedelta(seconds=1), timedelta(days=365 * 900)])
def test_an_action_cannot_have_happened_after_it_was_recorded(ahead: timedelta) -> None:
    with pytest.raises(ImplausibleDate, match="in the future"):
        Action("cm.alvarez", WHEN + ahead, WHEN)


@pytest.mark.parametrize("actor", ["", "   ", "\t\n"])
def test_action_refuses_an_empty_actor(actor: str) -> None:
    with pytest.raises(ValueError, match="actor"):
        Action(actor, WHEN, WHEN)


def test_action_keeps_what_it_is_given_and_is_immutable() -> None:
    action = Action("adt.mercy", WHEN, WHEN.replace(hour=10), "HL7v2:MLLP")

    assert (action.actor, action.occurred_at, action.recorded_at, action.source) == (
        "adt.mercy",
        WHEN,
        WHEN.replace(hour=10),
        "HL7v2:MLLP",
    )
    assert Action("cm.alvarez", WHEN, WHEN).source is None
    with pytest.raises(FrozenInstanceError):
        action.actor = "someone else"  # type: ignore[misc]
