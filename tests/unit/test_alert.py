"""The Alert aggregate: one alert per patient-condition, and what people and rules may do to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from domain.alert import (
    Alert,
    AlertAcknowledged,
    AlertCause,
    AlertEscalated,
    AlertIsClosed,
    AlertRaised,
    AlertReopened,
    AlertResolved,
    AlertRetracted,
    AlertSnoozed,
    AlertState,
    AlertUpdated,
    alert_id_for,
)
from domain.alert_rules import Severity
from domain.errors import ImplausibleDate, InvalidValue
from domain.events import Action

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATIENT = UUID("00000000-0000-4000-8000-000000000001")
KEY = f"tcm-interactive-contact/{PATIENT}/enc-1"
CAUSE_RULE = ("tcm-interactive-contact", "2026.1", "high")
CAUSE = AlertCause(
    rule_id="tcm-interactive-contact",
    rule_version="2026.1",
    severity=Severity.HIGH,
    reason="Interactive contact due within 2 business days",
    facts={"transition": "discharge", "disposition": "home"},
    due_at=NOW + timedelta(days=2),
    encounter_id=uuid4(),
    transition_number=2,
)


def at(hours: float = 0, actor: str = "caretrail.scheduler") -> Action:
    moment = NOW + timedelta(hours=hours)
    return Action(actor, moment, moment)


def raised() -> Alert:
    alert = Alert.raise_for(PATIENT, KEY, CAUSE, at())
    alert.collect_events()
    return alert


def new_events(alert: Alert) -> list[type]:
    return [type(event) for event in alert.collect_events()]


def test_an_alert_is_raised_with_its_rule_version_reason_facts_and_cause() -> None:
    alert = Alert.raise_for(PATIENT, KEY, CAUSE, at())
    (event,) = alert.collect_events()
    assert isinstance(event, AlertRaised)
    assert (event.rule_id, event.rule_version, event.severity) == CAUSE_RULE
    assert event.facts == {"transition": "discharge", "disposition": "home"}
    assert (event.encounter_id, event.transition_number) == (CAUSE.encounter_id, 2)
    assert event.patient_id == PATIENT
    assert alert.state is AlertState.OPEN
    assert alert.cause == CAUSE


def test_the_alert_id_is_derived_from_patient_and_condition_never_from_an_mrn() -> None:
    assert raised().id == alert_id_for(PATIENT, KEY)
    assert alert_id_for(PATIENT, KEY) != alert_id_for(uuid4(), KEY)


def test_the_same_condition_again_updates_rather_than_repeats() -> None:
    alert = raised()
    alert.report(CAUSE, at(1))
    assert new_events(alert) == []
    alert.report(replace(CAUSE, reason="discharge re-sent"), at(2))
    assert new_events(alert) == [AlertUpdated]
    assert alert.cause.reason == "discharge re-sent"


def test_an_update_keeps_the_state_people_put_it_in() -> None:
    alert = raised()
    alert.acknowledge("calling today", at(1, "cm.chen"))
    alert.report(replace(CAUSE, severity=Severity.CRITICAL), at(2))
    assert alert.state is AlertState.ACKNOWLEDGED


def test_a_closed_alert_whose_condition_holds_again_is_reopened_fresh() -> None:
    alert = raised()
    alert.escalate("supervisor", "overdue", at(1))
    alert.retract("TransitionCancelled/x@3", "discharge cancelled", at(2))
    alert.report(CAUSE, at(3))
    assert new_events(alert) == [AlertEscalated, AlertRetracted, AlertReopened]
    assert alert.state is AlertState.OPEN
    assert alert.escalated_to is None


def test_acknowledging_twice_records_it_once() -> None:
    alert = raised()
    alert.acknowledge("on it", at(1, "cm.chen"))
    alert.acknowledge("on it", at(2, "cm.chen"))
    assert new_events(alert) == [AlertAcknowledged]


@pytest.mark.parametrize("close", ["resolve", "retract"])
def test_a_closed_alert_cannot_be_acknowledged_snoozed_or_escalated(close: str) -> None:
    alert = raised()
    if close == "resolve":
        alert.resolve("ContactLogged/case@7", at(1))
    else:
        alert.retract("TransitionCancelled/enc@3", "cancelled", at(1))
    with pytest.raises(AlertIsClosed):
        alert.acknowledge("too late", at(2, "cm.chen"))
    with pytest.raises(AlertIsClosed):
        alert.snooze("busy", NOW + timedelta(days=1), at(2, "cm.chen"))
    with pytest.raises(AlertIsClosed):
        alert.escalate("supervisor", "overdue", at(2))


def test_a_snooze_needs_a_reason_and_a_future_end() -> None:
    alert = raised()
    with pytest.raises(InvalidValue, match="reason"):
        alert.snooze("  ", NOW + timedelta(days=1), at(1, "cm.chen"))
    with pytest.raises(ImplausibleDate):
        alert.snooze("client asked", NOW + timedelta(hours=1), at(1, "cm.chen"))
    alert.snooze("client asked to call after 3pm", NOW + timedelta(hours=6), at(1, "cm.chen"))
    assert new_events(alert) == [AlertSnoozed]
    assert alert.state is AlertState.SNOOZED
    assert alert.snoozed_until == NOW + timedelta(hours=6)


def test_a_snooze_lasts_two_weeks_at_most_because_a_snoozed_alert_is_not_escalated() -> None:
    alert = raised()
    with pytest.raises(ImplausibleDate, match="14 days at most"):
        alert.snooze("on leave", NOW + timedelta(days=14, hours=1, seconds=1), at(1, "cm.chen"))
    alert.snooze("on leave", NOW + timedelta(days=14, hours=1), at(1, "cm.chen"))
    assert alert.snoozed_until == NOW + timedelta(days=14, hours=1)


@pytest.mark.parametrize(
    ("escalated_to", "reason", "missing"),
    [("", "overdue", "whom"), (" ", "overdue", "whom"), ("supervisor", "", "a reason")],
)
def test_an_escalation_says_whom_it_goes_to_and_why_as_a_snooze_says_why(
    escalated_to: str, reason: str, missing: str
) -> None:
    alert = raised()
    with pytest.raises(InvalidValue, match=missing):
        alert.escalate(escalated_to, reason, at(1, "cm.chen"))
    assert new_events(alert) == []
    assert alert.escalated_to is None


def test_escalation_resolution_and_retraction_happen_once() -> None:
    alert = raised()
    alert.escalate("supervisor", "overdue", at(1))
    alert.escalate("supervisor", "overdue", at(2))
    alert.resolve("ContactLogged/case@7", at(3))
    alert.resolve("ContactLogged/case@8", at(4))
    alert.retract("TransitionCancelled/enc@3", "cancelled", at(5))
    assert new_events(alert) == [AlertEscalated, AlertResolved]
    assert alert.state is AlertState.RESOLVED


def test_the_cause_digest_compares_due_times_as_instants() -> None:
    assert CAUSE.due_at is not None
    elsewhere = replace(CAUSE, due_at=CAUSE.due_at.astimezone(ZoneInfo("America/Chicago")))
    assert elsewhere.digest() == CAUSE.digest()
    assert replace(CAUSE, rule_version="2026.2").digest() != CAUSE.digest()
