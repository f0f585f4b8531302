"""A transition safety alert: one per patient and condition, raised, worked and closed as events.

Alert fatigue is the top complaint about notification services, so an alert is never repeated:
the same condition seen again updates it (or reopens it, once closed). It cites the rule and rule
version that raised it, with the reason and the facts behind it. People acknowledge and snooze
(with a reason); the scheduler escalates it when its deadline slips, resolves it when the required
action is recorded, and retracts it when a cancel (A11/A12/A13) voids its cause.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.alert_rules import Severity
from domain.calendar import utc_instant
from domain.errors import DomainRuleViolation, ImplausibleDate, require_stated
from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic

# Alert ids are derived from internal ids only (never from an MRN), so that every scheduler run
# finds the same alert for the same condition.
ALERT_NAMESPACE = UUID("6f1d4c1e-2b7a-5c39-9e0a-3d0c8f6a2b51")
# A snoozed alert is not escalated, so an open-ended snooze would silence it for good.
LONGEST_SNOOZE = timedelta(days=14)


def alert_id_for(patient_id: UUID, condition_key: str) -> UUID:
    return uuid5(ALERT_NAMESPACE, f"{patient_id}/{condition_key}")


class AlertIsClosed(DomainRuleViolation):
    """The alert was resolved or retracted; there is nothing left to act on."""


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"
    RETRACTED = "retracted"


CLOSED_STATES = frozenset({AlertState.RESOLVED, AlertState.RETRACTED})


@dataclass(frozen=True)
class AlertCause:
    """Why the alert exists: the rule (and its version) and the transition that started it."""

    rule_id: str
    rule_version: str
    severity: Severity
    reason: str
    facts: Mapping[str, str]
    due_at: datetime | None
    encounter_id: UUID
    transition_number: int

    def digest(self) -> str:
        """Equal for equal causes wherever they were computed (due times compare as instants)."""
        return self._digest

    @cached_property
    def _digest(self) -> str:
        due = None if self.due_at is None else utc_instant(self.due_at).isoformat()
        canonical = [
            self.rule_id, self.rule_version, str(self.severity), self.reason,
            sorted(self.facts.items()), due, str(self.encounter_id), self.transition_number,
        ]  # fmt: skip
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()

    def event_fields(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "severity": str(self.severity),
            "reason": self.reason,
            "facts": dict(self.facts),
            "due_at": self.due_at,
            "encounter_id": self.encounter_id,
            "transition_number": self.transition_number,
        }


class AlertStep(StrEnum):
    """What the scheduler must do to bring one alert in line with the rules."""

    RAISE = "raise"
    UPDATE = "update"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    RETRACT = "retract"


@dataclass(frozen=True)
class AlertWork:
    """One step for one alert; `settled_by` names the event that satisfied or voided its cause."""

    step: AlertStep
    patient_id: UUID
    condition_key: str
    cause: AlertCause
    settled_by: str | None = None

    @property
    def alert_id(self) -> UUID:
        return alert_id_for(self.patient_id, self.condition_key)


class AlertCauseNoted(CaretrailEvent):
    """Base of the events that (re)state an alert's cause."""

    rule_id: str
    rule_version: str
    severity: str
    reason: str
    facts: dict[str, str]
    due_at: datetime | None
    encounter_id: UUID
    transition_number: int

    @property
    def cause(self) -> AlertCause:
        return AlertCause(
            self.rule_id, self.rule_version, Severity(self.severity), self.reason,
            self.facts, self.due_at, self.encounter_id, self.transition_number,
        )  # fmt: skip

    def apply(self, aggregate: Alert) -> None:
        aggregate.cause = self.cause


class AlertRaised(CaretrailCreated, AlertCauseNoted):
    TOPIC = "caretrail.AlertRaised"
    condition_key: str

    def apply(self, aggregate: Alert) -> None:
        aggregate.patient_id = self.patient_id
        aggregate.condition_key = self.condition_key
        aggregate.cause = self.cause
        aggregate.reopen()


class AlertUpdated(AlertCauseNoted):
    """The same condition was seen again with other facts: the alert changes, none is added."""

    TOPIC = "caretrail.AlertUpdated"


class AlertReopened(AlertCauseNoted):
    """The condition holds again after the alert was closed (e.g. a re-sent discharge)."""

    TOPIC = "caretrail.AlertReopened"

    def apply(self, aggregate: Alert) -> None:
        super().apply(aggregate)
        aggregate.reopen()


