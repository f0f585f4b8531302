"""The audit trail: every event with who, when (clinical and recorded), from where, and what."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from domain.events import CaretrailEvent, payload_fields
from projections.store import AppendOnlyProjection, metadata

audit_events = Table(
    "audit_events",
    metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(200), nullable=False, index=True),
    Column("source", String(500)),
    Column("payload", Text, nullable=False),
)


class AuditTrail(AppendOnlyProjection):
    name: ClassVar[str] = "audit_trail"
    tables: ClassVar[tuple[Table, ...]] = (audit_events,)

    def row(self, event: CaretrailEvent) -> dict[str, Any]:
        return {
            "aggregate_id": str(event.originator_id),
            "version": event.originator_version,
            "event_type": event.TOPIC,
            "patient_id": str(event.patient_id),
            "occurred_at": event.occurred_at,
            "recorded_at": event.timestamp,
            "actor": event.actor,
            "source": event.source,
            # orjson writes the value objects itself: the consumer's cost per event halves.
            "payload": orjson.dumps(payload_fields(event), option=orjson.OPT_SORT_KEYS).decode(),
        }
