"""Who may read, change and assign a case, and on which grounds (the purpose the audit records)."""

from __future__ import annotations

import pytest

from api.auth.principal import Principal, SignedInWith
from api.authorization import CaseStanding, patient_read_purpose
from domain.access import PurposeOfUse
from domain.users import Role

TREAT, ETREAT = PurposeOfUse.TREATMENT, PurposeOfUse.EMERGENCY_TREATMENT
OPERATIONS, COMPLIANCE = PurposeOfUse.OPERATIONS, PurposeOfUse.COMPLIANCE


def standing(
    *roles: Role,
    case_manager: str | None = "cm.other",
    formerly_assigned: bool = False,
    emergency: bool = False,
) -> CaseStanding:
    me = Principal("cm.me", frozenset(roles), SignedInWith.BEARER)
    return CaseStanding(me, case_manager, formerly_assigned, emergency)


@pytest.mark.parametrize(
    ("case_standing", "read", "work"),
    [
        (standing(Role.CASE_MANAGER, case_manager="cm.me"), TREAT, TREAT),
        (standing(Role.CASE_MANAGER, case_manager=None), TREAT, None),
        (standing(Role.CASE_MANAGER, formerly_assigned=True), TREAT, None),
        (standing(Role.CASE_MANAGER), None, None),
        (standing(Role.CASE_MANAGER, emergency=True), ETREAT, ETREAT),
        (standing(Role.SUPERVISOR), OPERATIONS, None),
        (standing(Role.SUPERVISOR, emergency=True), OPERATIONS, ETREAT),
        (standing(Role.COMPLIANCE, emergency=True), COMPLIANCE, None),
        (standing(Role.SECURITY_ADMIN, emergency=True), None, None),
        (standing(Role.ADT_FEED, case_manager="cm.me"), None, None),
    ],
    ids=[
        "own caseload", "intake queue", "reassigned away", "another's caseload",
        "case manager under break-glass", "supervisor", "supervisor under break-glass",
        "compliance never changes", "security admin sees no clinical data", "feed reads nothing",
    ],
)  # fmt: skip
def test_read_and_work_purposes(
    case_standing: CaseStanding, read: PurposeOfUse | None, work: PurposeOfUse | None
) -> None:
    assert (case_standing.read_purpose(), case_standing.work_purpose()) == (read, work)


def test_supervisors_assign_anyone_and_case_managers_only_claim_a_new_case() -> None:
    assert standing(Role.SUPERVISOR).may_assign("cm.anyone")
    assert standing(Role.CASE_MANAGER, case_manager=None).may_assign("cm.me")
    assert not standing(Role.CASE_MANAGER, case_manager=None).may_assign("cm.other")
    assert not standing(Role.CASE_MANAGER, case_manager="cm.me").may_assign("cm.other")
    assert not standing(Role.COMPLIANCE, case_manager=None).may_assign("cm.me")


def test_a_patient_is_read_for_the_purpose_of_the_most_care_related_role() -> None:
    both = Principal("x", frozenset({Role.COMPLIANCE, Role.CASE_MANAGER}), SignedInWith.SESSION)
    auditor = Principal("y", frozenset({Role.COMPLIANCE}), SignedInWith.SESSION)

    assert patient_read_purpose(both) == TREAT
    assert patient_read_purpose(auditor) == COMPLIANCE
