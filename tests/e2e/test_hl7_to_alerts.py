"""From an HL7 discharge with a depression diagnosis on an MLLP socket to the HEDIS FUH alert the
scheduler raises, and its resolution by the mental health follow-up the case manager records:
PostgreSQL for the events and the read models, the scheduler as `caretrail scheduler` runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from uuid import UUID

import pytest
from sqlalchemy import select

from consumers.embedded import EventStoreFeed
from domain.alert import AlertState
from domain.case import CaseSource, ContactMode, FollowUpFocus, ScreeningResult
from domain.encounter import EncounterDiagnosesRecorded
from projections.alerts import Alerts
from projections.deadlines import AlertWorkQuery, Deadlines, alert_conditions
from projections.store import ProjectionStore
from services.alerting import AlertService
from services.application import CareTrail, Provenance
from services.scheduler import Scheduler
from tests.adt_support import (
    LiveMllpServer,
    OpenReceiver,
    fixture_bytes,
    mllp_client,
    receivers_on,
    stored_events,
)
from tests.clock import ManualClock
from tests.ward import CALENDAR, RULES

# Discharged Tuesday July 9, 2024 at 11:00 EDT with a principal diagnosis of F32.2.
DISCHARGE = fixture_bytes("a03_discharge_depression_dg1")
NURSE = "cm.chen"


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@pytest.fixture
def receiver_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    yield from receivers_on(open_app)


class Unit:
    """The hospital's feed on MLLP, and the care team's caretrail with its scheduler."""

    def __init__(self, app: CareTrail, port: int, store: ProjectionStore, clock: ManualClock):
        self.app, self.port, self.store, self.clock = app, port, store, clock
        self.feed = EventStoreFeed(app, store, [Deadlines(RULES, CALENDAR), Alerts()])
        self.scheduler = Scheduler(
            AlertService(app), AlertWorkQuery(store), clock, [self.feed.catch_up]
        )

    def send(self, message: bytes) -> str:
        with mllp_client(self.port) as client:
            (ack,) = client.exchange([message])
        return ack.code

    def tick(self, now: str) -> None:
        self.clock.now = at(now)
        self.scheduler.tick()

    def alert_states(self, patient_id: UUID) -> dict[str, str]:
        """The state of the patient's alert of each rule (`none` while it was never raised)."""
        self.feed.catch_up()
        with self.store.engine.connect() as db:
            rows = db.execute(
                select(alert_conditions.c.rule_id, alert_conditions.c.alert_state).where(
                    alert_conditions.c.patient_id == str(patient_id)
                )
            )
            return {row.rule_id: row.alert_state for row in rows}

    def nurse_at(self, iso: str) -> Provenance:
        self.clock.now = at(iso)
        return Provenance(NURSE, at(iso))


@pytest.fixture
def unit(receiver_on: OpenReceiver, postgres_url: str, clock: ManualClock) -> Iterator[Unit]:
    receiver = receiver_on(postgres_url)
    store = ProjectionStore.open(postgres_url)
    store.create_tables()
    with LiveMllpServer(receiver) as server:
        yield Unit(receiver.service.app, server.port, store, clock)
    store.close()


def test_a_discharge_for_depression_raises_fuh_7_until_the_follow_up_is_recorded(
    unit: Unit,
) -> None:
    unit.clock.now = at("2024-07-09T11:16:00-04:00")
    assert unit.send(DISCHARGE) == "AA"
    [diagnosed] = [e for e in stored_events(unit.app) if isinstance(e, EncounterDiagnosesRecorded)]
    patient = diagnosed.patient_id
    assert [d.code for d in diagnosed.diagnoses] == ["R45.851", "F32.2", "E11.9"]

    unit.tick("2024-07-15T23:59:00-04:00")
    assert unit.alert_states(patient)["fuh-7"] == "none"
    unit.tick("2024-07-16T00:00:00-04:00")  # the start of the last day of the 7-day window
    assert unit.alert_states(patient)["fuh-7"] == AlertState.OPEN

    case = unit.app.open_case(
        patient, CaseSource.ADT_TRIGGER, "FUH due", unit.nurse_at("2024-07-16T08:00-04:00")
    )
    unit.app.screen(case, ScreeningResult.APPROPRIATE, "", unit.nurse_at("2024-07-16T08:01-04:00"))
    unit.app.record_follow_up_visit(
        case,
        ContactMode.VIDEO,
        "Dr. Amari (psychiatry)",
        "",
        unit.nurse_at("2024-07-16T10:00-04:00"),
        focus=FollowUpFocus.MENTAL_HEALTH,
    )
    unit.tick("2024-07-16T10:05:00-04:00")

    states = unit.alert_states(patient)
    assert states["fuh-7"] == AlertState.RESOLVED
    assert states["fuh-30"] == "none"  # met before it ever fell due
