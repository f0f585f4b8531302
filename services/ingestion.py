"""ADT messages applied to the event store: a message's events and its receipt in one transaction.

`ingest` turns HL7 into an `AdtMessage` (caretrail's terms, no HL7 left); this service decides,
against the stored record, what the message changes:

- **Patient matching** goes through `PatientIdentifierClaim` aggregates, one per (assigning
  authority, value), whose ids are an HMAC of the identifier under the site's identity key. A new
  patient and the claims on its identifiers are saved together, so two first messages for the same
  MRN cannot create two patients: the slower save fails on the claim and is redone as a match.
  Identifiers that name different patients, or that contradict the patient's record, are refused;
  nothing is ever merged by guessing.
- **Encounters** are found the same way, by a `VisitNumberClaim` per (sending facility, PV1-19).
- **Idempotence**: the `AdtMessageReceipt` has an id derived from the dedup key and is saved in
  the same transaction as the message's events. A resend finds it and gets the same answer; the
  same key with other content is refused.
- **Order**: transitions carry clinical time. A message about a visit not seen yet opens the
  encounter first; a transition the encounter cannot take because a later one is already recorded
  is accepted and kept as an `AdtEventArrivedLate` data-quality report on the receipt.

Messages are applied in batches, one transaction per batch; when a batch meets a concurrent writer
(an integrity conflict), its messages are redone one by one on fresh reads.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4, uuid5

import psycopg
from eventsourcing.application import AggregateNotFoundError, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg import sql
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.diagnoses import Diagnosis
from domain.encounter import (
    Disposition,
    Encounter,
    EncounterStatus,
    PatientClass,
    Transition,
    TransitionKind,
)
from domain.errors import DomainRuleViolation
from domain.events import Action
from domain.identifier_index import (
    PatientIdentifierClaim,
    PatientIdentifierClaimed,
    VisitNumberClaim,
    VisitNumberClaimed,
)
from domain.message_receipt import AdtMessageReceipt, ReceiptOutcome
from domain.patient import Demographics, Identifier, Patient
from services.application import CareTrail, Provenance
from services.errors import StoreUnavailable

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)
DedupKey = tuple[str, str, str]  # MSH-3 sending application, MSH-4 sending facility, MSH-10

# Fixed forever: receipt ids are uuid5(RECEIPT_NAMESPACE, the dedup key joined by US).
RECEIPT_NAMESPACE = UUID("3c0f7a3e-6a0b-5d7e-8b1f-2e4d9c6a7b10")
_UNIT_SEPARATOR = "\x1f"  # cannot occur in HL7 text, so joined parts cannot collide
# Merges form chains (A into B, then B into C); a longer one means corrupt data, not a merge.
_MAX_MERGE_HOPS = 32
# Where a batch's reads cannot be one query, this many run at a time: each mostly waits.
_PARALLEL_READS = 4
_UNREAD = object()


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARETRAIL_", extra="ignore")

    identity_key: SecretStr | None = Field(
        default=None,
        description="Site secret that keys the ids of identifier and visit-number claims "
        "(HMAC-SHA256), so no stored id can be computed from an MRN. Required with "
        "PostgreSQL; with SQLite a key file is created beside a store that holds no claim yet. "
        "Never change it: patients would no longer be found by their identifiers.",
    )


class IdentityKeyMissing(StoreUnavailable):
    """No identity key is configured where one cannot be generated safely."""


# The events that start a claim: a store holding any has ids keyed by some key already.
_CLAIM_TOPICS = (PatientIdentifierClaimed.TOPIC, VisitNumberClaimed.TOPIC)


def identity_key(app: CareTrail, configured: SecretStr | None) -> bytes:
    """The configured key; else the one kept beside an SQLite file (made for a store that claims
    nothing yet), or a fresh one for a store kept in memory."""
    if configured is not None:
        return configured.get_secret_value().encode()
    module, sqlite_file = app.env.get("PERSISTENCE_MODULE"), app.env.get("SQLITE_DBNAME")
    if module == "eventsourcing.popo" or (
        module == "eventsourcing.sqlite" and sqlite_file == ":memory:"
    ):
        return secrets.token_bytes(32)
    if module == "eventsourcing.sqlite" and sqlite_file:
        return _key_file(Path(sqlite_file).with_suffix(".identity-key"), app)
    raise IdentityKeyMissing(
        "CARETRAIL_IDENTITY_KEY must be set for this database: it keys the ids under which "
        "patient identifiers are matched (use a long random value, and keep it)"
    )


def _key_file(path: Path, app: CareTrail) -> bytes:
    if not path.exists():
        if _holds_claims(app):
            raise IdentityKeyMissing(
                f"{path} is missing, but this store holds identifiers claimed under the key it "
                "held: put the file back beside the store, or set CARETRAIL_IDENTITY_KEY to its "
                "contents (under a new key, no stored identifier would be found)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _holds_claims(app: CareTrail) -> bool:
    # A scan of the log where no claim is stored; it runs only while the key file is missing.
    return bool(app.recorder.select_notifications(start=None, limit=1, topics=_CLAIM_TOPICS))


class IdentityKeys:
    """Claim ids: an HMAC of the identifier, so whoever reads the store cannot test an MRN."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def patient_identifier(self, identifier: Identifier) -> UUID:
        return self._id("patient-identifier", identifier.assigning_authority, identifier.value)

    def visit_number(self, facility: str, visit_number: str) -> UUID:
        return self._id("visit-number", facility, visit_number)

    def _id(self, *parts: str) -> UUID:
        text = _UNIT_SEPARATOR.join(parts).encode()
        return UUID(bytes=hmac.new(self._secret, text, hashlib.sha256).digest()[:16])


