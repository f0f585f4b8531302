"""Dependencies of the case routes: may this user read or change this case, and against which
version.

Concurrency: a case's ETag is its version. Every change must send If-Match with the ETag it read;
a stale one gets 409 with the current version, a missing one 428 Precondition Required.
`If-Match: *` says "whatever is current" explicitly, for callers that do not read before writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import Depends, Header, Response

from api.auth.principal import Principal
from api.authorization import CASE_WORKERS, CaseStanding
from api.deps import ApiServices, Services, forbidden, require_roles
from api.models.common import CaseVersion
from api.read_audit import ClinicalReadAudit, ReadAudit
from domain.access import CasePrivacy, PurposeOfUse, ReadInteraction, RecordType
from domain.case import Case, CaseManagerAssigned
from projections.plan_views import cases_of
from services.application import CareTrail, Provenance

IF_MATCH_PATTERN = r'^(\*|"[0-9]{1,9}"|[0-9]{1,9})$'
ANY_VERSION = "*"
ETAG_HEADER: dict[str, Any] = {
    "ETag": {"description": "The version, to send back as If-Match", "schema": {"type": "string"}}
}

CaseWorker = Annotated[Principal, Depends(require_roles(*CASE_WORKERS))]


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(status: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a response that carries the ETag header."""
    return {status: {"headers": ETAG_HEADER}}


class CaseCommand(Protocol):
    """A request body that knows which application command it asks for."""

    @property
    def occurred_at(self) -> datetime | None: ...

    def send(
        self, app: CareTrail, case_id: UUID, by: Provenance, expected_version: int | None
    ) -> None: ...


@dataclass(frozen=True)
class CaseRead:
    """A permitted read of one case: on which grounds, and whether Part 2 data may be shown."""

    case: Case
    purpose: PurposeOfUse
    part2_disclosable: bool
    audit: ReadAudit

    def record(
        self, interaction: ReadInteraction, detail: str = "", part2_disclosed: bool = False
    ) -> None:
        self.audit.record(
            self.case.patient_id,
            (RecordType.CASE, self.case.id),
            interaction,
            self.purpose,
            detail=detail,
            part2_disclosed=part2_disclosed,
        )


@dataclass(frozen=True)
class CaseChange:
    """A permitted change to one case: who asks, against which version."""

    app: CareTrail
    case_id: UUID
    by: Provenance
    expected_version: int | None
    response: Response

    def apply(self, command: CaseCommand) -> CaseVersion:
        command.send(
            self.app, self.case_id, replace(self.by, occurred_at=command.occurred_at),
            self.expected_version,
        )  # fmt: skip
        version = self.app.case(self.case_id).version
        self.response.headers["ETag"] = etag(version)
        return CaseVersion(case_id=self.case_id, version=version)


@dataclass(frozen=True)
class CaseAssignment:
    """A change of case manager: who may assign whom depends on the request, so it is checked
    once the request is read."""

    standing: CaseStanding
    change: CaseChange

    def apply(self, case_manager: str, command: CaseCommand) -> CaseVersion:
        if not self.standing.may_assign(case_manager):
            raise forbidden(
                "supervisors assign and reassign; a case manager may only claim an unassigned case"
            )
        return self.change.apply(command)


def readable_case(case_id: UUID, audit: ClinicalReadAudit, services: Services) -> CaseRead:
    case = services.caretrail.case(case_id)
    privacy = services.access.case_privacy(case_id)
    purpose = case_standing(services, audit.principal, case, privacy).read_purpose()
    if purpose is None:
        raise forbidden(
            "this case is on another case manager's caseload; use break-glass in an emergency"
        )
    disclosable = privacy is not None and privacy.may_disclose_part2(
        audit.principal.username, services.now()
    )
    return CaseRead(case, purpose, disclosable, audit)


def unreadable_cases(
    services: ApiServices, principal: Principal, records: Sequence[UUID]
) -> set[UUID]:
    """The patient's cases this user may not read (another case manager's caseload): a view of
    the whole patient, such as the timeline, leaves out what happened on them."""
    with services.read_models.engine.connect() as db:
        case_ids = cases_of(db, records)
    hidden = set()
    for case_id in case_ids:
        case = services.caretrail.case(case_id)
        privacy = services.access.case_privacy(case_id)
        if case_standing(services, principal, case, privacy).read_purpose() is None:
            hidden.add(case_id)
    return hidden


def worked_case(case_id: UUID, principal: CaseWorker, services: Services) -> Provenance:
    """Who changes the case, if they may: the assigned case manager, or anyone under break-glass."""
    case = services.caretrail.case(case_id)
    standing = case_standing(services, principal, case, services.access.case_privacy(case_id))
    purpose = standing.work_purpose()
    if purpose is None:
        raise forbidden(
            "only the assigned case manager changes a case; use break-glass in an emergency"
        )
    return _provenance(principal, purpose)


def expected_version(
    if_match: Annotated[
        str,
        Header(
            alias="If-Match",
            pattern=IF_MATCH_PATTERN,
            description='The ETag of the case version you read (e.g. "7"), or * for any',
        ),
    ],
) -> int | None:
    if if_match == ANY_VERSION:
        return None
    return int(if_match.strip('"'))


ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def case_change(
    case_id: UUID,
    by: Annotated[Provenance, Depends(worked_case)],
    expected: ExpectedVersion,
    response: Response,
    services: Services,
) -> CaseChange:
    return CaseChange(services.caretrail, case_id, by, expected, response)


def case_assignment(
    case_id: UUID,
    principal: CaseWorker,
    expected: ExpectedVersion,
    response: Response,
    services: Services,
) -> CaseAssignment:
    case = services.caretrail.case(case_id)
    standing = case_standing(services, principal, case, services.access.case_privacy(case_id))
    by = Provenance(principal.username, source="api")
    return CaseAssignment(standing, CaseChange(services.caretrail, case_id, by, expected, response))


CaseReadDep = Annotated[CaseRead, Depends(readable_case)]
CaseChangeDep = Annotated[CaseChange, Depends(case_change)]
CaseAssignmentDep = Annotated[CaseAssignment, Depends(case_assignment)]


def case_standing(
    services: ApiServices, principal: Principal, case: Case, privacy: CasePrivacy | None
) -> CaseStanding:
    return CaseStanding(
        principal=principal,
        case_manager=case.case_manager,
        formerly_assigned=_formerly_assigned(services.caretrail, case, principal.username),
        emergency_access=privacy is not None
        and privacy.has_emergency_access(principal.username, services.now()),
    )


def _formerly_assigned(app: CareTrail, case: Case, username: str) -> bool:
    if case.case_manager in (None, username):
        return False  # the history cannot change the answer, so it is not read
    return any(
        isinstance(event, CaseManagerAssigned) and event.case_manager == username
        for event in app.history(case.id)
    )


def _provenance(principal: Principal, purpose: PurposeOfUse) -> Provenance:
    # A change made under break-glass says so on the event itself.
    source = "api:break-glass" if purpose is PurposeOfUse.EMERGENCY_TREATMENT else "api"
    return Provenance(principal.username, source=source)
