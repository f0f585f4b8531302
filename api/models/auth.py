"""Signing in: tokens for systems, sessions for the dashboard."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.auth.principal import SignedInWith
from api.models.common import Command
from domain.users import Role
from services.users import MAX_PASSWORD_LENGTH


class Credentials(Command):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds until the token expires")


class Me(BaseModel):
    username: str
    roles: list[Role]
    signed_in_with: SignedInWith


class PasswordChange(Command):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
