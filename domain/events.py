"""What every caretrail event carries, and the command context it is made from."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from domain.errors import ImplausibleDate

# Sending systems' and browsers' clocks run a little ahead at times; a clinical time further
# ahead is a wrong one (a wrong year or time zone), and a deadline counted from it, or an
# alert resolved by it, would be wrong too.
CLOCK_DRIFT = timedelta(minutes=10)


@dataclass(frozen=True)
class Action:
    """Who did something, when it happened clinically, when we recorded it, and from where.

    `occurred_at` is clinical time (EVN-6, PV1-45, or when the case manager says it happened);
    `recorded_at` is when caretrail stored it. Deadlines use the first, audit uses both.
    """

    actor: str
    occurred_at: datetime
    recorded_at: datetime
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise ValueError("every action needs an actor (a user id or a feed id)")
        for name in ("occurred_at", "recorded_at"):
            if getattr(self, name).tzinfo is None:
                raise ImplausibleDate(f"{name} must carry a time zone")
        if self.occurred_at > self.recorded_at + CLOCK_DRIFT:
            raise ImplausibleDate(
                f"{self.occurred_at.isoformat()} is in the future (recorded at "
                f"{self.recorded_at.isoformat()}): nothing can be recorded before it happens"
            )


class CaretrailEvent(Aggregate.Event):
    """Base of every stored event.

    Each concrete event names a stable TOPIC, so renaming or moving code never orphans stored
    events; the topic is registered here as the class is defined.
    """

    TOPIC: ClassVar[str] = ""

    actor: str
    source: str | None
    occurred_at: datetime
    patient_id: UUID

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        topic = cls.__dict__.get("TOPIC")
        if topic:
            register_topic(topic, cls)


class CaretrailCreated(Aggregate.Created, CaretrailEvent):
    """Base of the events that start an aggregate's history."""


def stable_topic(topic: str) -> Any:
    """Class decorator giving an aggregate a stable topic, like its events have.

    Set after class creation because eventsourcing would otherwise demand a TOPIC on the
    implicit nested Event/Created classes it generates, which we never use.
    """

    def register(aggregate_class: type[Aggregate]) -> type[Aggregate]:
        aggregate_class.TOPIC = topic  # type: ignore[attr-defined]
        register_topic(topic, aggregate_class)
        return aggregate_class

    return register


def recorded(action: Action, patient_id: UUID) -> dict[str, Any]:
    """The common event fields for `trigger_event`, taken from the command context."""
    return {
        "timestamp": action.recorded_at,
        "actor": action.actor,
        "source": action.source,
        "occurred_at": action.occurred_at,
        "patient_id": patient_id,
    }


CORE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "originator_topic", "actor", "source",
     "occurred_at", "patient_id"}
)  # fmt: skip


def payload_fields(event: CaretrailEvent) -> dict[str, Any]:
    """What this event says beyond the fields every event has, as the event holds it."""
    return {name: value for name, value in vars(event).items() if name not in CORE_FIELDS}


def event_payload(event: CaretrailEvent) -> dict[str, Any]:
    """The same as JSON-ready values."""
    return {name: _json_ready(value) for name, value in payload_fields(event).items()}


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: _json_ready(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    return value
