"""User accounts, for security admins only: no route here shows or needs clinical data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.auth.principal import Principal
from api.authorization import USER_ADMINS
from api.deps import API_PREFIX, Services, require_roles
from api.models.common import Page, PageLimit, PageOffset, paginate
from api.models.users import AccountStateChange, RegisterUser, RoleChange, UserView
from api.problems import problem_responses
from domain.users import USERNAME_PATTERN

security_admin = require_roles(*USER_ADMINS)
router = APIRouter(prefix="/users", tags=["users"], dependencies=[Depends(security_admin)])

SecurityAdmin = Annotated[Principal, Depends(security_admin)]
AccountName = Annotated[str, Path(pattern=USERNAME_PATTERN)]
ACCOUNT_PROBLEMS = problem_responses(401, 403, 404, 422)
ACCOUNT_CHANGE_PROBLEMS = problem_responses(400, 401, 403, 404, 409, 422)


@router.get("", summary="List user accounts", responses=problem_responses(401, 403, 422))
def list_users(services: Services, limit: PageLimit = 50, offset: PageOffset = 0) -> Page[UserView]:
    return paginate([UserView.of(user) for user in services.users.users()], limit, offset)


@router.post(
    "",
    status_code=201,
    summary="Register a user account",
    responses=problem_responses(400, 401, 403, 409, 422),
)
def register_user(
    account: RegisterUser, admin: SecurityAdmin, response: Response, services: Services
) -> UserView:
    user = services.users.register(
        account.username, account.password, set(account.roles), admin.username,
        account.display_name or "",
    )  # fmt: skip
    response.headers["Location"] = f"{API_PREFIX}/users/{user.username}"
    return UserView.of(user)


@router.get("/{username}", summary="Show a user account", responses=ACCOUNT_PROBLEMS)
def show_user(username: AccountName, services: Services) -> UserView:
    return UserView.of(services.users.user(username))


@router.post("/{username}/role-grants", summary="Grant roles", responses=ACCOUNT_CHANGE_PROBLEMS)
def grant_roles(
    username: AccountName, change: RoleChange, admin: SecurityAdmin, services: Services
) -> UserView:
    return UserView.of(services.users.grant_roles(username, set(change.roles), admin.username))


@router.post(
    "/{username}/role-revocations", summary="Revoke roles", responses=ACCOUNT_CHANGE_PROBLEMS
)
def revoke_roles(
    username: AccountName, change: RoleChange, admin: SecurityAdmin, services: Services
) -> UserView:
    return UserView.of(services.users.revoke_roles(username, set(change.roles), admin.username))


@router.post(
    "/{username}/disablement",
    summary="Disable an account: ends its sessions and tokens at once",
    responses=ACCOUNT_CHANGE_PROBLEMS,
)
def disable_user(
    username: AccountName, change: AccountStateChange, admin: SecurityAdmin, services: Services
) -> UserView:
    return UserView.of(services.users.disable(username, change.reason, admin.username))


@router.post(
    "/{username}/enablement", summary="Enable a disabled account", responses=ACCOUNT_CHANGE_PROBLEMS
)
def enable_user(
    username: AccountName, change: AccountStateChange, admin: SecurityAdmin, services: Services
) -> UserView:
    return UserView.of(services.users.enable(username, change.reason, admin.username))