def receipt_id(dedup_key: DedupKey) -> UUID:
    return uuid5(RECEIPT_NAMESPACE, _UNIT_SEPARATOR.join(dedup_key))


# --- What a message says, in caretrail's terms ---------------------------------------------------


class AdtCommand(StrEnum):
    ADMIT = "admit"
    PREADMIT = "preadmit"
    TRANSFER = "transfer"
    DISCHARGE = "discharge"
    CHANGE_CLASS = "change_class"
    UPDATE_VISIT = "update_visit"
    CANCEL_ADMISSION = "cancel_admission"
    CANCEL_TRANSFER = "cancel_transfer"
    CANCEL_DISCHARGE = "cancel_discharge"
    START_LEAVE = "start_leave"
    END_LEAVE = "end_leave"
    RECORD_PERSON = "record_person"
    MERGE = "merge"
    UNMERGE = "unmerge"


@dataclass(frozen=True)
class PersonFacts:
    identifiers: tuple[Identifier, ...]  # matched on and claimed
    other_identifiers: tuple[Identifier, ...] = ()  # kept on the patient, never matched on
    demographics: Demographics | None = None


@dataclass(frozen=True)
class VisitFacts:
    facility: str
    visit_number: str
    patient_class: PatientClass
    location: str
    prior_location: str | None = None
    attending: str | None = None
    level_of_care: str | None = None
    disposition: Disposition = Disposition.OTHER
    admitted_at: datetime | None = None
    # DG1, in the order sent; none means the message brings no news about them.
    diagnoses: tuple[Diagnosis, ...] = ()


@dataclass(frozen=True)
class AdtMessage:
    dedup_key: DedupKey
    content_hash: str
    trigger: str
    command: AdtCommand
    occurred_at: datetime  # clinical time
    person: PersonFacts
    visit: VisitFacts | None = None
    # MRG-1 of a merge (the retired record), or the record an unmerge splits off again.
    counterpart: PersonFacts | None = None

    @property
    def actor(self) -> str:
        return f"feed:{self.dedup_key[0]}@{self.dedup_key[1]}"

    @property
    def source(self) -> str:
        return "|".join(self.dedup_key)


class Outcome(StrEnum):
    APPLIED = ReceiptOutcome.APPLIED.value
    ALREADY_RECORDED = ReceiptOutcome.ALREADY_RECORDED.value
    ARRIVED_LATE = ReceiptOutcome.ARRIVED_LATE.value
    DUPLICATE = "duplicate"  # a resend: answered as the first time, nothing applied again
    REFUSED = "refused"  # not applied: the reason says what the feed must fix
    KEY_REUSED = "key_reused"  # a different message under a dedup key already used


ACCEPTED = frozenset(
    {Outcome.APPLIED, Outcome.ALREADY_RECORDED, Outcome.ARRIVED_LATE, Outcome.DUPLICATE}
)


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    note: str | None = None
    patient_id: UUID | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome in ACCEPTED


class Refusal(Exception):
    """The message cannot be applied as it stands; the text tells the interface team why."""


# --- The service ---------------------------------------------------------------------------------


