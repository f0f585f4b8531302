"""The dashboard: server-rendered pages (Jinja2 templates in api/templates, htmx for the parts
that update in place) for case managers, supervisors and compliance staff. Same services,
sign-in (the session cookie), rules and read audit as the API; not part of the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.dashboard import cases, compliance, session, supervisor, worklist


def dashboard_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for pages in (session, worklist, supervisor, cases, compliance):
        router.include_router(pages.router)
    return router
