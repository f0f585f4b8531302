"""The alert service on every event store: what people do with alerts, and what they may not."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain.alert import AlertCause, AlertIsClosed, AlertState, AlertStep, AlertWork
from domain.alert_rules import Severity
from domain.errors import InvalidValue
from services.alerting import AlertService
from services.application import CareTrail, Provenance
from services.errors import NotFound, VersionConflict
from tests.clock import ManualClock

NURSE = Provenance("cm.chen")
PATIENT = uuid4()


def cause(reason: str = "Discharged against medical advice") -> AlertCause:
    return AlertCause(
        "discharge-ama", "2026.1", Severity.HIGH, reason, {"disposition": "ama"}, None, uuid4(), 2
    )


def raised(service: AlertService) -> AlertWork:
    work = AlertWork(AlertStep.RAISE, PATIENT, f"discharge-ama/{PATIENT}/e1", cause())
    service.carry_out(work)
    return work


def test_people_acknowledge_snooze_and_escalate_and_each_is_attributed(
    app: CareTrail, clock: ManualClock
) -> None:
    service = AlertService(app, supervisor="supervisor.diaz")
    alert_id = raised(service).alert_id
    service.acknowledge(alert_id, "calling today", NURSE, expected_version=1)
    service.snooze(alert_id, "client asked for tomorrow", clock() + timedelta(days=1), NURSE)
    service.escalate(alert_id, "client unreachable", NURSE)
    alert = service.alert(alert_id)
    assert alert.state is AlertState.SNOOZED
    assert alert.escalated_to == "supervisor.diaz"
    actors = [event.actor for event in app.history(alert_id)]
    assert actors == ["caretrail.scheduler", "cm.chen", "cm.chen", "cm.chen"]


def test_the_rules_raise_once_and_update_on_new_facts(app: CareTrail) -> None:
    service = AlertService(app)
    work = raised(service)
    service.carry_out(work)
    service.carry_out(AlertWork(AlertStep.UPDATE, PATIENT, work.condition_key, cause("re-sent")))
    assert [type(e).__name__ for e in app.history(work.alert_id)] == ["AlertRaised", "AlertUpdated"]


def test_a_resolved_alert_refuses_people_and_ignores_repeated_resolutions(app: CareTrail) -> None:
    service = AlertService(app)
    work = raised(service)
    resolve = AlertWork(AlertStep.RESOLVE, PATIENT, work.condition_key, work.cause, "Contact/1@2")
    service.carry_out(resolve)
    service.carry_out(resolve)
    with pytest.raises(AlertIsClosed):
        service.acknowledge(work.alert_id, "", NURSE)
    assert len(app.history(work.alert_id)) == 2


def test_a_snooze_without_a_reason_or_on_a_stale_version_is_refused(
    app: CareTrail, clock: ManualClock
) -> None:
    service = AlertService(app)
    alert_id = raised(service).alert_id
    with pytest.raises(InvalidValue):
        service.snooze(alert_id, "", clock() + timedelta(hours=4), NURSE)
    service.acknowledge(alert_id, "", NURSE)
    with pytest.raises(VersionConflict):
        service.snooze(alert_id, "later", clock() + timedelta(hours=4), NURSE, expected_version=1)
    assert len(app.history(alert_id)) == 2


def test_an_unknown_alert_is_not_found(app: CareTrail) -> None:
    with pytest.raises(NotFound):
        AlertService(app).acknowledge(uuid4(), "", NURSE)
