"""The read-model store on SQLite and PostgreSQL: exactly-once application, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, text

from consumers.embedded import EventStoreFeed, log_batch
from domain.case import CaseSource
from domain.events import CaretrailEvent
from domain.patient import Demographics, Identifier
from projections.audit_trail import AuditTrail, audit_events
from projections.store import FeedPosition, ProjectionStore
from projections.timeline import Timeline
from services.application import CareTrail, Provenance

NURSE = Provenance("cm.chen", source="test")


def populate(app: CareTrail, patients: int) -> None:
    for n in range(patients):
        patient = app.register_patient(
            [Identifier(f"M{n}", "GENHOSP")], Demographics("Lee", "Grace", date(1960, 1, 1)), NURSE
        )
        app.open_case(patient, CaseSource.REFERRAL, "PCP", NURSE)


def audit_rows(store: ProjectionStore) -> int:
    with store.engine.connect() as db:
        return int(db.scalar(select(func.count()).select_from(audit_events)) or 0)


def test_the_event_store_feed_applies_every_event_once_and_resumes(
    app: CareTrail, store: ProjectionStore
) -> None:
    populate(app, 30)
    feed = EventStoreFeed(app, store, [AuditTrail()], section_size=7)
    assert feed.catch_up() == 60
    assert feed.catch_up() == 0
    populate(app, 2)
    assert feed.catch_up() == 4
    assert audit_rows(store) == 64
    assert store.position(AuditTrail.name) == 64


def test_redelivered_events_are_skipped_by_aggregate_version(
    app: CareTrail, store: ProjectionStore
) -> None:
    populate(app, 3)
    logged = [(e.event, FeedPosition("kafka:caretrail.events:0", n, e.position)) for n, e in
              enumerate(app.event_log())]  # fmt: skip
    projection = AuditTrail()
    assert store.apply(projection, logged[:4]) == 4
    assert store.apply(projection, logged) == 2
    assert store.apply(projection, logged[2:]) == 0
    assert audit_rows(store) == 6
    assert store.position(projection.name, "kafka:caretrail.events:0") == 5


def test_a_failing_event_rolls_back_rows_versions_and_position_together(
    app: CareTrail, store: ProjectionStore
) -> None:
    populate(app, 2)
    events = log_batch(list(app.event_log()))

    class BreaksOnTheThird(AuditTrail):
        def row(self, event: CaretrailEvent, delivered: FeedPosition) -> dict[str, Any]:
            if event is events[2][0]:
                raise RuntimeError("poison")
            return super().row(event, delivered)

    with pytest.raises(RuntimeError, match="poison"):
        store.apply(BreaksOnTheThird(), events)
    assert audit_rows(store) == 0
    assert store.position(AuditTrail.name) is None
    assert store.apply(AuditTrail(), events) == 4


def test_checksum_changes_with_rows_and_ignores_insertion_order(
    app: CareTrail, open_app: Callable[[str], CareTrail], store: ProjectionStore
) -> None:
    populate(app, 3)
    events = log_batch(list(app.event_log()))
    projection = AuditTrail()
    store.apply(projection, events)
    forward = store.checksum(projection)
    store.reset(projection)
    assert store.checksum(projection) != forward
    store.apply(projection, list(reversed(events)))
    assert store.checksum(projection) == forward


def test_a_read_model_whose_tables_changed_shape_is_rebuilt_from_the_start(
    app: CareTrail, store: ProjectionStore
) -> None:
    populate(app, 5)
    feed = EventStoreFeed(app, store, [AuditTrail(), Timeline()])
    assert feed.catch_up() == 20
    timeline_before = store.checksum(Timeline())
    with store.engine.begin() as db:  # what an older caretrail built: another column
        db.execute(text("ALTER TABLE timeline_entries ADD COLUMN legacy_note TEXT"))

    store.create_tables()

    assert store.position(Timeline.name) is None
    assert store.position(AuditTrail.name) == 10  # untouched
    assert feed.catch_up() == 10  # the timeline alone, from the start
    assert store.checksum(Timeline()) == timeline_before
