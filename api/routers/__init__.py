"""The API's routes, one router per resource, mounted under /api/v1 by api.main.

The HL7 ADT endpoint (`POST /adt`) belongs in `api/routers/adt.py`, added to ROUTERS below like
the others; its route takes `AdtFeed` from api.deps so that only the adt_feed role reaches it.
The authorization matrix test then needs its row (tests/integration/test_authorization_matrix.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routers import (
    adt,
    alerts,
    audit,
    auth,
    case_steps,
    cases,
    health,
    patients,
    privacy,
    users,
)

ROUTERS = (health, auth, users, patients, cases, case_steps, privacy, alerts, audit, adt)


def api_router() -> APIRouter:
    router = APIRouter()
    for module in ROUTERS:
        router.include_router(module.router)
    return router
