"""Projections fed from Kafka on real PostgreSQL and the test broker: every event applied once,
through crashes, rebalances and poison records."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from consumers.kafka_feed import KafkaFeed, feed_name
from domain.events import CaretrailEvent
from projections.audit_trail import AuditTrail
from projections.store import FeedPosition, ProjectionStore
from services.application import CareTrail
from services.envelope import encode, to_envelope
from services.read_models import read_models
from services.relay import Relay, ensure_topic, kafka_producer
from services.settings import Settings
from tests.kafka_broker import TansuBroker
from tests.pipeline import (
    EVENTS_PER_ADMISSION,
    PARTITIONS,
    CaretrailProcesses,
    admit_and_discharge,
    audit_keys,
    in_thread,
    pipeline_settings,
    read_topic,
    records_within,
    stored_keys,
    wait_until,
)

pytest_plugins = ["tests.pipeline_fixtures"]


def applied(store: ProjectionStore) -> Callable[[], int]:
    return lambda: len(audit_keys(store))


@pytest.mark.timeout(120)
def test_a_consumer_killed_mid_batch_ends_with_what_an_uninterrupted_run_builds(
    postgres_url: str,
    second_postgres_url: str,
    open_app: Callable[[str], CareTrail],
    kafka_broker: TansuBroker,
    topic: str,
    processes: Callable[[Settings], CaretrailProcesses],
    projection_store: ProjectionStore,
) -> None:
    app = open_app(postgres_url)
    admit_and_discharge(app, 400)
    total = 400 * EVENTS_PER_ADMISSION
    settings = pipeline_settings(
        postgres_url, kafka_broker.bootstrap, topic, consumer_batch_size=40
    )
    with in_thread(Relay.open(app, settings).run):
        read_topic(kafka_broker.bootstrap, topic, lambda records: len(records) >= total)

    fresh = ProjectionStore.open(second_postgres_url)
    fresh.create_tables()
    uninterrupted = settings.model_copy(update={"kafka_group_prefix": "uninterrupted"})
    consumers = processes(settings)
    with in_thread(KafkaFeed(uninterrupted, fresh, AuditTrail()).run):
        consumer = consumers.start("consume", "--projection", AuditTrail.name)
        wait_until(lambda: applied(projection_store)() > 0, 30, "the consumer applies something")
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        killed_at = applied(projection_store)()
        consumers.start("consume", "--projection", AuditTrail.name)
        wait_until(lambda: applied(projection_store)() == total, timeout=60, what="every event")
        wait_until(lambda: applied(fresh)() == total, timeout=60, what="the fresh run is done")

    assert 0 < killed_at < total, "no kill happened mid-stream"
    assert projection_store.checksum(AuditTrail()) == fresh.checksum(AuditTrail())
    fresh.close()


@pytest.mark.timeout(120)
def test_two_consumers_of_one_group_lose_and_repeat_nothing_when_one_stops_mid_stream(
    postgres_url: str,
    open_app: Callable[[str], CareTrail],
    kafka_broker: TansuBroker,
    topic: str,
    processes: Callable[[Settings], CaretrailProcesses],
    projection_store: ProjectionStore,
) -> None:
    app = open_app(postgres_url)
    settings = pipeline_settings(
        postgres_url, kafka_broker.bootstrap, topic, consumer_batch_size=20
    )
    consumers = processes(settings)
    leaving = consumers.start("consume", "--projection", AuditTrail.name)
    staying = consumers.start("consume", "--projection", AuditTrail.name)
    writer = threading.Thread(target=admit_and_discharge, args=(app, 300))
    with in_thread(Relay.open(app, settings).run):
        writer.start()
        wait_until(lambda: applied(projection_store)() > 200, timeout=40, what="both consume")
        leaving.send_signal(signal.SIGTERM)
        assert leaving.wait(timeout=20) == 0, consumers.logs()
        writer.join()
        wait_until(lambda: applied(projection_store)() == 1200, timeout=60, what="every event")

    assert sorted(audit_keys(projection_store)) == sorted(stored_keys(app))
    assert staying.poll() is None
    dead_letters = settings.events_topic + settings.dead_letter_suffix
    assert records_within(kafka_broker.bootstrap, dead_letters, seconds=1) == []


class RefusesOneEvent(AuditTrail):
    """The audit trail, but it fails on one chosen event, as a projection bug would."""

    def __init__(self, refused: CaretrailEvent) -> None:
        self.refused = (refused.originator_id, refused.originator_version)

    def row(self, event: CaretrailEvent, delivered: FeedPosition) -> dict[str, Any]:
        if (event.originator_id, event.originator_version) == self.refused:
            raise ValueError("no row for this event, says the projection")
        return super().row(event, delivered)


@pytest.mark.timeout(60)
def test_poison_records_go_to_the_dead_letter_topic_with_their_error_and_the_rest_is_applied(
    postgres_url: str,
    open_app: Callable[[str], CareTrail],
    kafka_broker: TansuBroker,
    topic: str,
    projection_store: ProjectionStore,
) -> None:
    app = open_app(postgres_url)
    admit_and_discharge(app, 3)
    logged = list(app.event_log())
    settings = pipeline_settings(postgres_url, kafka_broker.bootstrap, topic)
    ensure_topic(settings, topic)
    producer = kafka_producer(settings, "test-poison")
    undecodable = b'{"type": "caretrail.PatientRegistered", "payload": '
    for number, entry in enumerate(logged):
        key = str(entry.event.patient_id).encode()
        producer.send(topic, key=key, value=encode(to_envelope(entry)))
        if number == 1:  # in the middle of the first patient's events
            producer.send(topic, key=key, value=undecodable)
    producer.flush()
    producer.close()
    refused = logged[5].event

    with in_thread(partial(KafkaFeed(settings, projection_store, RefusesOneEvent(refused)).run)):
        wait_until(lambda: applied(projection_store)() == 11, timeout=30, what="11 of 12 applied")
        dead = read_topic(
            kafka_broker.bootstrap,
            settings.events_topic + settings.dead_letter_suffix,
            lambda records: len(records) >= 2,
        )

    refused_key = (str(refused.originator_id), refused.originator_version)
    assert sorted(audit_keys(projection_store)) == sorted(
        key for key in stored_keys(app) if key != refused_key
    )
    by_value = {record.value: dict(record.headers) for record in dead}
    assert len(dead) == 2
    garbled = by_value[undecodable]
    assert garbled["dlq.error"].startswith(b"EnvelopeError: not a JSON envelope")
    assert garbled["dlq.projection"] == b"audit_trail"
    assert garbled["dlq.topic"] == topic.encode()
    assert int(garbled["dlq.offset"]) == 2
    refused_headers = by_value[encode(to_envelope(logged[5]))]
    assert refused_headers["dlq.error"] == b"ValueError: no row for this event, says the projection"
    assert json.loads(next(r.value for r in dead if r.value != undecodable))["position"] == 6


@pytest.mark.timeout(90)
@pytest.mark.parametrize("with_broker", [False, True], ids=["embedded", "kafka"])
def test_caretrail_run_feeds_every_projection_in_one_process_until_sigterm(
    with_broker: bool,
    request: pytest.FixtureRequest,
    postgres_url: str,
    open_app: Callable[[str], CareTrail],
    topic: str,
    processes: Callable[[Settings], CaretrailProcesses],
    projection_store: ProjectionStore,
    tmp_path: Path,
) -> None:
    app = open_app(postgres_url)
    admit_and_discharge(app, 25)
    heartbeat = tmp_path / "caretrail.alive"
    bootstrap = request.getfixturevalue("kafka_broker").bootstrap if with_broker else None
    settings = pipeline_settings(postgres_url, bootstrap, topic, heartbeat_file=heartbeat)
    site = processes(settings).start("run")

    wait_until(lambda: applied(projection_store)() == 100, timeout=60, what="every event")
    wait_until(heartbeat.exists, timeout=10, what="a heartbeat")
    site.send_signal(signal.SIGTERM)
    assert site.wait(timeout=30) == 0
    for projection in read_models():
        assert fed_events(projection_store, projection.name, topic if with_broker else None) == 100
    if with_broker:
        dead_letters = settings.events_topic + settings.dead_letter_suffix
        assert records_within(settings.kafka_bootstrap or "", dead_letters, seconds=1) == []


def fed_events(store: ProjectionStore, projection: str, topic: str | None) -> int:
    """How many events a projection's stored positions account for in its feed."""
    if topic is None:
        return store.position(projection) or 0
    offsets = (store.position(projection, feed_name(topic, p)) for p in range(PARTITIONS))
    return sum(offset + 1 for offset in offsets if offset is not None)
