"""The Kafka backbone end to end: event store -> relay -> Kafka -> consumer -> projection.

Writes a backlog of events, then runs `caretrail relay` and `caretrail consume --projection
audit_trail` as the separate processes a deployment runs, and compares their steady rate with a
raw kafka-python produce/consume loop of the same records on the same broker in the same run
(the issue's target: at least 0.5 of raw). Then measures the latency from the commit of an event
to its row in the projection, writing at a steady rate while both processes run.

    .venv/bin/python -m bench.relay [--events 20000] [--store postgres|sqlite]

The broker is the Tansu test broker (see design.md); PostgreSQL is the one the tests use
(CARETRAIL_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from domain.encounter import Disposition, Encounter, PatientClass
from domain.events import Action
from domain.patient import Demographics, Identifier, Patient
from projections.audit_trail import AuditTrail, audit_events
from projections.store import FeedPosition, ProjectionStore
from services.application import CareTrail, Provenance
from services.bootstrap import bootstrap
from services.envelope import decode, encode, to_envelope
from services.relay import RelayLedger, ensure_topic, kafka_producer, relay_positions
from services.settings import Settings
from tests.kafka_broker import TansuBroker
from tests.pipeline import as_environment, pipeline_settings

ADMIN_URL = os.environ.get(
    "CARETRAIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AGGREGATES_PER_SAVE = 10  # a patient and an encounter each time, four events per pair
LATENCY_ACTOR = "feed:bench-latency"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--latency-events", type=int, default=600)
    parser.add_argument("--latency-rate", type=float, default=50.0, help="events per second")
    options = parser.parse_args()
    with TansuBroker() as broker, event_store(options.store) as url:
        settings = pipeline_settings(url, broker.bootstrap, "caretrail.events")
        app = bootstrap(settings)
        print(f"{options.events:,} events, {options.store} store, Tansu broker {broker.bootstrap}")
        write_backlog(app, options.events)
        values = [
            (str(e.event.patient_id).encode(), encode(to_envelope(e))) for e in app.event_log()
        ]
        raw = raw_kafka_rate(settings, values)
        print(f"raw kafka-python produce + consume   {raw:>9,.0f} events/s")
        ceiling = projection_apply_rate(app, url)
        with pipeline(settings) as progress:
            rates = progress.steady_rates(len(values))
            print(f"relay alone (log -> acknowledged)    {rates.relay:>9,.0f} events/s")
            print(
                f"relay + consumer, end to end         {rates.end_to_end:>9,.0f} events/s  "
                f"({rates.end_to_end / raw:.2f} of raw; target 0.5)"
            )
            print(f"projection apply alone, no Kafka     {ceiling:>9,.0f} events/s")
            latencies = commit_to_projection(
                app, progress, options.latency_events, options.latency_rate
            )
        p50, p99 = percentiles(latencies)
        print(
            f"commit -> projection latency         p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms ({len(latencies)} events at {options.latency_rate:g}/s)"
        )
        app.close()


@contextmanager
def event_store(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="caretrail-bench-") as directory:
            yield f"sqlite:///{directory}/caretrail.db"
        return
    schema = f"bench_{uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield f"{ADMIN_URL}?schema={schema}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def write_backlog(app: CareTrail, events: int) -> None:
    """Patients admitted and discharged, saved several aggregates per transaction for speed."""
    now = datetime.now(UTC)
    action = Action("feed:bench-adt", now, now, "bench")
    pending: list[Patient | Encounter] = []
    for number in range(events // 4):
        patient = Patient.register(
            uuid4(), [Identifier(f"B{number}", "GENHOSP")], Demographics("Lee", "Grace"), action
        )
        encounter = Encounter.register(
            uuid4(),
            patient.id,
            facility="GENHOSP",
            visit_number=f"V{number}",
            patient_class=PatientClass.INPATIENT,
            location="4W^401^A",
            action=action,
        )
        encounter.transfer("ICU^2^B", "intensive care", action)
        encounter.discharge(Disposition.HOME, action)
        pending += [patient, encounter]
        if len(pending) >= AGGREGATES_PER_SAVE:
            app.save(*pending)
            pending = []
    if pending:
        app.save(*pending)


def raw_kafka_rate(settings: Settings, records: list[tuple[bytes, bytes]]) -> float:
    """The same records through a producer configured like the relay's and a bare consumer."""
    topic = "bench.raw"
    ensure_topic(settings, topic)
    received = threading.Event()
    started = time.monotonic()
    reader = threading.Thread(target=read_all, args=(settings, topic, len(records), received))
    reader.start()
    producer = kafka_producer(settings, "bench-raw")
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    reader.join()
    elapsed = time.monotonic() - started
    producer.close()
    return len(records) / elapsed


def read_all(settings: Settings, topic: str, count: int, done: threading.Event) -> None:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    partitions = consumer.partitions_for_topic(topic)
    consumer.assign([TopicPartition(topic, partition) for partition in partitions])
    seen = 0
    while seen < count:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=200).values())
    consumer.close()
    done.set()


