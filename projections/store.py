"""Where read models live, and how each event is applied to a read model exactly once.

A projection's rows, the highest version applied per aggregate, and the position reached in its
feed (the event store's notification log, or a Kafka partition) are written in one transaction,
so a crash at any point either keeps all three or none. Redelivered events (a relay may publish
twice) are recognised by (aggregate id, version) and skipped.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from psycopg import sql as pg_sql
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool

from domain.calendar import utc_instant
from domain.events import CaretrailEvent

log = logging.getLogger(__name__)
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


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and read back timezone-aware on SQLite and PostgreSQL alike, so that
    comparisons in SQL are between instants and checksums agree across stores of one kind."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - the signature SQLAlchemy calls
    ) -> datetime | None:
        return None if value is None else utc_instant(value)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - the signature SQLAlchemy calls
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every read model defined, by name: its tables (see ProjectionStore.create_tables).
_READ_MODELS: dict[str, tuple[Table, ...]] = {}


class Projection(ABC):
    """A read model: its tables, and how one event changes them."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and "tables" in cls.__dict__:
            _READ_MODELS[cls.name] = cls.tables

    @abstractmethod
    def apply_batch(self, db: Connection, batch: Sequence[Delivered]) -> None:
        """Change the rows for a batch of events new to the read model, in order, inside the
        caller's transaction; each event comes with where it was delivered from, its position
        in the event store's log included."""


def events_of(batch: Sequence[Delivered]) -> list[CaretrailEvent]:
    return [event for event, _ in batch]


class AppendOnlyProjection(Projection):
    """A read model that adds one row per event and never changes it: the batch's rows go in
    as one multi-row insert, a round trip per batch rather than per event. `row` is the
    per-event step (what a subclass refines or checks)."""

    @abstractmethod
    def row(self, event: CaretrailEvent, delivered: FeedPosition) -> dict[str, Any]:
        """The row one event adds."""

    def apply_batch(self, db: Connection, batch: Sequence[Delivered]) -> None:
        insert_rows(db, self.tables[0], [self.row(event, at) for event, at in batch])


@dataclass(frozen=True)
class FeedPosition:
    """Where an event came from: `feed` names the log or partition, `position` the offset there,
    and `log_position` the event's own position in the event store's notification log (on the
    event store's feed the same as `position`; on Kafka, the envelope carries it)."""

    feed: str
    position: int
    log_position: int


Delivered = tuple[CaretrailEvent, FeedPosition]


def projection_url(database_url: str) -> str:
    """The SQLAlchemy URL of the read-model store beside a given event store URL.

    SQLite keeps read models in a sibling file so the event store's writer never waits on a
    projection's transaction; PostgreSQL keeps them in the same database and schema.
    """
    if database_url.startswith("sqlite:///"):
        stem = database_url.removeprefix("sqlite:///").removesuffix(".db")
        return f"sqlite:///{stem}.projections.db"
    return event_store_url(database_url)


def event_store_engine(database_url: str) -> Engine:
    """An engine on the event store's own database, for what must not be thrown away with the
    read models (the audit chain)."""
    return open_engine(event_store_url(database_url))


