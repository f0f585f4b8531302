"""The people and systems allowed to use caretrail, and the roles that bound what each may do.

Users are security data, not clinical data: their events name no patient and live in a store of
their own, apart from the patient-keyed clinical log. Every change names who made it, so "who
granted this role, and when" stays answerable for as long as the account exists.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from domain.errors import DomainRuleViolation
from domain.events import stable_topic

# Account ids come from the user name, so a name can be registered once and looked up directly.
USER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:caretrail:user")
# Lower case, so "Alvarez" and "alvarez" cannot be two accounts; ':' and '@' allow feed ids and
# e-mail style names.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._:@-]{1,63}$"


class Role(StrEnum):
    """Minimum necessary (HIPAA 164.308): each role sees and changes only what its job needs."""

    ADT_FEED = "adt_feed"
    CASE_MANAGER = "case_manager"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    SECURITY_ADMIN = "security_admin"


class AccountChangeRefused(DomainRuleViolation):
    """A change to a user account that would break an account rule."""


def user_id(username: str) -> UUID:
    return uuid5(USER_NAMESPACE, username)


class UserEvent(Aggregate.Event):
    """Base of every user account event: who made the change (a security admin, or the user)."""

    TOPIC: ClassVar[str] = ""

    actor: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        topic = cls.__dict__.get("TOPIC")
        if topic:
            register_topic(topic, cls)


class UserRegistered(Aggregate.Created, UserEvent):
    TOPIC = "caretrail.UserRegistered"
    username: str
    display_name: str
    password_hash: str
    roles: list[Role]

    def apply(self, aggregate: User) -> None:
        aggregate.username = self.username
        aggregate.display_name = self.display_name
        aggregate.password_hash = self.password_hash
        aggregate.password_changed_at = self.timestamp
        aggregate.roles = {Role(role) for role in self.roles}
        aggregate.disabled = False


class RolesGranted(UserEvent):
    TOPIC = "caretrail.RolesGranted"
    roles: list[Role]

    def apply(self, aggregate: User) -> None:
        aggregate.roles |= {Role(role) for role in self.roles}


class RolesRevoked(UserEvent):
    TOPIC = "caretrail.RolesRevoked"
    roles: list[Role]

    def apply(self, aggregate: User) -> None:
        aggregate.roles -= {Role(role) for role in self.roles}


class UserDisabled(UserEvent):
    TOPIC = "caretrail.UserDisabled"
    reason: str

    def apply(self, aggregate: User) -> None:
        aggregate.disabled = True


class UserEnabled(UserEvent):
    TOPIC = "caretrail.UserEnabled"
    reason: str

    def apply(self, aggregate: User) -> None:
        aggregate.disabled = False


class PasswordChanged(UserEvent):
    TOPIC = "caretrail.PasswordChanged"
    password_hash: str

    def apply(self, aggregate: User) -> None:
        aggregate.password_hash = self.password_hash
        aggregate.password_changed_at = self.timestamp


@stable_topic("caretrail.User")
class User(Aggregate):
    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        username: str
        display_name: str
        password_hash: str
        password_changed_at: datetime
        roles: set[Role]
        disabled: bool

    @classmethod
    def register(
        cls,
        username: str,
        display_name: str,
        password_hash: str,
        roles: set[Role],
        actor: str,
        at: datetime,
    ) -> User:
        if not re.fullmatch(USERNAME_PATTERN, username):
            raise AccountChangeRefused(
                f"'{username}' is not a user name: 2-64 lower-case letters, digits or ._:@-"
            )
        if not roles:
            raise AccountChangeRefused(f"user '{username}' needs at least one role")
        return cls._create(
            UserRegistered,
            id=user_id(username),
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            roles=sorted(roles),
            actor=actor,
            timestamp=at,
        )

    def grant(self, roles: set[Role], actor: str, at: datetime) -> None:
        self._require_changed_by_someone_else(actor)
        new = roles - self.roles
        if not new:
            raise AccountChangeRefused(f"user '{self.username}' already has {_names(roles)}")
        self.trigger_event(RolesGranted, roles=sorted(new), actor=actor, timestamp=at)

    def revoke(self, roles: set[Role], actor: str, at: datetime) -> None:
        self._require_changed_by_someone_else(actor)
        held = roles & self.roles
        if not held:
            raise AccountChangeRefused(f"user '{self.username}' has none of {_names(roles)}")
        self.trigger_event(RolesRevoked, roles=sorted(held), actor=actor, timestamp=at)

    def disable(self, reason: str, actor: str, at: datetime) -> None:
        self._require_changed_by_someone_else(actor)
        if self.disabled:
            raise AccountChangeRefused(f"user '{self.username}' is already disabled")
        self.trigger_event(UserDisabled, reason=reason, actor=actor, timestamp=at)

    def enable(self, reason: str, actor: str, at: datetime) -> None:
        self._require_changed_by_someone_else(actor)
        if not self.disabled:
            raise AccountChangeRefused(f"user '{self.username}' is not disabled")
        self.trigger_event(UserEnabled, reason=reason, actor=actor, timestamp=at)

    def change_password(self, password_hash: str, actor: str, at: datetime) -> None:
        if self.disabled:
            raise AccountChangeRefused(f"user '{self.username}' is disabled")
        self.trigger_event(PasswordChanged, password_hash=password_hash, actor=actor, timestamp=at)

    def _require_changed_by_someone_else(self, actor: str) -> None:
        # Separation of duties: nobody grants themselves a role or re-enables their own account.
        if actor == self.username:
            raise AccountChangeRefused("users cannot change their own roles or account state")


def _names(roles: set[Role]) -> str:
    return ", ".join(sorted(roles))
