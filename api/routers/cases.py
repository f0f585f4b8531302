"""Cases: opening one, and reading it now, at a version, as of a time, or its history (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from api.case_access import CaseReadDep, etag, with_etag
from api.deps import API_PREFIX, Services
from api.models.cases import CaseEvent, CaseView, OpenCase, shows_part2
from api.models.common import CaseVersion, Moment, Page, PageLimit, PageOffset
from api.problems import problem_responses
from api.routers.patients import Intake
from domain.access import ReadInteraction
from services.application import Provenance

router = APIRouter(prefix="/cases", tags=["cases"])

READ_PROBLEMS = problem_responses(401, 403, 404, 422)


@router.post(
    "",
    status_code=201,
    summary="Open a case for a patient (referral, risk screen, ADT trigger)",
    responses=with_etag(201) | problem_responses(400, 401, 403, 404, 422),
)
def open_case(
    opening: OpenCase, principal: Intake, response: Response, services: Services
) -> CaseVersion:
    case_id = services.caretrail.open_case(
        opening.patient_id,
        opening.source,
        opening.reason,
        Provenance(principal.username, opening.occurred_at, "api"),
    )
    response.headers["Location"] = f"{API_PREFIX}/cases/{case_id}"
    response.headers["ETag"] = etag(1)
    return CaseVersion(case_id=case_id, version=1)


@router.get(
    "/{case_id}",
    summary="Show a case: current, at a version, or as caretrail knew it at a time",
    responses=with_etag(200) | READ_PROBLEMS,
)
def show_case(
    read: CaseReadDep,
    response: Response,
    services: Services,
    version: Annotated[int | None, Query(ge=1, description="This version of the case")] = None,
    as_of: Annotated[Moment | None, Query(description="Recorded time to replay to")] = None,
) -> CaseView:
    app = services.caretrail
    if version is not None and as_of is not None:
        raise HTTPException(422, "ask for a version or a time, not both")
    if version is not None:
        case = app.case(read.case.id, version)
        read.record(ReadInteraction.VERSION_READ, f"version {version}")
    elif as_of is not None:
        case = app.case_as_of(read.case.id, as_of)
        read.record(ReadInteraction.AS_OF_READ, f"as of {as_of.isoformat()}")
    else:
        case = read.case
        read.record(ReadInteraction.READ)
    response.headers["ETag"] = etag(case.version)
    return CaseView.of(case, as_of)


@router.get(
    "/{case_id}/history",
    summary="Every recorded step of a case, oldest first, with who and when",
    responses=READ_PROBLEMS,
)
def case_history(
    read: CaseReadDep, services: Services, limit: PageLimit = 50, offset: PageOffset = 0
) -> Page[CaseEvent]:
    events = services.caretrail.history(read.case.id)
    shown = events[offset : offset + limit]
    read.record(
        ReadInteraction.HISTORY,
        f"{len(shown)} events from position {offset + 1}",
        part2_disclosed=read.part2_disclosable and any(map(shows_part2, shown)),
    )
    return Page(
        items=[CaseEvent.of(event, read.part2_disclosable) for event in shown],
        total=len(events),
        limit=limit,
        offset=offset,
    )
