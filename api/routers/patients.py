"""Patients: registration at intake, and their identifiers and demographics (an audited read)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from api.auth.principal import Principal
from api.authorization import INTAKE, patient_read_purpose
from api.case_access import etag, unreadable_cases
from api.deps import API_PREFIX, Services, require_roles
from api.models.common import Moment, Page, PageLimit, PageOffset, paginate
from api.models.patients import PatientVersion, PatientView, RegisterPatient
from api.models.views import PatientFlagItem, TimelineItem
from api.problems import problem_responses
from api.read_audit import ClinicalReadAudit
from api.routers.adt import ingestion
from domain.access import ReadInteraction, RecordType
from projections.deadlines import flags_of
from projections.timeline import patient_timeline
from services.application import Provenance
from services.ingestion import IngestionService

router = APIRouter(prefix="/patients", tags=["patients"])

Intake = Annotated[Principal, Depends(require_roles(*INTAKE))]


@router.post(
    "",
    status_code=201,
    summary="Register a patient (referral intake; ADT registers through the feed). The "
    "identifiers are claimed as a feed's would be: the feed's messages find this patient, and "
    "an identifier another patient holds answers 409 naming that patient",
    responses=problem_responses(400, 401, 403, 409, 422, 503),
)
def register_patient(
    registration: RegisterPatient,
    principal: Intake,
    response: Response,
    ingestion: Annotated[IngestionService, Depends(ingestion)],
) -> PatientVersion:
    patient_id = ingestion.register_patient(
        [identifier.to_domain() for identifier in registration.identifiers],
        registration.demographics(),
        Provenance(principal.username, registration.occurred_at, "api"),
    )
    response.headers["Location"] = f"{API_PREFIX}/patients/{patient_id}"
    response.headers["ETag"] = etag(1)
    return PatientVersion(patient_id=patient_id, version=1)


@router.get(
    "/{patient_id}",
    summary="Show a patient, now or as caretrail knew them at a time",
    responses=problem_responses(401, 403, 404, 422),
)
def show_patient(
    patient_id: UUID,
    audit: ClinicalReadAudit,
    response: Response,
    services: Services,
    as_of: Annotated[Moment | None, Query(description="Recorded time to replay to")] = None,
) -> PatientView:
    app = services.caretrail
    patient = app.patient(patient_id) if as_of is None else app.patient_as_of(patient_id, as_of)
    if as_of is None:
        _record_read(audit, patient.id, ReadInteraction.READ, "")
    else:
        _record_read(audit, patient.id, ReadInteraction.AS_OF_READ, f"as of {as_of.isoformat()}")
    response.headers["ETag"] = etag(patient.version)
    return PatientView.of(patient)


@router.get(
    "/{patient_id}/timeline",
    summary="A patient's timeline: encounters, transitions, case actions and alerts, newest last "
    "(under this record and the records merged into it); the actions on a case you may not "
    "read (another case manager's caseload) are left out",
    responses=problem_responses(401, 403, 404, 422),
)
def patient_timeline_view(
    patient_id: UUID,
    audit: ClinicalReadAudit,
    services: Services,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[TimelineItem]:
    records = services.caretrail.records_of(patient_id)  # 404 for a patient not known
    hidden = unreadable_cases(services, audit.principal, records)
    with services.read_models.engine.connect() as db:
        entries = [e for e in patient_timeline(db, records) if e.aggregate_id not in hidden]
    page = paginate([TimelineItem.of(entry) for entry in entries], limit, offset)
    _record_read(audit, patient_id, ReadInteraction.HISTORY, f"timeline: {len(page.items)} entries")
    return page


@router.get(
    "/{patient_id}/flags",
    summary="A patient's flags: readmitted within 30 days, high utilizer (the latest finding of "
    "each, under this record and the records merged into it)",
    responses=problem_responses(401, 403, 404, 422),
)
def patient_flags_view(
    patient_id: UUID, audit: ClinicalReadAudit, services: Services
) -> list[PatientFlagItem]:
    records = services.caretrail.records_of(patient_id)  # 404 for a patient not known
    with services.read_models.engine.connect() as db:
        flags = flags_of(db, records)
    _record_read(audit, patient_id, ReadInteraction.READ, f"flags: {len(flags)}")
    return [PatientFlagItem.of(flag) for flag in flags]


def _record_read(
    audit: ClinicalReadAudit, patient_id: UUID, interaction: ReadInteraction, detail: str
) -> None:
    purpose = patient_read_purpose(audit.principal)
    audit.record(patient_id, (RecordType.PATIENT, patient_id), interaction, purpose, detail=detail)
