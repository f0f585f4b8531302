"""`caretrail relay`: publishes every stored event to Kafka, in log order, at least once.

The event store's notification log is the outbox. The relay reads the section after its position,
publishes each event (key: patient id, value: its envelope), waits until the broker acknowledged
every record, and only then moves its position. A crash in between republishes that section;
consumers skip what they already applied, by aggregate id and version.

Position and claim live in the event store's own database, in `caretrail_relay_position`, so a
restored store also restores where its relay was. One relay publishes per store: on PostgreSQL it
holds a session advisory lock on the connection that also writes its position (lose the connection
and the claim goes with it, and the next position write fails and stops this relay); on SQLite an
exclusive lock on a file beside the database, which the operating system drops with the process.
Another relay waits, trying again every second, and takes over when the active one dies.

Kafka is never in the write path: commands commit to the event store whether or not a broker is
up. While the broker is unreachable the relay backs off (doubling, up to
`CARETRAIL_KAFKA_RETRY_MAX_SECONDS`) and recreates its producer each time, since an idempotent
producer is unusable after a failed produce on some brokers. Database errors are not retried
here: the relay stops, and whatever supervises it starts it again from its stored position.

Its position says what the *topic* holds. A Kafka broker keeps its log across restarts, so a
broker restart needs nothing. A lost topic (a new cluster, a deleted topic, a broker with memory
storage) is recreated empty on reconnect, and the relay goes on from its position: the history
before it is not republished by itself. `caretrail relay --replay-from 1` republishes it, and
projections fed from Kafka are then rebuilt from zero, as their stored offsets name the old topic.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from sqlalchemy import (
    URL,
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from services.application import CareTrail, LoggedEvent
from services.envelope import envelope_bytes
from services.persistence import DatabaseUrlError, persistence_env
from services.settings import Settings

log = logging.getLogger(__name__)

Beat = Callable[[], None]
CLAIM_RETRY_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 0.25

relay_positions = Table(
    "caretrail_relay_position",
    MetaData(),
    Column("topic", String(249), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def no_beat() -> None:
    """For loops run where nobody watches their liveness."""


class Backoff:
    """Doubling waits up to a ceiling; a success starts again from the shortest."""

    def __init__(self, ceiling_seconds: float) -> None:
        self.ceiling = ceiling_seconds
        self._next = FIRST_BACKOFF_SECONDS

    def next_wait(self) -> float:
        wait = min(self._next, self.ceiling)
        self._next = wait * 2
        return wait

    def reset(self) -> None:
        self._next = FIRST_BACKOFF_SECONDS


# --- Kafka clients, configured once for the relay and the consumers' dead-letter producers -----


def kafka_producer(settings: Settings, client_id: str) -> KafkaProducer:
    """An idempotent producer: acks from all replicas, retries never reorder one partition."""
    delivery_ms = settings.kafka_delivery_timeout_ms
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        compression_type="gzip",
        linger_ms=5,
        batch_size=256 * 1024,
        delivery_timeout_ms=delivery_ms,
        # A delivery spans at least one request, and Kafka requires the request timeout to fit.
        request_timeout_ms=min(30_000, delivery_ms // 2),
        max_block_ms=delivery_ms,
        bootstrap_timeout_ms=connect_timeout_ms(settings),
        reconnect_backoff_max_ms=1_000,
        # Topics are created by ensure_topic with the configured partitions, never implicitly.
        allow_auto_create_topics=False,
    )


def connect_timeout_ms(settings: Settings) -> int:
    """How long a client tries to reach the broker before it reports it unreachable."""
    return min(10_000, settings.kafka_delivery_timeout_ms)


def ensure_topic(settings: Settings, topic: str) -> None:
    """Create the topic with caretrail's partitions and replicas unless it exists."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="caretrail-admin",
        bootstrap_timeout_ms=connect_timeout_ms(settings),
        request_timeout_ms=min(30_000, settings.kafka_delivery_timeout_ms),
    )
    try:
        admin.create_topics(
            [NewTopic(topic, settings.events_topic_partitions, settings.kafka_replication_factor)]
        )
        log.info("created topic %s", topic)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


class EventPublisher:
    """Puts events on the events topic; `publish` returns once the broker has them all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.events_topic
        self._producer: KafkaProducer | None = None

    def publish(self, section: Sequence[LoggedEvent]) -> None:
        producer = self._connected()
        acknowledgements = [
            producer.send(
                self.topic,
                key=str(logged.event.patient_id).encode(),
                value=envelope_bytes(logged),
            )
            for logged in section
        ]
        producer.flush(timeout=self.settings.kafka_delivery_timeout_ms / 1000)
        for acknowledgement in acknowledgements:
            acknowledgement.get(timeout=0)  # raises the error of a record the broker refused

    def reset(self) -> None:
        """Drop the producer after a failure; the next publish starts a new one."""
        if self._producer is not None:
            self._producer.close(timeout=0)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    def _connected(self) -> KafkaProducer:
        if self._producer is None:
            ensure_topic(self.settings, self.topic)
            self._producer = kafka_producer(self.settings, "caretrail-relay")
        return self._producer


# --- Position and the one-relay claim, in the event store's database ---------------------------


class StoreClaim(Protocol):
    """The right to be the one relay of an event store."""

    def try_take(self, connection: Connection) -> bool: ...

    def give_up(self, connection: Connection) -> None: ...


class AdvisoryLockClaim:
    """A PostgreSQL session advisory lock: held as long as the connection lives."""

    def __init__(self, key: int) -> None:
        self.key = key

    def try_take(self, connection: Connection) -> bool:
        statement = text("SELECT pg_try_advisory_lock(:key)")
        return bool(connection.scalar(statement, {"key": self.key}))

    def give_up(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})


class FileLockClaim:
    """An exclusive lock on a file beside an SQLite store; the OS drops it with the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def try_take(self, connection: Connection) -> bool:  # noqa: ARG002 - the protocol's shape
        lock_file = self.path.open("ab")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            return False
        self._file = lock_file
        return True

    def give_up(self, connection: Connection) -> None:  # noqa: ARG002 - the protocol's shape
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None


