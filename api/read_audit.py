"""The read audit: every response carrying patient data is recorded before it is sent.

Recorded synchronously in the request: if the record cannot be stored, the data is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from api.auth.principal import Principal
from api.authorization import CLINICAL_READERS
from api.deps import Services, require_roles
from domain.access import PurposeOfUse, ReadInteraction, RecordType
from services.access_audit import AccessAudit, PatientDataRead


@dataclass(frozen=True)
class ReadAudit:
    """Who is reading and from where (client address, user agent), and how to record a read."""

    access: AccessAudit
    principal: Principal
    network_address: str | None
    user_agent: str | None

    @classmethod
    def of(cls, request: Request, access: AccessAudit, principal: Principal) -> ReadAudit:
        client = request.client.host if request.client else None
        return cls(access, principal, client, request.headers.get("user-agent"))

    def record(
        self,
        patient_id: UUID,
        record: tuple[RecordType, UUID],
        interaction: ReadInteraction,
        purpose: PurposeOfUse,
        *,
        detail: str = "",
        part2_disclosed: bool = False,
    ) -> None:
        record_type, record_id = record
        self.access.record_read(
            PatientDataRead(
                reader=self.principal.username,
                patient_id=patient_id,
                record_type=record_type,
                record_id=record_id,
                interaction=interaction,
                purpose=purpose,
                detail=detail,
                network_address=self.network_address,
                user_agent=self.user_agent,
                part2_disclosed=part2_disclosed,
            )
        )


def clinical_read_audit(
    request: Request,
    services: Services,
    principal: Annotated[Principal, Depends(require_roles(*CLINICAL_READERS))],
) -> ReadAudit:
    return ReadAudit.of(request, services.access, principal)


ClinicalReadAudit = Annotated[ReadAudit, Depends(clinical_read_audit)]
