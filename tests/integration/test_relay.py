"""The relay on real PostgreSQL, SQLite and the test broker: nothing lost, order kept, one relay."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pytest
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from sqlalchemy import create_engine, select

from consumers.kafka_feed import KafkaFeed
from projections.audit_trail import AuditTrail
from projections.store import ProjectionStore
from services.application import CareTrail, LoggedEvent
from services.relay import EventPublisher, Relay, RelayLedger, relay_positions
from services.settings import Settings
from tests.kafka_broker import TansuBroker
from tests.pipeline import (
    EVENTS_PER_ADMISSION,
    CaretrailProcesses,
    admit_and_discharge,
    audit_keys,
    in_thread,
    pipeline_settings,
    read_topic,
    stored_keys,
    wait_until,
)

pytest_plugins = ["tests.pipeline_fixtures"]
ADMISSIONS = 500  # 2,000 events


def positions_by_patient(app: CareTrail) -> dict[str, list[int]]:
    """Each patient's event-store positions, in log order."""
    positions: dict[str, list[int]] = defaultdict(list)
    for logged in app.event_log():
        positions[str(logged.event.patient_id)].append(logged.position)
    return dict(positions)


def first_deliveries_by_patient(records: Sequence[ConsumerRecord]) -> dict[str, list[int]]:
    """Per record key, the positions of its events in the order they first reached the topic."""
    seen: set[str] = set()
    delivered: dict[str, list[int]] = defaultdict(list)
    for record in records:
        envelope = json.loads(record.value)
        if envelope["event_id"] not in seen:
            seen.add(envelope["event_id"])
            delivered[record.key.decode()].append(envelope["position"])
    return dict(delivered)


def delivered_positions(records: Sequence[ConsumerRecord]) -> set[int]:
    return {json.loads(record.value)["position"] for record in records}


def admit_and_discharge_steadily(app: CareTrail, chunks: int = 50) -> None:
    """Spread the writes over at least 12 s, so the kills (every 1-2 s) land while events are
    being written however fast the machine stores them."""
    per_chunk, remainder = divmod(ADMISSIONS, chunks)
    assert remainder == 0, "every admission must be written"
    for chunk in range(chunks):
        admit_and_discharge(app, per_chunk, first=chunk * per_chunk)
        time.sleep(0.25)


def has_positions(wanted: set[int]) -> Callable[[list[ConsumerRecord]], bool]:
    return lambda records: delivered_positions(records) >= wanted


@pytest.mark.timeout(150)
def test_relays_killed_again_and_again_while_events_are_written_lose_nothing(
    postgres_url: str,
    open_app: Callable[[str], CareTrail],
    kafka_broker: TansuBroker,
    topic: str,
    processes: Callable[[Settings], CaretrailProcesses],
    projection_store: ProjectionStore,
) -> None:
    app = open_app(postgres_url)
    settings = pipeline_settings(postgres_url, kafka_broker.bootstrap, topic, relay_batch_size=100)
    relays = processes(settings)
    # Two relays, as a deployment would run for availability: one publishes, one waits.
    running = [relays.start("relay"), relays.start("relay")]
    writer = threading.Thread(target=admit_and_discharge_steadily, args=(app,))
    pause = random.Random(20261123)
    kills = 0
    with in_thread(KafkaFeed(settings, projection_store, AuditTrail()).run):
        writer.start()
        while writer.is_alive():
            time.sleep(pause.uniform(1.0, 2.0))
            victim = kills % len(running)
            running[victim].kill()
            running[victim].wait()
            running[victim] = relays.start("relay")
            kills += 1
        writer.join()
        wait_until(
            lambda: len(audit_keys(projection_store)) == ADMISSIONS * EVENTS_PER_ADMISSION,
            timeout=60,
            what="the projection fed from the topic holds every event",
        )

    assert kills >= 4
    assert sorted(audit_keys(projection_store)) == sorted(stored_keys(app))
    expected = positions_by_patient(app)
    records = read_topic(kafka_broker.bootstrap, topic, has_positions(set(range(1, 2001))))
    assert first_deliveries_by_patient(records) == expected, relays.logs()
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        partitions_of[record.key].add(record.partition)
    assert all(len(partitions) == 1 for partitions in partitions_of.values())


