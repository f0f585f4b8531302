"""The JSON envelope every event travels in on Kafka, readable without caretrail's code.

```
{"event_id": "…",            deterministic: the same stored event always has the same id
 "type": "caretrail.PatientDischarged",   the event's stable topic
 "schema_version": 1,        version of this type's payload (services/event_schemas/<type>.json)
 "aggregate_id": "…", "version": 3,
 "aggregate_type": null,     the aggregate's topic on the event that creates it, else null
 "patient_id": "…",          also the Kafka key, so one patient's events stay in order
 "occurred_at": "…", "recorded_at": "…",  ISO 8601 with offset: clinical time, stored time
 "actor": "…", "source": "…" or null,
 "position": 1234,           the event's position in the event store's notification log
 "payload": {…}}             what this event type says beyond the fields above
```

`from_envelope` rebuilds the domain event object itself, the way the event store's mapper does,
so a projection fed from Kafka sees the same objects as one fed from the notification log. An
envelope of an older schema version is upcast one version at a time before it is decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints
from uuid import UUID, uuid5

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.utils import resolve_topic

from domain.case import FollowUpVisitRecorded
from domain.events import CORE_FIELDS, CaretrailEvent, payload_fields
from services.application import LoggedEvent, load_every_event_type

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Fixed forever: event ids are uuid5(EVENT_ID_NAMESPACE, "<aggregate id>:<version>").
EVENT_ID_NAMESPACE = UUID("6d1f3a52-2b0c-5f4e-9a51-0c9b7e3d2a18")

Envelope = dict[str, Any]
Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class EnvelopeError(ValueError):
    """A Kafka record that is not an envelope caretrail can turn back into an event."""


class Upcasters:
    """Per event type, how a payload of schema version N becomes version N + 1.

    An event class that changes shape declares `class_version = N + 1` and an
    `upcast_vN_vN+1` for the event store (eventsourcing's own mechanism); the envelope keeps
    records already on Kafka readable through the upcaster registered here for the same step.
    """

    def __init__(self) -> None:
        self._steps: dict[str, list[Upcaster]] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        steps = self._steps.setdefault(event_type, [])
        if from_version != len(steps) + 1:
            raise ValueError(
                f"{event_type} upcasters go 1->2->3...; the next one is from version "
                f"{len(steps) + 1}, not {from_version}"
            )

        def add(upcaster: Upcaster) -> Upcaster:
            steps.append(upcaster)
            return upcaster

        return add

    def newest_version(self, event_type: str) -> int:
        return len(self._steps.get(event_type, ())) + 1

    def upcast(self, event_type: str, schema_version: int, payload: Payload) -> Payload:
        newest = self.newest_version(event_type)
        if not 1 <= schema_version <= newest:
            raise EnvelopeError(
                f"{event_type} schema version {schema_version} is unknown here (newest: "
                f"{newest}); upgrade this consumer before the relay"
            )
        for step in self._steps.get(event_type, [])[schema_version - 1 :]:
            payload = step(payload)
        return payload


UPCASTERS = Upcasters()


@UPCASTERS.register(FollowUpVisitRecorded.TOPIC, from_version=1)
def _follow_up_visit_v2(payload: Payload) -> Payload:
    """Records already on Kafka go through the event store's own upcast."""
    upcast = dict(payload)
    FollowUpVisitRecorded.upcast_v1_v2(upcast)
    return upcast


def schema_version(event_class: type[CaretrailEvent]) -> int:
    """The payload version of an event type is its class version in the event store."""
    return int(getattr(event_class, "class_version", 1))


def event_id(event: CaretrailEvent) -> UUID:
    return uuid5(EVENT_ID_NAMESPACE, f"{event.originator_id}:{event.originator_version}")


def envelope_bytes(logged: LoggedEvent) -> bytes:
    """The envelope as the relay publishes it: compact UTF-8 JSON. orjson writes the UUIDs,
    datetimes (ISO 8601 with offset), enums and value objects itself; turning them into JSON
    values in Python first cost the relay more than decoding the stored event."""
    event = logged.event
    return orjson.dumps(
        {
            "event_id": event_id(event),
            "type": event.TOPIC,
            "schema_version": schema_version(type(event)),
            "aggregate_id": event.originator_id,
            "version": event.originator_version,
            "aggregate_type": getattr(event, "originator_topic", None),
            "patient_id": event.patient_id,
            "occurred_at": event.occurred_at,
            "recorded_at": event.timestamp,
            "actor": event.actor,
            "source": event.source,
            "position": logged.position,
            "payload": payload_fields(event),
        }
    )


def to_envelope(logged: LoggedEvent) -> Envelope:
    """The envelope as JSON values, exactly as a consumer reads it off Kafka."""
    envelope: Envelope = orjson.loads(envelope_bytes(logged))
    return envelope


def encode(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON, the same bytes as `json.dumps(separators=(",", ":"),
    ensure_ascii=False)` gives."""
    return orjson.dumps(envelope)


def decode(value: bytes | None, upcasters: Upcasters = UPCASTERS) -> LoggedEvent:
    """The domain event in a Kafka record's value, with its position in the event store's log;
    EnvelopeError says why there is none."""
    try:
        envelope = orjson.loads(value or b"")
    except orjson.JSONDecodeError as error:  # invalid UTF-8 included
        raise EnvelopeError(f"not a JSON envelope: {error}") from error
    if not isinstance(envelope, dict):
        raise EnvelopeError("not a JSON envelope: the value is not an object")
    event = from_envelope(envelope, upcasters)
    position = envelope.get("position")
    if type(position) is not int or position < 1:
        raise EnvelopeError(f"the envelope's position {position!r} is not a log position")
    return LoggedEvent(position, event)


def from_envelope(envelope: Mapping[str, Any], upcasters: Upcasters = UPCASTERS) -> CaretrailEvent:
    try:
        event_class = _event_class(envelope["type"])
        payload = upcasters.upcast(
            envelope["type"], envelope["schema_version"], dict(envelope["payload"])
        )
        state = _event_state(event_class, envelope, payload)
    except EnvelopeError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise EnvelopeError(f"malformed envelope: {type(error).__name__}: {error}") from error
    # What the event store's mapper does too: the event's state set as is, no __init__ run.
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return event


def _event_class(event_type: object) -> type[CaretrailEvent]:
    if not isinstance(event_type, str):
        raise EnvelopeError(f"the envelope's type {event_type!r} is not a string")
    try:
        event_class = resolve_topic(event_type)
    except Exception as error:  # eventsourcing raises several kinds for an unknown topic
        raise EnvelopeError(f"unknown event type {event_type}") from error
    if not (isinstance(event_class, type) and issubclass(event_class, CaretrailEvent)):
        raise EnvelopeError(f"{event_type} is not a caretrail event")
    return event_class


def _event_state(
    event_class: type[CaretrailEvent], envelope: Mapping[str, Any], payload: Payload
) -> dict[str, Any]:
    expected = set(_payload_types(event_class))
    if set(payload) != expected:
        raise EnvelopeError(
            f"{envelope['type']} payload has fields {sorted(payload)}, expected {sorted(expected)}"
        )
    on_the_wire = payload | {
        "originator_id": envelope["aggregate_id"],
        "originator_version": envelope["version"],
        "timestamp": envelope["recorded_at"],
        "originator_topic": envelope["aggregate_type"],
        "actor": envelope["actor"],
        "source": envelope["source"],
        "occurred_at": envelope["occurred_at"],
        "patient_id": envelope["patient_id"],
    }
    return {
        name: _json_form(field_type).decode(on_the_wire[name])
        for name, field_type in _field_types(event_class).items()
    }


@cache
def _field_types(event_class: type[CaretrailEvent]) -> dict[str, Any]:
    """Every field of the event, in the order the event store's mapper sets them."""
    # The aggregate id is generic in eventsourcing; caretrail's aggregates all use UUIDs.
    hints = _dataclass_fields(event_class) | {"originator_id": UUID}
    # The mapper adds the aggregate id and version after the stored state.
    ordered = [name for name in hints if name not in _IN_STORED_EVENT_KEY] + _IN_STORED_EVENT_KEY
    return {name: hints[name] for name in ordered}


_IN_STORED_EVENT_KEY = ["originator_id", "originator_version"]


@cache
def _payload_types(event_class: type[CaretrailEvent]) -> dict[str, Any]:
    return {
        name: field_type
        for name, field_type in _field_types(event_class).items()
        if name not in CORE_FIELDS
    }


# --- Field types in JSON: their schema, and how a JSON value turns back into the field's value ---


@dataclass(frozen=True)
class _JsonForm:
    schema: dict[str, Any]
    decode: Callable[[Any], Any]


def _exactly(kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if type(value) is not kind:  # `is`, so that True is not taken for an integer
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


_as_string, _as_list, _as_dict = _exactly(str), _exactly(list), _exactly(dict)


def _from_string(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    return lambda value: parse(_as_string(value))


def _aware_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text} has no UTC offset")
    return moment


_LEAVES: dict[Any, _JsonForm] = {
    str: _JsonForm({"type": "string"}, _as_string),
    int: _JsonForm({"type": "integer"}, _exactly(int)),
    bool: _JsonForm({"type": "boolean"}, _exactly(bool)),
    UUID: _JsonForm({"type": "string", "format": "uuid"}, _from_string(UUID)),
    datetime: _JsonForm({"type": "string", "format": "date-time"}, _from_string(_aware_datetime)),
    date: _JsonForm({"type": "string", "format": "date"}, _from_string(date.fromisoformat)),
}


@cache
def _json_form(field_type: Any) -> _JsonForm:
    """Made once per field type; its schema is shared, so never changed in place."""
    if field_type in _LEAVES:
        return _LEAVES[field_type]
    present = _optional(field_type)
    if present is not None:
        inner = _json_form(present)
        return _JsonForm(
            {"anyOf": [inner.schema, {"type": "null"}]},
            lambda value: None if value is None else inner.decode(value),
        )
    if get_origin(field_type) is list:
        item = _json_form(get_args(field_type)[0])
        return _JsonForm(
            {"type": "array", "items": item.schema},
            lambda value: [item.decode(each) for each in _as_list(value)],
        )
    if get_origin(field_type) is dict and get_args(field_type)[0] is str:
        entry = _json_form(get_args(field_type)[1])
        return _JsonForm(
            {"type": "object", "additionalProperties": entry.schema},
            lambda value: {key: entry.decode(each) for key, each in _as_dict(value).items()},
        )
    if isinstance(field_type, type) and issubclass(field_type, Enum):
        # Checked against the enum, kept as its plain value: JSON has no enums, so the event
        # store gives these fields back as plain values too, and projections must see the same.
        return _JsonForm(
            {"enum": [member.value for member in field_type]},
            lambda value: field_type(value).value,
        )
    if is_dataclass(field_type) and isinstance(field_type, type):
        return _value_object_form(field_type)
    raise TypeError(f"no JSON form for {field_type}")


def _value_object_form(value_type: type) -> _JsonForm:
    forms = {name: _json_form(kind) for name, kind in _dataclass_fields(value_type).items()}

    def decode(value: Any) -> Any:
        given = _as_dict(value)
        return value_type(**{name: form.decode(given[name]) for name, form in forms.items()})

    return _JsonForm(_object_schema({name: form.schema for name, form in forms.items()}), decode)


def _optional(field_type: Any) -> Any | None:
    """X for `X | None`, else None."""
    if get_origin(field_type) not in (Union, UnionType):
        return None
    present = [arg for arg in get_args(field_type) if arg is not NoneType]
    if len(present) != 1 or len(get_args(field_type)) != 2:
        raise TypeError(f"only `X | None` unions have a JSON form, not {field_type}")
    return present[0]


@cache
def _dataclass_fields(value_type: type) -> dict[str, Any]:
    hints = get_type_hints(value_type)
    return {field.name: hints[field.name] for field in fields(value_type)}


def _object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# --- The published JSON Schemas (services/event_schemas/) ---------------------------------------


def _envelope_properties() -> dict[str, Any]:
    return {
        "event_id": _described(UUID, "uuid5 of '<aggregate id>:<version>': same event, same id"),
        "type": _described(str, "the event type, a stable name that never changes"),
        "schema_version": {"type": "integer", "minimum": 1,
                           "description": "version of this event type's payload"},
        "aggregate_id": _described(UUID, "the aggregate (patient, encounter, case) it changed"),
        "version": {"type": "integer", "minimum": 1,
                    "description": "the aggregate's version after this event, from 1"},
        "aggregate_type": {"anyOf": [{"type": "string"}, {"type": "null"}],
                           "description": "the aggregate's type on the event that creates it "
                                          "(version 1), null on later events"},
        "patient_id": _described(UUID, "the patient it concerns; also the Kafka record key"),
        "occurred_at": _described(datetime, "when it happened clinically"),
        "recorded_at": _described(datetime, "when caretrail stored it"),
        "actor": _described(str, "who did it: a user id or a feed id"),
        "source": {"anyOf": [{"type": "string"}, {"type": "null"}],
                   "description": "where it came from, e.g. an HL7 message control id"},
        "position": {"type": "integer", "minimum": 1,
                     "description": "position in the event store's notification log"},
        "payload": {"type": "object", "description": "what this event type says"},
    }  # fmt: skip


def _described(field_type: Any, description: str) -> dict[str, Any]:
    return _json_form(field_type).schema | {"description": description}


def envelope_schema() -> dict[str, Any]:
    """The envelope every event type shares, with its payload left open."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "caretrail event envelope",
        "description": "The value of every record on caretrail's events topic.",
        **_object_schema(_envelope_properties()),
    }


def event_schema(event_class: type[CaretrailEvent]) -> dict[str, Any]:
    """The envelope of one event type, its payload spelled out, at its current version."""
    created = issubclass(event_class, Aggregate.Created)
    narrowed = {
        "type": {"const": event_class.TOPIC},
        "schema_version": {"const": schema_version(event_class)},
        "aggregate_type": {"anyOf": [{"type": "string" if created else "null"}]},
        "payload": _object_schema(
            {name: _json_form(kind).schema for name, kind in _payload_types(event_class).items()}
        ),
    }
    properties = {
        name: shared | narrowed.get(name, {}) for name, shared in _envelope_properties().items()
    }
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": event_class.TOPIC,
        **_docstring(event_class),
        **_object_schema(properties),
    }


def _docstring(event_class: type[CaretrailEvent]) -> dict[str, str]:
    doc = " ".join((event_class.__doc__ or "").split())
    # Where a class has no docstring, dataclasses put its constructor's signature instead.
    if not doc or doc.startswith(f"{event_class.__name__}("):
        return {}
    return {"description": doc}


def published_event_classes() -> list[type[CaretrailEvent]]:
    """Every event type the domain can store, each under its own TOPIC."""
    load_every_event_type()
    return sorted(
        (cls for cls in _subclasses(CaretrailEvent) if cls.__dict__.get("TOPIC")),
        key=lambda cls: cls.TOPIC,
    )


def _subclasses(cls: type[CaretrailEvent]) -> set[type[CaretrailEvent]]:
    found: set[type[CaretrailEvent]] = set()
    for subclass in cls.__subclasses__():
        if subclass.__module__.startswith("domain."):
            found.add(subclass)
        found |= _subclasses(subclass)
    return found
