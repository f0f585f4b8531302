"""How domain value objects are stored inside event payloads (JSON in the event store)."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.case import AssessedNeed, Goal, Intervention
from domain.diagnoses import Diagnosis
from domain.patient import Demographics, Identifier


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ValueObjectAsDict(Transcoding):
    """A frozen dataclass stored as a dict of its fields, under a stable name."""

    def __init__(self, value_type: type[Any], name: str) -> None:
        self.type = value_type
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return {field.name: getattr(obj, field.name) for field in fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


VALUE_OBJECTS: dict[str, type[Any]] = {
    "identifier": Identifier,
    "demographics": Demographics,
    "assessed_need": AssessedNeed,
    "goal": Goal,
    "intervention": Intervention,
    "diagnosis": Diagnosis,
}


def register_domain_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    for name, value_type in VALUE_OBJECTS.items():
        transcoder.register(ValueObjectAsDict(value_type, name))