class RelayLedger:
    """How far the relay has published to a topic, and its claim to be the store's one relay."""

    def __init__(self, engine: Engine, topic: str, claim: StoreClaim) -> None:
        self.engine = engine
        self.topic = topic
        self.claim = claim
        self._connection: Connection | None = None

    @classmethod
    def open(cls, database_url: str, topic: str) -> RelayLedger:
        env = persistence_env(database_url)
        if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            return cls(_postgres_engine(env), topic, AdvisoryLockClaim(_advisory_key(env)))
        if (
            env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
            and env["SQLITE_DBNAME"] != ":memory:"
        ):
            path = env["SQLITE_DBNAME"]
            engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
            return cls(engine, topic, FileLockClaim(Path(f"{path}.relay.lock")))
        raise DatabaseUrlError(
            f"the relay follows a store other processes write to; '{database_url}' is private "
            "to one process: use an SQLite file or PostgreSQL"
        )

    def hold(self, stop: threading.Event, beat: Beat = no_beat) -> bool:
        """Wait until this relay holds the claim; False if stopped before it did."""
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        waiting_logged = False
        while not self.claim.try_take(connection):
            if not waiting_logged:
                log.info("another relay is active on this event store; waiting to take over")
                waiting_logged = True
            beat()
            if stop.wait(CLAIM_RETRY_SECONDS):
                connection.close()
                return False
        # Only the claim holder creates and writes the table, so these two never race.
        relay_positions.create(connection, checkfirst=True)
        if self._stored_position(connection) is None:
            connection.execute(insert(relay_positions).values(topic=self.topic, position=0))
        self._connection = connection
        return True

    def position(self) -> int:
        """The last log position the broker acknowledged; 0 before the first."""
        return self._stored_position(self._held()) or 0

    def move_to(self, position: int) -> None:
        self._held().execute(
            update(relay_positions)
            .where(relay_positions.c.topic == self.topic)
            .values(position=position)
        )

    def release(self) -> None:
        if self._connection is not None:
            # After a database error the connection, and with it an advisory lock, may be gone
            # already; that error is the one worth reporting, not this one.
            with contextlib.suppress(SQLAlchemyError):
                self.claim.give_up(self._connection)
            self._connection.close()
            self._connection = None
        self.engine.dispose()

    def _held(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the relay ledger is used without holding the claim")
        return self._connection

    def _stored_position(self, connection: Connection) -> int | None:
        return connection.scalar(
            select(relay_positions.c.position).where(relay_positions.c.topic == self.topic)
        )


def _postgres_engine(env: dict[str, str]) -> Engine:
    url = URL.create(
        "postgresql+psycopg",
        username=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        database=env["POSTGRES_DBNAME"],
    )
    schema = env.get("POSTGRES_SCHEMA")
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, connect_args=connect_args)


def _advisory_key(env: dict[str, str]) -> int:
    # Advisory locks are per database; the schema tells apart stores sharing one database.
    store = f"caretrail.relay:{env.get('POSTGRES_SCHEMA', 'public')}"
    return int.from_bytes(hashlib.sha256(store.encode()).digest()[:8], "big", signed=True)


# --- The relay ----------------------------------------------------------------------------------


class Relay:
    def __init__(
        self, app: CareTrail, ledger: RelayLedger, publisher: EventPublisher, settings: Settings
    ) -> None:
        self.app = app
        self.ledger = ledger
        self.publisher = publisher
        self.batch_size = settings.relay_batch_size
        self.poll_seconds = settings.relay_poll_seconds
        self.backoff = Backoff(settings.kafka_retry_max_seconds)

    @classmethod
    def open(cls, app: CareTrail, settings: Settings) -> Relay:
        ledger = RelayLedger.open(settings.database_url, settings.events_topic)
        return cls(app, ledger, EventPublisher(settings), settings)

    def run(
        self, stop: threading.Event, beat: Beat = no_beat, replay_from: int | None = None
    ) -> None:
        """Publish until `stop` is set, once this relay holds the store's claim."""
        if not self.ledger.hold(stop, beat):
            return
        try:
            if replay_from is not None:
                self.ledger.move_to(replay_from - 1)
            log.info("relaying events after position %d", self.ledger.position())
            self._relay(stop, beat)
        finally:
            self.publisher.close()
            self.ledger.release()

    def _relay(self, stop: threading.Event, beat: Beat) -> None:
        position = self.ledger.position()
        while not stop.is_set():
            beat()
            section = next(self.app.event_log_sections(position + 1, self.batch_size), [])
            if not section:
                stop.wait(self.poll_seconds)
            elif self._published(section, stop):
                position = section[-1].position
                self.ledger.move_to(position)

    def _published(self, section: list[LoggedEvent], stop: threading.Event) -> bool:
        try:
            self.publisher.publish(section)
        except KafkaError as error:
            self.publisher.reset()
            wait = self.backoff.next_wait()
            log.warning(
                "the broker did not take events from position %d (%s); retrying in %.2fs",
                section[0].position,
                error,
                wait,
            )
            stop.wait(wait)
            return False
        self.backoff.reset()
        return True
