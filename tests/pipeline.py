"""What the relay and consumer tests share: settings for a test's own topic, a workload, caretrail
processes that are always cleaned up, reading a topic back, and waiting with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from uuid import uuid4

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from sqlalchemy import select

from domain.encounter import Disposition, PatientClass
from domain.patient import Demographics, Identifier
from projections.audit_trail import audit_events
from projections.store import ProjectionStore
from services.application import CareTrail, Provenance
from services.settings import Settings
from tests.kafka_broker import _die_with_parent

FEED = Provenance("feed:adt-main", source="test")
PARTITIONS = 3
EVENTS_PER_ADMISSION = 4


def pipeline_settings(
    database_url: str, bootstrap: str | None, topic: str, **overrides: Any
) -> Settings:
    """Settings for one test's topic and consumer groups, tuned for the test broker."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": bootstrap,
        "events_topic": topic,
        "events_topic_partitions": PARTITIONS,
        "kafka_group_prefix": f"test-{uuid4().hex[:8]}",
        # Tansu finishes a group join after about half the session timeout (design.md).
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 1000,
        "kafka_delivery_timeout_ms": 4000,
        "kafka_retry_max_seconds": 1.0,
        "relay_poll_seconds": 0.05,
    }
    return Settings(**(values | overrides))


def as_environment(settings: Settings) -> dict[str, str]:
    """The same settings as CARETRAIL_* variables, for a caretrail subprocess."""
    return {
        f"CARETRAIL_{name.upper()}": str(value)
        for name, value in settings.model_dump(exclude_none=True).items()
    }


# --- Workload -----------------------------------------------------------------------------------


def admit_and_discharge(app: CareTrail, patients: int, first: int = 0) -> None:
    """Four events per patient: registered; encounter registered, transferred, discharged."""
    for number in range(first, first + patients):
        patient_id = app.register_patient(
            [Identifier(f"MRN{number}", "GENHOSP")], Demographics("Lee", f"Grace{number}"), FEED
        )
        encounter_id = app.register_encounter(
            patient_id,
            facility="GENHOSP",
            visit_number=f"V{number}",
            patient_class=PatientClass.INPATIENT,
            location="4W^401^A",
            by=FEED,
        )
        app.transfer(encounter_id, "ICU^2^B", "intensive care", FEED)
        app.discharge(encounter_id, Disposition.HOME, FEED)


def stored_keys(app: CareTrail) -> list[tuple[str, int]]:
    """(aggregate id, version) of every stored event, in log order."""
    return [(str(e.event.originator_id), e.event.originator_version) for e in app.event_log()]


def audit_keys(store: ProjectionStore) -> list[tuple[str, int]]:
    with store.engine.connect() as db:
        rows = db.execute(select(audit_events.c.aggregate_id, audit_events.c.version))
        return [(row.aggregate_id, row.version) for row in rows]


# --- Waiting, threads, processes ------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.1)


@contextmanager
def in_thread(worker: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run a relay or feed loop in a thread; stop it on leaving, and fail with its error."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            worker(stop)
        except BaseException as error:
            failures.append(error)
            raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the loop did not stop within 30s"
    if failures:
        raise failures[0]


class CaretrailProcesses:
    """`python -m caretrail ...` subprocesses of one test, every one killed when it ends."""

    def __init__(self, workdir: Path, settings: Settings) -> None:
        self.workdir = workdir
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CARETRAIL_")}
        self.env = inherited | as_environment(settings)
        self._started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{'-'.join(args)}-{len(self._started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "caretrail", *args],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Threads of the test may run at the same time, but only this one forks.
            preexec_fn=_die_with_parent,
        )
        self._started.append((process, log))
        return process

    def logs(self) -> str:
        return "\n".join(
            f"--- {Path(log.name).name}\n{Path(log.name).read_text(errors='replace')[-3000:]}"
            for _, log in self._started
        )

    def kill_all(self) -> None:
        for process, log in self._started:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


# --- Reading a topic back -----------------------------------------------------------------------


def read_topic(
    bootstrap: str, topic: str, enough: Callable[[list[ConsumerRecord]], bool], timeout: float = 30
) -> list[ConsumerRecord]:
    """Every record of the topic from its start, in partition order, once `enough` says so."""
    records = _read(bootstrap, topic, enough, timeout)
    if not enough(records):
        pytest.fail(f"{topic} has {len(records)} records, not enough after {timeout}s")
    return records


def records_within(bootstrap: str, topic: str, seconds: float) -> list[ConsumerRecord]:
    """What the topic holds, read for `seconds`: for topics expected to stay empty."""
    return _read(bootstrap, topic, lambda _: False, seconds)


def _read(
    bootstrap: str, topic: str, enough: Callable[[list[ConsumerRecord]], bool], timeout: float
) -> list[ConsumerRecord]:
    deadline = time.monotonic() + timeout
    # Asking for a topic's partitions before it exists would create it on the test broker,
    # with its default partitions rather than the ones caretrail asks for.
    wait_until(lambda: topic in _listed_topics(bootstrap), timeout, f"topic {topic} exists")
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    partitions = consumer.partitions_for_topic(topic)
    consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
    consumer.seek_to_beginning()
    records: list[ConsumerRecord] = []
    try:
        while not enough(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
    finally:
        consumer.close(autocommit=False)
    return sorted(records, key=lambda record: (record.partition, record.offset))


def _listed_topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=2000)
    try:
        topics: list[str] = admin.list_topics()
        return topics
    finally:
        admin.close()