class IngestionService:
    def __init__(self, app: CareTrail, keys: IdentityKeys) -> None:
        self.app = app
        self.keys = keys
        self._claimed = _KnownClaims()
        self._readers = ThreadPoolExecutor(_PARALLEL_READS, thread_name_prefix="adt-read")
        self._read_many = _many_reader(app, self._readers)

    def register_patient(
        self, identifiers: list[Identifier], demographics: Demographics, by: Provenance
    ) -> UUID:
        """Registration at intake, under the identifier claims the feed's messages match on."""
        claim_ids = [self.keys.patient_identifier(identifier) for identifier in identifiers]
        return self.app.register_patient(identifiers, demographics, by, claim_ids=claim_ids)

    def close(self) -> None:
        self._readers.shutdown()
        self.app.close()

    def apply(self, messages: Sequence[AdtMessage]) -> list[Answer]:
        """Answers in order. Raises PersistenceError when the store fails: then nothing of the
        batch is stored and nothing must be acknowledged."""
        try:
            return self._apply_together(messages)
        except IntegrityError:
            log.info("batch of %d met a concurrent writer; applying one by one", len(messages))
        return [answer for message in messages for answer in self._apply_alone(message)]

    def _apply_together(self, messages: Sequence[AdtMessage]) -> list[Answer]:
        batch = _Batch(self.app, self._claimed, self._read_many)
        self._prefetch(batch, messages)
        answers = [self._decide(batch, message) for message in messages]
        batch.save()
        return answers

    def _prefetch(self, batch: _Batch, messages: Sequence[AdtMessage]) -> None:
        """Read ahead what the batch will look up, in two waves: the receipts and claims its
        messages name, then the patients and encounters those claims name."""
        claim_ids = [
            self.keys.patient_identifier(identifier)
            for message in messages
            for person in (message.person, message.counterpart)
            if person is not None
            for identifier in person.identifiers
        ]
        visit_claim_ids = [
            self.keys.visit_number(message.visit.facility, message.visit.visit_number)
            for message in messages
            if message.visit is not None
        ]
        receipt_ids = [receipt_id(message.dedup_key) for message in messages]
        known = {i: self._claimed.get(i) for i in claim_ids}
        unknown_claims = [i for i, patient in known.items() if patient is None]
        found = batch.prefetch([*receipt_ids, *unknown_claims, *visit_claim_ids])
        patients = [patient for patient in known.values() if patient is not None]
        named = [_named_by(aggregate) for aggregate in found]
        batch.prefetch([*patients, *(i for i in named if i is not None)])

    def _apply_alone(self, message: AdtMessage, attempts: int = 3) -> list[Answer]:
        for _ in range(attempts - 1):
            with contextlib.suppress(IntegrityError):
                return self._apply_together([message])
        return self._apply_together([message])

    def _decide(self, batch: _Batch, message: AdtMessage) -> Answer:
        receipt = batch.get(AdtMessageReceipt, receipt_id(message.dedup_key))
        if receipt is not None:
            return _answer_resend(receipt, message)
        try:
            return _MessageWork(batch, message, self.keys, self.app.clock()).run()
        except (Refusal, DomainRuleViolation) as refusal:
            return Answer(Outcome.REFUSED, str(refusal))
        except PersistenceError:
            raise
        except Exception as error:  # a bug must cost one message (quarantined), not the feed
            log.exception("ADT message %s could not be applied", message.source)
            return Answer(
                Outcome.REFUSED, f"internal error: {type(error).__name__}; kept for retry"
            )


def _answer_resend(receipt: AdtMessageReceipt, message: AdtMessage) -> Answer:
    if receipt.content_hash != message.content_hash:
        application, facility, control_id = message.dedup_key
        return Answer(
            Outcome.KEY_REUSED,
            f"message control id {control_id} from {application} at {facility} was already "
            "used by a different message; this one was not applied",
        )
    return Answer(Outcome.DUPLICATE, receipt.note, receipt.patient_id)


def _named_by(aggregate: Aggregate) -> UUID | None:
    if isinstance(aggregate, PatientIdentifierClaim):
        return aggregate.patient_id
    if isinstance(aggregate, VisitNumberClaim):
        return aggregate.encounter_id
    return None


class _KnownClaims:
    """Which patient each recently seen identifier names. A claim never changes once made, so
    what was read (or saved) once stays true for good; the oldest are forgotten past `limit`."""

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._patients: dict[UUID, UUID] = {}

    def get(self, claim_id: UUID) -> UUID | None:
        return self._patients.get(claim_id)

    def put(self, claim_id: UUID, patient_id: UUID) -> None:
        self._patients[claim_id] = patient_id
        if len(self._patients) > self.limit:
            del self._patients[next(iter(self._patients))]


