"""The alert worklist page: what a case manager works each morning, most urgent first, kept
current by htmx polling while the page is open. Acknowledge, snooze with a reason, open the case.
What is shown, and how its reads are audited, is api.alert_views (shared with the API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.alert_views import SORTS, require_alert_worker, worklist
from api.auth.principal import Principal
from api.dashboard.pages import FormPoster, local_path, page_roles, render
from api.deps import Services
from domain.alert import LONGEST_SNOOZE
from domain.users import Role
from services.alerting import AlertService
from services.application import Provenance

router = APIRouter()
WORKERS = page_roles(Role.CASE_MANAGER, Role.SUPERVISOR)
POLL_SECONDS = 3


@router.get("/worklist")
def worklist_page(
    request: Request,
    services: Services,
    principal: Annotated[Principal, WORKERS],
    case_manager: str | None = None,
    sort: str = "urgency",
) -> HTMLResponse:
    rows = worklist(request, services, principal, case_manager, sort, always_record=True)
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
    rows = worklist(request, services, principal, case_manager, sort, always_record=False)
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
    require_alert_worker(services, principal, alert_id)
    AlertService(services.caretrail).acknowledge(alert_id, note, _by(principal))
    return RedirectResponse(local_path(back, "/worklist"), status_code=303)


@router.post("/alerts/{alert_id}/snooze")
def snooze(
    alert_id: UUID,
    services: Services,
    principal: FormPoster,
    reason: Annotated[str, Form(min_length=3, max_length=500)],
    hours: Annotated[int, Form(ge=1, le=LONGEST_SNOOZE.days * 24)] = 24,
    back: Annotated[str, Form()] = "/worklist",
) -> RedirectResponse:
    require_alert_worker(services, principal, alert_id)
    until = services.now() + timedelta(hours=hours)
    AlertService(services.caretrail).snooze(alert_id, reason, until, _by(principal))
    return RedirectResponse(local_path(back, "/worklist"), status_code=303)


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
