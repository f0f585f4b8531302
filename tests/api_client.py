"""What the API tests share: an API on a store with a manual clock, users of every role, callers
that remember every patient-data read they were shown, and the check that each read was audited.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal
from uuid import UUID

import httpx
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from api.deps import ApiServices
from api.main import create_app
from api.settings import ApiSettings
from domain.access import PatientRecordRead
from domain.case import CaseSource
from domain.patient import Demographics, Identifier
from domain.users import Role
from projections.store import ProjectionStore, event_store_engine
from services.application import Provenance
from services.audit_chain import AuditChain
from services.bootstrap import bootstrap
from services.settings import Settings
from services.users import open_user_accounts
from tests.clock import ManualClock

# Argon2 at the library's defaults costs ~0.4 s a hash on these machines; the tests need its
# behaviour, not its cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery staple"
JWT_SECRET = "test-secret-for-hs256-tokens-only-0123456789"
# The reads of one record: API reads, the case page (and its plan diff), compliance's audit trail.
PATIENT_DATA_READ = re.compile(
    r"^/(?:api/v1/|compliance/)?(patients|cases)/([0-9a-f-]{36})"
    r"(/history|/timeline|/flags|/audit-trail|/plan-diff|/audit|/audit\.csv|/audit\.json)?$"
)
INTAKE = Provenance("intake.clerk", source="test")


@dataclass
class Api:
    app: FastAPI
    services: ApiServices
    clock: ManualClock

    def add_user(self, username: str, *roles: Role) -> str:
        self.services.users.register(username, PASSWORD, set(roles), "test.admin")
        return username

    def token(self, username: str) -> str:
        return self.services.tokens.issue(self.services.users.user(username)).token

    def close(self) -> None:
        self.services.close()

    def read_audit(self) -> list[PatientRecordRead]:
        return [
            logged.event
            for logged in self.services.caretrail.event_log()
            if isinstance(logged.event, PatientRecordRead)
        ]

    def patient(self) -> UUID:
        return self.services.caretrail.register_patient(
            [Identifier(f"MRN{time.monotonic_ns()}", "GENHOSP")],
            Demographics("Garcia", "Maria", date(1950, 5, 17), "F"),
            INTAKE,
        )

    def case_of(self, case_manager: str | None, patient_id: UUID | None = None) -> UUID:
        """An open case with consent, assigned to `case_manager` (None: still unassigned)."""
        app = self.services.caretrail
        case_id = app.open_case(
            patient_id or self.patient(), CaseSource.REFERRAL, "readmitted twice", INTAKE
        )
        app.give_consent(case_id, "client", "written", INTAKE)
        if case_manager is not None:
            app.assign_case_manager(case_id, case_manager, "caseload", INTAKE)
        return case_id


def open_api(
    store_url: str,
    clock: ManualClock | None = None,
    app: FastAPI | None = None,
    **api_settings: Any,
) -> Api:
    """The API on a store; given `app`, the same routes rewired to the new store (a FastAPI app
    prepares its routes on first use, which costs more than the request)."""
    clock = clock or ManualClock()
    settings = Settings(database_url=store_url)
    read_models = ProjectionStore.open(store_url)
    read_models.create_tables()
    caretrail = bootstrap(settings, clock)
    services = ApiServices.wire(
        caretrail,
        open_user_accounts(settings, clock, CHEAP_HASHER),
        ApiSettings(jwt_secret=JWT_SECRET, **api_settings),
        read_models,
        AuditChain.opened(caretrail, event_store_engine(store_url)),
    )
    if app is None:
        return Api(create_app(services), services, clock)
    app.state.services = services
    return Api(app, services, clock)


@dataclass
class Caller:
    """One user's HTTP client; remembers the patient records it was shown (200 answers)."""

    http: httpx.Client
    username: str
    headers: dict[str, str]
    shown: list[str] = field(default_factory=list)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        headers = self.headers | options.pop("headers", {})
        response = self.http.request(method, path, headers=headers, **options)
        read = PATIENT_DATA_READ.match(path)
        if method == "GET" and read and response.status_code == 200:
            self.shown.append(read.group(2))
        return response


def bearer(http: httpx.Client, api: Api, username: str) -> Caller:
    return Caller(http, username, {"Authorization": f"Bearer {api.token(username)}"})


def assert_every_read_audited(api: Api, *callers: Caller) -> None:
    """Each record shown to a user is one read-audit event naming that user, and nothing else."""
    shown = Counter((caller.username, record) for caller in callers for record in caller.shown)
    audited = Counter((read.actor, str(read.record_id)) for read in api.read_audit())
    assert audited == shown


def changed(response: httpx.Response, status: int = 200) -> str:
    """The ETag of a successful change, to send as the next If-Match."""
    assert response.status_code == status, response.text
    return response.headers["ETag"]


@contextmanager
def live_server(app: FastAPI, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a background thread; with
    `lifespan="on"` its background work (the embedded pipeline) runs too."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def days_from(clock: ManualClock, days: int) -> str:
    return (clock.now + timedelta(days=days)).date().isoformat()