def event_store_url(database_url: str) -> str:
    """The SQLAlchemy URL of the event store's own database."""
    if database_url.startswith("memory://"):
        return "sqlite://"
    scheme, rest = database_url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def open_engine(url: str) -> Engine:
    """An engine on a SQLAlchemy URL; `?schema=NAME` on PostgreSQL sets the search path, an
    SQLite file gets its folder, and `sqlite://` is one in-memory database for all threads."""
    if url.startswith("sqlite:///"):  # a new store's folder may not be there yet
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url == "sqlite://":
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif url.startswith("postgresql+psycopg://") and "schema=" in url:
        base, _, query = url.partition("?")
        schema = dict(part.split("=", 1) for part in query.split("&"))["schema"]
        engine = create_engine(base, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class ProjectionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, database_url: str) -> ProjectionStore:
        return cls(open_engine(projection_url(database_url)))

    def create_tables(self) -> None:
        """Create what is missing. A read model whose stored tables lack or carry columns this
        version does not define (an upgrade changed its shape) is dropped and forgotten, so its
        feed rebuilds it from the start instead of failing on every event."""
        with self.engine.begin() as db:
            for name in _reshaped(db):
                log.warning("read model %s changed shape; rebuilding it from the start", name)
                _forget(db, name)
        metadata.create_all(self.engine)

    def apply(self, projection: Projection, events: Sequence[Delivered]) -> int:
        """Apply a batch in one transaction; returns how many events were new to the projection."""
        if not events:
            return 0
        with self.engine.begin() as db:
            seen = self._versions_seen(db, projection.name, events)
            fresh, advanced = _not_seen(events, seen)
            projection.apply_batch(db, fresh)
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
        return len(fresh)

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
        self, db: Connection, name: str, events: Sequence[Delivered]
    ) -> dict[str, int]:
        keys = {str(domain_event.originator_id) for domain_event, _ in events}
        rows = rows_where_in(db, _APPLIED_TO, applied_versions.c.aggregate_id, keys, name=name)
        return {row.aggregate_id: row.version for row in rows}


def upsert(
    db: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Iterable[str],
) -> None:
    """Insert rows, or update them where their key already exists (PostgreSQL and SQLite)."""
    insert_rows(db, table, rows, update_on_conflict_with=tuple(key))


def insert_rows(
    db: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    update_on_conflict_with: tuple[str, ...] = (),
) -> None:
    """Insert a batch of rows (each with the same columns); with `update_on_conflict_with`, a
    row whose key exists updates it instead.

    SQLAlchemy's own executemany spends more per row building parameters than either store
    spends writing it, so each row's values are converted here once per column type and given
    to the driver: on SQLite as an executemany run in process; on PostgreSQL, rows only added
    go in by COPY, and an upsert is one statement taking an array per column (psycopg runs an
    executemany as a statement per row, and a multi-row VALUES costs more to parse than to run).
    """
    if not rows:
        return
    columns = tuple(rows[0])
    if db.dialect.name != "postgresql":
        sql, conversion = _sqlite_insert(table, columns, update_on_conflict_with)
        db.exec_driver_sql(sql, [conversion.parameters(row) for row in rows])
    elif update_on_conflict_with:
        arrays = {name: [row[name] for row in rows] for name in columns}
        db.execute(_insert_from_arrays(table, columns, update_on_conflict_with), arrays)
    else:
        _copy(db, table, columns, rows)


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class _RowConversion:
    """How a row becomes the driver's values: each column's value converted as SQLAlchemy
    would on the store (dates to text on SQLite, booleans to integers, a TypeDecorator's own),
    and the columns left out given their defaults."""

    converters: tuple[tuple[str, Converter | None], ...]
    defaults: Mapping[str, Any]

    @property
    def names(self) -> tuple[str, ...]:
        return (*(name for name, _ in self.converters), *self.defaults)

    def parameters(self, row: Mapping[str, Any]) -> dict[str, Any]:
        given = {
            name: row[name] if convert is None else convert(row[name])
            for name, convert in self.converters
        }
        return {**given, **self.defaults} if self.defaults else given

    def values(self, row: Mapping[str, Any]) -> list[Any]:
        return list(self.parameters(row).values())


