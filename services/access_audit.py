"""Access to patient data, recorded in the clinical event store: reads, break-glass, Part 2 consent.

These events sit beside the case events in the same store and notification log, so the audit
trail and the Kafka relay see them with no extra plumbing, keyed by the patient they concern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.access import (
    CasePrivacy,
    PurposeOfUse,
    ReadInteraction,
    RecordRead,
    RecordType,
    case_privacy_id,
)
from domain.events import Action
from services.application import CareTrail, Provenance
from services.errors import VersionConflict

T = TypeVar("T")


@dataclass(frozen=True)
class PatientDataRead:
    """What was shown to whom, why, and where the request came from."""

    reader: str
    patient_id: UUID
    record_type: RecordType
    record_id: UUID
    interaction: ReadInteraction
    purpose: PurposeOfUse
    detail: str = ""
    network_address: str | None = None
    user_agent: str | None = None
    part2_disclosed: bool = False


class AccessAudit:
    def __init__(self, app: CareTrail) -> None:
        self.app = app

    def record_read(self, read: PatientDataRead) -> UUID:
        record = RecordRead.record(
            uuid4(),
            read.patient_id,
            record_type=read.record_type,
            record_id=read.record_id,
            interaction=read.interaction,
            detail=read.detail,
            purpose=read.purpose,
            network_address=read.network_address,
            user_agent=read.user_agent,
            part2_disclosed=read.part2_disclosed,
            action=self._action(Provenance(read.reader, source="api")),
        )
        self.app.save(record)
        return record.id

    def case_privacy(self, case_id: UUID) -> CasePrivacy | None:
        """The case's privacy controls, or None while nobody has recorded any."""
        try:
            privacy: CasePrivacy = self.app.repository.get(case_privacy_id(case_id))
        except AggregateNotFoundError:
            return None
        return privacy

    def break_glass(
        self, case_id: UUID, reason: str, duration: timedelta, by: Provenance
    ) -> datetime:
        """Emergency access for `by.actor` to one case; returns when it ends."""
        return self._change(
            case_id, by, lambda privacy, action: privacy.break_glass(reason, duration, action)
        )

    def give_part2_consent(self, case_id: UUID, given_by: str, method: str, by: Provenance) -> None:
        self._change(
            case_id,
            by,
            lambda privacy, action: privacy.give_part2_consent(given_by, method, action),
        )

    def revoke_part2_consent(self, case_id: UUID, reason: str, by: Provenance) -> None:
        self._change(
            case_id, by, lambda privacy, action: privacy.revoke_part2_consent(reason, action)
        )

    def _change(
        self,
        case_id: UUID,
        by: Provenance,
        command: Callable[[CasePrivacy, Action], T],
    ) -> T:
        action = self._action(by)
        privacy = self.case_privacy(case_id) or CasePrivacy.open(
            case_id, self.app.case(case_id).patient_id, action
        )
        outcome = command(privacy, action)
        try:
            self.app.save(privacy)
        except IntegrityError as conflict:
            current: int = self.app.repository.get(privacy.id).version
            raise VersionConflict(
                "case privacy record", case_id, privacy.version, current
            ) from conflict
        return outcome

    def _action(self, by: Provenance) -> Action:
        now = self.app.clock()
        return Action(by.actor, by.occurred_at or now, now, by.source)