@pytest.mark.timeout(90)
def test_relay_waits_for_a_broker_down_at_start_and_in_the_middle_and_catches_up(
    fresh_kafka_broker: TansuBroker,
    tmp_path: Path,
    open_app: Callable[[str], CareTrail],
    topic: str,
) -> None:
    broker = fresh_kafka_broker
    url = f"sqlite:///{tmp_path}/caretrail.db"
    app = open_app(url)
    settings = pipeline_settings(url, broker.bootstrap, topic)
    broker.kill()
    admit_and_discharge(app, 10)  # stored while there is no broker at all

    with in_thread(Relay.open(open_app(url), settings).run):
        time.sleep(5)  # longer than a connection attempt: the relay backs off and tries again
        broker.start()
        read_topic(broker.bootstrap, topic, has_positions(set(range(1, 41))))

        broker.kill()
        started = time.monotonic()
        admit_and_discharge(app, 10, first=10)
        assert time.monotonic() - started < 10, "writes waited for the broker"
        time.sleep(1.5)
        broker.start()
        # The test broker keeps topics in memory only, so it came back empty: the relay
        # recreated the topic, and everything stored since the outage began is on it.
        records = read_topic(broker.bootstrap, topic, has_positions(set(range(41, 81))))
        assert delivered_positions(records) == set(range(41, 81))

    # A lost topic is recovered by publishing the history again (see services/relay.py).
    with in_thread(partial(Relay.open(open_app(url), settings).run, replay_from=1)):
        read_topic(broker.bootstrap, topic, has_positions(set(range(1, 81))))


class BrokerThatRefusesUntilToldOtherwise(EventPublisher):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.refusing = True
        self.published: list[int] = []
        self.resets = 0

    def publish(self, section: Sequence[LoggedEvent]) -> None:
        if self.refusing:
            raise KafkaTimeoutError("no broker answered")
        self.published.extend(logged.position for logged in section)

    def reset(self) -> None:
        self.resets += 1


def stored_relay_position(database_url: str, topic: str) -> int | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as db:
            statement = select(relay_positions.c.position).where(relay_positions.c.topic == topic)
            return db.scalar(statement)
    finally:
        engine.dispose()


def test_the_relay_moves_its_position_only_after_the_broker_acknowledged(
    tmp_path: Path, open_app: Callable[[str], CareTrail]
) -> None:
    url = f"sqlite:///{tmp_path}/caretrail.db"
    app = open_app(url)
    admit_and_discharge(app, 5)
    settings = pipeline_settings(url, "127.0.0.1:9", "caretrail.events", relay_batch_size=7)
    publisher = BrokerThatRefusesUntilToldOtherwise(settings)
    relay = Relay(app, RelayLedger.open(url, settings.events_topic), publisher, settings)

    with in_thread(relay.run):
        wait_until(lambda: publisher.resets >= 2, timeout=10, what="two refused publishes")
        assert stored_relay_position(url, settings.events_topic) == 0
        publisher.refusing = False
        wait_until(
            lambda: stored_relay_position(url, settings.events_topic) == 20,
            timeout=10,
            what="the position reaches the end of the log",
        )
    assert publisher.published == list(range(1, 21))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_one_relay_per_store_publishes_and_a_waiting_one_takes_over(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/caretrail.db"
        if kind == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    active, waiting = RelayLedger.open(url, "events"), RelayLedger.open(url, "events")
    stop = threading.Event()
    assert active.hold(stop)
    taken_over: list[bool] = []
    standby = threading.Thread(target=lambda: taken_over.append(waiting.hold(stop)))
    standby.start()
    try:
        time.sleep(1.5)
        assert taken_over == [], "a second relay held the store while the first did"
        active.move_to(42)
        active.release()
        standby.join(timeout=5)
        assert taken_over == [True]
        assert waiting.position() == 42
    finally:
        stop.set()
        standby.join(timeout=5)
        waiting.release()


def test_relays_of_different_postgres_stores_do_not_wait_for_each_other(
    postgres_url: str, second_postgres_url: str
) -> None:
    only_try_once = threading.Event()
    only_try_once.set()
    first = RelayLedger.open(postgres_url, "events")
    second = RelayLedger.open(second_postgres_url, "events")
    try:
        assert first.hold(only_try_once)
        assert second.hold(only_try_once)
    finally:
        first.release()
        second.release()
