"""The receipt of an accepted ADT message: it was applied once, and what the feed was told.

A receipt is saved in the same transaction as the events the message produced, under an id
derived from the message's dedup key (MSH-3, MSH-4, MSH-10). So a crash leaves either both or
neither, a resent message finds its receipt instead of producing events again, and a different
message under a used key is recognised by its content hash.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic


class ReceiptOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_RECORDED = "already_recorded"  # the message said nothing the record did not show
    ARRIVED_LATE = "arrived_late"  # see AdtEventArrivedLate


class AdtMessageAccepted(CaretrailCreated):
    """An ADT message was accepted (answered AA); its events, if any, were saved with this."""

    TOPIC = "caretrail.AdtMessageAccepted"
    sending_application: str
    sending_facility: str
    control_id: str
    content_hash: str
    trigger: str
    outcome: ReceiptOutcome
    note: str | None

    def apply(self, aggregate: AdtMessageReceipt) -> None:
        aggregate.content_hash = self.content_hash
        aggregate.outcome = ReceiptOutcome(self.outcome)
        aggregate.note = self.note
        aggregate.patient_id = self.patient_id


class AdtEventArrivedLate(CaretrailEvent):
    """Data quality: a valid transition arrived after a later one the encounter already shows,
    and the encounter cannot take it in its place. It is kept here, not in the encounter's
    timeline, so deadlines keep running from what is known to have happened last."""

    TOPIC = "caretrail.AdtEventArrivedLate"
    encounter_id: UUID
    transition: str
    newest_at: datetime
    reason: str


@stable_topic("caretrail.AdtMessageReceipt")
class AdtMessageReceipt(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        content_hash: str
        outcome: ReceiptOutcome
        note: str | None
        patient_id: UUID

    @classmethod
    def accept(
        cls,
        receipt_id: UUID,
        *,
        dedup_key: tuple[str, str, str],
        content_hash: str,
        trigger: str,
        outcome: ReceiptOutcome,
        note: str | None,
        patient_id: UUID,
        action: Action,
    ) -> AdtMessageReceipt:
        sending_application, sending_facility, control_id = dedup_key
        return cls._create(
            AdtMessageAccepted,
            id=receipt_id,
            sending_application=sending_application,
            sending_facility=sending_facility,
            control_id=control_id,
            content_hash=content_hash,
            trigger=trigger,
            outcome=outcome,
            note=note,
            **recorded(action, patient_id),
        )

    def report_late_arrival(
        self,
        encounter_id: UUID,
        transition: str,
        newest_at: datetime,
        reason: str,
        action: Action,
    ) -> None:
        self.trigger_event(
            AdtEventArrivedLate,
            encounter_id=encounter_id,
            transition=transition,
            newest_at=newest_at,
            reason=reason,
            **recorded(action, self.patient_id),
        )
