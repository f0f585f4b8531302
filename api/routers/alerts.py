"""The alert worklist and what people do with an alert: acknowledge, snooze with a reason."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from api.alert_views import require_alert_worker, worklist
from api.auth.principal import Principal
from api.deps import Services, require_roles
from api.models.common import Page, PageLimit, PageOffset, paginate
from api.models.views import Acknowledgement, AlertItem, Snooze
from api.problems import problem_responses
from domain.users import Role
from services.alerting import AlertService
from services.application import Provenance

router = APIRouter(tags=["alerts"])
AlertWorker = Annotated[Principal, Depends(require_roles(Role.CASE_MANAGER, Role.SUPERVISOR))]


@router.get(
    "/worklist",
    summary="Open alerts of your worklist (supervisors: any case manager's), most urgent first",
    responses=problem_responses(401, 403, 422),
)
def get_worklist(
    request: Request,
    services: Services,
    principal: AlertWorker,
    case_manager: str | None = None,
    sort: Literal["urgency", "due", "severity"] = "urgency",
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[AlertItem]:
    rows = worklist(request, services, principal, case_manager, sort, always_record=True)
    return paginate([AlertItem.of(row) for row in rows], limit, offset)


@router.post(
    "/alerts/{alert_id}/acknowledgement",
    summary="Acknowledge an alert: you have seen it and own it",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
def acknowledge(
    alert_id: UUID, body: Acknowledgement, services: Services, principal: AlertWorker
) -> None:
    require_alert_worker(services, principal, alert_id)
    AlertService(services.caretrail).acknowledge(alert_id, body.note, _by(principal))


@router.post(
    "/alerts/{alert_id}/snooze",
    summary="Snooze an alert until a time, with the reason",
    status_code=204,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def snooze(alert_id: UUID, body: Snooze, services: Services, principal: AlertWorker) -> None:
    require_alert_worker(services, principal, alert_id)
    AlertService(services.caretrail).snooze(alert_id, body.reason, body.until, _by(principal))


def _by(principal: Principal) -> Provenance:
    return Provenance(principal.username, source="api")
