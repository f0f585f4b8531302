"""Which diagnoses start the HEDIS FUH/FUM/FUA clocks: the principal one, against the value sets
of the rule file."""

from __future__ import annotations

import pytest

from domain.diagnoses import CodeRange, Diagnosis, DiagnosisType, principal_diagnosis
from services.rules_config import load_ruleset

VALUE_SETS = load_ruleset()[0].value_sets
A, W, F = DiagnosisType.ADMITTING, DiagnosisType.WORKING, DiagnosisType.FINAL


def dx(
    code: str, kind: DiagnosisType | None = F, rank: int | None = None, system: str = "I10"
) -> Diagnosis:
    return Diagnosis(code, system, code, kind, rank)


@pytest.mark.parametrize(
    ("code", "mental_illness", "substance_use"),
    [
        ("F32.9", True, False),  # major depressive disorder
        ("F20.0", True, False),  # first code of the F20-F48 family
        ("F48.9", True, False),  # last code of it
        ("F50.00", True, False),  # anorexia nervosa, first of F50-F99
        ("F99", True, False),
        ("F10.20", False, True),  # alcohol dependence
        ("F19.10", False, True),  # last of F10-F19
        ("F03.90", False, False),  # dementia: not in the HEDIS mental illness families
        ("F09", False, False),
        ("I50.9", False, False),  # heart failure
        ("f32.9", True, False),  # feeds send lower case too
    ],
)
def test_the_principal_diagnosis_is_read_against_the_rule_file_value_sets(
    code: str, mental_illness: bool, substance_use: bool
) -> None:
    diagnoses = [dx(code)]
    assert VALUE_SETS.behavioral_health(diagnoses) is mental_illness
    assert VALUE_SETS.substance_use(diagnoses) is substance_use


def test_no_diagnosis_is_unknown_not_false() -> None:
    assert VALUE_SETS.behavioral_health([]) is None


@pytest.mark.parametrize(("system", "known"), [("", True), ("ICD-10-CM", True), ("SCT", False)])
def test_a_principal_coded_outside_icd_10_cm_is_unknown(system: str, known: bool) -> None:
    flag = VALUE_SETS.behavioral_health([dx("F32.9", system=system)])
    assert flag is (True if known else None)


@pytest.mark.parametrize(
    ("diagnoses", "principal"),
    [
        pytest.param([dx("I50.9", rank=2), dx("F32.9", rank=1)], "F32.9", id="DG1-15 rank 1"),
        pytest.param([dx("R07.9", A), dx("F32.9", W), dx("I21.4", F)], "I21.4", id="final"),
        pytest.param([dx("R07.9", A), dx("F32.9", W)], "F32.9", id="working over admitting"),
        pytest.param([dx("R07.9", None), dx("F32.9", None)], "R07.9", id="first listed"),
    ],
)
def test_the_principal_diagnosis(diagnoses: list[Diagnosis], principal: str) -> None:
    found = principal_diagnosis(diagnoses)
    assert found is not None
    assert found.code == principal


def test_a_diagnosis_read_back_from_the_store_compares_equal() -> None:
    # The store gives the type back as its text; a resend must not look like a new list.
    assert dx("F32.9", F, 1) == Diagnosis("F32.9", "I10", "F32.9", "F", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "priority", "problem"),
    [(" ", None, "needs a code"), ("F32.9", 0, "starts at 1")],
)
def test_a_diagnosis_needs_a_code_and_a_priority_from_1(
    code: str, priority: int | None, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Diagnosis(code, "I10", "", None, priority)


def test_a_code_range_cannot_run_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        CodeRange("F48", "F20")
