"""Where read models live, and how each event is applied to a read model exactly once.

A projection's rows, the highest version applied per aggregate, and the position reached in its
feed (the event store's notification log, or a Kafka partition) are written in one transaction,
so a crash at any point either keeps all three or none. Redelivered events (a relay may publish
twice) are recognised by (aggregate id, version) and skipped.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from domain.events import CaretrailEvent

metadata = MetaData()

tracking = Table(
    "projection_tracking",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("feed", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

applied_versions = Table(
    "projection_applied",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("aggregate_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
)

EVENT_STORE_FEED = "eventstore"


class Projection(ABC):
    """A read model: its tables, and how one event changes them."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]

    @abstractmethod
    def apply(self, db: Connection, event: CaretrailEvent) -> None:
        """Change the read model's rows for one event, inside the caller's transaction."""


@dataclass(frozen=True)
class FeedPosition:
    """Where an event came from: `feed` names the log or partition, `position` the offset."""

    feed: str
    position: int


def projection_url(database_url: str) -> str:
    """The SQLAlchemy URL of the read-model store beside a given event store URL.

    SQLite keeps read models in a sibling file so the event store's writer never waits on a
    projection's transaction; PostgreSQL keeps them in the same database and schema.
    """
    if database_url.startswith("memory://"):
        return "sqlite://"
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        stem = path.removesuffix(".db")
        return f"sqlite:///{stem}.projections.db"
    scheme, rest = database_url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return database_url


class ProjectionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, database_url: str) -> ProjectionStore:
        url = projection_url(database_url)
        if url == "sqlite://":
            engine = create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        elif url.startswith("postgresql+psycopg://") and "schema=" in url:
            base, _, query = url.partition("?")
            schema = dict(part.split("=", 1) for part in query.split("&"))["schema"]
            engine = create_engine(base, connect_args={"options": f"-csearch_path={schema}"})
        else:
            engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        return cls(engine)

    def create_tables(self) -> None:
        metadata.create_all(self.engine)

    def apply(
        self, projection: Projection, events: Sequence[tuple[CaretrailEvent, FeedPosition]]
    ) -> int:
        """Apply a batch in one transaction; returns how many events were new to the projection."""
        if not events:
            return 0
        with self.engine.begin() as db:
            seen = self._versions_seen(db, projection.name, events)
            advanced: dict[str, int] = {}
            applied = 0
            for domain_event, _ in events:
                key = str(domain_event.originator_id)
                if domain_event.originator_version <= seen.get(key, 0):
                    continue
                projection.apply(db, domain_event)
                seen[key] = advanced[key] = domain_event.originator_version
                applied += 1
            versions = [
                {"projection": projection.name, "aggregate_id": key, "version": version}
                for key, version in advanced.items()
            ]
            upsert(db, applied_versions, versions, ("projection", "aggregate_id"))
            positions = [
                {"projection": projection.name, "feed": feed, "position": position}
                for feed, position in _furthest(position for _, position in events).items()
            ]
            upsert(db, tracking, positions, ("projection", "feed"))
        return applied

    def position(self, projection_name: str, feed: str = EVENT_STORE_FEED) -> int | None:
        with self.engine.connect() as db:
            return db.scalar(
                select(tracking.c.position).where(
                    tracking.c.projection == projection_name, tracking.c.feed == feed
                )
            )

    def reset(self, projection: Projection) -> None:
        """Forget a projection's rows and positions, so it can be rebuilt from zero."""
        with self.engine.begin() as db:
            for table in projection.tables:
                db.execute(delete(table))
            db.execute(delete(tracking).where(tracking.c.projection == projection.name))
            db.execute(
                delete(applied_versions).where(applied_versions.c.projection == projection.name)
            )

    def checksum(self, projection: Projection) -> str:
        """A digest of every row of the projection's tables, independent of physical order."""
        digest = hashlib.sha256()
        with self.engine.connect() as db:
            for table in sorted(projection.tables, key=lambda t: t.name):
                rows = sorted(repr(tuple(row)) for row in db.execute(select(table)))
                digest.update(table.name.encode())
                for row in rows:
                    digest.update(row.encode())
        return digest.hexdigest()

    def close(self) -> None:
        self.engine.dispose()

    def _versions_seen(
        self, db: Connection, name: str, events: Sequence[tuple[CaretrailEvent, FeedPosition]]
    ) -> dict[str, int]:
        keys = sorted({str(domain_event.originator_id) for domain_event, _ in events})
        seen: dict[str, int] = {}
        for chunk in (keys[i : i + 500] for i in range(0, len(keys), 500)):
            rows = db.execute(
                select(applied_versions.c.aggregate_id, applied_versions.c.version).where(
                    applied_versions.c.projection == name,
                    applied_versions.c.aggregate_id.in_(chunk),
                )
            )
            seen.update({row.aggregate_id: row.version for row in rows})
        return seen


def upsert(
    db: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Iterable[str],
) -> None:
    """Insert rows, or update them where their key already exists (PostgreSQL and SQLite).

    Several rows go in one executemany, which SQLAlchemy batches into multi-row statements."""
    if not rows:
        return
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    keys = tuple(key)
    changes = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    db.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes), list(rows))


def _furthest(positions: Iterable[FeedPosition]) -> dict[str, int]:
    furthest: dict[str, int] = {}
    for position in positions:
        furthest[position.feed] = max(position.position, furthest.get(position.feed, -1))
    return furthest


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
