"""Break-glass and 42 CFR Part 2 consent requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from api.models.common import Command, Name, Statement
from domain.access import MINIMUM_REASON_LENGTH


class BreakGlass(Command):
    reason: Annotated[
        Statement,
        Field(
            min_length=MINIMUM_REASON_LENGTH,
            description="The clinical emergency; compliance reviews every use",
        ),
    ]


class EmergencyAccess(BaseModel):
    case_id: UUID
    username: str
    expires_at: datetime


class GivePart2Consent(Command):
    given_by: Name = Field(description="The client, or their legal representative")
    method: Name = Field(examples=["written, signed"])


class RevokePart2Consent(Command):
    reason: Statement


class Part2Consent(BaseModel):
    case_id: UUID
    active: bool
