"""User accounts: registration, roles, sign-in against argon2 password hashes.

Users are security data, not clinical data, so they live in an event store of their own (a
sibling SQLite file, or `caretrail_users_*` tables in PostgreSQL): no patient id, never on the
patient-keyed clinical log or its Kafka topic, and a security admin manages them without any
access to clinical data. Event sourcing keeps who granted which role, and when, for as long as the
account exists. The price: superseded argon2 hashes stay in that history; they are as costly to
attack as the current one, and the store can be encrypted at rest (eventsourcing's CIPHER_TOPIC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.utils import get_topic

from domain.users import AccountChangeRefused, Role, User, UserRegistered, user_id
from services.application import Clock, utc_now
from services.errors import NotFound, VersionConflict
from services.persistence import persistence_env
from services.settings import Settings

MIN_PASSWORD_LENGTH = 12
# Bounds the hashing work one anonymous sign-in attempt can ask for.
MAX_PASSWORD_LENGTH = 256


class AuthenticationFailed(Exception):
    """One answer for an unknown user, a wrong password and a disabled account, so sign-in never
    tells a caller which accounts exist."""

    def __init__(self) -> None:
        super().__init__("unknown user name or wrong password, or the account is disabled")


class PasswordRefused(ValueError):
    """A new password that breaks the password policy."""


class UserAccounts(Application[UUID]):
    name = "caretrail_users"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Clock = utc_now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        super().__init__(env)
        self.clock = clock
        # argon2-cffi's defaults follow RFC 9106's low-memory profile (argon2id, 64 MiB).
        self.hasher = hasher or PasswordHasher()

    def register(
        self, username: str, password: str, roles: set[Role], by: str, display_name: str = ""
    ) -> User:
        user = User.register(username, display_name, self._hash(password), roles, by, self.clock())
        try:
            self.save(user)
        except IntegrityError:
            raise AccountChangeRefused(f"user '{username}' already exists") from None
        return user

    def user(self, username: str) -> User:
        try:
            user: User = self.repository.get(user_id(username))
        except AggregateNotFoundError:
            raise NotFound(f"no user '{username}'") from None
        return user

    def users(self) -> list[User]:
        """Every account, in the order they were registered."""
        registered = get_topic(UserRegistered)
        return [
            self.repository.get(UUID(str(notification.originator_id)))
            for notification in self._notifications()
            if notification.topic == registered
        ]

    def grant_roles(self, username: str, roles: set[Role], by: str) -> User:
        return self._change(username, lambda user: user.grant(roles, by, self.clock()))

    def revoke_roles(self, username: str, roles: set[Role], by: str) -> User:
        return self._change(username, lambda user: user.revoke(roles, by, self.clock()))

    def disable(self, username: str, reason: str, by: str) -> User:
        return self._change(username, lambda user: user.disable(reason, by, self.clock()))

    def enable(self, username: str, reason: str, by: str) -> User:
        return self._change(username, lambda user: user.enable(reason, by, self.clock()))

    def change_password(self, username: str, current: str, new: str) -> User:
        """The user changes their own password, proving they know the current one."""
        self.authenticate(username, current)
        new_hash = self._hash(new)
        return self._change(
            username, lambda user: user.change_password(new_hash, username, self.clock())
        )

    def authenticate(self, username: str, password: str) -> User:
        try:
            user = self.user(username)
        except NotFound:
            self._matches(self._decoy_hash, password)
            raise AuthenticationFailed from None
        if not self._matches(user.password_hash, password) or user.disabled:
            raise AuthenticationFailed
        return user

    @cached_property
    def _decoy_hash(self) -> str:
        # Verified against when the user is unknown, so that answer takes as long as a wrong
        # password does.
        return self.hasher.hash("decoy password never given to anyone")

    def _hash(self, password: str) -> str:
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise PasswordRefused(
                f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
            )
        return self.hasher.hash(password)

    def _matches(self, password_hash: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _notifications(self, section_size: int = 1000) -> Iterator[Notification]:
        start = 1
        while True:
            section = self.recorder.select_notifications(start=start, limit=section_size)
            yield from section
            if len(section) < section_size:
                return
            start = section[-1].id + 1

    def _change(self, username: str, command: Callable[[User], None]) -> User:
        user = self.user(username)
        command(user)
        try:
            self.save(user)
        except IntegrityError as conflict:
            current = self.user(username).version
            raise VersionConflict("user", username, user.version, current) from conflict
        return user


def open_user_accounts(
    settings: Settings, clock: Clock = utc_now, hasher: PasswordHasher | None = None
) -> UserAccounts:
    env = persistence_env(users_database_url(settings.database_url)) | {"CREATE_TABLE": "y"}
    return UserAccounts(env=env, clock=clock, hasher=hasher)


def users_database_url(database_url: str) -> str:
    """Where accounts live beside a clinical event store: SQLite in a sibling file (eventsourcing
    names its SQLite table the same for every application), PostgreSQL in the same database
    under tables named for this application."""
    if database_url.startswith("sqlite:///") and not database_url.endswith(":memory:"):
        stem = database_url.removeprefix("sqlite:///").removesuffix(".db")
        return f"sqlite:///{stem}.users.db"
    return database_url


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    password: str


# Published in the README and printed by `caretrail demo`: synthetic data only, never real use.
DEMO_USERS = (
    DemoUser("cm.rivera", Role.CASE_MANAGER, "rivera-demo-password"),
    DemoUser("sup.morgan", Role.SUPERVISOR, "morgan-demo-password"),
    DemoUser("comp.patel", Role.COMPLIANCE, "patel-demo-password"),
    DemoUser("sec.admin", Role.SECURITY_ADMIN, "secadmin-demo-password"),
    DemoUser("feed:demo-adt", Role.ADT_FEED, "adtfeed-demo-password"),
)
DEMO_REGISTRAR = "caretrail-demo"


def add_demo_users(accounts: UserAccounts) -> tuple[DemoUser, ...]:
    """Registers the demo users not registered yet; returns all of them with their passwords."""
    for demo in DEMO_USERS:
        try:
            accounts.user(demo.username)
        except NotFound:
            accounts.register(demo.username, demo.password, {demo.role}, DEMO_REGISTRAR)
    return DEMO_USERS
