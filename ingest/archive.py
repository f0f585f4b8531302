"""Every ADT message as received, in a table of the event store's database, and the quarantine.

A row is written (and committed) before the message is processed, so even a message that crashes
the process is on record; its outcome is written once the message has been answered. Messages not
applied stay quarantined with their reason until a retry applies them (`caretrail quarantine`).
The raw bytes are kept exactly as received: they are PHI, protected like the event store.

On PostgreSQL the arrival rows are committed without waiting for the disk: the commit that follows
before any ACK leaves (the event store's, or the verdicts') flushes the write-ahead log up to them,
so this saves a disk flush per batch and puts no row at risk. Verdicts skip the wait only when the
batch's event-store commit holds receipts for every one of its messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.pool import StaticPool

metadata = MetaData()

RECEIVED = "received"  # the outcome of a row until its message is answered

adt_archive = Table(
    "adt_archive",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("channel", Text, nullable=False),
    Column("peer", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("sending_application", Text),
    Column("sending_facility", Text),
    Column("control_id", Text),
    Column("trigger", Text),
    Column("outcome", Text, nullable=False),
    Column("ack_code", Text),
    Column("reason", Text),
    Column("quarantined", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("answered_at", DateTime(timezone=True)),
)
Index("adt_archive_quarantined", adt_archive.c.quarantined, adt_archive.c.id)


@dataclass(frozen=True)
class Arrival:
    """Bytes as they came off the wire (or out of a file or topic), and from where."""

    raw: bytes
    channel: str  # mllp, http, kafka, file
    peer: str
    received_at: datetime
    # Why the channel already knows these bytes are not a whole message (a file's MLLP frame cut
    # short): they are rejected with it. Not archived: a retry reads the bytes afresh.
    framing_fault: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What became of an archived message."""

    archive_id: int
    dedup_key: tuple[str, str, str] | None
    trigger: str | None
    outcome: str
    ack_code: str
    reason: str | None
    quarantined: bool
    answered_at: datetime


@dataclass(frozen=True)
class ArchivedMessage:
    id: int
    received_at: datetime
    channel: str
    peer: str
    raw: bytes
    sending_application: str | None
    sending_facility: str | None
    control_id: str | None
    trigger: str | None
    outcome: str
    ack_code: str | None
    reason: str | None
    quarantined: bool
    attempts: int
    answered_at: datetime | None

    @property
    def arrival(self) -> Arrival:
        return Arrival(self.raw, self.channel, self.peer, self.received_at)


def archive_engine(store: Mapping[str, str]) -> Engine:
    """An engine on the event store's own database (and schema, for PostgreSQL); `store` is its
    persistence environment (`CareTrail.env`, or `persistence_env` of its URL)."""
    env = store
    module = env.get("PERSISTENCE_MODULE")
    if module == "eventsourcing.postgres":
        credentials = env["POSTGRES_USER"] + (
            f":{env['POSTGRES_PASSWORD']}" if env["POSTGRES_PASSWORD"] else ""
        )
        url = (
            f"postgresql+psycopg://{credentials}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
            f"/{env['POSTGRES_DBNAME']}"
        )
        schema = env.get("POSTGRES_SCHEMA")
        options = {"options": f"-csearch_path={schema}"} if schema else {}
        return create_engine(url, connect_args=options, pool_pre_ping=True)
    dbname = env.get("SQLITE_DBNAME", ":memory:")
    if dbname == ":memory:":
        return create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    engine = create_engine(f"sqlite:///{dbname}", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _wait_for_the_event_store_writer)
    return engine


def _wait_for_the_event_store_writer(connection: sqlite3.Connection, _record: object) -> None:
    # The event store writes to the same SQLite file; wait for its lock instead of failing.
    connection.execute("PRAGMA busy_timeout = 10000")


class MessageArchive:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, store: Mapping[str, str]) -> MessageArchive:
        archive = cls(archive_engine(store))
        metadata.create_all(archive.engine)
        return archive

    def close(self) -> None:
        self.engine.dispose()

    def record_arrivals(self, arrivals: Sequence[Arrival]) -> list[int]:
        """Archive messages before processing them, in one transaction; returns their ids."""
        if not arrivals:
            return []
        rows = [
            {
                "received_at": arrival.received_at.astimezone(UTC),
                "channel": arrival.channel,
                "peer": arrival.peer,
                "raw": arrival.raw,
                "outcome": RECEIVED,
                "quarantined": False,
                "attempts": 0,
            }
            for arrival in arrivals
        ]
        statement = insert(adt_archive).returning(adt_archive.c.id, sort_by_parameter_order=True)
        with self.engine.begin() as connection:
            _without_waiting_for_the_disk(connection)
            return [row.id for row in connection.execute(statement, rows)]

    def record_verdicts(self, verdicts: Sequence[Verdict], *, wait_for_disk: bool = True) -> None:
        if not verdicts:
            return
        statement = (
            update(adt_archive)
            .where(adt_archive.c.id == bindparam("row_id"))
            .values(
                sending_application=bindparam("app"),
                sending_facility=bindparam("facility"),
                control_id=bindparam("control"),
                trigger=bindparam("trigger_code"),
                outcome=bindparam("outcome_text"),
                ack_code=bindparam("ack"),
                reason=bindparam("reason_text"),
                quarantined=bindparam("held"),
                attempts=adt_archive.c.attempts + 1,
                answered_at=bindparam("answered"),
            )
        )
        rows = [_verdict_row(verdict) for verdict in verdicts]
        with self.engine.begin() as connection:
            if not wait_for_disk:
                _without_waiting_for_the_disk(connection)
            connection.execute(statement, rows)

    def message(self, archive_id: int) -> ArchivedMessage | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(adt_archive).where(adt_archive.c.id == archive_id)
            ).first()
        return _archived(row) if row is not None else None

    def quarantined(self, limit: int | None = None) -> list[ArchivedMessage]:
        """Messages not applied, oldest first."""
        query = (
            select(adt_archive)
            .where(adt_archive.c.quarantined.is_(True))
            .order_by(adt_archive.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_archived(row) for row in connection.execute(query)]


def _without_waiting_for_the_disk(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _verdict_row(verdict: Verdict) -> dict[str, object]:
    application, facility, control = verdict.dedup_key or (None, None, None)
    return {
        "row_id": verdict.archive_id,
        "app": application,
        "facility": facility,
        "control": control,
        "trigger_code": verdict.trigger,
        "outcome_text": verdict.outcome,
        "ack": verdict.ack_code,
        "reason_text": verdict.reason,
        "held": verdict.quarantined,
        "answered": verdict.answered_at.astimezone(UTC),
    }


def _archived(row: Row[tuple[object, ...]]) -> ArchivedMessage:
    values = row._asdict()
    for name in ("received_at", "answered_at"):
        moment = values[name]
        # SQLite hands back naive datetimes; everything is stored in UTC.
        if isinstance(moment, datetime) and moment.tzinfo is None:
            values[name] = moment.replace(tzinfo=UTC)
    return ArchivedMessage(**values)
