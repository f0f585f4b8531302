"""Raw HL7 from the inbound topic on the test broker into PostgreSQL: each message applied once,
even when the offsets could not be committed after a batch was stored (it is delivered again)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import CommitFailedError

from ingest.inbound_kafka import InboundAdtFeed
from ingest.receiver import AdtReceiver
from ingest.synthetic import SyntheticFeed
from services.application import CareTrail
from tests.adt_support import (
    OpenReceiver,
    archived_outcomes,
    events_by_source,
    expected_events,
    receivers_on,
)
from tests.kafka_broker import TansuBroker, create_topic, unique_topic_name
from tests.pipeline import in_thread, pipeline_settings, wait_until


@pytest.fixture
def receiver_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    yield from receivers_on(open_app)


@pytest.mark.timeout(120)
def test_the_inbound_topic_is_applied_once_through_a_failed_commit(
    receiver_on: OpenReceiver,
    postgres_url: str,
    kafka_broker: TansuBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = unique_topic_name("adt-inbound")
    create_topic(kafka_broker.bootstrap, topic, partitions=3)
    settings = pipeline_settings(postgres_url, kafka_broker.bootstrap, "unused")
    receiver = receiver_on(postgres_url)
    feed = list(SyntheticFeed(seed=21, patients=40).messages(150))
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    # One sending system's messages on one partition keep their order; a resend and garbage too.
    for payload in [m.raw for m in feed] + [feed[0].raw, b"\x00 not HL7"]:
        producer.send(topic, key=b"EPIC|UMCMAIN", value=payload)
    producer.flush()
    producer.close()
    commit = KafkaConsumer.commit
    commits: list[int] = []

    def commit_failing_once(consumer: KafkaConsumer, *args: Any, **kwargs: Any) -> Any:
        commits.append(1)
        if len(commits) == 1:
            raise CommitFailedError("the group rebalanced under us")
        return commit(consumer, *args, **kwargs)

    monkeypatch.setattr(KafkaConsumer, "commit", commit_failing_once)
    inbound = InboundAdtFeed(settings, receiver, topic, batch_size=50)
    with in_thread(inbound.run):
        wait_until(lambda: _answered(receiver) >= len(feed) + 2, 60, "everything answered")
        wait_until(lambda: archived_outcomes(receiver)["applied"] == len(feed), 30, "applied")

    outcomes = archived_outcomes(receiver)
    assert outcomes["duplicate"] > 1, "the batch whose commit failed came again, as resends"

    made = events_by_source(receiver.service.app)
    for message in feed:
        assert made[f"EPIC|UMCMAIN|{message.control_id}"] == expected_events(message)
    assert len(made) == len(feed)
    (garbage,) = receiver.archive.quarantined()
    assert (garbage.channel, garbage.raw, garbage.ack_code) == ("kafka", b"\x00 not HL7", "AR")
    assert garbage.peer.startswith(f"{topic}/")


def _answered(receiver: AdtReceiver) -> int:
    outcomes = archived_outcomes(receiver)
    return sum(outcomes.values()) - outcomes["received"]