@cache
def _conversion(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _RowConversion:
    defaulted = [c for c in table.columns if c.name not in columns and c.default is not None]
    if any(not column.default.is_scalar for column in defaulted):  # type: ignore[union-attr]
        raise TypeError(f"{table.name}: only constant column defaults can be left out")

    def converter(name: str) -> Converter | None:
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    defaults = {}
    for column in defaulted:
        value, convert = column.default.arg, converter(column.name)  # type: ignore[union-attr]
        defaults[column.name] = value if convert is None else convert(value)
    return _RowConversion(tuple((name, converter(name)) for name in columns), defaults)


_SQLITE_NAMED = sqlite.dialect(paramstyle="named")


@cache
def _sqlite_insert(
    table: Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> tuple[str, _RowConversion]:
    """The statement's SQL with named parameters, and how a row becomes its parameters."""
    conversion = _conversion(table, columns, _SQLITE_NAMED)
    statement = _on_conflict_update(sqlite.insert(table), columns, key)
    named = statement.values({name: bindparam(name) for name in conversion.names})
    return str(named.compile(dialect=_SQLITE_NAMED)), conversion


def _copy(
    db: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> None:
    """COPY the rows in, within the connection's transaction."""
    conversion = _conversion(table, columns, db.dialect)
    statement = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        pg_sql.Identifier(table.name),
        pg_sql.SQL(", ").join(map(pg_sql.Identifier, conversion.names)),
    )
    driver = db.connection.driver_connection
    if driver is None:
        raise RuntimeError(f"writing {table.name} on a closed connection")
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(conversion.values(row))


@cache
def _insert_from_arrays(table: Table, columns: tuple[str, ...], key: tuple[str, ...]) -> Any:
    arrays = [func.unnest(_array_of(table.c[name].type, name)) for name in columns]
    statement = postgresql.insert(table).from_select(columns, select(*arrays))
    return _on_conflict_update(statement, columns, key)


def _array_of(item_type: Any, name: str) -> Any:
    # Cast, so that PostgreSQL knows the array's type even when every item is NULL.
    array_type = ARRAY(item_type)
    return cast(bindparam(name, type_=array_type), array_type)


_APPLIED_TO = select(applied_versions.c.aggregate_id, applied_versions.c.version).where(
    applied_versions.c.projection == bindparam("name")
)


def rows_where_in(
    db: Connection, query: Select[Any], column: Column[Any], values: Iterable[Any], **params: Any
) -> Iterator[Row[Any]]:
    """The rows of `query` whose `column` is one of `values`, in as few runs as it takes.

    PostgreSQL takes every value as one array (an IN list is a parameter per value, which psycopg
    parses slowly); SQLite takes chunks of values within its limit on parameters."""
    wanted = sorted(set(values))
    if not wanted:
        return
    if db.dialect.name == "postgresql":
        in_array = query.where(column == any_(_array_of(column.type, "where_in")))
        yield from db.execute(in_array, {"where_in": wanted, **params})
        return
    in_list = query.where(column.in_(bindparam("where_in", expanding=True)))
    for first in range(0, len(wanted), 500):
        yield from db.execute(in_list, {"where_in": wanted[first : first + 500], **params})


def _on_conflict_update(
    statement: postgresql.Insert | sqlite.Insert, columns: tuple[str, ...], key: tuple[str, ...]
) -> Any:
    if not key:
        return statement
    changes = {name: statement.excluded[name] for name in columns if name not in key}
    return statement.on_conflict_do_update(index_elements=key, set_=changes)


def _not_seen(
    events: Sequence[Delivered], seen: Mapping[str, int]
) -> tuple[list[Delivered], dict[str, int]]:
    """The events past the version already applied for their aggregate (a redelivery repeats
    earlier ones), and the version each aggregate reaches with them."""
    fresh: list[Delivered] = []
    advanced: dict[str, int] = {}
    for delivered in events:
        domain_event = delivered[0]
        key = str(domain_event.originator_id)
        if domain_event.originator_version > advanced.get(key, seen.get(key, 0)):
            fresh.append(delivered)
            advanced[key] = domain_event.originator_version
    return fresh, advanced


def _reshaped(db: Connection) -> list[str]:
    inspector = inspect(db)

    def out_of_shape(table: Table) -> bool:
        if not inspector.has_table(table.name):
            return False
        stored = {column["name"] for column in inspector.get_columns(table.name)}
        return stored != {column.name for column in table.columns}

    return [name for name, tables in _READ_MODELS.items() if any(map(out_of_shape, tables))]


def _forget(db: Connection, name: str) -> None:
    for table in _READ_MODELS[name]:
        table.drop(db, checkfirst=True)
    inspector = inspect(db)
    for bookkeeping in (tracking, applied_versions):
        if inspector.has_table(bookkeeping.name):
            db.execute(delete(bookkeeping).where(bookkeeping.c.projection == name))


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
