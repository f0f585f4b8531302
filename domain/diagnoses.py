"""An encounter's diagnoses as the ADT feed reports them (DG1), and how the transition rules read
them: HEDIS FUH, FUM and FUA start only after a stay or ED visit whose *principal* diagnosis is in
their value sets (mental illness; alcohol and other drug abuse and dependence).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class DiagnosisType(StrEnum):
    """DG1-6 (HL7 table 0052)."""

    ADMITTING = "A"
    WORKING = "W"
    FINAL = "F"


@dataclass(frozen=True)
class Diagnosis:
    code: str  # DG1-3.1, e.g. F32.9
    coding_system: str  # DG1-3.3 (or DG1-2), e.g. I10; empty when the feed leaves it out
    description: str
    diagnosis_type: DiagnosisType | None = None
    # DG1-15: 1 is the principal diagnosis, higher numbers rank the others.
    priority: int | None = None

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise ValueError("a diagnosis needs a code")
        if self.priority is not None and self.priority < 1:
            raise ValueError(f"a diagnosis priority starts at 1, not {self.priority}")


# HL7 table 0396 names ICD-10-CM "I10" (and "I10C" from v2.7); feeds also spell it out.
ICD10_CM_SYSTEMS: Final = frozenset({"I10", "I10C", "ICD10", "ICD-10", "ICD10CM", "ICD-10-CM"})

# The most definitive type wins when no DG1-15 ranks the diagnoses: final, working, admitting.
_TYPE_RANK: Final = {DiagnosisType.FINAL: 0, DiagnosisType.WORKING: 1, DiagnosisType.ADMITTING: 2}


def principal_diagnosis(diagnoses: Sequence[Diagnosis]) -> Diagnosis | None:
    """The one ranked 1 (DG1-15); without a ranking, the first of the most definitive type."""
    ranked = sorted(enumerate(diagnoses), key=_rank)
    return ranked[0][1] if ranked else None


def _rank(listed: tuple[int, Diagnosis]) -> tuple[float, int, int]:
    position, diagnosis = listed
    priority = math.inf if diagnosis.priority is None else diagnosis.priority
    kind = (
        len(_TYPE_RANK)
        if diagnosis.diagnosis_type is None
        else _TYPE_RANK[DiagnosisType(diagnosis.diagnosis_type)]
    )
    return priority, kind, position


@dataclass(frozen=True)
class CodeRange:
    """ICD-10-CM categories (the three characters before the dot), both ends included."""

    first: str
    last: str

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(f"code range {self.first}-{self.last} runs backwards")

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.first <= code.strip().upper()[:3] <= self.last


@dataclass(frozen=True)
class DiagnosisValueSets:
    """The value sets the FUH/FUM/FUA rules read diagnoses against (from the rule file)."""

    mental_illness: tuple[CodeRange, ...] = ()
    substance_use_disorder: tuple[CodeRange, ...] = ()

    def behavioral_health(self, diagnoses: Sequence[Diagnosis]) -> bool | None:
        return _principal_in(diagnoses, self.mental_illness)

    def substance_use(self, diagnoses: Sequence[Diagnosis]) -> bool | None:
        return _principal_in(diagnoses, self.substance_use_disorder)


def _principal_in(diagnoses: Sequence[Diagnosis], value_set: Iterable[CodeRange]) -> bool | None:
    """None when unknown: no diagnosis yet, or a principal coded in another system than
    ICD-10-CM (an empty system is read as ICD-10-CM, which is what US feeds send)."""
    principal = principal_diagnosis(diagnoses)
    if principal is None:
        return None
    system = principal.coding_system.strip().upper()
    if system and system not in ICD10_CM_SYSTEMS:
        return None
    return any(principal.code in codes for codes in value_set)
