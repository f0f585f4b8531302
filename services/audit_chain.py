"""Tamper evidence for the stored event log, and export of a history as audit evidence.

The seal: a follower (`AuditChain.seal`, run by every scheduler tick and by `caretrail audit
seal`) reads the notification log as stored (the raw bytes of each event) and appends one link
per position to the ``audit_chain`` table::

    digest(event) = sha256(originator id | version | topic | stored state bytes)
    link(p)       = sha256(link(previous sealed position) | p | digest(event at p))

`verify` recomputes the chain from the stored events and names the first position where they
disagree: a changed byte (the digest differs), a deleted event (a sealed position is missing), an
inserted event (a stored position the seal does not have, e.g. a forged row put into a gap of
PostgreSQL's notification ids). Events written after the last seal are reported as unsealed.

The anchor: whoever can write the event store can also rewrite the chain table consistently, so
the head (position, link) must also live outside the database. `seal` returns it and `caretrail
audit seal --anchor FILE` appends it as a JSON line to a file meant for write-once storage (an
object-lock bucket, a ticket, a signed email); `verify` checks every anchored head is still in the
chain, which a consistent rewrite cannot achieve without the anchors.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Final, Protocol
from uuid import UUID, uuid5

from eventsourcing.persistence import Notification
from sqlalchemy import BigInteger, Column, DateTime, Engine, MetaData, String, Table, select

from domain.events import CaretrailEvent, event_payload
from services.application import CareTrail, Clock
from services.errors import MalformedInput

GENESIS: Final = "0" * 64

chain_metadata = MetaData()

audit_chain = Table(
    "audit_chain",
    chain_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_digest", String(64), nullable=False),
    Column("link", String(64), nullable=False),
    Column("sealed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class ChainHead:
    position: int
    link: str

    def as_json(self) -> str:
        return json.dumps({"position": self.position, "link": self.link})

    @classmethod
    def from_json(cls, line: str) -> ChainHead:
        try:
            document = json.loads(line)
            return cls(int(document["position"]), str(document["link"]))
        except (ValueError, LookupError, TypeError):
            raise NotAnAnchor(
                f"{line.strip()[:60]!r} is not an anchor: a JSON line with position and link, "
                "as `caretrail audit seal --anchor` writes"
            ) from None


class NotAnAnchor(MalformedInput):
    """A line of an anchor file that is not a chain head."""


@dataclass(frozen=True)
class Verdict:
    """`first_bad_position` and `problem` are None when the sealed log is intact."""

    checked: int
    head: ChainHead | None
    unsealed: int
    first_bad_position: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_bad_position is None

    @property
    def unproven(self) -> bool:
        """Events are stored and no seal covers any of them: never sealed, or the seal was
        removed; either way nothing about the log is proven."""
        return self.head is None and self.unsealed > 0


def event_digest(notification: Notification) -> str:
    # One canonical form of the id, whatever type the recorder hands back.
    originator = UUID(str(notification.originator_id)).hex
    header = f"{originator}|{notification.originator_version}|{notification.topic}|"
    return hashlib.sha256(header.encode() + _as_stored(notification.state)).hexdigest()


def _as_stored(state: object) -> bytes:
    """The state as bytes, even when tampering left another type in the column (SQLite keeps
    whatever type a forger writes); verification must report, not crash."""
    if isinstance(state, bytes | bytearray | memoryview):
        return bytes(state)
    return b"" if state is None else str(state).encode()


def next_link(previous: str, position: int, digest: str) -> str:
    return hashlib.sha256(f"{previous}|{position}|{digest}".encode()).hexdigest()


@dataclass(frozen=True)
class _Sealed:
    position: int
    event_digest: str
    link: str


_Problem = tuple[int, str]


@dataclass
class _Walk:
    """How far a verification got, and the links of the anchored positions it passed."""

    anchored: set[int]
    checked: int = 0
    links: dict[int, str] = field(default_factory=dict)

    def passed(self, seal: _Sealed) -> None:
        self.checked += 1
        if seal.position in self.anchored:
            self.links[seal.position] = seal.link


def _anchor_problem(anchors: Sequence[ChainHead], links: dict[int, str]) -> _Problem | None:
    for anchor in sorted(anchors, key=lambda a: a.position):
        if links.get(anchor.position) != anchor.link:
            return (
                anchor.position,
                "the chain differs from an anchored head (log and chain rewritten)",
            )
    return None


class AuditChain:
    """`engine` is on the event store's own database: the chain must not be kept with the read
    models, which may be deleted and rebuilt at will (with them would go the seal)."""

    def __init__(
        self, app: CareTrail, engine: Engine, clock: Clock, section_size: int = 1000
    ) -> None:
        self.app = app
        self.engine = engine
        self.clock = clock
        self.section_size = section_size

    @classmethod
    def opened(cls, app: CareTrail, engine: Engine) -> AuditChain:
        chain = cls(app, engine, app.clock)
        chain.create_table()
        return chain

    def create_table(self) -> None:
        chain_metadata.create_all(self.engine)

    def head(self) -> ChainHead | None:
        with self.engine.connect() as db:
            row = db.execute(
                select(audit_chain.c.position, audit_chain.c.link)
                .order_by(audit_chain.c.position.desc())
                .limit(1)
            ).first()
        return None if row is None else ChainHead(row.position, row.link)

    def seal(self) -> ChainHead | None:
        """Append links for the events stored since the last seal; returns the new head."""
        head = self.head()
        link = GENESIS if head is None else head.link
        start = 1 if head is None else head.position + 1
        for section in self._sections(start):
            rows = []
            for notification in section:
                digest = event_digest(notification)
                link = next_link(link, notification.id, digest)
                rows.append(
                    {"position": notification.id, "event_digest": digest, "link": link,
                     "sealed_at": self.clock()}
                )  # fmt: skip
            # A concurrent sealer inserting the same positions makes this fail as a whole.
            with self.engine.begin() as db:
                db.execute(audit_chain.insert(), rows)
        return self.head()

    def verify(self, anchors: Sequence[ChainHead] = ()) -> Verdict:
        head = self.head()
        walk = _Walk(anchored={anchor.position for anchor in anchors})
        problem = self._first_difference(head, walk) or _anchor_problem(anchors, walk.links)
        unsealed = self._unsealed(head)
        if problem is None:
            return Verdict(walk.checked, head, unsealed)
        return Verdict(walk.checked, head, unsealed, *problem)

    def links(self, positions: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(positions))
        found: dict[int, str] = {}
        with self.engine.connect() as db:
            for chunk in (wanted[i : i + 500] for i in range(0, len(wanted), 500)):
                rows = db.execute(
                    select(audit_chain.c.position, audit_chain.c.link).where(
                        audit_chain.c.position.in_(chunk)
                    )
                )
                found.update({row.position: row.link for row in rows})
        return found

    def _first_difference(self, head: ChainHead | None, walk: _Walk) -> _Problem | None:
        """Walks the seal and the stored log side by side up to the head."""
        if head is None:
            return None
        sealed = self._sealed()
        stored = (n for section in self._sections(1, head.position) for n in section)
        expected_link = GENESIS
        seal, event = next(sealed, None), next(stored, None)
        while seal is not None or event is not None:
            if event is None or (seal is not None and seal.position < event.id):
                assert seal is not None
                return seal.position, "a sealed event is missing (deleted or renumbered)"
            if seal is None or event.id < seal.position:
                return event.id, "a stored event is not in the seal (inserted)"
            if event_digest(event) != seal.event_digest:
                return event.id, "the stored event differs from the sealed one (changed)"
            expected_link = next_link(expected_link, seal.position, seal.event_digest)
            if expected_link != seal.link:
                return seal.position, "the chain table itself was altered"
            walk.passed(seal)
            seal, event = next(sealed, None), next(stored, None)
        return None

    def _sealed(self) -> Iterator[_Sealed]:
        after = 0
        while True:
            with self.engine.connect() as db:
                rows = db.execute(
                    select(audit_chain)
                    .where(audit_chain.c.position > after)
                    .order_by(audit_chain.c.position)
                    .limit(self.section_size)
                ).all()
            yield from (_Sealed(row.position, row.event_digest, row.link) for row in rows)
            if len(rows) < self.section_size:
                return
            after = rows[-1].position

    def _sections(self, start: int, stop: int | None = None) -> Iterator[Sequence[Notification]]:
        while True:
            section = self.app.recorder.select_notifications(
                start=start, limit=self.section_size, stop=stop
            )
            if section:
                yield section
            if len(section) < self.section_size:
                return
            start = section[-1].id + 1

    def _unsealed(self, head: ChainHead | None) -> int:
        after = 0 if head is None else head.position
        return sum(len(section) for section in self._sections(after + 1))


# Export -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRecord:
    position: int
    event: CaretrailEvent
    chain_link: str | None


class LogIndex(Protocol):
    """Where a patient's or a record's events stand in the log (the audit trail read model)."""

    def furthest_position(self) -> int:
        """How far into the log the index reaches."""

    def positions_of_patient(self, records: Sequence[UUID]) -> list[int]: ...

    def positions_of_record(self, record: UUID) -> list[int]: ...


def history(
    app: CareTrail,
    chain: AuditChain,
    index: LogIndex,
    *,
    patient_id: UUID | None = None,
    aggregate_id: UUID | None = None,
) -> list[AuditRecord]:
    """Every stored event of one patient (under all their records: theirs and those merged into
    it) or of one record (a case), in log order, read from the event store (the source the chain
    seals) with its chain link. The index says where they are; events stored since the index
    last caught up are looked for in the log itself, so none is left out."""
    indexed_up_to = index.furthest_position()  # first: positions found later may pass it
    if aggregate_id is not None:
        positions = index.positions_of_record(aggregate_id)

        def wanted(event: CaretrailEvent) -> bool:
            return event.originator_id == aggregate_id
    else:
        if patient_id is None:
            raise ValueError("a history is of a patient or of a record")
        records = app.records_of(patient_id)
        positions = index.positions_of_patient(records)

        def wanted(event: CaretrailEvent) -> bool:
            return event.patient_id in records

    found = {logged.position: logged for logged in app.events_at(positions)}
    for logged in app.event_log(indexed_up_to + 1, section_size=5000):
        if wanted(logged.event):
            found.setdefault(logged.position, logged)
    entries = [found[position] for position in sorted(found)]
    links = chain.links(found)
    return [AuditRecord(e.position, e.event, links.get(e.position)) for e in entries]


_EXPORT_NAMESPACE: Final = UUID("0c3b8a52-6d0e-5f7c-a1d4-93e2b7f45c10")
_DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
_TERMINOLOGY: Final = "http://terminology.hl7.org/CodeSystem"


def fhir_bundle(records: Sequence[AuditRecord], exported_at: datetime) -> dict[str, Any]:
    """A FHIR R4 collection Bundle: an AuditEvent (IHE BALP shape) and a Provenance per event."""
    entries = [
        resource for record in records for resource in (_audit_event(record), _provenance(record))
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": exported_at.isoformat(),
        "entry": [
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource} for resource in entries
        ],
    }


def _audit_event(record: AuditRecord) -> dict[str, Any]:
    event = record.event
    created = event.originator_version == 1
    details = [
        {"type": "event-type", "valueString": event.TOPIC},
        {"type": "version", "valueString": str(event.originator_version)},
        {"type": "log-position", "valueString": str(record.position)},
        {"type": "payload", "valueString": json.dumps(event_payload(event), sort_keys=True)},
    ]
    if record.chain_link is not None:
        details.append({"type": "chain-link", "valueString": record.chain_link})
    return {
        "resourceType": "AuditEvent",
        "id": str(_resource_id("AuditEvent", event)),
        "type": {"system": _DCM, "code": "110110", "display": "Patient Record"},
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction",
                "code": "create" if created else "update",
            }
        ],
        "action": "C" if created else "U",
        "period": {"start": event.occurred_at.isoformat(), "end": event.occurred_at.isoformat()},
        "recorded": event.timestamp.isoformat(),
        "outcome": "0",
        "agent": [{"who": {"identifier": {"value": event.actor}}, "requestor": True}],
        "source": {
            "site": "caretrail",
            "observer": {"display": "caretrail"},
            "type": [
                {
                    "system": f"{_TERMINOLOGY}/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": [
            {
                "what": {"identifier": {"value": str(event.patient_id)}},
                "type": {"system": f"{_TERMINOLOGY}/audit-entity-type", "code": "1"},
                "role": {"system": f"{_TERMINOLOGY}/object-role", "code": "1"},
            },
            {
                "what": {"identifier": {"value": str(event.originator_id)}},
                "type": {"system": f"{_TERMINOLOGY}/audit-entity-type", "code": "2"},
                "detail": details,
            },
        ],
    }


def _provenance(record: AuditRecord) -> dict[str, Any]:
    event = record.event
    operation = "CREATE" if event.originator_version == 1 else "UPDATE"
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "id": str(_resource_id("Provenance", event)),
        "target": [
            {"identifier": {"value": f"{event.originator_id}/_history/{event.originator_version}"}}
        ],
        "occurredDateTime": event.occurred_at.isoformat(),
        "recorded": event.timestamp.isoformat(),
        "activity": {
            "coding": [{"system": f"{_TERMINOLOGY}/v3-DataOperation", "code": operation}],
            "text": event.TOPIC,
        },
        "agent": [
            {
                "type": {
                    "coding": [
                        {"system": f"{_TERMINOLOGY}/provenance-participant-type", "code": "author"}
                    ]
                },
                "who": {"identifier": {"value": event.actor}},
            }
        ],
    }
    if event.source:
        resource["entity"] = [{"role": "source", "what": {"identifier": {"value": event.source}}}]
    return resource


def _resource_id(kind: str, event: CaretrailEvent) -> UUID:
    return uuid5(_EXPORT_NAMESPACE, f"{kind}/{event.originator_id}@{event.originator_version}")


CSV_COLUMNS: Final = (
    "position", "recorded_at", "occurred_at", "event_type", "aggregate_id", "version",
    "patient_id", "actor", "source", "chain_link", "payload",
)  # fmt: skip


def write_csv(records: Iterable[AuditRecord], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        event = record.event
        writer.writerow(
            [
                record.position, event.timestamp.isoformat(), event.occurred_at.isoformat(),
                event.TOPIC, event.originator_id, event.originator_version, event.patient_id,
                event.actor, event.source or "", record.chain_link or "",
                json.dumps(event_payload(event), sort_keys=True),
            ]
        )  # fmt: skip
