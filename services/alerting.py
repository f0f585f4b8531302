"""Alert commands: what people do with an alert, and what the scheduler does when rules say so.

People acknowledge, snooze (with a reason) and escalate. The scheduler raises (or updates, or
reopens), escalates, resolves and retracts, acting as `SCHEDULER`; its steps are idempotent, so a
repeated or concurrent run records nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.alert import Alert, AlertCause, AlertStep, AlertWork, alert_id_for
from domain.events import Action
from services.application import CareTrail, Provenance
from services.errors import NotFound

SCHEDULER = Provenance("caretrail.scheduler", source="scheduler")
SUPERVISOR = "supervisor"


class AlertService:
    def __init__(self, app: CareTrail, supervisor: str = SUPERVISOR) -> None:
        self.app = app
        self.supervisor = supervisor

    def alert(self, alert_id: UUID) -> Alert:
        return self.app._load(Alert, alert_id)

    # What people do

    def acknowledge(
        self, alert_id: UUID, note: str, by: Provenance, expected_version: int | None = None
    ) -> None:
        self.app._change(
            Alert, alert_id, by, expected_version,
            lambda alert, action: alert.acknowledge(note, action),
        )  # fmt: skip

    def snooze(
        self,
        alert_id: UUID,
        reason: str,
        until: datetime,
        by: Provenance,
        expected_version: int | None = None,
    ) -> None:
        self.app._change(
            Alert, alert_id, by, expected_version,
            lambda alert, action: alert.snooze(reason, until, action),
        )  # fmt: skip

    def escalate(self, alert_id: UUID, reason: str, by: Provenance) -> None:
        self.app._change(
            Alert, alert_id, by, None,
            lambda alert, action: alert.escalate(self.supervisor, reason, action),
        )  # fmt: skip

    # What the rules ask for

    def raise_alert(self, patient_id: UUID, condition_key: str, cause: AlertCause) -> UUID:
        """Raise the alert of a condition, or update or reopen the one it already has."""
        alert_id = alert_id_for(patient_id, condition_key)
        try:
            alert = self.alert(alert_id)
        except NotFound:
            self.app._save(Alert.raise_for(patient_id, condition_key, cause, self._by_rules()))
        else:
            alert.report(cause, self._by_rules())
            self.app._save(alert)
        return alert_id

    def escalate_overdue(self, alert_id: UUID, due_at: datetime | None) -> None:
        reason = "overdue" if due_at is None else f"overdue since {due_at.isoformat()}"
        self.app._change(
            Alert, alert_id, SCHEDULER, None,
            lambda alert, action: alert.escalate(self.supervisor, reason, action),
        )  # fmt: skip

    def resolve(self, alert_id: UUID, satisfied_by: str) -> None:
        self.app._change(
            Alert, alert_id, SCHEDULER, None,
            lambda alert, action: alert.resolve(satisfied_by, action),
        )  # fmt: skip

    def retract(self, alert_id: UUID, voided_by: str) -> None:
        self.app._change(
            Alert, alert_id, SCHEDULER, None,
            lambda alert, action: alert.retract(voided_by, "its cause was cancelled", action),
        )  # fmt: skip

    def carry_out(self, work: AlertWork) -> None:
        """One step the rules ask for (see `domain.alert.AlertStep`)."""
        match work.step:
            case AlertStep.RAISE | AlertStep.UPDATE:
                self.raise_alert(work.patient_id, work.condition_key, work.cause)
            case AlertStep.ESCALATE:
                self.escalate_overdue(work.alert_id, work.cause.due_at)
            case AlertStep.RESOLVE:
                self.resolve(work.alert_id, work.settled_by or "the required action")
            case AlertStep.RETRACT:
                self.retract(work.alert_id, work.settled_by or "a cancel")

    def _by_rules(self) -> Action:
        return self.app._action(SCHEDULER)
