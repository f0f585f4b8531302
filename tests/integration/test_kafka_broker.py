"""The Kafka properties caretrail relies on, proven against the Tansu test broker.

The relay publishes with an idempotent producer keyed by patient id, and each projection is a
consumer group that commits its offset after applying. If one of these properties stops holding
on the test broker, the integration tests above it would pass or fail for the wrong reason.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from tests.kafka_broker import TansuBroker, create_topic

pytestmark = pytest.mark.kafka

# Tansu finishes a group join only after about half the session timeout (design.md); a short
# session keeps each join near 3 s instead of the default 22 s.
GROUP_TUNING: dict[str, Any] = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
POLL_DEADLINE_S = 20.0


def relay_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """A producer configured like the relay's: idempotent, acks from all replicas, gzip."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "compression_type": "gzip",
    }
    return KafkaProducer(**(settings | overrides))


def projection_consumer(bootstrap: str, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer configured like a projection's: offsets committed by hand after applying."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        # 'latest' depends on end offsets, which Tansu reports wrongly (design.md).
        "auto_offset_reset": "earliest",
        **GROUP_TUNING,
    }
    return KafkaConsumer(**(settings | overrides))


def read_from_start(bootstrap: str, topic: str, partitions: int = 3) -> KafkaConsumer:
    """A group-less consumer on every partition: no join, so no multi-second wait."""
    consumer = projection_consumer(bootstrap, group_id=None)
    consumer.assign([TopicPartition(topic, partition) for partition in range(partitions)])
    consumer.seek_to_beginning()
    return consumer


def poll_until(consumer: KafkaConsumer, count: int) -> list[ConsumerRecord]:
    """Poll until ``count`` records arrived; fail rather than wait forever if they never do."""
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + POLL_DEADLINE_S
    while len(records) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"received {len(records)} of {count} records in {POLL_DEADLINE_S}s")
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


