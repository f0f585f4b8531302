"""The caretrail application service: load an aggregate, call the domain, save.

Every command takes a `Provenance` (who, when it happened clinically, from which message)
and an optional expected version for optimistic concurrency.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    MapperDeserialisationError,
    Notification,
    PersistenceError,
)

import domain
from domain.case import (
    AssessedNeed,
    Case,
    CaseSource,
    ClosureReason,
    ContactMode,
    ContactOutcome,
    FollowUpFocus,
    Goal,
    GoalOutcome,
    Intervention,
    ReceivedInformation,
    ReferralAccepted,
    ReferralCompleted,
    ReferralDeclined,
    ReferralStatusChanged,
    ScreeningResult,
)
from domain.diagnoses import Diagnosis
from domain.encounter import Disposition, Encounter, PatientClass, TransitionKind
from domain.errors import PatientAlreadyRegistered
from domain.events import Action, CaretrailEvent
from domain.identifier_index import PatientIdentifierClaim
from domain.patient import Demographics, Identifier, Patient
from services.errors import NotFound, VersionConflict
from services.transcodings import register_domain_transcodings

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]

REFERRAL_ANSWERS: dict[str, type[ReferralStatusChanged]] = {
    "accept": ReferralAccepted,
    "decline": ReferralDeclined,
    "complete": ReferralCompleted,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_every_event_type() -> None:
    """Import every domain module. A stored event is decoded by its stable topic, which its class
    registers when defined; a store holds events of every module (alerts, access, ...), whichever
    ones this process happened to import."""
    for module in pkgutil.iter_modules(domain.__path__, "domain."):
        importlib.import_module(module.name)


load_every_event_type()


@dataclass(frozen=True)
class Provenance:
    """Who asks for a change, when it happened (default: now), and the source message if any."""

    actor: str
    occurred_at: datetime | None = None
    source: str | None = None


@dataclass(frozen=True)
class LoggedEvent:
    """One stored event with its position in the notification log."""

    position: int
    event: CaretrailEvent


class CareTrail(Application[UUID]):
    name = "caretrail"

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    # Patients

    def register_patient(
        self,
        identifiers: list[Identifier],
        demographics: Demographics,
        by: Provenance,
        *,
        claim_ids: Sequence[UUID] = (),
    ) -> UUID:
        """`claim_ids`: the keyed ids of the identifiers (services.ingestion.IdentityKeys),
        claimed for the new patient in the same save, as a feed's first message would: the feed
        then finds this patient, and nobody registers it twice."""
        self._refuse_claimed(claim_ids)
        action = self._action(by)
        patient = Patient.register(uuid4(), identifiers, demographics, action)
        claims = [PatientIdentifierClaim.claim(i, patient.id, action) for i in claim_ids]
        try:
            self.save(patient, *claims)
        except IntegrityError:  # claimed a moment ago, by another registration or a feed
            self._refuse_claimed(claim_ids)
            raise
        return patient.id

    def _refuse_claimed(self, claim_ids: Sequence[UUID]) -> None:
        for claim_id in claim_ids:
            try:
                claim: PatientIdentifierClaim = self.repository.get(claim_id)
            except AggregateNotFoundError:
                continue
            raise PatientAlreadyRegistered(self._survivor(claim.patient_id))

    def _survivor(self, patient_id: UUID) -> UUID:
        """Who answers for `patient_id` now: itself, or the record merges led it into."""
        seen = {patient_id}
        while (merged_into := self.patient(patient_id).merged_into) is not None:
            if merged_into in seen:  # a cycle is corrupt data; name where it was found
                break
            seen.add(merged_into)
            patient_id = merged_into
        return patient_id

    def update_demographics(
        self,
        patient_id: UUID,
        demographics: Demographics,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Patient, patient_id, by, expected_version,
            lambda patient, action: patient.update_demographics(demographics, action),
        )  # fmt: skip

    def add_identifier(self, patient_id: UUID, identifier: Identifier, by: Provenance) -> None:
        self._change(
            Patient, patient_id, by, None,
            lambda patient, action: patient.add_identifier(identifier, action),
        )  # fmt: skip

    def merge_patients(self, retired_id: UUID, survivor_id: UUID, by: Provenance) -> None:
        retired, survivor = self._load(Patient, retired_id), self._load(Patient, survivor_id)
        retired.merge_into(survivor, self._action(by))
        self._save(retired, survivor)

    def unmerge_patients(self, retired_id: UUID, survivor_id: UUID, by: Provenance) -> None:
        retired, survivor = self._load(Patient, retired_id), self._load(Patient, survivor_id)
        retired.unmerge_from(survivor, self._action(by))
        self._save(retired, survivor)

    # Encounters

    def register_encounter(
        self,
        patient_id: UUID,
        *,
        facility: str,
        visit_number: str,
        patient_class: PatientClass,
        location: str,
        by: Provenance,
        preadmission: bool = False,
    ) -> UUID:
        self._load(Patient, patient_id)
        encounter = Encounter.register(
            uuid4(),
            patient_id,
            facility=facility,
            visit_number=visit_number,
            patient_class=patient_class,
            location=location,
            action=self._action(by),
            preadmission=preadmission,
        )
        self.save(encounter)
        return encounter.id

    def admit(
        self, encounter_id: UUID, patient_class: PatientClass, location: str, by: Provenance
    ) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.admit(patient_class, location, action),
        )  # fmt: skip

    def transfer(
        self, encounter_id: UUID, to_location: str, level_of_care: str | None, by: Provenance
    ) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.transfer(to_location, level_of_care, action),
        )  # fmt: skip

    def discharge(self, encounter_id: UUID, disposition: Disposition, by: Provenance) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.discharge(disposition, action),
        )  # fmt: skip

    def start_leave_of_absence(self, encounter_id: UUID, by: Provenance) -> None:
        self._change(Encounter, encounter_id, by, None, Encounter.start_leave_of_absence)

    def end_leave_of_absence(self, encounter_id: UUID, by: Provenance) -> None:
        self._change(Encounter, encounter_id, by, None, Encounter.end_leave_of_absence)

    def change_patient_class(
        self, encounter_id: UUID, to_class: PatientClass, by: Provenance
    ) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.change_patient_class(to_class, action),
        )  # fmt: skip

    def update_visit(
        self, encounter_id: UUID, location: str, attending: str | None, by: Provenance
    ) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.update_visit(location, attending, action),
        )  # fmt: skip

    def record_diagnoses(
        self, encounter_id: UUID, diagnoses: list[Diagnosis], by: Provenance
    ) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.record_diagnoses(diagnoses, action),
        )  # fmt: skip

    def cancel_transition(
        self, encounter_id: UUID, transition_number: int, reason: str, by: Provenance
    ) -> None:
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.cancel(transition_number, reason, action),
        )  # fmt: skip

    def cancel_latest(
        self, encounter_id: UUID, kind: TransitionKind, reason: str, by: Provenance
    ) -> None:
        """A11/A12/A13 name no transition: they void the newest of their kind."""
        self._change(
            Encounter, encounter_id, by, None,
            lambda encounter, action: encounter.cancel(
                encounter.latest_transition(kind).number, reason, action
            ),
        )  # fmt: skip

    # Cases

    def open_case(self, patient_id: UUID, source: CaseSource, reason: str, by: Provenance) -> UUID:
        self._load(Patient, patient_id)
        case = Case.open(uuid4(), patient_id, source, reason, self._action(by))
        self.save(case)
        return case.id

    def screen(
        self,
        case_id: UUID,
        result: ScreeningResult,
        notes: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.screen(result, notes, action),
        )  # fmt: skip

    def give_consent(
        self,
        case_id: UUID,
        given_by: str,
        method: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.give_consent(given_by, method, action),
        )  # fmt: skip

    def withdraw_consent(
        self, case_id: UUID, reason: str, by: Provenance, expected_version: int | None = None
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.withdraw_consent(reason, action),
        )  # fmt: skip

    def assign_case_manager(
        self,
        case_id: UUID,
        case_manager: str,
        reason: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.assign(case_manager, reason, action),
        )  # fmt: skip

    def record_assessment(
        self,
        case_id: UUID,
        needs: list[AssessedNeed],
        preferred_language: str,
        interpreter_needed: bool,
        summary: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.record_assessment(
                needs, preferred_language, interpreter_needed, summary, action
            ),
        )  # fmt: skip

    def revise_plan(
        self,
        case_id: UUID,
        goals: list[Goal],
        interventions: list[Intervention],
        reason: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.revise_plan(goals, interventions, reason, action),
        )  # fmt: skip

    def refer(
        self,
        case_id: UUID,
        referral_id: str,
        service: str,
        provider: str,
        reason: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.refer(referral_id, service, provider, reason, action),
        )  # fmt: skip

    def answer_referral(
        self,
        case_id: UUID,
        referral_id: str,
        answer: str,
        note: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        """`answer` is one of accept, decline, complete."""
        answer_event = REFERRAL_ANSWERS[answer]
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.answer_referral(answer_event, referral_id, note, action),
        )  # fmt: skip

    def log_contact(
        self,
        case_id: UUID,
        mode: ContactMode,
        outcome: ContactOutcome,
        contacted: str,
        notes: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.log_contact(mode, outcome, contacted, notes, action),
        )  # fmt: skip

    def record_medication_reconciliation(
        self,
        case_id: UUID,
        discrepancies_found: int,
        notes: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.record_medication_reconciliation(
                discrepancies_found, notes, action
            ),
        )  # fmt: skip

    def record_follow_up_visit(
        self,
        case_id: UUID,
        mode: ContactMode,
        provider: str,
        notes: str,
        by: Provenance,
        expected_version: int | None = None,
        focus: FollowUpFocus = FollowUpFocus.GENERAL,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.record_follow_up_visit(
                mode, provider, notes, action, focus=focus
            ),
        )  # fmt: skip

    def record_information_received(
        self,
        case_id: UUID,
        information: ReceivedInformation,
        received_from: str,
        notes: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.record_information_received(
                information, received_from, notes, action
            ),
        )  # fmt: skip

    def note_barrier(
        self,
        case_id: UUID,
        barrier_id: str,
        description: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.note_barrier(barrier_id, description, action),
        )  # fmt: skip

    def resolve_barrier(
        self,
        case_id: UUID,
        barrier_id: str,
        resolution: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.resolve_barrier(barrier_id, resolution, action),
        )  # fmt: skip

    def evaluate_goal(
        self,
        case_id: UUID,
        goal_id: str,
        outcome: GoalOutcome,
        evidence: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.evaluate_goal(goal_id, outcome, evidence, action),
        )  # fmt: skip

    def close_case(
        self,
        case_id: UUID,
        reason: ClosureReason,
        post_closure_direction: str,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.close(reason, post_closure_direction, action),
        )  # fmt: skip

    def reopen_case(
        self, case_id: UUID, reason: str, by: Provenance, expected_version: int | None = None
    ) -> None:
        self._change(
            Case, case_id, by, expected_version,
            lambda case, action: case.reopen(reason, action),
        )  # fmt: skip

    # Reads

    def case(self, case_id: UUID, version: int | None = None) -> Case:
        return self._load(Case, case_id, version)

    def patient(self, patient_id: UUID, version: int | None = None) -> Patient:
        return self._load(Patient, patient_id, version)

    def records_of(self, patient_id: UUID) -> list[UUID]:
        """The patient's record and every record merged into it, directly or through another:
        where everything caretrail knows of the patient is filed."""
        records: list[UUID] = []
        waiting = [patient_id]
        while waiting:
            record = self.patient(waiting.pop())
            if record.id not in records:
                records.append(record.id)
                waiting.extend(record.absorbed)
        return records

    def encounter(self, encounter_id: UUID, version: int | None = None) -> Encounter:
        return self._load(Encounter, encounter_id, version)

    def case_as_of(self, case_id: UUID, at: datetime) -> Case:
        return self._as_of(Case, case_id, at)

    def patient_as_of(self, patient_id: UUID, at: datetime) -> Patient:
        return self._as_of(Patient, patient_id, at)

    def history(self, aggregate_id: UUID) -> list[CaretrailEvent]:
        return [_caretrail_event(event) for event in self.events.get(aggregate_id)]

    def event_log(self, start: int = 1, section_size: int = 1000) -> Iterator[LoggedEvent]:
        """Every stored event from position `start`, in notification-log order."""
        for section in self.event_log_sections(start, section_size):
            yield from section

    def events_at(self, positions: Iterable[int]) -> list[LoggedEvent]:
        """The stored events at these positions of the log (those that exist), in log order:
        one read per run of consecutive positions."""
        found = []
        for first, last in _runs(sorted(set(positions))):
            notifications = self.recorder.select_notifications(
                start=first, limit=last - first + 1, stop=last
            )
            found += [self._logged(notification) for notification in notifications]
        return found

    def event_log_sections(
        self, start: int = 1, section_size: int = 1000
    ) -> Iterator[list[LoggedEvent]]:
        """The event log in sections, for readers that apply a section per transaction."""
        while True:
            notifications = self.recorder.select_notifications(start=start, limit=section_size)
            if notifications:
                yield [self._logged(notification) for notification in notifications]
            if len(notifications) < section_size:
                return
            start = notifications[-1].id + 1

    def _logged(self, notification: Notification) -> LoggedEvent:
        """A stored event as its type declares it; a damaged one is refused by its position
        rather than handed to readers that would fail on a missing field."""
        try:
            event = _caretrail_event(self.mapper.to_domain_event(notification))
        except MapperDeserialisationError as error:
            raise DamagedEvent(notification.id, notification.topic, str(error)) from None
        declared = _declared_fields(type(event))
        if not declared <= event.__dict__.keys():
            missing = ", ".join(sorted(declared - event.__dict__.keys()))
            raise DamagedEvent(notification.id, notification.topic, f"it lacks {missing}")
        return LoggedEvent(notification.id, event)

    # Plumbing shared by every command

    def _action(self, by: Provenance) -> Action:
        now = self.clock()
        return Action(by.actor, by.occurred_at or now, now, by.source)

    def _change(
        self,
        kind: type[A],
        aggregate_id: UUID,
        by: Provenance,
        expected_version: int | None,
        command: Callable[[A, Action], None],
    ) -> None:
        aggregate = self._load(kind, aggregate_id)
        if expected_version is not None and expected_version != aggregate.version:
            raise VersionConflict(_label(kind), aggregate_id, expected_version, aggregate.version)
        command(aggregate, self._action(by))
        self._save(aggregate)

    def _save(self, *aggregates: Aggregate) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError as conflict:
            aggregate = aggregates[0]
            current = self._load(type(aggregate), aggregate.id).version
            raise VersionConflict(
                _label(type(aggregate)), aggregate.id, aggregate.version, current
            ) from conflict

    def _load(self, kind: type[A], aggregate_id: UUID, version: int | None = None) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no {_label(kind)} with id {aggregate_id}") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{aggregate_id} is not a {_label(kind)}")
        if version is not None and aggregate.version != version:  # the store gives its latest
            raise NotFound(
                f"{_label(kind)} {aggregate_id} has no version {version} yet "
                f"(it is at version {aggregate.version})"
            )
        return aggregate

    def _as_of(self, kind: type[A], aggregate_id: UUID, at: datetime) -> A:
        """The aggregate as caretrail knew it at `at` (recorded time, not clinical time)."""
        aggregate: Any = None
        for event in map(_caretrail_event, self.events.get(aggregate_id)):
            if event.timestamp > at:
                break
            aggregate = event.mutate(aggregate)
        if aggregate is None:
            raise NotFound(f"no {_label(kind)} with id {aggregate_id} was known at {at}")
        if not isinstance(aggregate, kind):
            raise NotFound(f"{aggregate_id} is not a {_label(kind)}")
        return aggregate


def _label(kind: type[Aggregate]) -> str:
    return kind.__name__.lower()


class DamagedEvent(PersistenceError):
    """A stored event that does not read as its type: the log was damaged or altered."""

    def __init__(self, position: int, topic: str, why: str) -> None:
        super().__init__(
            f"the stored event at position {position} ({topic}) cannot be read: {why}; "
            "`caretrail audit verify` names the first altered event"
        )
        self.position = position


@cache
def _declared_fields(event_type: type[CaretrailEvent]) -> frozenset[str]:
    """The fields every stored event of the type holds (one with a default may be absent from
    events stored before it was added)."""
    return frozenset(
        field.name
        for field in fields(event_type)
        if field.default is MISSING and field.default_factory is MISSING
    )


def _runs(ordered: Sequence[int]) -> Iterator[tuple[int, int]]:
    """The runs of consecutive numbers in an ascending sequence, as (first, last)."""
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index] != ordered[index - 1] + 1:
            yield ordered[start], ordered[index - 1]
            start = index


def _caretrail_event(event: object) -> CaretrailEvent:
    if not isinstance(event, CaretrailEvent):
        raise TypeError(f"the event store holds a foreign event {type(event).__name__}")
    return event
