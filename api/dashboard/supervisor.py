"""The supervisor's page: overdue and escalated alerts across the team, the unassigned queue,
and the caseload balance per case manager."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.alert_views import record_alert_reads, worklist_row
from api.auth.principal import Principal
from api.dashboard.pages import page_roles, render
from api.deps import Services
from domain.users import Role
from projections.alerts import (
    UNASSIGNED,
    OpenAlert,
    open_alerts,
    open_cases_by_case_manager,
    open_cases_by_patient,
)

router = APIRouter()
SHOWN_AT_MOST = 50


@dataclass(frozen=True)
class Caseload:
    case_manager: str
    open_cases: int
    open_alerts: int
    needing_attention: int
    overdue: int


@router.get("/supervisor")
def supervisor_page(
    request: Request,
    services: Services,
    principal: Annotated[Principal, page_roles(Role.SUPERVISOR)],
) -> HTMLResponse:
    now = services.now()
    with services.read_models.engine.connect() as db:
        alerts = open_alerts(db, now)
        cases = open_cases_by_case_manager(db)
        late = [a for a in alerts if a.escalated_to or (a.due_at is not None and a.due_at < now)]
        case_of = open_cases_by_patient(db, {a.patient_id for a in late[:SHOWN_AT_MOST]})
    rows = [worklist_row(services, principal, a, case_of, now) for a in late[:SHOWN_AT_MOST]]
    record_alert_reads(request, services, principal, rows)
    return render(
        request, "supervisor.html", principal,
        rows=rows, late_total=len(late), caseloads=_caseloads(alerts, cases, now),
        unassigned=sum(1 for a in alerts if a.case_manager == UNASSIGNED),
    )  # fmt: skip


def _caseloads(alerts: list[OpenAlert], cases: Counter[str], now: datetime) -> list[Caseload]:
    def of(manager: str) -> Caseload:
        theirs = [a for a in alerts if a.case_manager == manager]
        return Caseload(
            case_manager=manager,
            open_cases=cases[manager],
            open_alerts=len(theirs),
            needing_attention=sum(1 for a in theirs if a.needs_attention),
            overdue=sum(1 for a in theirs if a.due_at is not None and a.due_at < now),
        )

    return [of(manager) for manager in sorted(set(cases) | {a.case_manager for a in alerts})]