class _Batch:
    """Aggregates the messages of one batch read and changed, saved in one transaction.

    A message works on its own copies (see `_MessageWork`), so one that is refused halfway leaves
    the batch as it was."""

    def __init__(self, app: CareTrail, claimed: _KnownClaims, read_many: ManyReader) -> None:
        self.app = app
        self.claimed = claimed
        self.read_many = read_many
        self.stored: dict[UUID, Aggregate | None] = {}  # read ahead, not yet handed out
        self.state: dict[UUID, Aggregate] = {}  # as the batch's accepted messages left them
        self.stored_versions: dict[UUID, int] = {}
        self.new_claims: dict[UUID, UUID] = {}

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> list[Aggregate]:
        wanted = [
            aggregate_id
            for aggregate_id in dict.fromkeys(aggregate_ids)
            if aggregate_id not in self.stored and aggregate_id not in self.state
        ]
        found: list[Aggregate] = []
        for aggregate_id, aggregate in zip(wanted, self.read_many(wanted), strict=True):
            self.stored[aggregate_id] = aggregate
            if aggregate is not None:
                self.stored_versions.setdefault(aggregate_id, aggregate.version)
                found.append(aggregate)
        return found

    def get(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """An aggregate the caller may change; None when there is no such aggregate."""
        if aggregate_id in self.state:
            found: Aggregate | None = copy.deepcopy(self.state[aggregate_id])
        elif self.stored.get(aggregate_id, _UNREAD) is None:
            return None
        else:
            # Handed out, not copied: a message that fails drops it, and the next one reads again.
            found = self.stored.pop(aggregate_id, None) or self._read(aggregate_id)
        if found is None:
            return None
        if not isinstance(found, kind):
            raise Refusal(f"stored record {aggregate_id} is not a {kind.__name__}")
        return found

    def claimed_patient(self, claim_id: UUID) -> UUID | None:
        known = self.claimed.get(claim_id) or self.new_claims.get(claim_id)
        if known is not None:
            return known
        claim = self.stored.get(claim_id) if claim_id in self.stored else self._read(claim_id)
        if not isinstance(claim, PatientIdentifierClaim):
            return None
        self.claimed.put(claim_id, claim.patient_id)
        return claim.patient_id

    def _read(self, aggregate_id: UUID) -> Aggregate | None:
        aggregate = _read_one(self.app, aggregate_id)
        if aggregate is not None:
            self.stored_versions.setdefault(aggregate_id, aggregate.version)
        return aggregate

    def accept(self, aggregates: dict[UUID, Aggregate]) -> None:
        for aggregate_id, aggregate in aggregates.items():
            self.state[aggregate_id] = aggregate
            self.stored_versions.setdefault(aggregate_id, 0)
            if isinstance(aggregate, PatientIdentifierClaim):
                self.new_claims[aggregate_id] = aggregate.patient_id

    def save(self) -> None:
        changed = [a for i, a in self.state.items() if a.version > self.stored_versions[i]]
        if changed:
            self.app.save(*changed)
        for claim_id, patient_id in self.new_claims.items():
            self.claimed.put(claim_id, patient_id)


# --- Reading many aggregates at once ------------------------------------------------------------

ManyReader = Callable[[Sequence[UUID]], list[Aggregate | None]]


def _many_reader(app: CareTrail, readers: ThreadPoolExecutor) -> ManyReader:
    """How a batch reads ahead: one query on PostgreSQL, parallel reads elsewhere."""
    recorder = app.recorder
    if isinstance(recorder, PostgresAggregateRecorder):
        return partial(_read_in_one_query, app, recorder, _events_of_many(recorder))
    return lambda aggregate_ids: list(readers.map(partial(_read_one, app), aggregate_ids))


def _read_one(app: CareTrail, aggregate_id: UUID) -> Aggregate | None:
    try:
        aggregate: Aggregate = app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return aggregate


def _events_of_many(recorder: PostgresAggregateRecorder) -> sql.Composed:
    # The recorder's own table: the per-aggregate round trips of a batch cost more than the rest
    # of applying it, so its reads go in one query.
    return sql.SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table}"
        " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(
        schema=sql.Identifier(recorder.datastore.schema),
        table=sql.Identifier(recorder.events_table_name),
    )


def _read_in_one_query(
    app: CareTrail,
    recorder: PostgresAggregateRecorder,
    statement: sql.Composed,
    aggregate_ids: Sequence[UUID],
) -> list[Aggregate | None]:
    if not aggregate_ids:
        return []
    try:
        with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, [list(aggregate_ids)])
            rows = cursor.fetchall()
    except psycopg.Error as error:  # the store's trouble, reported as the recorder would
        raise OperationalError(str(error)) from error
    histories: dict[UUID, list[Any]] = {}
    for row in rows:
        stored = StoredEvent(
            row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"])
        )
        histories.setdefault(row["originator_id"], []).append(app.mapper.to_domain_event(stored))
    return [project_aggregate(None, histories.get(i, ())) for i in aggregate_ids]


