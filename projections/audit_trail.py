"""The audit trail: every event with who, when (clinical and recorded), from where, and what,
at its position in the event store's log.

It is also the index of the log by patient and by record: a patient's history for compliance is
found here (positions) and read from the event store itself, the source the hash chain seals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

import orjson
from sqlalchemy import BigInteger, Column, ColumnElement, Integer, String, Table, Text, func, select

from domain.events import CaretrailEvent, payload_fields
from projections.store import (
    AppendOnlyProjection,
    FeedPosition,
    ProjectionStore,
    UtcDateTime,
    metadata,
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False, index=True),
    Column("event_type", String(100), nullable=False),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False, index=True),
    Column("actor", String(200), nullable=False, index=True),
    Column("source", String(500)),
    Column("payload", Text, nullable=False),
)


class AuditTrail(AppendOnlyProjection):
    name: ClassVar[str] = "audit_trail"
    tables: ClassVar[tuple[Table, ...]] = (audit_events,)

    def row(self, event: CaretrailEvent, delivered: FeedPosition) -> dict[str, Any]:
        return {
            "aggregate_id": str(event.originator_id),
            "version": event.originator_version,
            "position": delivered.log_position,
            "event_type": event.TOPIC,
            "patient_id": str(event.patient_id),
            "occurred_at": event.occurred_at,
            "recorded_at": event.timestamp,
            "actor": event.actor,
            "source": event.source,
            # orjson writes the value objects itself: the consumer's cost per event halves.
            "payload": orjson.dumps(payload_fields(event), option=orjson.OPT_SORT_KEYS).decode(),
        }


class AuditTrailIndex:
    """The audit trail as the index of the log by patient and by record
    (`services.audit_chain.LogIndex`)."""

    def __init__(self, store: ProjectionStore) -> None:
        self.store = store

    def furthest_position(self) -> int:
        with self.store.engine.connect() as db:
            return int(db.scalar(select(func.max(audit_events.c.position))) or 0)

    def positions_of_patient(self, records: Sequence[UUID]) -> list[int]:
        """Of every record given (a patient's and those merged into it), in log order."""
        return self._positions(audit_events.c.patient_id.in_(sorted(map(str, records))))

    def positions_of_record(self, record: UUID) -> list[int]:
        return self._positions(audit_events.c.aggregate_id == str(record))

    def _positions(self, where: ColumnElement[bool]) -> list[int]:
        with self.store.engine.connect() as db:
            query = select(audit_events.c.position).where(where).order_by(audit_events.c.position)
            return list(db.scalars(query))
