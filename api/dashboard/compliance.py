"""The compliance page: a case replayed as it stood at any moment, a patient's audit trail with
every read and change, the audit chain's verification, and exports (FHIR R4, CSV).

Compliance reads everything and changes nothing; each replay, trail and export it is shown is
itself recorded as a read with purpose compliance."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from api.auth.principal import Principal
from api.dashboard.pages import page_roles, render
from api.deps import ApiServices, Services
from api.models.cases import CaseView
from api.read_audit import ReadAudit
from api.wording import local_time
from domain.access import PurposeOfUse, ReadInteraction, RecordType
from domain.users import Role
from projections.plan_views import plan_cases
from services.audit_chain import AuditRecord, fhir_bundle, write_csv

router = APIRouter()
COMPLIANCE = page_roles(Role.COMPLIANCE)
RECENT_CASES = 25
TRAIL_PAGE = 50


@router.get("/compliance")
def compliance_page(
    request: Request,
    services: Services,
    principal: Annotated[Principal, COMPLIANCE],
    case_id: UUID | None = None,
    as_of: Annotated[str | None, Query(description="Local date and time")] = None,
) -> HTMLResponse:
    replay = None
    if case_id is not None and as_of:
        moment = _local_moment(as_of, services)
        case = services.caretrail.case_as_of(case_id, moment)
        _record(request, services, principal, case.patient_id, (RecordType.CASE, case_id),
                ReadInteraction.AS_OF_READ, f"as of {moment.isoformat()}")  # fmt: skip
        replay = {"case": CaseView.of(case, moment), "as_of": local_time(moment, services)}
    with services.read_models.engine.connect() as db:
        recent = db.execute(
            select(plan_cases.c.case_id, plan_cases.c.patient_id, plan_cases.c.status,
                   plan_cases.c.case_manager, plan_cases.c.changed_at)
            .order_by(plan_cases.c.changed_at.desc())
            .limit(RECENT_CASES)
        ).all()  # fmt: skip
    return render(
        request, "compliance.html", principal, replay=replay, recent=recent,
        case_id=case_id or "", as_of=as_of or "",
        now_local=services.now().astimezone(services.zone).strftime("%Y-%m-%dT%H:%M"),
    )  # fmt: skip


@router.get("/compliance/verification")
def verification(
    request: Request, services: Services, principal: Annotated[Principal, COMPLIANCE]
) -> HTMLResponse:
    verdict = services.audit_chain.verify()
    return render(request, "compliance_verdict.html", principal, verdict=verdict)


@router.get("/compliance/patients/{patient_id}/audit")
def audit_trail(
    request: Request,
    patient_id: UUID,
    services: Services,
    principal: Annotated[Principal, COMPLIANCE],
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    records = _trail(services, patient_id)
    shown = records[(page - 1) * TRAIL_PAGE : page * TRAIL_PAGE]
    _record(request, services, principal, patient_id, (RecordType.PATIENT, patient_id),
            ReadInteraction.HISTORY, f"audit trail page {page}: {len(shown)} events")  # fmt: skip
    return render(
        request, "compliance_audit.html", principal, patient_id=patient_id,
        rows=[_trail_row(record, services) for record in shown], page=page,
        pages=max(1, -(-len(records) // TRAIL_PAGE)), total=len(records),
    )  # fmt: skip


@router.get("/compliance/patients/{patient_id}/audit.csv")
def audit_csv(
    request: Request, patient_id: UUID, services: Services,
    principal: Annotated[Principal, COMPLIANCE],
) -> Response:  # fmt: skip
    records = _trail(services, patient_id)
    _record(request, services, principal, patient_id, (RecordType.PATIENT, patient_id),
            ReadInteraction.HISTORY, f"audit export csv: {len(records)} events")  # fmt: skip
    out = io.StringIO()
    write_csv(records, out)
    return _download(out.getvalue(), "text/csv", f"audit-{patient_id}.csv")


@router.get("/compliance/patients/{patient_id}/audit.json")
def audit_fhir(
    request: Request, patient_id: UUID, services: Services,
    principal: Annotated[Principal, COMPLIANCE],
) -> Response:  # fmt: skip
    records = _trail(services, patient_id)
    _record(request, services, principal, patient_id, (RecordType.PATIENT, patient_id),
            ReadInteraction.HISTORY, f"audit export fhir: {len(records)} events")  # fmt: skip
    bundle = json.dumps(fhir_bundle(records, services.now()), indent=2)
    return _download(bundle, "application/fhir+json", f"audit-{patient_id}.json")


def _trail(services: ApiServices, patient_id: UUID) -> list[AuditRecord]:
    return services.patient_history(patient_id)


def _trail_row(record: AuditRecord, services: ApiServices) -> dict[str, Any]:
    event = record.event
    return {
        "position": record.position,
        "what": event.TOPIC.removeprefix("caretrail."),
        "occurred": local_time(event.occurred_at, services),
        "recorded": local_time(event.timestamp, services),
        "actor": event.actor,
        "source": event.source or "",
        "sealed": record.chain_link is not None,
    }


def _local_moment(text: str, services: ApiServices) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date and time like 2026-03-02T14:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=services.zone)


def _record(
    request: Request,
    services: ApiServices,
    principal: Principal,
    patient_id: UUID,
    record: tuple[RecordType, UUID],
    interaction: ReadInteraction,
    detail: str,
) -> None:
    audit = ReadAudit.of(request, services.access, principal)
    audit.record(patient_id, record, interaction, PurposeOfUse.COMPLIANCE, detail=detail)


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body, media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )  # fmt: skip
