"""The case management steps, one route each, all alike: the assigned case manager (or someone
under break-glass) changes the case, sending If-Match with the version they read."""

from __future__ import annotations

from fastapi import APIRouter

from api.case_access import CaseAssignmentDep, CaseChangeDep, with_etag
from api.models.cases import (
    AnswerReferral,
    AssignCaseManager,
    CloseCase,
    EvaluateGoal,
    GiveConsent,
    LogContact,
    MakeReferral,
    NoteBarrier,
    RecordAssessment,
    RecordFollowUpVisit,
    RecordInformationReceived,
    RecordMedicationReconciliation,
    ReopenCase,
    ResolveBarrier,
    RevisePlan,
    ScreenClient,
    WithdrawConsent,
)
from api.models.common import CaseVersion
from api.problems import problem_responses

router = APIRouter(
    prefix="/cases/{case_id}",
    tags=["case steps"],
    responses=with_etag(200) | problem_responses(400, 401, 403, 404, 409, 422, 428),
)


@router.post("/screening", summary="Record the screening result")
def screen_client(step: ScreenClient, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/consent", summary="Record the client's informed consent")
def give_consent(step: GiveConsent, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/consent-withdrawal", summary="Record that the client withdrew consent")
def withdraw_consent(step: WithdrawConsent, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post(
    "/assignment",
    summary="Assign or reassign the case manager (supervisors; a case manager claims a new case)",
)
def assign_case_manager(step: AssignCaseManager, assignment: CaseAssignmentDep) -> CaseVersion:
    return assignment.apply(step.case_manager, step)


@router.post("/assessments", summary="Record an assessment of the client's needs")
def record_assessment(step: RecordAssessment, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/plan-revisions", summary="Draft or revise the plan of care (a new version)")
def revise_plan(step: RevisePlan, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/referrals", summary="Refer the client to a service or provider")
def make_referral(step: MakeReferral, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/referral-answers", summary="Record a referral's acceptance, decline or completion")
def answer_referral(step: AnswerReferral, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/contacts", summary="Log a contact with the client or their caregivers")
def log_contact(step: LogContact, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/medication-reconciliations", summary="Record a medication reconciliation")
def record_medication_reconciliation(
    step: RecordMedicationReconciliation, change: CaseChangeDep
) -> CaseVersion:
    return change.apply(step)


@router.post("/follow-up-visits", summary="Record a follow-up visit after discharge")
def record_follow_up_visit(step: RecordFollowUpVisit, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post(
    "/information-receipts",
    summary="Record the receipt of an admission notification or of discharge information",
)
def record_information_received(
    step: RecordInformationReceived, change: CaseChangeDep
) -> CaseVersion:
    return change.apply(step)


@router.post("/barriers", summary="Note a barrier to the plan of care")
def note_barrier(step: NoteBarrier, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/barrier-resolutions", summary="Record how a barrier was resolved")
def resolve_barrier(step: ResolveBarrier, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/goal-evaluations", summary="Evaluate a goal: met, partially met or not met")
def evaluate_goal(step: EvaluateGoal, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/closure", summary="Close the case, with the direction given to the client")
def close_case(step: CloseCase, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)


@router.post("/reopening", summary="Reopen a closed case; its history stays")
def reopen_case(step: ReopenCase, change: CaseChangeDep) -> CaseVersion:
    return change.apply(step)