@dataclass
class _LateArrival:
    encounter_id: UUID
    transition: str
    newest: Transition
    reason: str


class _MessageWork:
    """One message applied to copies of the aggregates it touches."""

    def __init__(
        self, batch: _Batch, message: AdtMessage, keys: IdentityKeys, now: datetime
    ) -> None:
        self.batch = batch
        self.message = message
        self.keys = keys
        self.action = Action(message.actor, message.occurred_at, now, message.source)
        self.touched: dict[UUID, Aggregate] = {}
        self.outcome = ReceiptOutcome.APPLIED
        self.note: str | None = None
        self.late: _LateArrival | None = None
        self.patient: Patient | None = None
        self.registered_patient = False

    def run(self) -> Answer:
        if self.message.command is AdtCommand.UNMERGE:
            self.patient = self.existing_patient(self.message.person, "PID-3")
        else:
            self.patient = self.find_or_register_patient(self.message.person)
        COMMAND_HANDLERS[self.message.command](self)
        self.record_diagnoses()
        return self.accept()

    def accept(self) -> Answer:
        patient = self.the_patient
        receipt = AdtMessageReceipt.accept(
            receipt_id(self.message.dedup_key),
            dedup_key=self.message.dedup_key,
            content_hash=self.message.content_hash,
            trigger=self.message.trigger,
            outcome=self.outcome,
            note=self.note,
            patient_id=patient.id,
            action=self.action,
        )
        if self.late is not None:
            receipt.report_late_arrival(
                self.late.encounter_id,
                self.late.transition,
                self.late.newest.occurred_at,
                self.late.reason,
                self.action,
            )
        self.add(receipt)
        self.batch.accept(self.touched)
        return Answer(Outcome(self.outcome.value), self.note, patient.id)

    # Aggregates

    def get(self, kind: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id in self.touched:
            found = self.touched[aggregate_id]
            if not isinstance(found, kind):
                raise Refusal(f"stored record {aggregate_id} is not a {kind.__name__}")
            return found
        loaded = self.batch.get(kind, aggregate_id)
        if loaded is not None:
            self.touched[aggregate_id] = loaded
        return loaded

    def load(self, kind: type[A], aggregate_id: UUID) -> A:
        found = self.get(kind, aggregate_id)
        if found is None:
            raise Refusal(f"no {kind.__name__} {aggregate_id} in the store")
        return found

    def add(self, aggregate: Aggregate) -> None:
        self.touched[aggregate.id] = aggregate

    @property
    def the_patient(self) -> Patient:
        assert self.patient is not None, "every command resolves the patient first"
        return self.patient

    @property
    def visit(self) -> VisitFacts:
        if self.message.visit is None:
            raise Refusal(f"ADT^{self.message.trigger} needs a visit number (PV1-19)")
        return self.message.visit

    # Patients

    def claimed_patients(self, identifiers: Sequence[Identifier]) -> dict[Identifier, UUID]:
        """Who each claimed identifier names, as claimed (merges not followed)."""
        claims = {i: self.touched_claim(i) for i in identifiers}
        return {identifier: owner for identifier, owner in claims.items() if owner is not None}

    def touched_claim(self, identifier: Identifier) -> UUID | None:
        claim_id = self.keys.patient_identifier(identifier)
        if claim_id in self.touched:
            return self.load(PatientIdentifierClaim, claim_id).patient_id
        return self.batch.claimed_patient(claim_id)

    def survivor(self, patient_id: UUID) -> Patient:
        """The patient who now answers for `patient_id`: itself, or where merges led it."""
        patient = self.load(Patient, patient_id)
        for _ in range(_MAX_MERGE_HOPS):
            if patient.merged_into is None:
                return patient
            patient = self.load(Patient, patient.merged_into)
        raise Refusal(f"patient {patient_id} is in a merge chain too long to be real")

    def matched_patient(self, person: PersonFacts, field: str) -> Patient | None:
        owners = self.claimed_patients(person.identifiers)
        survivors = {self.survivor(owner).id for owner in owners.values()}
        if len(survivors) > 1:
            authorities = ", ".join(sorted({i.assigning_authority for i in owners}))
            raise Refusal(
                f"ambiguous patient: the {field} identifiers ({authorities}) belong to "
                f"{len(survivors)} different patients; not applied. Merge the records (A40) or "
                f"correct {field}"
            )
        return self.load(Patient, survivors.pop()) if survivors else None

    def existing_patient(self, person: PersonFacts, field: str) -> Patient:
        patient = self.matched_patient(person, field)
        if patient is None:
            raise Refusal(f"no patient known by the {field} identifiers")
        return patient

    def find_or_register_patient(self, person: PersonFacts) -> Patient:
        patient = self.matched_patient(person, "PID-3")
        if patient is None:
            return self.register_patient(person)
        self.take_identifiers(patient, person, check_conflicts=True)
        return patient

    def register_patient(self, person: PersonFacts) -> Patient:
        patient = Patient.register_from_feed(
            uuid4(),
            [*person.identifiers, *person.other_identifiers],
            person.demographics or Demographics("", ""),
            self.action,
        )
        self.add(patient)
        for identifier in person.identifiers:
            self.claim(identifier, patient)
        self.registered_patient = True
        return patient

    def take_identifiers(
        self, patient: Patient, person: PersonFacts, check_conflicts: bool
    ) -> None:
        """Claim the unclaimed identifiers for `patient` and add what it lacks to its record.

        An unclaimed identifier from an authority and of a type the patient already holds a
        different value of is a contradiction (a mistyped MRN would otherwise stick to the wrong
        patient and later pull that MRN's real owner in): refused when `check_conflicts`."""
        unclaimed = [i for i in person.identifiers if self.touched_claim(i) is None]
        if check_conflicts:
            _refuse_conflicting(patient, unclaimed)
        for identifier in unclaimed:
            self.claim(identifier, patient)
        for identifier in [*person.identifiers, *person.other_identifiers]:
            patient.add_identifier(identifier, self.action)

    def claim(self, identifier: Identifier, patient: Patient) -> None:
        claim_id = self.keys.patient_identifier(identifier)
        self.add(PatientIdentifierClaim.claim(claim_id, patient.id, self.action))

    def update_demographics(self) -> None:
        demographics = self.message.person.demographics
        patient = self.the_patient
        if self.registered_patient or demographics is None:
            return
        if demographics != patient.demographics:
            patient.update_demographics(demographics, self.action)

    # Encounters

    def current_encounter(self) -> Encounter | None:
        claim = self.visit_claim()
        if claim is None:
            return None
        encounter = self.load(Encounter, claim.encounter_id)
        if self.survivor(encounter.patient_id).id != self.the_patient.id:
            raise Refusal(
                f"visit {self.visit.visit_number} at {self.visit.facility} belongs to another "
                "patient than PID-3 names; not applied"
            )
        return encounter

    def visit_claim(self) -> VisitNumberClaim | None:
        visit = self.visit
        return self.get(
            VisitNumberClaim, self.keys.visit_number(visit.facility, visit.visit_number)
        )

    def open_encounter(
        self, *, preadmission: bool = False, location: str | None = None
    ) -> Encounter:
        """Open the visit's encounter, as of its admission time when the message gives one."""
        visit, patient = self.visit, self.the_patient
        admitted_at = visit.admitted_at
        opened_at = (
            admitted_at
            if admitted_at is not None
            and admitted_at <= self.action.occurred_at
            and not preadmission
            else self.action.occurred_at
        )
        encounter = Encounter.register(
            uuid4(),
            patient.id,
            facility=visit.facility,
            visit_number=visit.visit_number,
            patient_class=visit.patient_class,
            location=location or visit.location,
            action=replace(self.action, occurred_at=opened_at),
            preadmission=preadmission,
        )
        self.add(encounter)
        claim = self.visit_claim()
        if claim is None:
            claim_id = self.keys.visit_number(visit.facility, visit.visit_number)
            self.add(VisitNumberClaim.claim(claim_id, encounter.id, patient.id, self.action))
        else:
            claim.reassign(encounter.id, patient.id, self.action)
        return encounter

    def encounter_or_open(self, location: str | None = None) -> tuple[Encounter, bool]:
        """The visit's encounter, opened first when the feed's earlier messages never came."""
        encounter = self.current_encounter()
        if encounter is None or encounter.status is EncounterStatus.CANCELLED:
            return self.open_encounter(location=location), True
        return encounter, False

    def transition(
        self, encounter: Encounter, what: str, command: Callable[[Action], None]
    ) -> None:
        """Apply a transition; one refused because a later one is already recorded is kept as a
        late arrival instead of refusing a message that is correct, only late."""
        try:
            command(self.action)
        except DomainRuleViolation as refusal:
            newest = _newest_in_force(encounter)
            if newest is None or self.action.occurred_at >= newest.occurred_at:
                raise
            self.arrived_late(encounter, what, newest, str(refusal))

    def arrived_late(
        self, encounter: Encounter, what: str, newest: Transition, reason: str
    ) -> None:
        self.late = _LateArrival(encounter.id, what, newest, reason)
        self.outcome = ReceiptOutcome.ARRIVED_LATE
        self.note = (
            f"{what} at {self.action.occurred_at.isoformat()} arrived after the {newest.kind} at "
            f"{newest.occurred_at.isoformat()}; kept as a data-quality report, not applied"
        )

    def record_diagnoses(self) -> None:
        """DG1 of any visit message but a cancel, which voids a transition, not a finding."""
        visit = self.message.visit
        if visit is None or not visit.diagnoses or self.message.command in _CANCELS:
            return
        diagnoses = list(visit.diagnoses)
        encounter = self.current_encounter()
        if (
            encounter is None
            or encounter.status is EncounterStatus.CANCELLED
            or not encounter.diagnoses_are_news(diagnoses, self.action.occurred_at)
        ):
            return
        # The receipt's outcome keeps telling of the transition: an A01 whose admission was
        # already recorded is still "already recorded", whatever its DG1 added.
        encounter.record_diagnoses(diagnoses, self.action)

    def already_recorded(self, what: str) -> None:
        self.outcome = ReceiptOutcome.ALREADY_RECORDED
        self.note = f"already recorded: {what}"


_CANCELS = frozenset(
    {AdtCommand.CANCEL_ADMISSION, AdtCommand.CANCEL_TRANSFER, AdtCommand.CANCEL_DISCHARGE}
)


def _refuse_conflicting(patient: Patient, unclaimed: Sequence[Identifier]) -> None:
    held = {(i.assigning_authority, i.identifier_type) for i in patient.identifiers}
    for identifier in unclaimed:
        if (identifier.assigning_authority, identifier.identifier_type) in held:
            raise Refusal(
                f"PID-3 gives a {identifier.identifier_type} from {identifier.assigning_authority} "
                "that the matched patient's record does not hold, beside one it does; not "
                "applied: correct PID-3, or merge the records (A40) if both are right"
            )


def _newest_in_force(encounter: Encounter) -> Transition | None:
    in_force = [t for t in encounter.transitions if not t.cancelled]
    return in_force[-1] if in_force else None


# --- One handler per command ----------------------------------------------------------------------


def _admit(work: _MessageWork) -> None:
    """A01/A04. After an ED registration (A04) the same visit is often admitted with A01."""
    visit = work.visit
    encounter = work.current_encounter()
    if encounter is None or encounter.status is EncounterStatus.CANCELLED:
        work.open_encounter()
    elif encounter.status is EncounterStatus.PREADMITTED:
        work.transition(
            encounter,
            "admission",
            lambda action: encounter.admit(visit.patient_class, visit.location, action),
        )
    elif visit.patient_class not in (encounter.patient_class, PatientClass.UNKNOWN):
        work.transition(
            encounter,
            "class change",
            lambda action: encounter.change_patient_class(visit.patient_class, action),
        )
    elif work.action.occurred_at < encounter.transitions[0].occurred_at:
        work.arrived_late(
            encounter,
            "admission",
            encounter.transitions[0],
            "the encounter was opened later, from a message that arrived first",
        )
    else:
        work.already_recorded("the encounter is open")


def _preadmit(work: _MessageWork) -> None:
    encounter = work.current_encounter()
    if encounter is None or encounter.status is EncounterStatus.CANCELLED:
        work.open_encounter(preadmission=True)
    else:
        work.already_recorded(f"the encounter is {encounter.status}")


def _transfer(work: _MessageWork) -> None:
    visit = work.visit
    encounter, opened = work.encounter_or_open(location=visit.prior_location)
    if encounter.location == visit.location:
        if not opened:
            work.already_recorded(f"the patient is at {visit.location}")
        return
    work.transition(
        encounter,
        "transfer",
        lambda action: encounter.transfer(visit.location, visit.level_of_care, action),
    )


def _discharge(work: _MessageWork) -> None:
    visit = work.visit
    encounter, _ = work.encounter_or_open()
    if (
        encounter.status is EncounterStatus.DISCHARGED
        and encounter.discharged_at == work.action.occurred_at
    ):
        work.already_recorded("the discharge")
        return
    work.transition(
        encounter, "discharge", lambda action: encounter.discharge(visit.disposition, action)
    )


def _change_class(work: _MessageWork) -> None:
    """A06/A07: the target class is PV1-2 (the mapping defaults it by trigger)."""
    target = work.visit.patient_class
    encounter, opened = work.encounter_or_open()
    if encounter.patient_class == target:
        if not opened:
            work.already_recorded(f"the encounter is class {target}")
        return
    work.transition(
        encounter,
        "class change",
        lambda action: encounter.change_patient_class(target, action),
    )


def _update_visit(work: _MessageWork) -> None:
    """A08: demographics, then location and attending unless a later transition supersedes them."""
    work.update_demographics()
    if work.message.visit is None:
        return
    visit = work.visit
    encounter, opened = work.encounter_or_open()
    location = visit.location or encounter.location
    attending = visit.attending or encounter.attending
    if opened or (location, attending) == (encounter.location, encounter.attending):
        return
    newest = _newest_in_force(encounter)
    if newest is not None and work.action.occurred_at < newest.occurred_at:
        work.arrived_late(encounter, "visit update", newest, "a later transition supersedes it")
        return
    encounter.update_visit(location, attending, work.action)


def _canceller(kind: TransitionKind) -> Callable[[_MessageWork], None]:
    """A11/A12/A13 void the newest transition of their kind; the encounter must be known."""

    def cancel(work: _MessageWork) -> None:
        encounter = work.current_encounter()
        if encounter is None:
            raise Refusal(
                f"no encounter for visit {work.visit.visit_number} at {work.visit.facility}: "
                f"no {kind} to cancel"
            )
        number = encounter.latest_transition(kind).number
        encounter.cancel(
            number, f"ADT^{work.message.trigger} from {work.message.actor}", work.action
        )

    return cancel


def _start_leave(work: _MessageWork) -> None:
    encounter, _ = work.encounter_or_open()
    work.transition(encounter, "leave of absence", encounter.start_leave_of_absence)


def _end_leave(work: _MessageWork) -> None:
    encounter, opened = work.encounter_or_open()
    if not opened:
        work.transition(encounter, "return from leave", encounter.end_leave_of_absence)


def _record_person(work: _MessageWork) -> None:
    """A28/A31: the patient was matched or registered already; keep the demographics current."""
    work.update_demographics()


def _merge(work: _MessageWork) -> None:
    """A40/A34/A36/A39: MRG-1 names the retired record, PID-3 the survivor.

    Retired identifiers caretrail never saw simply become the survivor's."""
    survivor, retired_facts = work.the_patient, _counterpart(work)
    owners = set(work.claimed_patients(retired_facts.identifiers).values())
    if not owners:
        work.take_identifiers(survivor, retired_facts, check_conflicts=False)
        return
    if len(owners) > 1:
        raise Refusal(
            f"ambiguous merge: the MRG-1 identifiers belong to {len(owners)} different patients"
        )
    retired = work.load(Patient, owners.pop())
    if retired.id == survivor.id or retired.merged_into == survivor.id:
        work.already_recorded("the merge")
        return
    if retired.merged_into is None:
        work.take_identifiers(retired, retired_facts, check_conflicts=False)
    retired.merge_into(survivor, work.action)


def _unmerge(work: _MessageWork) -> None:
    """A37 read as the reversal of a merge: first PID the survivor, second PID the record to
    stand on its own again (HL7 v2 has no unmerge of A40)."""
    survivor, retired_facts = work.the_patient, _counterpart(work)
    owners = set(work.claimed_patients(retired_facts.identifiers).values())
    if len(owners) != 1:
        raise Refusal(
            f"the second PID's identifiers name {len(owners)} patients; an unmerge needs one"
        )
    retired = work.load(Patient, owners.pop())
    if retired.merged_into is None:
        work.already_recorded("the unmerge")
        return
    retired.unmerge_from(survivor, work.action)


def _counterpart(work: _MessageWork) -> PersonFacts:
    if work.message.counterpart is None:
        raise Refusal(f"ADT^{work.message.trigger} names no second patient record")
    return work.message.counterpart


COMMAND_HANDLERS: dict[AdtCommand, Callable[[_MessageWork], None]] = {
    AdtCommand.ADMIT: _admit,
    AdtCommand.PREADMIT: _preadmit,
    AdtCommand.TRANSFER: _transfer,
    AdtCommand.DISCHARGE: _discharge,
    AdtCommand.CHANGE_CLASS: _change_class,
    AdtCommand.UPDATE_VISIT: _update_visit,
    AdtCommand.CANCEL_ADMISSION: _canceller(TransitionKind.ADMISSION),
    AdtCommand.CANCEL_TRANSFER: _canceller(TransitionKind.TRANSFER),
    AdtCommand.CANCEL_DISCHARGE: _canceller(TransitionKind.DISCHARGE),
    AdtCommand.START_LEAVE: _start_leave,
    AdtCommand.END_LEAVE: _end_leave,
    AdtCommand.RECORD_PERSON: _record_person,
    AdtCommand.MERGE: _merge,
    AdtCommand.UNMERGE: _unmerge,
}
