"""A person known to caretrail, under an internal id never derived from any MRN."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.calendar import utc_instant
from domain.errors import ImplausibleDate, InvalidValue, MergeRefused, require_stated
from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic

HL7_DELIMITERS = "|^~\\&"
# A birth date is a day in no particular zone: plausible once that day has begun anywhere, and
# UTC+14 begins every day first.
EARLIEST_ZONE_OFFSET = timedelta(hours=14)


@dataclass(frozen=True)
class Identifier:
    """One PID-3 repetition: an MRN, member id... qualified by who assigned it."""

    value: str
    assigning_authority: str
    identifier_type: str = "MR"

    def __post_init__(self) -> None:
        if not self.value.strip() or not self.assigning_authority.strip():
            raise InvalidValue("an identifier needs a value and an assigning authority")

    def require_valid(self) -> None:
        """Patients are matched on the exact value and authority, so an identifier must be
        written as the feed's PID-3 carries it."""
        # A refusal names the authority, never the value: it reaches ACKs and the quarantine.
        for text, named in (
            (self.assigning_authority, f"assigning authority '{self.assigning_authority}'"),
            (self.value, f"the {self.assigning_authority} identifier"),
        ):
            if text != text.strip():
                raise InvalidValue(
                    f"{named} has blanks around it; give it without them, as the hospital's "
                    "system writes it"
                )
            if any(delimiter in text for delimiter in HL7_DELIMITERS):
                raise InvalidValue(
                    f"{named} holds HL7 delimiters ({' '.join(HL7_DELIMITERS)}); give the value "
                    "alone, not an HL7 field"
                )


@dataclass(frozen=True)
class Demographics:
    family_name: str
    given_name: str
    birth_date: date | None = None
    sex: str | None = None


class PatientRegistered(CaretrailCreated):
    TOPIC = "caretrail.PatientRegistered"
    identifiers: list[Identifier]
    demographics: Demographics

    def apply(self, aggregate: Patient) -> None:
        aggregate.own_identifiers = list(self.identifiers)
        aggregate.demographics = self.demographics
        aggregate.merged_into = None
        aggregate.absorbed = []
        aggregate.carried = {}


class DemographicsUpdated(CaretrailEvent):
    TOPIC = "caretrail.DemographicsUpdated"
    demographics: Demographics

    def apply(self, aggregate: Patient) -> None:
        aggregate.demographics = self.demographics


class IdentifierAdded(CaretrailEvent):
    TOPIC = "caretrail.IdentifierAdded"
    identifier: Identifier

    def apply(self, aggregate: Patient) -> None:
        aggregate.own_identifiers.append(self.identifier)


class PatientMergedInto(CaretrailEvent):
    """This (retired) patient's records now belong to `survivor_id`; its events stay."""

    TOPIC = "caretrail.PatientMergedInto"
    survivor_id: UUID

    def apply(self, aggregate: Patient) -> None:
        aggregate.merged_into = self.survivor_id


class PatientMergeAbsorbed(CaretrailEvent):
    """The survivor side of a merge: it now answers for `retired_id` and all its identifiers,
    until an unmerge takes them away again."""

    TOPIC = "caretrail.PatientMergeAbsorbed"
    retired_id: UUID
    identifiers: list[Identifier]

    def apply(self, aggregate: Patient) -> None:
        aggregate.absorbed.append(self.retired_id)
        aggregate.carried[self.retired_id] = list(self.identifiers)


class PatientUnmerged(CaretrailEvent):
    """A merge was reversed: the retired patient stands on its own again."""

    TOPIC = "caretrail.PatientUnmerged"
    survivor_id: UUID

    def apply(self, aggregate: Patient) -> None:
        aggregate.merged_into = None


class PatientMergeReleased(CaretrailEvent):
    """The survivor side of an unmerge: the retired patient's identifiers go back with it."""

    TOPIC = "caretrail.PatientMergeReleased"
    retired_id: UUID
    identifiers: list[Identifier]

    def apply(self, aggregate: Patient) -> None:
        aggregate.absorbed.remove(self.retired_id)
        del aggregate.carried[self.retired_id]


