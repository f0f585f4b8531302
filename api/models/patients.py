"""Patients as the API registers and shows them."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.models.common import Command, Day, Moment, Name
from domain.patient import Demographics, Identifier, Patient


class IdentifierModel(BaseModel):
    value: Name
    assigning_authority: Name = Field(examples=["GENHOSP"])
    identifier_type: str = Field(default="MR", pattern=r"^[A-Z]{1,10}$", description="HL7 0203")

    def to_domain(self) -> Identifier:
        return Identifier(self.value, self.assigning_authority, self.identifier_type)


class RegisterPatient(Command):
    identifiers: list[IdentifierModel] = Field(min_length=1, max_length=20)
    family_name: Name
    given_name: Name
    birth_date: Day | None = None
    sex: Literal["F", "M", "O", "U"] | None = None
    occurred_at: Moment | None = None

    def demographics(self) -> Demographics:
        return Demographics(self.family_name, self.given_name, self.birth_date, self.sex)


class PatientVersion(BaseModel):
    patient_id: UUID
    version: int


class PatientView(BaseModel):
    patient_id: UUID
    version: int
    identifiers: list[IdentifierModel]
    family_name: str
    given_name: str
    birth_date: date | None
    sex: str | None
    merged_into: UUID | None = Field(description="The surviving record, if this one was merged")
    absorbed: list[UUID] = Field(description="Records merged into this one")

    @classmethod
    def of(cls, patient: Patient) -> PatientView:
        demographics = patient.demographics
        return cls(
            patient_id=patient.id,
            version=patient.version,
            identifiers=[
                IdentifierModel(
                    value=i.value,
                    assigning_authority=i.assigning_authority,
                    identifier_type=i.identifier_type,
                )
                for i in patient.identifiers
            ],
            family_name=demographics.family_name,
            given_name=demographics.given_name,
            birth_date=demographics.birth_date,
            sex=demographics.sex,
            merged_into=patient.merged_into,
            absorbed=list(patient.absorbed),
        )
