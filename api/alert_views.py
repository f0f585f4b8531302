"""The alert worklist as both the API and the dashboard show it: a user's open alerts, most
urgent first, with patient names and case links, Part 2 details withheld without consent, and
each disclosure recorded by the read audit.

Read audit: every alert shown is a disclosure of patient data, recorded per patient before the
answer is sent. The dashboard polls every few seconds; a poll that shows a user exactly what
their last recorded view showed is not recorded again (it discloses nothing new), so the audit
trail holds each distinct view, not one entry per poll.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fastapi import Request

from api.auth.principal import Principal
from api.deps import ApiServices, forbidden
from api.read_audit import ReadAudit
from api.wording import local_time, relative
from domain.access import PurposeOfUse, ReadInteraction, RecordType
from domain.users import Role
from projections.alerts import UNASSIGNED, OpenAlert, open_alerts, open_cases_by_patient
from services.alerting import AlertService

SORTS = ("urgency", "due", "severity")
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass(frozen=True)
class WorklistRow:
    alert: OpenAlert
    patient_name: str
    case_id: UUID | None
    due: str
    due_local: str
    overdue: bool


class ShownWorklists:
    """What each user's last recorded worklist view showed (per process)."""

    def __init__(self) -> None:
        self._shown: dict[str, frozenset[tuple[UUID, str, str]]] = {}
        self._lock = threading.Lock()

    def is_new(self, username: str, rows: list[WorklistRow]) -> bool:
        seen = frozenset((r.alert.alert_id, r.alert.state.value, r.alert.reason) for r in rows)
        with self._lock:
            new = self._shown.get(username) != seen
            self._shown[username] = seen
        return new


def worklist(
    request: Request,
    services: ApiServices,
    principal: Principal,
    case_manager: str | None,
    sort: str,
    *,
    always_record: bool,
) -> list[WorklistRow]:
    queue = _queue_of(principal, case_manager)
    now = services.now()
    with services.read_models.engine.connect() as db:
        found = open_alerts(db, now, case_manager=queue)
        cases = open_cases_by_patient(db, {alert.patient_id for alert in found})
    rows = _sorted([worklist_row(services, principal, alert, cases, now) for alert in found], sort)
    shown = request.app.state.__dict__.setdefault("shown_worklists", ShownWorklists())
    if shown.is_new(principal.username, rows) or always_record:
        record_alert_reads(request, services, principal, rows)
    return rows


def _queue_of(principal: Principal, case_manager: str | None) -> str:
    """A case manager sees their own queue; a supervisor any case manager's (default: the
    unassigned queue, which supervisors work)."""
    if principal.has_any(Role.SUPERVISOR):
        return case_manager or UNASSIGNED
    if case_manager not in (None, "", principal.username):
        raise forbidden("a case manager sees their own worklist; supervisors see the others")
    return principal.username


def worklist_row(
    services: ApiServices,
    principal: Principal,
    alert: OpenAlert,
    cases: dict[UUID, UUID],
    now: datetime,
) -> WorklistRow:
    case_id = cases.get(alert.patient_id)
    if alert.discloses_substance_use and not _part2_disclosable(services, principal, case_id):
        alert = alert.without_part2_details()
    demographics = services.caretrail.patient(alert.patient_id).demographics
    return WorklistRow(
        alert=alert,
        patient_name=f"{demographics.family_name}, {demographics.given_name}",
        case_id=case_id,
        due=relative(alert.due_at, now),
        due_local=local_time(alert.due_at, services),
        overdue=alert.due_at is not None and alert.due_at < now,
    )


def _part2_disclosable(services: ApiServices, principal: Principal, case_id: UUID | None) -> bool:
    privacy = None if case_id is None else services.access.case_privacy(case_id)
    return privacy is not None and privacy.may_disclose_part2(principal.username, services.now())


def _sorted(rows: list[WorklistRow], sort: str) -> list[WorklistRow]:
    if sort == "due":
        return sorted(
            rows, key=lambda r: (r.alert.due_at is None, r.alert.due_at or r.alert.raised_at)
        )
    if sort == "severity":
        return sorted(rows, key=lambda r: _SEVERITY_RANK.get(r.alert.severity, 9))
    return rows  # open_alerts' order: needing attention, severity, then due time


def record_alert_reads(
    request: Request, services: ApiServices, principal: Principal, rows: list[WorklistRow]
) -> None:
    supervising = principal.has_any(Role.SUPERVISOR)
    purpose = PurposeOfUse.OPERATIONS if supervising else PurposeOfUse.TREATMENT
    shown = Counter(row.alert.patient_id for row in rows)
    audit = ReadAudit.of(request, services.access, principal)
    for patient_id, alerts in shown.items():
        audit.record(patient_id, (RecordType.PATIENT, patient_id), ReadInteraction.READ, purpose,
                     detail=f"worklist: {alerts} alert(s)")  # fmt: skip


def require_alert_worker(services: ApiServices, principal: Principal, alert_id: UUID) -> None:
    """The case manager the alert is routed to, or a supervisor, works it."""
    if not principal.has_any(Role.CASE_MANAGER, Role.SUPERVISOR):
        raise forbidden(
            f"working alerts needs the case_manager or supervisor role; {principal.username} "
            f"has {', '.join(sorted(principal.roles)) or 'none'}"
        )
    if principal.has_any(Role.SUPERVISOR):
        return
    alert = AlertService(services.caretrail).alert(alert_id)
    with services.read_models.engine.connect() as db:
        routed = open_alerts(db, services.now(), patient_id=alert.patient_id)
    if not any(a.alert_id == alert_id and a.case_manager == principal.username for a in routed):
        raise forbidden("this alert is on another case manager's worklist")
