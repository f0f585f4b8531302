"""The case page: plan of care with its revisions and the difference between any two, referrals,
barriers, contacts and the patient's timeline; the case's own case manager logs contacts here.

Reads go through the same rules and read audit as GET /api/v1/cases/{id}; changes through the
same services and version check as the API (a form carries the version it was drawn from)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.case_access import (
    CaseRead,
    CaseReadDep,
    case_standing,
    unreadable_cases,
    worked_case,
)
from api.dashboard.pages import FormPoster, not_found, render
from api.deps import ApiServices, Services
from api.models.cases import CaseView
from api.wording import local_time
from domain.access import ReadInteraction
from domain.case import ContactLogged, ContactMode, ContactOutcome, PlanOfCareRevised
from domain.errors import DomainRuleViolation
from domain.patient import Patient
from domain.plan_diff import plan_diff
from projections.deadlines import flags_of
from projections.timeline import patient_timeline
from services.application import Provenance
from services.errors import VersionConflict

router = APIRouter()
TIMELINE_SHOWN = 50


@router.get("/cases/{case_id}")
def case_page(request: Request, read: CaseReadDep, services: Services) -> HTMLResponse:
    read.record(ReadInteraction.READ, "case page")
    return _case_page(request, read, services)


@router.get("/cases/{case_id}/plan-diff")
def plan_diff_fragment(
    request: Request,
    read: CaseReadDep,
    from_version: int,
    to_version: int,
) -> HTMLResponse:
    plans = read.case.plans
    if not (1 <= from_version <= len(plans) and 1 <= to_version <= len(plans)):
        raise not_found(f"the plan has versions 1 to {len(plans)}")
    read.record(ReadInteraction.VERSION_READ, f"plan diff {from_version} -> {to_version}")
    diff = plan_diff(plans[from_version - 1], plans[to_version - 1])
    return render(request, "case_plan_diff.html", read.audit.principal, diff=diff)


@router.post("/cases/{case_id}/contacts")
def log_contact(
    request: Request,
    case_id: UUID,
    _: FormPoster,
    by: Annotated[Provenance, Depends(worked_case)],
    read: CaseReadDep,
    services: Services,
    mode: Annotated[ContactMode, Form()],
    outcome: Annotated[ContactOutcome, Form()],
    contacted: Annotated[str, Form(min_length=1, max_length=200)],
    version: Annotated[int, Form(ge=1)],
    notes: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        services.caretrail.log_contact(case_id, mode, outcome, contacted, notes, by, version)
    except VersionConflict as conflict:
        return _case_page(request, read, services, status_code=409, problem=(
            f"Someone changed this case meanwhile ({conflict}). Nothing was saved: "
            "review the page below and log the contact again."
        ))  # fmt: skip
    except DomainRuleViolation as refused:
        return _case_page(request, read, services, status_code=422, problem=str(refused))
    return RedirectResponse(f"/cases/{case_id}?done=contact", status_code=303)


def _case_page(
    request: Request,
    read: CaseRead,
    services: ApiServices,
    status_code: int = 200,
    problem: str | None = None,
) -> HTMLResponse:
    case = read.case
    history = services.caretrail.history(case.id)
    standing = case_standing(
        services, read.audit.principal, case, services.access.case_privacy(case.id)
    )
    records = services.caretrail.records_of(case.patient_id)
    hidden = unreadable_cases(services, read.audit.principal, records)
    with services.read_models.engine.connect() as db:
        entries = [e for e in patient_timeline(db, records) if e.aggregate_id not in hidden]
        flags = flags_of(db, records)
    timeline = entries[-TIMELINE_SHOWN:]
    return render(
        request, "case.html", read.audit.principal, status_code=status_code,
        case=CaseView.of(case), patient=_patient(services.caretrail.patient(case.patient_id)),
        flags=[(local_time(flag.since, services), flag) for flag in flags],
        revisions=[_revision(e, services) for e in history if isinstance(e, PlanOfCareRevised)],
        contacts=[_contact(e, services) for e in history if isinstance(e, ContactLogged)],
        timeline=[(local_time(t.occurred_at, services), t) for t in reversed(timeline)],
        may_work=standing.work_purpose() is not None, problem=problem,
        done=request.query_params.get("done"), modes=list(ContactMode),
        outcomes=list(ContactOutcome),
    )  # fmt: skip


def _patient(patient: Patient) -> dict[str, Any]:
    return {
        "name": f"{patient.demographics.family_name}, {patient.demographics.given_name}",
        "born": patient.demographics.birth_date,
        "identifiers": [f"{i.value} ({i.assigning_authority})" for i in patient.identifiers],
    }


def _revision(event: PlanOfCareRevised, services: ApiServices) -> dict[str, Any]:
    return {
        "version": event.plan_version,
        "when": local_time(event.timestamp, services),
        "by": event.actor,
        "reason": event.reason,
        "goals": len(event.goals),
        "interventions": len(event.interventions),
    }


def _contact(event: ContactLogged, services: ApiServices) -> dict[str, Any]:
    return {
        "when": local_time(event.occurred_at, services),
        "by": event.actor,
        "mode": event.mode,
        "outcome": event.outcome,
        "contacted": event.contacted,
        "notes": event.notes,
    }
