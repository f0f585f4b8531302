"""Who an identifier belongs to: one small aggregate per patient identifier and per visit number.

The event store's only uniqueness guarantee is (aggregate id, version). An aggregate whose id is
derived from the identifier turns that into "one patient per identifier": two feeds that see the
same new MRN at once both try to create version 1 of the same claim, and the second save fails
instead of creating a second patient. The ids are derived by the caller with a keyed hash (see
services.ingestion), so nothing here, and no id in the store, reveals an MRN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic


class PatientIdentifierClaimed(CaretrailCreated):
    """An identifier (kept out of this event on purpose) now names `patient_id`, for good:
    a merge or unmerge moves records between patients, never identifiers between claims."""

    TOPIC = "caretrail.PatientIdentifierClaimed"

    def apply(self, aggregate: PatientIdentifierClaim) -> None:
        aggregate.patient_id = self.patient_id


@stable_topic("caretrail.PatientIdentifierClaim")
class PatientIdentifierClaim(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        patient_id: UUID

    @classmethod
    def claim(cls, claim_id: UUID, patient_id: UUID, action: Action) -> PatientIdentifierClaim:
        return cls._create(PatientIdentifierClaimed, id=claim_id, **recorded(action, patient_id))


class VisitNumberClaimed(CaretrailCreated):
    """A facility's visit number (PV1-19) now names `encounter_id`."""

    TOPIC = "caretrail.VisitNumberClaimed"
    encounter_id: UUID

    def apply(self, aggregate: VisitNumberClaim) -> None:
        aggregate.encounter_id = self.encounter_id
        aggregate.patient_id = self.patient_id


class VisitNumberReassigned(CaretrailEvent):
    """The encounter the visit number named was cancelled, and the feed used the number again
    for a new one (A11 then A01 is how a corrected admission arrives)."""

    TOPIC = "caretrail.VisitNumberReassigned"
    encounter_id: UUID
    previous_encounter_id: UUID

    def apply(self, aggregate: VisitNumberClaim) -> None:
        aggregate.encounter_id = self.encounter_id
        aggregate.patient_id = self.patient_id


@stable_topic("caretrail.VisitNumberClaim")
class VisitNumberClaim(Aggregate):
    if TYPE_CHECKING:
        encounter_id: UUID
        patient_id: UUID

    @classmethod
    def claim(
        cls, claim_id: UUID, encounter_id: UUID, patient_id: UUID, action: Action
    ) -> VisitNumberClaim:
        return cls._create(
            VisitNumberClaimed,
            id=claim_id,
            encounter_id=encounter_id,
            **recorded(action, patient_id),
        )

    def reassign(self, encounter_id: UUID, patient_id: UUID, action: Action) -> None:
        self.trigger_event(
            VisitNumberReassigned,
            encounter_id=encounter_id,
            previous_encounter_id=self.encounter_id,
            **recorded(action, patient_id),
        )
