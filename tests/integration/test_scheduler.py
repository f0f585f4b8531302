"""`caretrail scheduler` on every event store: due deadlines become alert events, exactly once.

The clock is a ManualClock moved by the tests: nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from consumers.embedded import EventStoreFeed
from domain.case import CaseSource
from domain.encounter import Disposition, PatientClass
from domain.patient import Demographics, Identifier
from projections.deadlines import AlertWorkQuery
from projections.store import ProjectionStore
from services.alerting import AlertService
from services.application import CareTrail, Provenance
from services.read_models import read_models
from services.scheduler import Scheduler
from tests.clock import ManualClock
from tests.ward import local

FEED = Provenance("feed:genhosp", source="GENHOSP|ADT|1")
FRIDAY_LATE = local(2026, 3, 6, 23, 50)


def scheduler_on(app: CareTrail, store: ProjectionStore, clock: ManualClock) -> Scheduler:
    feed = EventStoreFeed(app, store, read_models())
    return Scheduler(AlertService(app), AlertWorkQuery(store), clock, [feed.catch_up])


def discharged_home(app: CareTrail, clock: ManualClock, at: datetime = FRIDAY_LATE) -> None:
    clock.now = at
    patient = app.register_patient(
        [Identifier("884422", "GENHOSP")], Demographics("Nguyen", "Linh", date(1951, 4, 9)), FEED
    )
    app.open_case(patient, CaseSource.ADT_TRIGGER, "frequent admissions", FEED)
    admitted = Provenance(FEED.actor, at - timedelta(days=4), FEED.source)
    encounter = app.register_encounter(
        patient, facility="GENHOSP", visit_number="V1", patient_class=PatientClass.INPATIENT,
        location="4W", by=admitted,
    )  # fmt: skip
    app.discharge(encounter, Disposition.HOME, Provenance(FEED.actor, at, FEED.source))


def stored(app: CareTrail) -> int:
    return sum(1 for _ in app.event_log())


def test_due_and_overdue_deadlines_become_alert_events_as_the_clock_moves(
    app: CareTrail, store: ProjectionStore, clock: ManualClock
) -> None:
    discharged_home(app, clock)
    scheduler = scheduler_on(app, store, clock)
    clock.now = local(2026, 3, 9, 12)
    first = scheduler.tick()
    # The admission with an open case and the home discharge with nothing planned are
    # immediate; the admission notification and discharge information deadlines are overdue.
    assert first == {"raise": 4, "escalate": 2}
    clock.now = local(2026, 3, 10, 0)
    assert scheduler.tick() == {"raise": 1}  # the interactive contact falls due on Tuesday
    clock.now = local(2026, 3, 11, 0)
    assert scheduler.tick() == {"escalate": 1}


def test_a_second_tick_at_the_same_clock_records_nothing(
    app: CareTrail, store: ProjectionStore, clock: ManualClock
) -> None:
    discharged_home(app, clock)
    scheduler = scheduler_on(app, store, clock)
    clock.now = local(2026, 3, 11, 0)
    assert scheduler.tick()
    before = stored(app)
    assert scheduler.tick() == {}
    assert stored(app) == before


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_lagging_projection_or_a_second_scheduler_still_records_nothing_twice(
    app: CareTrail,
    open_app: Callable[[str], CareTrail],
    store_url: str,
    store: ProjectionStore,
    clock: ManualClock,
) -> None:
    discharged_home(app, clock)
    clock.now = local(2026, 3, 11, 0)
    EventStoreFeed(app, store, read_models()).catch_up()
    # Neither catches up before its tick, like Kafka consumers that are behind.
    lagging = Scheduler(AlertService(app), AlertWorkQuery(store), clock)
    other = Scheduler(AlertService(open_app(store_url)), AlertWorkQuery(store), clock)
    lagging.tick()
    after_first = stored(app)
    other.tick()
    lagging.tick()
    assert stored(app) == after_first
