"""Every route x every role: who is let through (anything but 401/403) and who is refused.

The table below is the access policy in one place. `test_every_route_has_an_expectation`
enumerates the application's routes, so a new route fails until its row is written here.

Each request runs on a fresh store with the same cast: a case manager's own case and another
case manager's case, so "own caseload" is tested as a seat of its own. Requests carry valid
bodies, so the allowed ones really run; every patient record shown must be audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from domain.case import Goal, Intervention
from domain.users import Role
from tests.api_client import (
    INTAKE,
    PASSWORD,
    Api,
    Caller,
    assert_every_read_audited,
    bearer,
    open_api,
)

ANONYMOUS = "anonymous"
ADT_FEED = "adt_feed"
OWN_CASELOAD = "case_manager on own case"
OTHERS_CASELOAD = "case_manager on another's case"
SUPERVISOR = "supervisor"
COMPLIANCE = "compliance"
SECURITY_ADMIN = "security_admin"
SEATS = (ANONYMOUS, ADT_FEED, OWN_CASELOAD, OTHERS_CASELOAD, SUPERVISOR, COMPLIANCE,
         SECURITY_ADMIN)  # fmt: skip

EVERYONE = frozenset(SEATS)
SIGNED_IN = EVERYONE - {ANONYMOUS}
CASE_MANAGERS = frozenset({OWN_CASELOAD, OTHERS_CASELOAD})
INTAKE_STAFF = CASE_MANAGERS | {SUPERVISOR}
PATIENT_READERS = CASE_MANAGERS | {SUPERVISOR, COMPLIANCE}
CASE_READERS = frozenset({OWN_CASELOAD, SUPERVISOR, COMPLIANCE})
CASE_WORKERS = frozenset({OWN_CASELOAD})
USER_ADMINS = frozenset({SECURITY_ADMIN})
ALERT_WORKERS = CASE_MANAGERS | {SUPERVISOR}
COMPLIANCE_ONLY = frozenset({COMPLIANCE})

USERNAMES = {
    ADT_FEED: ("feed:adt-main", Role.ADT_FEED),
    OWN_CASELOAD: ("cm.own", Role.CASE_MANAGER),
    SUPERVISOR: ("sup.boss", Role.SUPERVISOR),
    COMPLIANCE: ("comp.audit", Role.COMPLIANCE),
    SECURITY_ADMIN: ("sec.admin", Role.SECURITY_ADMIN),
}


@dataclass(frozen=True)
class Expectation:
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    hl7: Path | None = None
    params: dict[str, str] | None = None


HL7_ADMISSION = Path(__file__).parents[1] / "fixtures" / "hl7" / "epic_a01_admit_inpatient.hl7"


CONTACT = {"mode": "phone", "outcome": "successful", "contacted": "client"}
MATRIX: dict[tuple[str, str], Expectation] = {
    ("GET", "/api/v1/openapi.json"): Expectation(EVERYONE),
    ("GET", "/api/v1/docs"): Expectation(EVERYONE),
    ("GET", "/api/v1/docs/oauth2-redirect"): Expectation(EVERYONE),
    ("GET", "/api/v1/health"): Expectation(EVERYONE),
    ("POST", "/api/v1/auth/token"): Expectation(
        EVERYONE, form={"username": "cm.own", "password": PASSWORD}
    ),
    ("POST", "/api/v1/auth/session"): Expectation(
        EVERYONE, {"username": "cm.own", "password": PASSWORD}
    ),
    ("DELETE", "/api/v1/auth/session"): Expectation(EVERYONE),
    ("GET", "/api/v1/auth/me"): Expectation(SIGNED_IN),
    ("POST", "/api/v1/auth/password"): Expectation(
        SIGNED_IN, {"current_password": PASSWORD, "new_password": "the next passphrase"}
    ),
    ("GET", "/api/v1/users"): Expectation(USER_ADMINS),
    ("POST", "/api/v1/users"): Expectation(
        USER_ADMINS, {"username": "cm.new", "password": PASSWORD, "roles": ["case_manager"]}
    ),
    ("GET", "/api/v1/users/{username}"): Expectation(USER_ADMINS),
    ("POST", "/api/v1/users/{username}/role-grants"): Expectation(
        USER_ADMINS, {"roles": ["supervisor"]}
    ),
    ("POST", "/api/v1/users/{username}/role-revocations"): Expectation(
        USER_ADMINS, {"roles": ["case_manager"]}
    ),
    ("POST", "/api/v1/users/{username}/disablement"): Expectation(USER_ADMINS, {"reason": "left"}),
    ("POST", "/api/v1/users/{username}/enablement"): Expectation(USER_ADMINS, {"reason": "back"}),
    ("POST", "/api/v1/patients"): Expectation(
        INTAKE_STAFF,
        {
            "identifiers": [{"value": "MRN-1", "assigning_authority": "GENHOSP"}],
            "family_name": "Okafor",
            "given_name": "Ada",
        },
    ),
    ("GET", "/api/v1/patients/{patient_id}"): Expectation(PATIENT_READERS),
    ("POST", "/api/v1/cases"): Expectation(INTAKE_STAFF, {"source": "referral", "reason": "r"}),
    ("GET", "/api/v1/cases/{case_id}"): Expectation(CASE_READERS),
    ("GET", "/api/v1/cases/{case_id}/history"): Expectation(CASE_READERS),
    ("POST", "/api/v1/cases/{case_id}/screening"): Expectation(
        CASE_WORKERS, {"result": "appropriate"}
    ),
    ("POST", "/api/v1/cases/{case_id}/consent"): Expectation(
        CASE_WORKERS, {"given_by": "client", "method": "written"}
    ),
    ("POST", "/api/v1/cases/{case_id}/consent-withdrawal"): Expectation(
        CASE_WORKERS, {"reason": "declined"}
    ),
    ("POST", "/api/v1/cases/{case_id}/assignment"): Expectation(
        frozenset({SUPERVISOR}), {"case_manager": "cm.own", "reason": "balance"}
    ),
    ("POST", "/api/v1/cases/{case_id}/assessments"): Expectation(
        CASE_WORKERS, {"needs": [], "preferred_language": "en", "interpreter_needed": False}
    ),
    ("POST", "/api/v1/cases/{case_id}/plan-revisions"): Expectation(
        CASE_WORKERS,
        {
            "goals": [
                {"goal_id": "g1", "description": "d", "measure": "m", "target_date": "2099-01-01"}
            ],
            "reason": "revised",
        },
    ),
    ("POST", "/api/v1/cases/{case_id}/referrals"): Expectation(
        CASE_WORKERS, {"referral_id": "r2", "service": "meals", "provider": "MOW"}
    ),
    ("POST", "/api/v1/cases/{case_id}/referral-answers"): Expectation(
        CASE_WORKERS, {"referral_id": "r1", "answer": "accept"}
    ),
    ("POST", "/api/v1/cases/{case_id}/contacts"): Expectation(CASE_WORKERS, CONTACT),
    ("POST", "/api/v1/cases/{case_id}/medication-reconciliations"): Expectation(
        CASE_WORKERS, {"discrepancies_found": 0}
    ),
    ("POST", "/api/v1/cases/{case_id}/follow-up-visits"): Expectation(
        CASE_WORKERS, {"mode": "video", "provider": "Dr. Lee"}
    ),
    ("POST", "/api/v1/cases/{case_id}/information-receipts"): Expectation(
        CASE_WORKERS, {"information": "discharge_information", "received_from": "GENHOSP"}
    ),
    ("POST", "/api/v1/cases/{case_id}/barriers"): Expectation(
        CASE_WORKERS, {"barrier_id": "b2", "description": "no phone"}
    ),
    ("POST", "/api/v1/cases/{case_id}/barrier-resolutions"): Expectation(
        CASE_WORKERS, {"barrier_id": "b1", "resolution": "ride booked"}
    ),
    ("POST", "/api/v1/cases/{case_id}/goal-evaluations"): Expectation(
        CASE_WORKERS, {"goal_id": "g1", "outcome": "met", "evidence": "no admission"}
    ),
    ("POST", "/api/v1/cases/{case_id}/closure"): Expectation(
        CASE_WORKERS, {"reason": "goals_met", "post_closure_direction": "call us"}
    ),
    ("POST", "/api/v1/cases/{case_id}/reopening"): Expectation(
        CASE_WORKERS, {"reason": "back again"}
    ),
    ("POST", "/api/v1/cases/{case_id}/break-glass"): Expectation(
        CASE_MANAGERS | {SUPERVISOR}, {"reason": "client in the ED, CM unreachable"}
    ),
    ("POST", "/api/v1/cases/{case_id}/part2-consent"): Expectation(
        CASE_WORKERS, {"given_by": "client", "method": "written"}
    ),
    ("POST", "/api/v1/cases/{case_id}/part2-consent-revocation"): Expectation(
        CASE_WORKERS, {"reason": "revoked"}
    ),
    ("POST", "/api/v1/adt"): Expectation(frozenset({ADT_FEED}), hl7=HL7_ADMISSION),
    ("GET", "/api/v1/worklist"): Expectation(ALERT_WORKERS),
    ("POST", "/api/v1/alerts/{alert_id}/acknowledgement"): Expectation(
        ALERT_WORKERS, {"note": "on it"}
    ),
    ("POST", "/api/v1/alerts/{alert_id}/snooze"): Expectation(
        ALERT_WORKERS, {"reason": "client at the clinic", "until": "2099-01-01T00:00:00Z"}
    ),
    ("GET", "/api/v1/patients/{patient_id}/timeline"): Expectation(PATIENT_READERS),
    ("GET", "/api/v1/patients/{patient_id}/flags"): Expectation(PATIENT_READERS),
    ("GET", "/api/v1/patients/{patient_id}/audit-trail"): Expectation(COMPLIANCE_ONLY),
    ("GET", "/api/v1/audit/verification"): Expectation(COMPLIANCE_ONLY),
    # Dashboard pages: a refusal is the sign-in page (anonymous) or a 403 page.
    ("GET", "/"): Expectation(SIGNED_IN),
    ("GET", "/login"): Expectation(EVERYONE),
    ("POST", "/login"): Expectation(EVERYONE, form={"username": "cm.own", "password": PASSWORD}),
    ("POST", "/logout"): Expectation(SIGNED_IN, form={}),
    ("GET", "/account"): Expectation(SIGNED_IN),
    ("GET", "/worklist"): Expectation(ALERT_WORKERS),
    ("GET", "/worklist/rows"): Expectation(ALERT_WORKERS),
    ("POST", "/alerts/{alert_id}/acknowledge"): Expectation(ALERT_WORKERS, form={"note": "on it"}),
    ("POST", "/alerts/{alert_id}/snooze"): Expectation(
        ALERT_WORKERS, form={"reason": "client at the clinic", "hours": "4"}
    ),
    ("GET", "/supervisor"): Expectation(frozenset({SUPERVISOR})),
    ("GET", "/cases/{case_id}"): Expectation(CASE_READERS),
    ("GET", "/cases/{case_id}/plan-diff"): Expectation(
        CASE_READERS, params={"from_version": "1", "to_version": "1"}
    ),
    ("POST", "/cases/{case_id}/contacts"): Expectation(
        CASE_WORKERS, form=CONTACT | {"version": "1"}
    ),
    ("GET", "/compliance"): Expectation(COMPLIANCE_ONLY),
    ("GET", "/compliance/verification"): Expectation(COMPLIANCE_ONLY),
    ("GET", "/compliance/patients/{patient_id}/audit"): Expectation(COMPLIANCE_ONLY),
    ("GET", "/compliance/patients/{patient_id}/audit.csv"): Expectation(COMPLIANCE_ONLY),
    ("GET", "/compliance/patients/{patient_id}/audit.json"): Expectation(COMPLIANCE_ONLY),
}


def app_routes(api: Api) -> set[tuple[str, str]]:
    """(method, path) of every route the application serves; HEAD only mirrors GET."""
    return {
        (method, str(route.path))
        for route in iter_route_contexts(api.app.routes)
        for method in (route.methods or set()) - {"HEAD"}
    }


def test_every_route_has_an_expectation() -> None:
    api = open_api("memory://")
    served = app_routes(api)
    api.close()

    missing = sorted(served - set(MATRIX))
    assert not missing, f"add these routes to MATRIX with the seats allowed: {missing}"
    assert not sorted(set(MATRIX) - served), "MATRIX names routes the app does not serve"


@dataclass
class Cast:
    api: Api
    patient_id: UUID
    own_case: UUID
    others_case: UUID


@pytest.fixture(scope="module")
def app() -> Iterator[FastAPI]:
    api = open_api("memory://")
    yield api.app
    api.close()


@pytest.fixture(scope="module")
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


@pytest.fixture
def cast(app: FastAPI) -> Iterator[Cast]:
    api = open_api("memory://", app=app)
    for username, role in USERNAMES.values():
        api.add_user(username, role)
    api.add_user("cm.other", Role.CASE_MANAGER)
    patient_id = api.patient()
    cast = Cast(api, patient_id, api.case_of("cm.own", patient_id), api.case_of("cm.other"))
    for case_id in (cast.own_case, cast.others_case):
        _set_up_services(api, case_id)
    yield cast
    api.close()


def _set_up_services(api: Api, case_id: UUID) -> None:
    app = api.services.caretrail
    due = api.clock.now.date() + timedelta(days=30)
    goal = Goal("g1", "stay home", "no admission", 1, due)
    app.revise_plan(case_id, [goal], [Intervention("i1", "g1", "call", "cm", due)], "", INTAKE)
    app.refer(case_id, "r1", "home health", "VNA", "after discharge", INTAKE)
    app.note_barrier(case_id, "b1", "no transport", INTAKE)


def request_for(cast: Cast, seat: str, method: str, path: str) -> tuple[str, dict[str, Any]]:
    expectation = MATRIX[(method, path)]
    case_id = cast.others_case if seat == OTHERS_CASELOAD else cast.own_case
    url = path.format(
        case_id=case_id, patient_id=cast.patient_id, username="cm.other", alert_id=uuid4()
    )
    options: dict[str, Any] = {"headers": {"If-Match": "*"}, "follow_redirects": False}
    if expectation.params is not None:
        options["params"] = expectation.params
    if expectation.hl7 is not None:
        options["content"] = expectation.hl7.read_bytes()
        options["headers"]["Content-Type"] = "application/hl7-v2"
    elif expectation.form is not None:
        options["data"] = expectation.form
    elif expectation.body is not None:
        body = expectation.body
        options["json"] = (
            body | {"patient_id": str(cast.patient_id)} if path == "/api/v1/cases" else body
        )
    return url, options


@pytest.mark.parametrize("seat", SEATS)
@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=lambda v: str(v))
def test_route_admits_exactly_the_seats_its_row_names(
    cast: Cast, http: TestClient, method: str, path: str, seat: str
) -> None:
    url, options = request_for(cast, seat, method, path)
    if seat == ANONYMOUS:
        caller = Caller(http, ANONYMOUS, {})
    else:
        username = "cm.own" if seat in CASE_MANAGERS else USERNAMES[seat][0]
        caller = bearer(http, cast.api, username)

    response = caller.request(method, url, **options)

    assert response.status_code < 500, response.text
    page = not path.startswith("/api/")
    if seat in MATRIX[(method, path)].allowed:
        assert response.status_code not in (401, 403), response.text
        assert not (page and response.headers.get("location", "").startswith("/login?"))
    elif page and seat == ANONYMOUS:
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login?next=")
    else:
        assert response.status_code == (401 if seat == ANONYMOUS else 403), response.text
        assert response.headers["content-type"] == (
            "text/html; charset=utf-8" if page else "application/problem+json"
        )
    assert_every_read_audited(cast.api, caller)
