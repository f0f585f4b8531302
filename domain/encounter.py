"""A hospital visit and its transitions of care, as told by the ADT feed.

Transitions are numbered within the encounter. A cancel (A11/A12/A13) is a compensating event
naming the transition it voids; the voided transition stays in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.diagnoses import Diagnosis
from domain.errors import (
    ImplausibleDate,
    InvalidTransition,
    TransitionAlreadyCancelled,
    UnknownTransition,
)
from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic


class PatientClass(StrEnum):
    """PV1-2 (HL7 table 0004)."""

    INPATIENT = "I"
    OUTPATIENT = "O"
    EMERGENCY = "E"
    PREADMIT = "P"
    RECURRING = "R"
    OBSTETRICS = "B"
    COMMERCIAL = "C"
    NOT_APPLICABLE = "N"
    UNKNOWN = "U"


class Disposition(StrEnum):
    """Where the patient went at discharge (PV1-36, grouped the way case managers act on it)."""

    HOME = "home"
    HOME_HEALTH = "home_health"
    SKILLED_NURSING = "snf"
    REHABILITATION = "rehab"
    HOSPICE = "hospice"
    AGAINST_MEDICAL_ADVICE = "ama"
    EXPIRED = "expired"
    TRANSFERRED = "transferred"
    OTHER = "other"


class TransitionKind(StrEnum):
    PREADMISSION = "preadmission"
    ADMISSION = "admission"
    TRANSFER = "transfer"
    DISCHARGE = "discharge"
    LEAVE_OF_ABSENCE = "leave_of_absence"
    RETURN_FROM_LEAVE = "return_from_leave"
    CLASS_CHANGE = "class_change"


class EncounterStatus(StrEnum):
    PREADMITTED = "preadmitted"
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    DISCHARGED = "discharged"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Transition:
    number: int
    kind: TransitionKind
    occurred_at: datetime
    cancelled: bool = False
    # What a cancel restores: the encounter as it was just before this transition
    # (no previous status: the transition opened the encounter, so a cancel voids it).
    previous_status: EncounterStatus | None = None
    previous_location: str | None = None
    previous_class: PatientClass | None = None


class EncounterRegistered(CaretrailCreated):
    TOPIC = "caretrail.EncounterRegistered"
    facility: str
    visit_number: str
    patient_class: PatientClass
    location: str
    preadmission: bool

    def apply(self, aggregate: Encounter) -> None:
        aggregate.patient_id = self.patient_id
        aggregate.facility = self.facility
        aggregate.visit_number = self.visit_number
        aggregate.patient_class = PatientClass(self.patient_class)
        aggregate.location = self.location
        aggregate.attending = None
        aggregate.admitted_at = None if self.preadmission else self.occurred_at
        aggregate.discharged_at = None
        aggregate.disposition = None
        aggregate.diagnoses = ()
        aggregate.diagnosed_at = None
        aggregate.status = (
            EncounterStatus.PREADMITTED if self.preadmission else EncounterStatus.ACTIVE
        )
        kind = TransitionKind.PREADMISSION if self.preadmission else TransitionKind.ADMISSION
        aggregate.transitions = [Transition(1, kind, self.occurred_at)]


class TransitionEvent(CaretrailEvent):
    """An event that adds a numbered transition to the encounter."""

    transition_number: int


class PatientAdmitted(TransitionEvent):
    """A pre-admitted encounter became an actual admission or registration."""

    TOPIC = "caretrail.PatientAdmitted"
    patient_class: PatientClass
    location: str

    def apply(self, aggregate: Encounter) -> None:
        aggregate.add_transition(self, TransitionKind.ADMISSION)
        aggregate.patient_class = PatientClass(self.patient_class)
        aggregate.location = self.location
        aggregate.admitted_at = self.occurred_at
        aggregate.status = EncounterStatus.ACTIVE


class PatientTransferred(TransitionEvent):
    TOPIC = "caretrail.PatientTransferred"
    from_location: str
    to_location: str
    level_of_care: str | None

    def apply(self, aggregate: Encounter) -> None:
        aggregate.add_transition(self, TransitionKind.TRANSFER)
        aggregate.location = self.to_location


class PatientDischarged(TransitionEvent):
    TOPIC = "caretrail.PatientDischarged"
    disposition: Disposition

    def apply(self, aggregate: Encounter) -> None:
        aggregate.add_transition(self, TransitionKind.DISCHARGE)
        aggregate.status = EncounterStatus.DISCHARGED
        aggregate.discharged_at = self.occurred_at
        aggregate.disposition = Disposition(self.disposition)


class LeaveOfAbsenceStarted(TransitionEvent):
    TOPIC = "caretrail.LeaveOfAbsenceStarted"

    def apply(self, aggregate: Encounter) -> None:
        aggregate.add_transition(self, TransitionKind.LEAVE_OF_ABSENCE)
        aggregate.status = EncounterStatus.ON_LEAVE


class LeaveOfAbsenceEnded(TransitionEvent):
    TOPIC = "caretrail.LeaveOfAbsenceEnded"

    def apply(self, aggregate: Encounter) -> None:
        aggregate.add_transition(self, TransitionKind.RETURN_FROM_LEAVE)
        aggregate.status = EncounterStatus.ACTIVE


class PatientClassChanged(TransitionEvent):
    """A06 (outpatient to inpatient) and A07 (the reverse)."""

    TOPIC = "caretrail.PatientClassChanged"
    from_class: PatientClass
    to_class: PatientClass

    def apply(self, aggregate: Encounter) -> None:
        aggregate.add_transition(self, TransitionKind.CLASS_CHANGE)
        aggregate.patient_class = PatientClass(self.to_class)


class VisitUpdated(CaretrailEvent):
    """A08: location or attending changed without a transition of care."""

    TOPIC = "caretrail.VisitUpdated"
    location: str
    attending: str | None

    def apply(self, aggregate: Encounter) -> None:
        aggregate.location = self.location
        aggregate.attending = self.attending


class EncounterDiagnosesRecorded(CaretrailEvent):
    """The encounter's diagnoses as the feed now lists them (DG1), replacing the earlier list:
    an admitting diagnosis becomes a final one, or an A08 after discharge corrects the coding."""

    TOPIC = "caretrail.EncounterDiagnosesRecorded"
    diagnoses: list[Diagnosis]

    def apply(self, aggregate: Encounter) -> None:
        aggregate.diagnoses = tuple(self.diagnoses)
        aggregate.diagnosed_at = self.occurred_at


class TransitionCancelled(CaretrailEvent):
    """A11/A12/A13: the named transition is void; what it started is withdrawn downstream."""

    TOPIC = "caretrail.TransitionCancelled"
    transition_number: int
    cancelled_kind: TransitionKind
    reason: str

    def apply(self, aggregate: Encounter) -> None:
        aggregate.void(self.transition_number)


@stable_topic("caretrail.Encounter")
class Encounter(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        patient_id: UUID
        facility: str
        visit_number: str
        patient_class: PatientClass
        location: str
        attending: str | None
        admitted_at: datetime | None
        discharged_at: datetime | None
        disposition: Disposition | None
        diagnoses: tuple[Diagnosis, ...]
        diagnosed_at: datetime | None
        status: EncounterStatus
        transitions: list[Transition]

    @classmethod
    def register(
        cls,
        encounter_id: UUID,
        patient_id: UUID,
        *,
        facility: str,
        visit_number: str,
        patient_class: PatientClass,
        location: str,
        action: Action,
        preadmission: bool = False,
    ) -> Encounter:
        """A01/A04 (admission or registration at `action.occurred_at`) or A05 (pre-admit)."""
        return cls._create(
            EncounterRegistered,
            id=encounter_id,
            facility=facility,
            visit_number=visit_number,
            patient_class=patient_class,
            location=location,
            preadmission=preadmission,
            **recorded(action, patient_id),
        )

    def admit(self, patient_class: PatientClass, location: str, action: Action) -> None:
        if self.status is not EncounterStatus.PREADMITTED:
            raise InvalidTransition(f"encounter {self.visit_number} is already {self.status}")
        self._require_in_sequence(action.occurred_at, "admission")
        self.trigger_event(
            PatientAdmitted,
            patient_class=patient_class,
            location=location,
            transition_number=self._next_number,
            **recorded(action, self.patient_id),
        )

    def transfer(self, to_location: str, level_of_care: str | None, action: Action) -> None:
        self._require_status(EncounterStatus.ACTIVE, "transferred")
        self._require_in_sequence(action.occurred_at, "transfer")
        self.trigger_event(
            PatientTransferred,
            from_location=self.location,
            to_location=to_location,
            level_of_care=level_of_care,
            transition_number=self._next_number,
            **recorded(action, self.patient_id),
        )

    def discharge(self, disposition: Disposition, action: Action) -> None:
        if self.status not in (EncounterStatus.ACTIVE, EncounterStatus.ON_LEAVE):
            raise InvalidTransition(
                f"encounter {self.visit_number} is {self.status} and cannot be discharged"
            )
        self._require_in_sequence(action.occurred_at, "discharge")
        self.trigger_event(
            PatientDischarged,
            disposition=disposition,
            transition_number=self._next_number,
            **recorded(action, self.patient_id),
        )

    def start_leave_of_absence(self, action: Action) -> None:
        self._require_status(EncounterStatus.ACTIVE, "sent on leave")
        self._require_in_sequence(action.occurred_at, "leave of absence")
        self.trigger_event(
            LeaveOfAbsenceStarted,
            transition_number=self._next_number,
            **recorded(action, self.patient_id),
        )

    def end_leave_of_absence(self, action: Action) -> None:
        self._require_status(EncounterStatus.ON_LEAVE, "returned from leave")
        self._require_in_sequence(action.occurred_at, "return from leave")
        self.trigger_event(
            LeaveOfAbsenceEnded,
            transition_number=self._next_number,
            **recorded(action, self.patient_id),
        )

    def change_patient_class(self, to_class: PatientClass, action: Action) -> None:
        self._require_status(EncounterStatus.ACTIVE, "reclassified")
        self._require_in_sequence(action.occurred_at, "class change")
        if to_class == self.patient_class:
            raise InvalidTransition(f"encounter {self.visit_number} is already class {to_class}")
        self.trigger_event(
            PatientClassChanged,
            from_class=self.patient_class,
            to_class=to_class,
            transition_number=self._next_number,
            **recorded(action, self.patient_id),
        )

    def update_visit(self, location: str, attending: str | None, action: Action) -> None:
        if self.status is EncounterStatus.CANCELLED:
            raise InvalidTransition(f"encounter {self.visit_number} was cancelled")
        self.trigger_event(
            VisitUpdated,
            location=location,
            attending=attending,
            **recorded(action, self.patient_id),
        )

    def record_diagnoses(self, diagnoses: list[Diagnosis], action: Action) -> None:
        if self.status is EncounterStatus.CANCELLED:
            raise InvalidTransition(f"encounter {self.visit_number} was cancelled")
        if not diagnoses:
            raise InvalidTransition("a diagnosis update needs at least one diagnosis")
        if not self.diagnoses_are_news(diagnoses, action.occurred_at):
            raise InvalidTransition(
                f"encounter {self.visit_number} already has these or later diagnoses"
            )
        self.trigger_event(
            EncounterDiagnosesRecorded,
            diagnoses=list(diagnoses),
            **recorded(action, self.patient_id),
        )

    def diagnoses_are_news(self, diagnoses: list[Diagnosis], reported_at: datetime) -> bool:
        """Whether a list differs from the recorded one and is not older than it (a late
        message's diagnoses are older news)."""
        return tuple(diagnoses) != self.diagnoses and (
            self.diagnosed_at is None or reported_at >= self.diagnosed_at
        )

    def cancel(self, transition_number: int, reason: str, action: Action) -> None:
        """Void a transition. Only the newest one in force: undoing an older one would rewrite
        what happened after it (cancel a later transfer first, as HL7 A12/A13 senders do)."""
        if self.status is EncounterStatus.CANCELLED:
            raise InvalidTransition(f"encounter {self.visit_number} was cancelled")
        transition = self.transition(transition_number)
        if transition.cancelled:
            raise TransitionAlreadyCancelled(
                f"transition {transition_number} ({transition.kind}) was already cancelled"
            )
        newest = self._newest_in_force()
        if transition is not newest:
            raise InvalidTransition(
                f"transition {transition_number} ({transition.kind}) is not the newest in force;"
                f" cancel transition {newest.number} ({newest.kind}) first"
            )
        self.trigger_event(
            TransitionCancelled,
            transition_number=transition_number,
            cancelled_kind=transition.kind,
            reason=reason,
            **recorded(action, self.patient_id),
        )

    def latest_transition(self, kind: TransitionKind) -> Transition:
        """The newest transition of `kind` still in force: what A11/A12/A13 cancels."""
        for transition in reversed(self.transitions):
            if transition.kind is kind and not transition.cancelled:
                return transition
        raise UnknownTransition(f"encounter {self.visit_number} has no {kind} in force to cancel")

    def transition(self, number: int) -> Transition:
        for transition in self.transitions:
            if transition.number == number:
                return transition
        raise UnknownTransition(f"encounter {self.visit_number} has no transition {number}")

    def add_transition(self, event: TransitionEvent, kind: TransitionKind) -> None:
        """Record a transition with the state it leaves, before the event changes that state."""
        self.transitions.append(
            Transition(
                event.transition_number,
                kind,
                event.occurred_at,
                previous_status=self.status,
                previous_location=self.location,
                previous_class=self.patient_class,
            )
        )

    def void(self, number: int) -> None:
        """Mark a transition cancelled and put the encounter back where it was before it."""
        voided = self.transition(number)
        self.transitions = [
            replace(t, cancelled=True) if t is voided else t for t in self.transitions
        ]
        if voided.previous_status is None:
            self.status = EncounterStatus.CANCELLED
            return
        self.status = voided.previous_status
        self.location = voided.previous_location or self.location
        self.patient_class = voided.previous_class or self.patient_class
        if voided.kind is TransitionKind.DISCHARGE:
            self.discharged_at = None
            self.disposition = None
        elif voided.kind is TransitionKind.ADMISSION:
            self.admitted_at = None

    @property
    def _next_number(self) -> int:
        return len(self.transitions) + 1

    def _require_status(self, status: EncounterStatus, verb: str) -> None:
        if self.status is not status:
            raise InvalidTransition(
                f"encounter {self.visit_number} is {self.status} and cannot be {verb}"
            )

    def _newest_in_force(self) -> Transition:
        return [t for t in self.transitions if not t.cancelled][-1]

    def _require_in_sequence(self, when: datetime, what: str) -> None:
        """A transition cannot happen before the one it follows (clinical times)."""
        newest = self._newest_in_force()
        if when < newest.occurred_at:
            raise ImplausibleDate(
                f"{what} at {when.isoformat()} is before the {newest.kind} at "
                f"{newest.occurred_at.isoformat()}"
            )
