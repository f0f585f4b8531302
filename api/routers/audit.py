"""Compliance: a patient's audit trail (every change and every read) and the hash chain's
verification. Compliance reads and replays everything and changes nothing."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from api.auth.principal import Principal
from api.deps import Services, require_roles
from api.models.common import Page, PageLimit, PageOffset, paginate
from api.models.views import AuditTrailItem, ChainVerification
from api.problems import problem_responses
from api.read_audit import ReadAudit
from domain.access import PurposeOfUse, ReadInteraction, RecordType
from domain.users import Role

router = APIRouter(tags=["audit"])
Compliance = Annotated[Principal, Depends(require_roles(Role.COMPLIANCE))]


@router.get(
    "/patients/{patient_id}/audit-trail",
    summary="Every stored event of a patient, reads included, with its place in the hash chain",
    responses=problem_responses(401, 403, 404, 422),
)
def audit_trail(
    request: Request,
    patient_id: UUID,
    services: Services,
    principal: Compliance,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[AuditTrailItem]:
    services.caretrail.patient(patient_id)  # 404 for a patient caretrail does not know
    records = services.patient_history(patient_id)
    page = paginate([AuditTrailItem.of(record) for record in records], limit, offset)
    ReadAudit.of(request, services.access, principal).record(
        patient_id, (RecordType.PATIENT, patient_id), ReadInteraction.HISTORY,
        PurposeOfUse.COMPLIANCE, detail=f"audit trail: {len(page.items)} events",
    )  # fmt: skip
    return page


@router.get(
    "/audit/verification",
    summary="Verify the hash chain over the event log; names the first altered position",
    responses=problem_responses(401, 403),
)
def verification(services: Services, _: Compliance) -> ChainVerification:
    return ChainVerification.of(services.audit_chain.verify())
