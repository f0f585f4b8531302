"""Break-glass emergency access and 42 CFR Part 2 consent on a case.

Neither changes the case's care record, so neither takes If-Match: they are recorded on the case's
privacy record, which the case version does not count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from api.case_access import CaseWorker, worked_case
from api.deps import Services
from api.models.privacy import (
    BreakGlass,
    EmergencyAccess,
    GivePart2Consent,
    Part2Consent,
    RevokePart2Consent,
)
from api.problems import problem_responses
from services.application import Provenance

router = APIRouter(
    prefix="/cases/{case_id}",
    tags=["privacy"],
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)

CaseWorkerProvenance = Annotated[Provenance, Depends(worked_case)]


@router.post(
    "/break-glass",
    status_code=201,
    summary="Emergency access to a case outside your caseload: needs a reason, ends by itself, "
    "and compliance is told",
)
def break_glass(
    case_id: UUID, emergency: BreakGlass, principal: CaseWorker, services: Services
) -> EmergencyAccess:
    expires_at = services.access.break_glass(
        case_id,
        emergency.reason,
        timedelta(minutes=services.settings.break_glass_minutes),
        Provenance(principal.username, source="api"),
    )
    return EmergencyAccess(case_id=case_id, username=principal.username, expires_at=expires_at)


@router.post("/part2-consent", summary="Record the client's 42 CFR Part 2 disclosure consent")
def give_part2_consent(
    case_id: UUID, consent: GivePart2Consent, by: CaseWorkerProvenance, services: Services
) -> Part2Consent:
    services.access.give_part2_consent(case_id, consent.given_by, consent.method, by)
    return Part2Consent(case_id=case_id, active=True)


@router.post("/part2-consent-revocation", summary="Record that the client revoked Part 2 consent")
def revoke_part2_consent(
    case_id: UUID, revocation: RevokePart2Consent, by: CaseWorkerProvenance, services: Services
) -> Part2Consent:
    services.access.revoke_part2_consent(case_id, revocation.reason, by)
    return Part2Consent(case_id=case_id, active=False)
