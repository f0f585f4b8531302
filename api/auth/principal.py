"""The signed-in user a request acts for."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.users import Role


class SignedInWith(StrEnum):
    SESSION = "session"
    BEARER = "bearer"


@dataclass(frozen=True)
class Principal:
    username: str
    roles: frozenset[Role]
    signed_in_with: SignedInWith

    def has_any(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)