class AlertAcknowledged(CaretrailEvent):
    TOPIC = "caretrail.AlertAcknowledged"
    note: str

    def apply(self, aggregate: Alert) -> None:
        aggregate.state = AlertState.ACKNOWLEDGED
        aggregate.snoozed_until = None


class AlertSnoozed(CaretrailEvent):
    TOPIC = "caretrail.AlertSnoozed"
    reason: str
    until: datetime

    def apply(self, aggregate: Alert) -> None:
        aggregate.state = AlertState.SNOOZED
        aggregate.snoozed_until = self.until


class AlertEscalated(CaretrailEvent):
    TOPIC = "caretrail.AlertEscalated"
    escalated_to: str
    reason: str

    def apply(self, aggregate: Alert) -> None:
        aggregate.escalated_to = self.escalated_to


class AlertResolved(CaretrailEvent):
    """The required action was recorded; `satisfied_by` names that event."""

    TOPIC = "caretrail.AlertResolved"
    satisfied_by: str

    def apply(self, aggregate: Alert) -> None:
        aggregate.state = AlertState.RESOLVED


class AlertRetracted(CaretrailEvent):
    """A cancel voided the alert's cause; `voided_by` names the cancel event."""

    TOPIC = "caretrail.AlertRetracted"
    voided_by: str
    reason: str

    def apply(self, aggregate: Alert) -> None:
        aggregate.state = AlertState.RETRACTED


@stable_topic("caretrail.Alert")
class Alert(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        patient_id: UUID
        condition_key: str
        cause: AlertCause
        state: AlertState
        escalated_to: str | None
        snoozed_until: datetime | None

    @classmethod
    def raise_for(
        cls, patient_id: UUID, condition_key: str, cause: AlertCause, action: Action
    ) -> Alert:
        return cls._create(
            AlertRaised,
            id=alert_id_for(patient_id, condition_key),
            condition_key=condition_key,
            **cause.event_fields(),
            **recorded(action, patient_id),
        )

    @property
    def is_closed(self) -> bool:
        return self.state in CLOSED_STATES

    def report(self, cause: AlertCause, action: Action) -> None:
        """The condition holds (again): reopen a closed alert, update a changed one."""
        if self.is_closed:
            self._record(AlertReopened, action, **cause.event_fields())
        elif cause != self.cause:
            self._record(AlertUpdated, action, **cause.event_fields())

    def acknowledge(self, note: str, action: Action) -> None:
        self._require_open("acknowledged")
        if self.state is not AlertState.ACKNOWLEDGED:
            self._record(AlertAcknowledged, action, note=note)

    def snooze(self, reason: str, until: datetime, action: Action) -> None:
        self._require_open("snoozed")
        require_stated(reason, "snoozing an alert needs a reason")
        if utc_instant(until) <= utc_instant(action.occurred_at):
            raise ImplausibleDate(f"a snooze must end in the future, not at {until.isoformat()}")
        if utc_instant(until) > utc_instant(action.occurred_at) + LONGEST_SNOOZE:
            raise ImplausibleDate(
                f"a snooze may last {LONGEST_SNOOZE.days} days at most, not until "
                f"{until.isoformat()}"
            )
        self._record(AlertSnoozed, action, reason=reason, until=until)

    def escalate(self, escalated_to: str, reason: str, action: Action) -> None:
        self._require_open("escalated")
        require_stated(escalated_to, "escalating an alert needs whom it goes to")
        require_stated(reason, "escalating an alert needs a reason")
        if self.escalated_to is None:
            self._record(AlertEscalated, action, escalated_to=escalated_to, reason=reason)

    def resolve(self, satisfied_by: str, action: Action) -> None:
        if not self.is_closed:
            self._record(AlertResolved, action, satisfied_by=satisfied_by)

    def retract(self, voided_by: str, reason: str, action: Action) -> None:
        if not self.is_closed:
            self._record(AlertRetracted, action, voided_by=voided_by, reason=reason)

    def reopen(self) -> None:
        self.state = AlertState.OPEN
        self.escalated_to = None
        self.snoozed_until = None

    def _require_open(self, verb: str) -> None:
        if self.is_closed:
            raise AlertIsClosed(f"alert {self.id} is {self.state} and cannot be {verb}")

    def _record(self, event_class: type[CaretrailEvent], action: Action, **facts: object) -> None:
        self.trigger_event(event_class, **facts, **recorded(action, self.patient_id))
