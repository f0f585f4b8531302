"""`caretrail consume`: projections fed from the events topic, each as a consumer group of its own.

The projection store, not Kafka, holds the offsets: a batch's rows and the offset reached in each
partition (feed `kafka:<topic>:<partition>`) commit in one database transaction, and every
partition assigned to this consumer, at start or after a rebalance, is sought to the offset stored
there. Offsets also go to Kafka, for lag monitoring only. Redelivered events (the relay
republishes after a crash; a partition moves to another member) are skipped by the store, which
knows each aggregate's last applied version.

A poison record, one that is no envelope this consumer can decode or an event its projection
raises on, goes to the dead-letter topic (`<topic>.dlq`) as it came, with the error and where it
came from in its headers, and the partition moves on. The dead-letter topic has the record before
the stored offset passes it. Dead letters are at least once: a poison record that is the last one
applied in its partition when the consumer stops is sent again after a restart; the `dlq.topic`,
`dlq.partition` and `dlq.offset` headers tell copies apart.

Lost database connections and broker trouble are not an event's fault: the consumer backs off,
starts a new Kafka consumer (which seeks to the stored offsets again) and retries. SIGTERM ends it
between batches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy.exc import InterfaceError, OperationalError

from domain.events import CaretrailEvent
from projections.store import FeedPosition, Projection, ProjectionStore
from services.envelope import EnvelopeError, decode
from services.kafka_polling import poll_until_stopped
from services.relay import (
    Backoff,
    Beat,
    connect_timeout_ms,
    ensure_topic,
    kafka_producer,
    no_beat,
)
from services.settings import Settings

log = logging.getLogger(__name__)

# Trouble with the connection to the database or the broker, never with one event.
NOT_THE_EVENTS_FAULT = (OperationalError, InterfaceError, KafkaError)

Delivery = tuple[CaretrailEvent, FeedPosition, ConsumerRecord]


def feed_name(topic: str, partition: int) -> str:
    return f"kafka:{topic}:{partition}"


def group_id(settings: Settings, projection: Projection) -> str:
    return f"{settings.kafka_group_prefix}.{projection.name}"


class DeadLetters:
    """The dead-letter topic: refused records as they came, with why and from where."""

    def __init__(self, settings: Settings, projection: Projection) -> None:
        self.settings = settings
        self.topic = settings.events_topic + settings.dead_letter_suffix
        self.projection = projection.name
        self._producer: KafkaProducer | None = None

    def send(self, record: ConsumerRecord, error: Exception) -> None:
        """Returns once the broker has the dead letter."""
        headers = [
            *(record.headers or []),
            ("dlq.error", f"{type(error).__name__}: {error}".encode()),
            ("dlq.projection", self.projection.encode()),
            ("dlq.topic", record.topic.encode()),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
        ]
        try:
            producer = self._connected()
            producer.send(self.topic, key=record.key, value=record.value, headers=headers).get(
                timeout=self.settings.kafka_delivery_timeout_ms / 1000
            )
        except KafkaError:
            self.close()  # an idempotent producer may be unusable after a failed produce
            raise
        log.error(
            "dead-lettered %s offset %d for %s: %s",
            feed_name(record.topic, record.partition),
            record.offset,
            self.projection,
            error,
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=0)
            self._producer = None

    def _connected(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = kafka_producer(self.settings, f"caretrail-dlq-{self.projection}")
        return self._producer


class SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """Starts each newly assigned partition right after the offset the projection store holds."""

    def __init__(
        self, consumer: KafkaConsumer, store: ProjectionStore, projection: Projection
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.projection = projection

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        for partition in assigned:
            stored = self.store.position(
                self.projection.name, feed_name(partition.topic, partition.partition)
            )
            if stored is None:
                self.consumer.seek_to_beginning(partition)
            else:
                self.consumer.seek(partition, stored + 1)

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to save: every batch committed its offsets together with its rows."""


class KafkaFeed:
    """Keeps one projection current from the events topic."""

    def __init__(self, settings: Settings, store: ProjectionStore, projection: Projection) -> None:
        self.settings = settings
        self.topic = settings.events_topic
        self.store = store
        self.projection = projection
        self.dead_letters = DeadLetters(settings, projection)
        self.backoff = Backoff(settings.kafka_retry_max_seconds)

    def run(self, stop: threading.Event, beat: Beat = no_beat) -> None:
        """Consume and apply until `stop` is set."""
        try:
            poll_until_stopped(
                stop,
                beat,
                self._subscribed,
                self._apply,
                NOT_THE_EVENTS_FAULT,
                self.backoff,
                self.projection.name,
            )
        finally:
            self.dead_letters.close()

    def _subscribed(self) -> KafkaConsumer:
        # Created here rather than implicitly so that they get caretrail's partition count.
        ensure_topic(self.settings, self.topic)
        ensure_topic(self.settings, self.dead_letters.topic)
        settings = self.settings
        group = group_id(settings, self.projection)
        consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group,
            client_id=f"caretrail-{self.projection.name}",
            enable_auto_commit=False,
            # Only for a partition the projection store has no offset for; 'latest' also
            # relies on end offsets, which some brokers report wrongly.
            auto_offset_reset="earliest",
            max_poll_records=settings.consumer_batch_size,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            bootstrap_timeout_ms=connect_timeout_ms(settings),
            allow_auto_create_topics=False,
        )
        consumer.subscribe(
            [self.topic], listener=SeekToStoredOffsets(consumer, self.store, self.projection)
        )
        log.info("%s follows %s as consumer group %s", self.projection.name, self.topic, group)
        return consumer

    def _apply(
        self, consumer: KafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        deliveries: list[Delivery] = []
        for records in polled.values():
            for record in records:
                try:
                    logged = decode(record.value)
                except EnvelopeError as error:
                    self.dead_letters.send(record, error)
                else:
                    position = FeedPosition(
                        feed_name(record.topic, record.partition), record.offset, logged.position
                    )
                    deliveries.append((logged.event, position, record))
        self._apply_batch(deliveries)
        if polled:
            consumer.commit_async(
                {
                    partition: OffsetAndMetadata(records[-1].offset + 1, "", -1)
                    for partition, records in polled.items()
                }
            )

    def _apply_batch(self, deliveries: Sequence[Delivery]) -> None:
        try:
            self.store.apply(self.projection, [(event, at) for event, at, _ in deliveries])
        except NOT_THE_EVENTS_FAULT:
            raise
        except Exception:
            # The store rolled the whole batch back; one event at a time finds the poison one.
            log.warning("%s refused a batch; applying it event by event", self.projection.name)
            for delivery in deliveries:
                self._apply_alone(delivery)

    def _apply_alone(self, delivery: Delivery) -> None:
        event, at, record = delivery
        try:
            self.store.apply(self.projection, [(event, at)])
        except NOT_THE_EVENTS_FAULT:
            raise
        except Exception as error:
            self.dead_letters.send(record, error)