@pytest.fixture
def group_id(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def producer(kafka_broker: TansuBroker) -> Iterator[KafkaProducer]:
    producer = relay_producer(kafka_broker.bootstrap)
    yield producer
    producer.close(timeout=5)


def test_keyed_records_keep_per_key_order_across_partitions(
    kafka_broker: TansuBroker, kafka_topic: str
) -> None:
    # Small batches put several requests in flight at once, the case where only idempotence
    # keeps a retried batch from overtaking the next one.
    producer = relay_producer(kafka_broker.bootstrap, batch_size=512, linger_ms=5)
    patients = [f"patient-{number}" for number in range(12)]
    events_per_patient = 25
    for sequence in range(events_per_patient):
        for patient in patients:
            producer.send(kafka_topic, key=patient.encode(), value=f"{sequence}".encode())
    producer.flush(timeout=10)
    producer.close(timeout=5)

    consumer = read_from_start(kafka_broker.bootstrap, kafka_topic)
    try:
        records = poll_until(consumer, len(patients) * events_per_patient)
    finally:
        consumer.close()

    partitions_of: dict[str, set[int]] = defaultdict(set)
    sequences_of: dict[str, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda record: (record.partition, record.offset)):
        partitions_of[record.key.decode()].add(record.partition)
        sequences_of[record.key.decode()].append(int(record.value))
    assert {patient: len(seen) for patient, seen in partitions_of.items()} == dict.fromkeys(
        patients, 1
    )
    assert set().union(*partitions_of.values()) == {0, 1, 2}
    assert sequences_of == {patient: list(range(events_per_patient)) for patient in patients}


def test_new_group_member_resumes_right_after_the_committed_offset(
    kafka_broker: TansuBroker, kafka_topic: str, producer: KafkaProducer, group_id: str
) -> None:
    for number in range(30):
        producer.send(kafka_topic, key=f"patient-{number % 7}".encode(), value=b"%d" % number)
    producer.flush(timeout=10)

    first = projection_consumer(kafka_broker.bootstrap, group_id, max_poll_records=4)
    first.subscribe([kafka_topic])
    try:
        applied = poll_until(first, 10)
        first.commit()
        committed = {tp: first.position(tp) for tp in first.assignment()}
        assert {tp: first.committed(tp) for tp in committed} == committed
    finally:
        # No commit on close: a crashed projection does not get to commit either.
        first.close(autocommit=False)

    # Records written while no member runs must be picked up too, not only the backlog.
    for number in range(30, 39):
        producer.send(kafka_topic, key=f"patient-{number % 7}".encode(), value=b"%d" % number)
    producer.flush(timeout=10)

    second = projection_consumer(kafka_broker.bootstrap, group_id)
    second.subscribe([kafka_topic])
    try:
        resumed = poll_until(second, 39 - len(applied))
        assert second.poll(timeout_ms=500) == {}, "more records than were left uncommitted"
    finally:
        second.close(autocommit=False)

    first_offset_resumed: dict[TopicPartition, int] = {}
    for record in resumed:
        tp = TopicPartition(record.topic, record.partition)
        first_offset_resumed[tp] = min(record.offset, first_offset_resumed.get(tp, record.offset))
    for tp, first_offset in first_offset_resumed.items():
        assert first_offset == committed.get(tp, 0), tp
    applied_values = [int(record.value) for record in applied]
    resumed_values = [int(record.value) for record in resumed]
    assert sorted(applied_values + resumed_values) == list(range(39))


def test_headers_round_trip(
    kafka_broker: TansuBroker, kafka_topic: str, producer: KafkaProducer
) -> None:
    # Repeated names, empty and non-UTF-8 values: the envelope's metadata must survive as sent.
    headers = [
        ("event-type", b"PatientAdmitted"),
        ("actor", b"feed:adt-main"),
        ("actor", b"user:42"),
        ("empty", b""),
        ("binary", bytes(range(256))),
    ]
    producer.send(kafka_topic, key=b"patient-1", value=b"{}", headers=headers).get(timeout=10)

    consumer = read_from_start(kafka_broker.bootstrap, kafka_topic)
    try:
        [record] = poll_until(consumer, 1)
    finally:
        consumer.close()
    assert record.headers == headers


@pytest.mark.timeout(60)
def test_producer_fails_while_broker_is_down_and_a_new_one_works_after_restart(
    fresh_kafka_broker: TansuBroker,
) -> None:
    broker = fresh_kafka_broker
    create_topic(broker.bootstrap, "admissions")
    short_timeouts = {
        "max_block_ms": 2000,
        "request_timeout_ms": 2000,
        "delivery_timeout_ms": 4000,
        "reconnect_backoff_max_ms": 500,
    }
    producer = relay_producer(broker.bootstrap, **short_timeouts)
    producer.send("admissions", key=b"patient-1", value=b"before").get(timeout=10)

    broker.kill()
    started = time.monotonic()
    # The get timeout is far above delivery_timeout_ms, so the error has to come from the
    # producer giving up, not from the test's own wait running out.
    with pytest.raises(KafkaError):
        producer.send("admissions", key=b"patient-1", value=b"during").get(timeout=30)
    assert time.monotonic() - started < 15
    producer.close(timeout=5)

    broker.start()
    # Memory storage: the restarted broker no longer knows the topic.
    create_topic(broker.bootstrap, "admissions", exist_ok=True)
    # An idempotent producer stays unusable after a produce error on Tansu (design.md), so the
    # relay recreates it; so does this test.
    producer = relay_producer(broker.bootstrap, **short_timeouts)
    try:
        producer.send("admissions", key=b"patient-1", value=b"after").get(timeout=10)
    finally:
        producer.close(timeout=5)

    consumer = read_from_start(broker.bootstrap, "admissions")
    try:
        values = [record.value for record in poll_until(consumer, 1)]
    finally:
        consumer.close()
    assert b"after" in values
