"""Raw HL7 ADT messages from a Kafka topic (`caretrail.adt.inbound`), with the MLLP guarantees.

A record's value is one HL7 message as an interface engine would frame it over MLLP (without the
framing). A polled batch goes through the same receiver as every other channel, and the group's
offsets are committed to Kafka only after the batch's archive rows, events and receipts are stored.
A crash in between redelivers the batch, and receipts answer the redelivered messages as resends:
no event twice. A topic has no one to ACK to, so messages not applied wait in the quarantine.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from eventsourcing.persistence import PersistenceError
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy.exc import SQLAlchemyError

from ingest.archive import Arrival
from ingest.receiver import AdtReceiver
from services.kafka_polling import Polled, poll_until_stopped
from services.relay import Backoff, Beat, ensure_topic, no_beat
from services.settings import Settings

log = logging.getLogger(__name__)

INBOUND_TOPIC = "caretrail.adt.inbound"
# Trouble with the broker or the store, never with one message: back off and redo the batch.
NOT_THE_MESSAGES_FAULT = (KafkaError, PersistenceError, SQLAlchemyError)


class InboundAdtFeed:
    def __init__(
        self,
        settings: Settings,
        receiver: AdtReceiver,
        topic: str = INBOUND_TOPIC,
        batch_size: int = 200,
    ) -> None:
        self.settings = settings
        self.receiver = receiver
        self.topic = topic
        self.batch_size = batch_size
        self.group = f"{settings.kafka_group_prefix}.adt-inbound"
        self.backoff = Backoff(settings.kafka_retry_max_seconds)

    def run(self, stop: threading.Event, beat: Beat = no_beat) -> None:
        """Consume until `stop` is set; SIGTERM-safe between batches. After a fault a new
        consumer resumes from the committed offsets: the batch comes again."""
        poll_until_stopped(
            stop,
            beat,
            self._subscribed,
            self._receive,
            NOT_THE_MESSAGES_FAULT,
            self.backoff,
            "ADT inbound feed",
        )

    def _subscribed(self) -> KafkaConsumer:
        ensure_topic(self.settings, self.topic)
        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.group,
            client_id="caretrail-adt-inbound",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            allow_auto_create_topics=False,
        )
        consumer.subscribe([self.topic])
        log.info("receiving ADT messages from %s as consumer group %s", self.topic, self.group)
        return consumer

    def _receive(self, consumer: KafkaConsumer, polled: Polled) -> None:
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return
        now = datetime.now(UTC)
        self.receiver.receive(
            [Arrival(record.value or b"", "kafka", _where(record), now) for record in records]
        )
        consumer.commit(
            {
                partition: OffsetAndMetadata(batch[-1].offset + 1, "", -1)
                for partition, batch in polled.items()
                if batch
            }
        )


def _where(record: ConsumerRecord) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"
