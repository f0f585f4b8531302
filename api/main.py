"""The caretrail web application: the REST API under /api/v1, with its OpenAPI document.

The dashboard's pages (api/dashboard, Jinja2 templates in api/templates) are included beside the
API; they share its services and sign-in (the session cookie).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema

from api.dashboard import dashboard_router
from api.dashboard.errors import add_page_error_pages
from api.deps import API_PREFIX, ApiServices
from api.problems import Problem, add_problem_handlers
from api.routers import api_router
from api.settings import ApiSettings
from consumers.pipeline import EmbeddedPipeline
from projections.store import ProjectionStore, event_store_engine
from services.alerting import SUPERVISOR
from services.application import Clock, utc_now
from services.audit_chain import AuditChain
from services.bootstrap import bootstrap
from services.settings import Settings
from services.users import open_user_accounts

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """\
Care transitions and case management: every change is an immutable event naming who made it,
and every read of patient data is recorded the same way.

Sign in with a bearer token (`POST /api/v1/auth/token`, or a token of the site's identity
provider) or, from the dashboard, a session cookie. Changes to a case need `If-Match` with the
case's `ETag` (its version): a stale one answers 409 with the current version, none answers 428.
Errors are `application/problem+json` (RFC 9457); `type` names the specific rule that refused.
"""


def create_app(services: ApiServices, pipeline: EmbeddedPipeline | None = None) -> FastAPI:
    """The web application; given `pipeline`, it turns while the application serves."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop: Callable[[], None] | None = None if pipeline is None else pipeline.start()
        try:
            yield
        finally:
            if stop is not None:
                stop()

    app = FastAPI(
        lifespan=lifespan,
        title="caretrail",
        version="1",
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
    )
    app.state.services = services
    add_problem_handlers(app)
    add_page_error_pages(app)
    app.include_router(api_router(), prefix=API_PREFIX)
    app.include_router(dashboard_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problem_schema(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_settings(
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The application on the configured stores (what `caretrail serve` runs). With no broker it
    also keeps the read models current and runs the scheduler; with one, the relay, consumers
    and scheduler are processes of their own."""
    settings = settings or Settings()
    caretrail = bootstrap(settings, clock)
    read_models = ProjectionStore.open(settings.database_url)
    read_models.create_tables()
    chain = AuditChain.opened(caretrail, event_store_engine(settings.database_url))
    services = ApiServices.wire(
        caretrail,
        open_user_accounts(settings, clock),
        api_settings or ApiSettings(),
        read_models,
        chain,
        ZoneInfo(settings.timezone),
    )
    pipeline = None
    if settings.kafka_bootstrap is None:
        pipeline = EmbeddedPipeline(
            caretrail, read_models, chain, settings.scheduler_interval_seconds, SUPERVISOR
        )
    return create_app(services, pipeline)


def _with_problem_schema(document: dict[str, Any]) -> dict[str, Any]:
    # Problem responses are declared by reference (as application/problem+json, not FastAPI's
    # application/json), so their schema is added to the components here.
    _, definitions = models_json_schema(
        [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
    return document
