"""The alert worklist: what a case manager works each morning, most urgent first, kept current
by polling (htmx) while the page is open. Acknowledge, snooze with a reason, open the case.

Read audit: every alert shown is a disclosure of patient data, recorded per patient before the
page is sent. The worklist polls every few seconds; a poll that shows a user exactly what their
last recorded view showed is not recorded again (it discloses nothing new), so the audit trail
holds each distinct view, not one entry per poll.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth.principal import Principal
from api.dashboard.pages import (
    FormPoster,
    local_path,
    local_time,
    page_roles,
    read_audit,
    relative,
    render,
)
from api.deps import ApiServices, Services, forbidden
from domain.access import PurposeOfUse, ReadInteraction, RecordType
from domain.users import Role
from projections.alerts import UNASSIGNED, OpenAlert, open_alerts, open_cases_by_patient
from services.alerting import AlertService
from services.application import Provenance

router = APIRouter()
WORKERS = page_roles(Role.CASE_MANAGER, Role.SUPERVISOR)
POLL_SECONDS = 3
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


@router.get("/worklist")
def worklist_page(
    request: Request,
    services: Services,
    principal: Annotated[Principal, WORKERS],
    case_manager: str | None = None,
    sort: str = "urgency",
) -> HTMLResponse:
    rows = _worklist(request, services, principal, case_manager, sort, always_record=True)
    return render(request, "worklist.html", principal, rows=rows,
                  **_query(principal, case_manager, sort))  # fmt: skip


@router.get("/worklist/rows")
def worklist_rows(
    request: Request,
    services: Services,
    principal: Annotated[Principal, WORKERS],
    case_manager: str | None = None,
    sort: str = "urgency",
) -> HTMLResponse:
    """The table body alone, for the page's polling."""
    rows = _worklist(request, services, principal, case_manager, sort, always_record=False)
    return render(request, "worklist_rows.html", principal, rows=rows,
                  **_query(principal, case_manager, sort))  # fmt: skip


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    alert_id: UUID,
    services: Services,
    principal: FormPoster,
    note: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form()] = "/worklist",
) -> RedirectResponse:
    _alert_worker(services, principal, alert_id)
    AlertService(services.caretrail).acknowledge(alert_id, note, _by(principal))
    return RedirectResponse(local_path(back, "/worklist"), status_code=303)


@router.post("/alerts/{alert_id}/snooze")
def snooze(
    alert_id: UUID,
    services: Services,
    principal: FormPoster,
    reason: Annotated[str, Form(min_length=3, max_length=500)],
    hours: Annotated[int, Form(ge=1, le=24 * 14)] = 24,
    back: Annotated[str, Form()] = "/worklist",
) -> RedirectResponse:
    _alert_worker(services, principal, alert_id)
    until = services.now() + timedelta(hours=hours)
    AlertService(services.caretrail).snooze(alert_id, reason, until, _by(principal))
    return RedirectResponse(local_path(back, "/worklist"), status_code=303)


def _worklist(
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
    audit = read_audit(request, services, principal)
    for patient_id, alerts in shown.items():
        audit.record(patient_id, (RecordType.PATIENT, patient_id), ReadInteraction.READ, purpose,
                     detail=f"worklist: {alerts} alert(s)")  # fmt: skip


def _alert_worker(services: ApiServices, principal: Principal, alert_id: UUID) -> None:
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


def _by(principal: Principal) -> Provenance:
    return Provenance(principal.username, source="dashboard")


def _query(principal: Principal, case_manager: str | None, sort: str) -> dict[str, Any]:
    return {
        "case_manager": case_manager or "",
        "sort": sort if sort in SORTS else "urgency",
        "sorts": SORTS,
        "poll_seconds": POLL_SECONDS,
        "supervisor": principal.has_any(Role.SUPERVISOR),
    }
