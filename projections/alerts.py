"""Open alerts per case manager and per patient: what a case manager works each morning.

Built from the alert events alone, plus case assignments to route each alert to the case
manager of the patient's open case (alerts of patients without one go to the unassigned queue,
which the supervisor works).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Final
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    Row,
    String,
    Table,
    Text,
    func,
    select,
)

from domain.alert import (
    CLOSED_STATES,
    AlertAcknowledged,
    AlertCauseNoted,
    AlertEscalated,
    AlertRaised,
    AlertReopened,
    AlertResolved,
    AlertRetracted,
    AlertSnoozed,
    AlertState,
    AlertUpdated,
)
from domain.alert_rules import PART2_WITHHELD, discloses_substance_use
from domain.calendar import utc_instant
from domain.case import CaseClosed, CaseManagerAssigned, CaseOpened, CaseReopened
from domain.events import CaretrailEvent
from projections.batch_rows import AggregateRowsProjection, BatchRows
from projections.store import UtcDateTime, metadata

UNASSIGNED = "(unassigned)"

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("condition_key", String(200), nullable=False),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("rule_id", String(60), nullable=False),
    Column("rule_version", String(40), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("facts", Text, nullable=False),
    Column("due_at", UtcDateTime),
    Column("encounter_id", String(36), nullable=False),
    Column("transition_number", Integer, nullable=False),
    Column("state", String(15), nullable=False, index=True),
    Column("escalated_to", String(200)),
    Column("snoozed_until", UtcDateTime),
    Column("note", Text),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("changed_by", String(200), nullable=False),
)

alert_routing = Table(
    "alert_routing",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("case_manager", String(200)),
    Column("open", Boolean, nullable=False),
)


def _cause_columns(event: AlertCauseNoted) -> dict[str, Any]:
    return {
        "rule_id": event.rule_id,
        "rule_version": event.rule_version,
        "severity": event.severity,
        "reason": event.reason,
        "facts": json.dumps(event.facts, sort_keys=True),
        "due_at": event.due_at,
        "encounter_id": str(event.encounter_id),
        "transition_number": event.transition_number,
    }


def _reopened(event: AlertCauseNoted) -> dict[str, Any]:
    return {
        **_cause_columns(event),
        "state": AlertState.OPEN.value,
        "escalated_to": None,
        "snoozed_until": None,
        "note": None,
    }


# How each alert event changes its row (AlertRaised inserts it).
_CHANGES: Final[Mapping[type[CaretrailEvent], Callable[[Any], dict[str, Any]]]] = {
    AlertUpdated: _cause_columns,
    AlertReopened: _reopened,
    AlertAcknowledged: lambda event: {"state": AlertState.ACKNOWLEDGED.value,
                                      "snoozed_until": None, "note": event.note},
    AlertSnoozed: lambda event: {"state": AlertState.SNOOZED.value,
                                 "snoozed_until": event.until, "note": event.reason},
    AlertEscalated: lambda event: {"escalated_to": event.escalated_to, "note": event.reason},
    AlertResolved: lambda event: {"state": AlertState.RESOLVED.value,
                                  "note": f"resolved by {event.satisfied_by}"},
    AlertRetracted: lambda event: {"state": AlertState.RETRACTED.value,
                                   "note": f"{event.reason} ({event.voided_by})"},
}  # fmt: skip

_ROUTING: Final[Mapping[type[CaretrailEvent], Callable[[Any], dict[str, Any]]]] = {
    CaseManagerAssigned: lambda event: {"case_manager": event.case_manager},
    CaseClosed: lambda _: {"open": False},
    CaseReopened: lambda _: {"open": True},
}

_HANDLED: Final = frozenset({AlertRaised, CaseOpened, *_CHANGES, *_ROUTING})


class Alerts(AggregateRowsProjection):
    name: ClassVar[str] = "alerts"
    tables: ClassVar[tuple[Table, ...]] = (alerts, alert_routing)

    def handles(self, event: CaretrailEvent) -> bool:
        return type(event) in _HANDLED

    def change(self, rows: Mapping[Table, BatchRows], event: CaretrailEvent) -> None:
        if isinstance(event, AlertRaised):
            rows[alerts].put(self._raised(event))
        elif type(event) in _CHANGES:
            self._change(rows[alerts], event, _CHANGES[type(event)](event))
        elif isinstance(event, CaseOpened):
            rows[alert_routing].put(
                {"case_id": str(event.originator_id), "patient_id": str(event.patient_id),
                 "case_manager": None, "open": True},
            )  # fmt: skip
        else:
            routing = rows[alert_routing].get(str(event.originator_id))
            if routing is not None:
                rows[alert_routing].change(routing, **_ROUTING[type(event)](event))

    def _raised(self, event: AlertRaised) -> dict[str, Any]:
        return {
            **_reopened(event),
            "alert_id": str(event.originator_id),
            "condition_key": event.condition_key,
            "patient_id": str(event.patient_id),
            "raised_at": event.timestamp,
            "changed_at": event.timestamp,
            "changed_by": event.actor,
        }

    def _change(self, rows: BatchRows, event: CaretrailEvent, values: dict[str, Any]) -> None:
        alert = rows.get(str(event.originator_id))
        if alert is not None:
            rows.change(alert, **values, changed_at=event.timestamp, changed_by=event.actor)


@dataclass(frozen=True)
class OpenAlert:
    alert_id: UUID
    patient_id: UUID
    case_manager: str
    rule_id: str
    rule_version: str
    severity: str
    state: AlertState
    reason: str
    facts: dict[str, str]
    due_at: datetime | None
    escalated_to: str | None
    snoozed_until: datetime | None
    note: str | None
    raised_at: datetime
    needs_attention: bool

    @property
    def discloses_substance_use(self) -> bool:
        return discloses_substance_use(self.rule_id)

    def without_part2_details(self) -> OpenAlert:
        """What a reader without Part 2 consent may see: a follow-up is due, not of what."""
        return replace(self, rule_id="withheld", reason=PART2_WITHHELD, facts={}, note=None)


def open_alerts(
    db: Connection,
    now: datetime,
    *,
    case_manager: str | None = None,
    patient_id: UUID | None = None,
) -> list[OpenAlert]:
    """Alerts not yet resolved or retracted, most severe and most urgent first. An alert needs
    attention unless it is acknowledged or snoozed until after `now`."""
    routed = _routed_alerts()
    query = select(routed).where(routed.c.state.not_in([state.value for state in CLOSED_STATES]))
    if patient_id is not None:
        query = query.where(routed.c.patient_id == str(patient_id))
    found = [_open_alert(row, now) for row in db.execute(query)]
    if case_manager is not None:
        found = [alert for alert in found if alert.case_manager == case_manager]
    return sorted(found, key=_urgency)


def attention_by_case_manager(db: Connection, now: datetime) -> Counter[str]:
    """How many alerts need each case manager's attention at `now`."""
    return Counter(alert.case_manager for alert in open_alerts(db, now) if alert.needs_attention)


