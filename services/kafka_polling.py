"""The poll loop every caretrail Kafka consumer shares: poll, handle, and on trouble with the
broker or the database drop the consumer, back off and start again from the stored offsets."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from services.relay import Backoff, Beat

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 500

Polled = dict[TopicPartition, list[ConsumerRecord]]


def poll_until_stopped(
    stop: threading.Event,
    beat: Beat,
    subscribe: Callable[[], KafkaConsumer],
    handle: Callable[[KafkaConsumer, Polled], None],
    transient: tuple[type[Exception], ...],
    backoff: Backoff,
    name: str,
) -> None:
    """Run one consumer until `stop` is set; `transient` faults are never a record's fault, so
    the batch is redone by a new consumer rather than skipped."""
    consumer: KafkaConsumer | None = None
    try:
        while not stop.is_set():
            beat()
            try:
                consumer = consumer or subscribe()
                handle(consumer, consumer.poll(timeout_ms=POLL_TIMEOUT_MS))
            except transient as error:
                close_without_commit(consumer)
                consumer = None
                wait = backoff.next_wait()
                log.warning("%s paused %.2fs: %s", name, wait, error)
                stop.wait(wait)
            else:
                backoff.reset()
    finally:
        close_without_commit(consumer)


def close_without_commit(consumer: KafkaConsumer | None) -> None:
    # Offsets are committed explicitly after each durable batch, never implicitly on close.
    if consumer is not None:
        consumer.close(autocommit=False)
