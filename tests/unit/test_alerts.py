"""Open alerts per case manager and patient: routing, severity, due time, state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from domain.alert import AlertState
from domain.encounter import Disposition
from projections.alerts import UNASSIGNED, attention_by_case_manager, open_alerts
from services.application import Provenance
from tests.ward import Ward, local

NURSE = Provenance("cm.chen")


@pytest.fixture
def ward() -> Iterator[Ward]:
    ward = Ward()
    yield ward
    ward.close()


def test_alerts_of_a_patient_without_a_case_go_to_the_unassigned_queue(ward: Ward) -> None:
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 3, 16), Disposition.AGAINST_MEDICAL_ADVICE)
    ward.tick(local(2026, 3, 3, 17))
    assert {alert.case_manager for alert in ward.alerts().values()} == {UNASSIGNED}


def test_the_case_manager_of_the_open_case_gets_them_most_severe_first(ward: Ward) -> None:
    ward.open_case(local(2026, 3, 1))
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 3, 16), Disposition.AGAINST_MEDICAL_ADVICE)
    now = local(2026, 3, 5, 12)
    ward.tick(now)
    ward.feed.catch_up()
    with ward.store.engine.connect() as db:
        queue = open_alerts(db, now, case_manager="cm.chen")
        waiting = attention_by_case_manager(db, now)
    assert [alert.severity for alert in queue] == sorted(
        (alert.severity for alert in queue), key=["high", "medium", "low"].index
    )
    assert {alert.rule_id for alert in queue} >= {"discharge-ama", "admission-open-case"}
    assert waiting == {"cm.chen": len(queue)}


def test_acknowledged_and_snoozed_alerts_wait_until_the_snooze_ends(ward: Ward) -> None:
    ward.stay(local(2026, 3, 2, 10), local(2026, 3, 3, 16), Disposition.AGAINST_MEDICAL_ADVICE)
    ward.tick(local(2026, 3, 3, 17))
    ama = ward.alerts()["discharge-ama"]
    until = local(2026, 3, 4, 9)
    ward.alerting.snooze(ama.alert_id, "client asked to call tomorrow", until, NURSE)
    assert not ward.alerts(until - timedelta(minutes=1))["discharge-ama"].needs_attention
    assert ward.alerts(until)["discharge-ama"].needs_attention
    ward.alerting.acknowledge(ama.alert_id, "calling now", NURSE)
    acknowledged = ward.alerts(until)["discharge-ama"]
    assert acknowledged.state is AlertState.ACKNOWLEDGED
    assert not acknowledged.needs_attention
    assert acknowledged.note == "calling now"