def projection_apply_rate(app: CareTrail, database_url: str) -> float:
    """The audit trail applied straight from decoded envelopes: the consumer's ceiling."""
    store = ProjectionStore.open(database_url)
    store.create_tables()
    events = [decode(encode(to_envelope(logged))) for logged in app.event_log()]
    batch_size = Settings().consumer_batch_size
    started = time.monotonic()
    for first in range(0, len(events), batch_size):
        section = events[first : first + batch_size]
        store.apply(AuditTrail(), [
            (logged.event, FeedPosition("bench", first + n, logged.position))
            for n, logged in enumerate(section)
        ])  # fmt: skip
    elapsed = time.monotonic() - started
    store.reset(AuditTrail())
    store.close()
    return len(events) / elapsed


class Rates:
    def __init__(self, relay: float, end_to_end: float) -> None:
        self.relay = relay
        self.end_to_end = end_to_end


class Crossings:
    """When a growing count first reached a low and a high mark."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.at_low: float | None = None
        self.at_high: float | None = None

    def sample(self, count: int, now: float) -> None:
        if self.at_low is None and count >= self.low:
            self.at_low = now
        if self.at_high is None and count >= self.high:
            self.at_high = now

    def rate(self) -> float:
        if self.at_low is None or self.at_high is None:
            raise RuntimeError("the count never reached its high mark")
        # Both marks in one sample (a relay batch spans them): at most one sample apart.
        return (self.high - self.low) / max(self.at_high - self.at_low, 0.02)


class Progress:
    """How far the relay and the projection have got, read from their tables."""

    def __init__(self, settings: Settings) -> None:
        self.store = ProjectionStore.open(settings.database_url)
        self.store.create_tables()
        # The relay keeps its position in the event store's database, not beside projections.
        self.event_store = RelayLedger.open(settings.database_url, settings.events_topic).engine

    def relayed(self) -> int:
        with self.event_store.connect() as db:
            try:
                return int(db.scalar(select(func.max(relay_positions.c.position))) or 0)
            except DBAPIError:  # the relay has not created its table yet
                return 0

    def applied(self) -> int:
        with self.store.engine.connect() as db:
            return int(db.scalar(select(func.count()).select_from(audit_events)) or 0)

    def steady_rates(self, total: int) -> Rates:
        """Rates between 10% and 90% of the backlog, leaving out start-up and group joins;
        returns once the whole backlog is applied. Both counts are sampled together, so each
        rate is timed by when its own count crossed 10% and 90%."""
        low, high = total // 10, total - total // 10
        relayed, applied = Crossings(low, high), Crossings(low, high)
        while applied.at_high is None:
            now = time.monotonic()
            relayed.sample(self.relayed(), now)
            applied.sample(self.applied(), now)
            time.sleep(0.02)
        while self.applied() < total:
            time.sleep(0.05)
        return Rates(relayed.rate(), applied.rate())

    def landed(self, aggregate_ids: set[str]) -> set[str]:
        with self.store.engine.connect() as db:
            rows = db.execute(
                select(audit_events.c.aggregate_id).where(audit_events.c.actor == LATENCY_ACTOR)
            )
            return {row.aggregate_id for row in rows} & aggregate_ids


@contextmanager
def pipeline(settings: Settings) -> Iterator[Progress]:
    """`caretrail consume` and `caretrail relay` as subprocesses, stopped by SIGTERM at the end."""
    env = os.environ | as_environment(settings)
    here = Path(__file__).resolve().parents[1]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "caretrail", *args],
            env=env,
            cwd=here,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for args in (("consume", "--projection", AuditTrail.name), ("relay",))
    ]
    try:
        yield Progress(settings)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def commit_to_projection(
    app: CareTrail, progress: Progress, events: int, rate: float
) -> list[float]:
    """Seconds from each registration's commit to its row in the projection."""
    committed: dict[str, float] = {}
    landed: dict[str, float] = {}
    watcher_stop = threading.Event()

    def watch() -> None:
        while not watcher_stop.is_set() or len(landed) < len(committed):
            now = time.monotonic()
            for aggregate_id in progress.landed(set(committed) - set(landed)):
                landed[aggregate_id] = now
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    by = Provenance(LATENCY_ACTOR)
    for number in range(events):
        due = time.monotonic()
        patient_id: UUID = app.register_patient(
            [Identifier(f"L{number}", "GENHOSP")], Demographics("Okafor", "Ada"), by
        )
        committed[str(patient_id)] = time.monotonic()
        time.sleep(max(0.0, due + 1 / rate - time.monotonic()))
    watcher_stop.set()
    watcher.join(timeout=60)
    return [landed[aggregate_id] - committed[aggregate_id] for aggregate_id in landed]


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


if __name__ == "__main__":
    main()
