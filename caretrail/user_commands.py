"""`caretrail users ...`: user accounts and roles, as a security admin manages them.

Accounts live in their own store beside the clinical one (see services/users.py); each change
is recorded with the terminal user (CARETRAIL_USER, or the login name) as the one who made it.
"""

from __future__ import annotations

import sys

import click

from caretrail.context import CliContext
from domain.users import Role
from services.settings import Settings
from services.users import DemoUser, UserAccounts, add_demo_users, open_user_accounts

ROLE_CHOICE = click.Choice([str(role) for role in Role])


@click.group()
def users() -> None:
    """Add and disable user accounts, grant and revoke their roles."""


@users.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=ROLE_CHOICE, help="Repeatable.")
@click.option("--name", "display_name", default="", help="The person's or system's name.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@click.pass_obj
def add_user(
    context: CliContext,
    username: str,
    roles: tuple[str, ...],
    display_name: str,
    password_stdin: bool,
) -> None:
    """Add a user account with its roles; asks for the password unless --password-stdin."""
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if password_stdin
        else click.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    user = _accounts(context).register(
        username, password, {Role(role) for role in roles}, context.actor, display_name
    )
    click.echo(f"added {user.username} with roles {', '.join(sorted(user.roles))}")


@users.command("disable")
@click.argument("username")
@click.option("--reason", required=True, help="Why, for the account's history.")
@click.pass_obj
def disable_user(context: CliContext, username: str, reason: str) -> None:
    """Disable an account: its sessions and tokens stop working at once."""
    _accounts(context).disable(username, reason, context.actor)
    click.echo(f"disabled {username}")


@users.command("enable")
@click.argument("username")
@click.option("--reason", required=True, help="Why, for the account's history.")
@click.pass_obj
def enable_user(context: CliContext, username: str, reason: str) -> None:
    """Enable a disabled account."""
    _accounts(context).enable(username, reason, context.actor)
    click.echo(f"enabled {username}")


@users.command("roles")
@click.argument("username")
@click.option("--grant", multiple=True, type=ROLE_CHOICE, help="Role to grant; repeatable.")
@click.option("--revoke", multiple=True, type=ROLE_CHOICE, help="Role to revoke; repeatable.")
@click.pass_obj
def change_roles(
    context: CliContext, username: str, grant: tuple[str, ...], revoke: tuple[str, ...]
) -> None:
    """Show a user's roles, after granting and revoking any given."""
    accounts = _accounts(context)
    if grant:
        accounts.grant_roles(username, {Role(role) for role in grant}, context.actor)
    if revoke:
        accounts.revoke_roles(username, {Role(role) for role in revoke}, context.actor)
    user = accounts.user(username)
    state = " (disabled)" if user.disabled else ""
    click.echo(f"{user.username}{state}: {', '.join(sorted(user.roles)) or 'no roles'}")


@users.command("list")
@click.pass_obj
def list_users(context: CliContext) -> None:
    """List every account with its roles."""
    for user in _accounts(context).users():
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.username:<24} {state:<9} {', '.join(sorted(user.roles))}")


def create_demo_users(settings: Settings) -> tuple[DemoUser, ...]:
    """Adds the documented demo users (one per role) and prints how to sign in as each."""
    accounts = open_user_accounts(settings)
    try:
        demo_users = add_demo_users(accounts)
    finally:
        accounts.close()
    click.echo("Demo users (synthetic data only; sign in at /api/v1/auth/session or /auth/token):")
    for demo in demo_users:
        click.echo(f"  {demo.username:<16} {demo.role:<16} password: {demo.password}")
    return demo_users


def _accounts(context: CliContext) -> UserAccounts:
    return open_user_accounts(context.settings)
