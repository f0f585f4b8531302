"""`caretrail users ...` and the demo users, run in-process as `main` runs them, on a SQLite file.

Passwords are hashed at argon2's real cost here (about 0.4 s each), so the steps are few.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from caretrail.user_commands import create_demo_users
from domain.users import Role
from services.settings import Settings
from services.users import (
    DEMO_USERS,
    AuthenticationFailed,
    UserAccounts,
    open_user_accounts,
    users_database_url,
)
from tests.terminal import Terminal


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/caretrail.db"


@pytest.fixture
def terminal(
    store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Terminal:
    monkeypatch.setenv("CARETRAIL_USER", "sec.admin")
    return Terminal(store, capsys)


@pytest.fixture
def accounts(store: str) -> Iterator[UserAccounts]:
    accounts = open_user_accounts(Settings(database_url=store))
    yield accounts
    accounts.close()


def add(terminal: Terminal, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setattr("sys.stdin", _Stdin("a long enough password\n"))
    return terminal.ok("users", "add", *args, "--password-stdin")


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text


def test_a_security_admin_manages_accounts_from_the_terminal(
    terminal: Terminal, accounts: UserAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = add(terminal, monkeypatch, "cm.rivera", "--role", "case_manager", "--name", "Rivera")

    assert added.strip() == "added cm.rivera with roles case_manager"
    granted = terminal.ok("users", "roles", "cm.rivera", "--grant", "supervisor")
    assert granted.strip() == "cm.rivera: case_manager, supervisor"
    revoked = terminal.ok("users", "roles", "cm.rivera", "--revoke", "case_manager")
    assert revoked.strip() == "cm.rivera: supervisor"
    assert terminal.ok("users", "disable", "cm.rivera", "--reason", "left").strip() == (
        "disabled cm.rivera"
    )
    assert "cm.rivera" in terminal.ok("users", "list")
    assert "disabled" in terminal.ok("users", "list")
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate("cm.rivera", "a long enough password")
    user = accounts.user("cm.rivera")
    assert (user.display_name, user.roles, user.disabled) == ("Rivera", {Role.SUPERVISOR}, True)
    assert {event.actor for event in accounts.events.get(user.id)} == {"sec.admin"}


def test_account_rules_refuse_with_one_line(
    terminal: Terminal, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(terminal, monkeypatch, "sec.admin", "--role", "security_admin")

    assert "already exists" in terminal.refused(
        "users", "add", "sec.admin", "--role", "compliance", "--password-stdin"
    )
    assert "their own roles" in terminal.refused(
        "users", "roles", "sec.admin", "--grant", "compliance"
    )
    assert "no user 'nobody'" in terminal.refused("users", "disable", "nobody", "--reason", "x")
    monkeypatch.setattr("sys.stdin", _Stdin("short\n"))
    assert "password has 12 to" in terminal.refused(
        "users", "add", "cm.chen", "--role", "case_manager", "--password-stdin"
    )


def test_demo_users_cover_every_role_and_are_added_once(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=store)

    create_demo_users(settings)
    create_demo_users(settings)

    printed = capsys.readouterr().out
    for demo in DEMO_USERS:
        assert f"password: {demo.password}" in printed
    assert {demo.role for demo in DEMO_USERS} == set(Role)
    accounts = open_user_accounts(settings)
    assert [user.username for user in accounts.users()] == [d.username for d in DEMO_USERS]
    demo = DEMO_USERS[0]
    assert accounts.authenticate(demo.username, demo.password).roles == {demo.role}
    accounts.close()


def test_accounts_live_beside_the_clinical_store_not_in_it() -> None:
    assert (
        users_database_url("sqlite:///.caretrail/demo.db") == "sqlite:///.caretrail/demo.users.db"
    )
    assert users_database_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.users.db"
    assert users_database_url("memory://") == "memory://"
    postgres = "postgresql://caretrail@db:5432/caretrail"
    assert users_database_url(postgres) == postgres  # its own tables: caretrail_users_events