@stable_topic("caretrail.Patient")
class Patient(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        own_identifiers: list[Identifier]
        demographics: Demographics
        merged_into: UUID | None
        absorbed: list[UUID]
        carried: dict[UUID, list[Identifier]]

    @property
    def identifiers(self) -> list[Identifier]:
        """Its own identifiers, then those of the patients merged into it (each once)."""
        merged = [i for carried in self.carried.values() for i in carried]
        return list(dict.fromkeys([*self.own_identifiers, *merged]))

    @classmethod
    def register(
        cls,
        patient_id: UUID,
        identifiers: list[Identifier],
        demographics: Demographics,
        action: Action,
    ) -> Patient:
        """Registration at intake: whoever registers a patient knows their name."""
        require_stated(demographics.family_name, "registering a patient needs their family name")
        require_stated(demographics.given_name, "registering a patient needs their given name")
        return cls.register_from_feed(patient_id, identifiers, demographics, action)

    @classmethod
    def register_from_feed(
        cls,
        patient_id: UUID,
        identifiers: list[Identifier],
        demographics: Demographics,
        action: Action,
    ) -> Patient:
        """Registration by an ADT message, whose PID-5 may be empty: the patient's transitions,
        and the deadlines they start, are recorded all the same."""
        if not identifiers:
            raise ValueError("a patient needs at least one identifier")
        for identifier in identifiers:
            identifier.require_valid()
        _require_born_by(demographics, action.occurred_at)
        return cls._create(
            PatientRegistered,
            id=patient_id,
            identifiers=list(identifiers),
            demographics=demographics,
            **recorded(action, patient_id),
        )

    def update_demographics(self, demographics: Demographics, action: Action) -> None:
        self._require_active()
        _require_born_by(demographics, action.occurred_at)
        self.trigger_event(
            DemographicsUpdated, demographics=demographics, **recorded(action, self.id)
        )

    def add_identifier(self, identifier: Identifier, action: Action) -> None:
        self._require_active()
        if identifier in self.identifiers:  # held already, perhaps from before the rules below
            return
        identifier.require_valid()
        self.trigger_event(IdentifierAdded, identifier=identifier, **recorded(action, self.id))

    def merge_into(self, survivor: Patient, action: Action) -> None:
        """Retire this patient into `survivor` (HL7 A40: MRG-1 names this one)."""
        if survivor.id == self.id:
            raise MergeRefused("a patient cannot be merged into itself")
        if self.merged_into is not None:
            raise MergeRefused(f"patient {self.id} is already merged into {self.merged_into}")
        if survivor.merged_into is not None:
            raise MergeRefused(f"patient {survivor.id} is itself merged; merge into its survivor")
        self.trigger_event(PatientMergedInto, survivor_id=survivor.id, **recorded(action, self.id))
        survivor.trigger_event(
            PatientMergeAbsorbed,
            retired_id=self.id,
            identifiers=list(self.identifiers),
            **recorded(action, survivor.id),
        )

    def unmerge_from(self, survivor: Patient, action: Action) -> None:
        if self.merged_into != survivor.id:
            raise MergeRefused(f"patient {self.id} is not merged into {survivor.id}")
        self.trigger_event(PatientUnmerged, survivor_id=survivor.id, **recorded(action, self.id))
        survivor.trigger_event(
            PatientMergeReleased,
            retired_id=self.id,
            identifiers=survivor.carried[self.id],
            **recorded(action, survivor.id),
        )

    def _require_active(self) -> None:
        if self.merged_into is not None:
            raise MergeRefused(
                f"patient {self.id} was merged into {self.merged_into}; record it there"
            )


def _require_born_by(demographics: Demographics, moment: datetime) -> None:
    born = demographics.birth_date
    if born is not None and born > (utc_instant(moment) + EARLIEST_ZONE_OFFSET).date():
        raise ImplausibleDate(
            f"birth date {born} is after {moment.date()}, when this happened: a patient is born "
            "before anything is recorded about them"
        )
