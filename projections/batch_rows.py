"""A table's rows held in memory while a batch of events is applied, written back once.

A read model whose every event reads and changes several rows (the deadline projection re-derives
a patient's conditions from all their facts) pays a statement per row read or written when it
works on the tables directly; with the rows of the batch's subjects loaded first, changed in
memory and written back with one statement per table, it pays a few statements per batch. The
rows a batch does not load are never read, so each batch loads what its events concern.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, bindparam, delete, select

from domain.events import CaretrailEvent
from projections.store import Delivered, Projection, events_of, insert_rows, rows_where_in

Key = tuple[Any, ...]
Row = dict[str, Any]


class BatchRows:
    """Rows of one table by primary key, with lookups by the columns in `index_by` (columns a
    row never changes once written, like the patient a transition belongs to)."""

    def __init__(self, table: Table, index_by: Iterable[str] = ()) -> None:
        self.table = table
        self.key_columns = tuple(column.name for column in table.primary_key.columns)
        self._defaults = {column.name: _default(column) for column in table.columns}
        self._rows: dict[Key, Row] = {}
        self._indexes: dict[str, dict[Any, set[Key]]] = {name: {} for name in index_by}
        self._changed: set[Key] = set()
        self._removed: set[Key] = set()

    def load(self, db: Connection, column: str, values: Iterable[Any]) -> list[Row]:
        """Bring in the stored rows whose `column` is one of `values` (those already held keep
        their changes); returns the rows loaded."""
        loaded = []
        for stored in rows_where_in(db, select(self.table), self.table.c[column], values):
            row = dict(stored._mapping)
            key = self._key(row)
            if key not in self._rows and key not in self._removed:
                self._hold(key, row)
                loaded.append(row)
        return loaded

    def get(self, *key: Any) -> Row | None:
        return self._rows.get(key)

    def where(self, column: str, value: Any) -> list[Row]:
        return [self._rows[key] for key in self._indexes[column].get(value, ())]

    def put(self, values: Mapping[str, Any]) -> None:
        """Add a row (columns left out take their defaults) or replace the one with its key."""
        row = {**self._defaults, **values}
        key = self._key(row)
        self._unindex(key)
        self._hold(key, row)
        self._changed.add(key)
        self._removed.discard(key)

    def change(self, row: Row, **values: Any) -> None:
        """Change columns of a row held here (not its key nor its indexed columns)."""
        row.update(values)
        self._changed.add(self._key(row))

    def remove(self, *key: Any) -> None:
        if key in self._rows:
            self._unindex(key)
            del self._rows[key]
            self._changed.discard(key)
            self._removed.add(key)

    def write(self, db: Connection) -> None:
        """Write back what changed since loading: removed rows deleted, new and changed rows
        inserted or updated."""
        if self._removed:
            db.execute(_delete_by_key(self.table, self.key_columns), [
                {f"k_{name}": value for name, value in zip(self.key_columns, key, strict=True)}
                for key in sorted(self._removed)
            ])  # fmt: skip
        changed = [self._rows[key] for key in sorted(self._changed)]
        insert_rows(db, self.table, changed, update_on_conflict_with=self.key_columns)
        self._changed.clear()
        self._removed.clear()

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows.values())

    def _key(self, row: Mapping[str, Any]) -> Key:
        return tuple(row[name] for name in self.key_columns)

    def _hold(self, key: Key, row: Row) -> None:
        self._rows[key] = row
        for column, index in self._indexes.items():
            index.setdefault(row[column], set()).add(key)

    def _unindex(self, key: Key) -> None:
        row = self._rows.get(key)
        if row is None:
            return
        for column, index in self._indexes.items():
            index[row[column]].discard(key)


def _default(column: Column[Any]) -> Any:
    default = column.default
    return getattr(default, "arg", None) if default is not None and default.is_scalar else None


def _delete_by_key(table: Table, key_columns: tuple[str, ...]) -> Any:
    return delete(table).where(
        and_(*(table.c[name] == bindparam(f"k_{name}") for name in key_columns))
    )


class AggregateRowsProjection(Projection):
    """A read model whose every row belongs to the aggregate named by its table's first key
    column (a case's goals, an alert's row): a batch works on the rows of the aggregates its
    events come from, loaded once, changed in memory and written back once."""

    @abstractmethod
    def handles(self, event: CaretrailEvent) -> bool:
        """Whether the event changes the read model."""

    @abstractmethod
    def change(self, rows: Mapping[Table, BatchRows], event: CaretrailEvent) -> None:
        """Change the rows (each table's rows of the event's aggregate) for one event."""

    def apply_batch(self, db: Connection, batch: Sequence[Delivered]) -> None:
        handled = [event for event in events_of(batch) if self.handles(event)]
        if not handled:
            return
        aggregates = {str(event.originator_id) for event in handled}
        rows = {}
        for table in self.tables:
            owner = table.primary_key.columns[0].name
            rows[table] = BatchRows(table, index_by=(owner,))
            rows[table].load(db, owner, aggregates)
        for event in handled:
            self.change(rows, event)
        for table_rows in rows.values():
            table_rows.write(db)
