"""User accounts as a security admin manages them; never a password hash."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from api.models.common import Command, Name, Statement, Username
from domain.users import Role, User
from services.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

Password = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


def _distinct(roles: list[Role]) -> list[Role]:
    if len(set(roles)) != len(roles):
        raise ValueError("each role once")
    return roles


Roles = Annotated[
    list[Role],
    Field(min_length=1, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_distinct),
]


class RegisterUser(Command):
    username: Username
    password: str = Password
    roles: Roles
    display_name: Name | None = None


class RoleChange(Command):
    roles: Roles


class AccountStateChange(Command):
    reason: Statement


class UserView(BaseModel):
    username: str
    display_name: str
    roles: list[Role]
    disabled: bool

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            username=user.username,
            display_name=user.display_name,
            roles=sorted(user.roles),
            disabled=user.disabled,
        )