def _routed_alerts() -> Any:
    """Alerts with the case manager of the patient's open case (the first by name if several)."""
    managers = (
        select(
            alert_routing.c.patient_id,
            func.min(alert_routing.c.case_manager).label("case_manager"),
        )
        .where(alert_routing.c.open)
        .group_by(alert_routing.c.patient_id)
        .subquery()
    )
    return (
        select(alerts, managers.c.case_manager)
        .join(managers, managers.c.patient_id == alerts.c.patient_id, isouter=True)
        .subquery()
    )


def _open_alert(row: Row[Any], now: datetime) -> OpenAlert:
    state = AlertState(row.state)
    snoozed = row.snoozed_until is not None and utc_instant(now) < row.snoozed_until
    return OpenAlert(
        alert_id=UUID(row.alert_id),
        patient_id=UUID(row.patient_id),
        case_manager=row.case_manager or UNASSIGNED,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        severity=row.severity,
        state=state,
        reason=row.reason,
        facts=json.loads(row.facts),
        due_at=row.due_at,
        escalated_to=row.escalated_to,
        snoozed_until=row.snoozed_until,
        note=row.note,
        raised_at=row.raised_at,
        needs_attention=state is AlertState.OPEN or (state is AlertState.SNOOZED and not snoozed),
    )


_SEVERITY_ORDER: Final = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _urgency(alert: OpenAlert) -> tuple[bool, int, str, str]:
    due = "" if alert.due_at is None else utc_instant(alert.due_at).isoformat()
    return (
        not alert.needs_attention,
        _SEVERITY_ORDER.get(alert.severity, 9),
        due,
        str(alert.alert_id),
    )


def open_cases_by_patient(db: Connection, patient_ids: set[UUID]) -> dict[UUID, UUID]:
    """The open case of each patient (the first by id if several), for links from an alert."""
    if not patient_ids:
        return {}
    rows = db.execute(
        select(alert_routing.c.patient_id, func.min(alert_routing.c.case_id))
        .where(alert_routing.c.open, alert_routing.c.patient_id.in_([str(p) for p in patient_ids]))
        .group_by(alert_routing.c.patient_id)
    )
    return {UUID(patient): UUID(case) for patient, case in rows}


def open_cases_by_case_manager(db: Connection) -> Counter[str]:
    """How many open cases each case manager carries (unassigned ones under UNASSIGNED)."""
    rows = db.execute(
        select(alert_routing.c.case_manager, func.count())
        .where(alert_routing.c.open)
        .group_by(alert_routing.c.case_manager)
    )
    return Counter({manager or UNASSIGNED: count for manager, count in rows})
