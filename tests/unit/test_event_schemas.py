"""Every event the domain can emit has a published JSON Schema, and its envelope validates.

The event types are discovered from the domain package itself, not taken from the code under
test, so a new event class without a committed schema fails here.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import datetime
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

import domain
from domain.events import CaretrailEvent
from services.application import CareTrail, LoggedEvent
from services.envelope import encode, to_envelope
from services.event_schemas import ENVELOPE_SCHEMA, SCHEMA_DIR, schema_file
from services.event_schemas.__main__ import as_text, schemas
from tests.every_event import every_event


def _domain_event_types() -> set[str]:
    for module in pkgutil.iter_modules(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found: set[str] = set()
    pending: list[type] = [CaretrailEvent]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        topic = cls.__dict__.get("TOPIC")
        if topic and cls.__module__.startswith("domain."):
            found.add(topic)
    return found


EVENT_TYPES = _domain_event_types()
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_iso_datetime_with_offset(value: object) -> bool:
    # jsonschema checks date-time only with an optional package; this is the envelope's rule.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text())
    return loaded


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=FORMATS)


@cache
def stored_events() -> list[LoggedEvent]:
    """The story's events as the relay reads them: through the event store's mapper."""
    mapper = CareTrail(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    return [
        LoggedEvent(position, mapper.to_domain_event(mapper.to_stored_event(event)))  # type: ignore[arg-type]
        for position, event in enumerate(every_event(), start=1)
    ]


def test_there_is_a_schema_for_every_event_type_and_for_nothing_else() -> None:
    committed = {path.name for path in SCHEMA_DIR.glob("*.json")}
    expected = {schema_file(event_type).name for event_type in EVENT_TYPES} | {ENVELOPE_SCHEMA}
    assert sorted(expected - committed) == [], "run: python -m services.event_schemas"
    assert sorted(committed - expected) == [], "schemas of no event type"


def test_the_story_emits_every_event_type_so_every_schema_is_exercised() -> None:
    assert {logged.event.TOPIC for logged in stored_events()} == EVENT_TYPES


def test_committed_schemas_are_what_the_generator_writes_today() -> None:
    stale = [path.name for path, fresh in schemas().items() if path.read_text() != as_text(fresh)]
    assert stale == [], "run: python -m services.event_schemas"


@pytest.mark.parametrize("name", sorted(path.name for path in SCHEMA_DIR.glob("*.json")))
def test_schema_is_valid_json_schema_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize(
    "logged", stored_events(), ids=lambda logged: f"{logged.position}-{logged.event.TOPIC}"
)
def test_emitted_event_validates_against_its_schema_and_the_envelope_schema(
    logged: LoggedEvent,
) -> None:
    envelope = json.loads(encode(to_envelope(logged)))

    validator(schema_file(logged.event.TOPIC).name).validate(envelope)
    validator(ENVELOPE_SCHEMA).validate(envelope)


def test_schemas_refuse_a_payload_that_is_not_the_event_types() -> None:
    logged = next(e for e in stored_events() if e.event.TOPIC == "caretrail.PatientRegistered")
    envelope = json.loads(encode(to_envelope(logged)))
    checker = validator(schema_file(logged.event.TOPIC).name)
    broken: list[dict[str, Any]] = [
        envelope | {"payload": {**envelope["payload"], "demographics": None}},
        envelope | {"payload": {**envelope["payload"], "shoe_size": 44}},
        envelope | {"type": "caretrail.PatientAdmitted"},
        envelope | {"recorded_at": "2025-03-03T09:00:00"},
        {name: value for name, value in envelope.items() if name != "actor"},
    ]
    for wrong in broken:
        with pytest.raises(ValidationError):
            checker.validate(wrong)
