"""The case API as a case management team uses it: every step, optimistic concurrency through
ETag / If-Match, problem details on every refusal, replay, caseload rules, break-glass, Part 2.

Every patient record shown to anyone in these tests must come back as exactly one read-audit
event naming them; the `team` fixture checks that after each test.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import domain
from api.problems import DOMAIN_REFUSALS
from consumers.embedded import EventStoreFeed
from domain.access import BreakGlassUsed, PurposeOfUse, ReadInteraction, RecordType
from domain.errors import DomainRuleViolation
from domain.users import Role
from projections.audit_trail import AuditTrail, audit_events
from projections.store import ProjectionStore
from tests.api_client import (
    Api,
    Caller,
    assert_every_read_audited,
    bearer,
    changed,
    days_from,
    open_api,
)

PROBLEM_JSON = "application/problem+json"


@dataclass
class Team:
    rivera: Caller  # case manager
    okafor: Caller  # another case manager
    morgan: Caller  # supervisor
    patel: Caller  # compliance
    admin: Caller  # security admin

    @property
    def callers(self) -> tuple[Caller, ...]:
        return (self.rivera, self.okafor, self.morgan, self.patel, self.admin)


@pytest.fixture
def api() -> Iterator[Api]:
    # Tokens outlive the clock moves of these tests; expiry is tested in test_auth.py.
    api = open_api("memory://", access_token_minutes=24 * 60)
    yield api
    api.close()


@pytest.fixture
def team(api: Api) -> Iterator[Team]:
    roles = {
        "cm.rivera": Role.CASE_MANAGER,
        "cm.okafor": Role.CASE_MANAGER,
        "sup.morgan": Role.SUPERVISOR,
        "comp.patel": Role.COMPLIANCE,
        "sec.admin": Role.SECURITY_ADMIN,
    }
    for username, role in roles.items():
        api.add_user(username, role)
    with TestClient(api.app, headers={"User-Agent": "caretrail-tests/1"}) as http:
        team = Team(*(bearer(http, api, username) for username in roles))
        yield team
    assert_every_read_audited(api, *team.callers)


def case_path(case_id: UUID, step: str = "") -> str:
    return f"/api/v1/cases/{case_id}{step}"


def step(caller: Caller, case_id: UUID, name: str, body: dict[str, Any], etag: str) -> str:
    """Posts one case step against version `etag`; returns the new ETag."""
    return changed(caller.post(case_path(case_id, name), json=body, headers={"If-Match": etag}))


def assert_problem(response: Any, status: int, name: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:caretrail:problem:{name}"
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    return problem


def plan(api: Api, goal_id: str = "g1", days: int = 30) -> dict[str, Any]:
    return {
        "goals": [
            {
                "goal_id": goal_id,
                "description": "no readmission within 30 days",
                "measure": "no inpatient admission",
                "priority": 1,
                "target_date": days_from(api.clock, days),
            }
        ],
        "interventions": [
            {
                "intervention_id": "i1",
                "goal_id": goal_id,
                "description": "weekly phone check-in",
                "owner": "cm.rivera",
                "due_date": days_from(api.clock, 7),
            }
        ],
    }


# --- the whole process --------------------------------------------------------------------------


def test_a_case_goes_through_every_step_of_the_process(api: Api, team: Team) -> None:
    rivera = team.rivera
    registered = rivera.post(
        "/api/v1/patients",
        json={
            "identifiers": [{"value": "MRN-77", "assigning_authority": "GENHOSP"}],
            "family_name": "Nguyen",
            "given_name": "Linh",
            "birth_date": "1948-02-29",
        },
    )
    assert registered.status_code == 201, registered.text
    patient_id = registered.json()["patient_id"]
    assert registered.headers["Location"] == f"/api/v1/patients/{patient_id}"

    opened = rivera.post(
        "/api/v1/cases",
        json={"patient_id": patient_id, "source": "referral", "reason": "two admissions in May"},
    )
    etag = changed(opened, 201)
    case_id = UUID(opened.json()["case_id"])
    assert etag == '"1"'

    steps: list[tuple[str, dict[str, Any]]] = [
        ("/assignment", {"case_manager": "cm.rivera", "reason": "claimed from intake"}),
        ("/screening", {"result": "appropriate", "notes": "high utilizer"}),
        ("/consent", {"given_by": "client", "method": "written"}),
        ("/assessments", {
            "needs": [{"domain": "housing", "description": "unstable housing", "priority": 1}],
            "preferred_language": "vi", "interpreter_needed": True, "summary": "lives alone",
        }),
        ("/plan-revisions", plan(api)),
        ("/referrals", {"referral_id": "r1", "service": "meals", "provider": "Meals on Wheels"}),
        ("/referral-answers", {"referral_id": "r1", "answer": "accept", "note": "starts Monday"}),
        ("/contacts", {"mode": "phone", "outcome": "successful", "contacted": "client"}),
        ("/medication-reconciliations", {"discrepancies_found": 1, "notes": "duplicate statin"}),
        ("/follow-up-visits", {"mode": "face_to_face", "provider": "Dr. Lee"}),
        ("/follow-up-visits", {"mode": "video", "provider": "Dr. Amari", "focus": "mental_health"}),
        ("/information-receipts", {
            "information": "discharge_information", "received_from": "GENHOSP 4 West",
        }),
        ("/barriers", {"barrier_id": "b1", "description": "no transport to clinic"}),
        ("/barrier-resolutions", {"barrier_id": "b1", "resolution": "ride service booked"}),
        ("/goal-evaluations", {"goal_id": "g1", "outcome": "met", "evidence": "no admission"}),
        ("/consent-withdrawal", {"reason": "client moving away"}),
        ("/closure", {"reason": "moved", "post_closure_direction": "call 211 if needed"}),
        ("/reopening", {"reason": "client came back"}),
    ]  # fmt: skip
    for name, body in steps:
        etag = step(rivera, case_id, name, body, etag)

    shown = rivera.get(case_path(case_id))
    assert shown.status_code == 200
    assert shown.headers["ETag"] == etag == f'"{len(steps) + 1}"'
    case = shown.json()
    assert (case["status"], case["case_manager"]) == ("open", "cm.rivera")
    assert case["plan_of_care"]["goals"][0]["outcome"] == "met"
    assert case["referrals"][0]["status"] == "accepted"
    assert case["barriers"][0]["resolution"] == "ride service booked"
    history = rivera.get(case_path(case_id, "/history"), params={"limit": 200}).json()
    assert history["total"] == len(steps) + 1
    assert {(event["actor"], event["source"]) for event in history["items"]} == {
        ("cm.rivera", "api")
    }


# --- optimistic concurrency ---------------------------------------------------------------------


def test_a_stale_if_match_gets_409_with_the_current_version(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")
    etag = team.rivera.get(case_path(case_id)).headers["ETag"]
    contact = {"mode": "phone", "outcome": "unsuccessful", "contacted": "client"}

    step(team.rivera, case_id, "/contacts", contact, etag)
    stale = team.rivera.post(
        case_path(case_id, "/contacts"), json=contact, headers={"If-Match": etag}
    )

    problem = assert_problem(stale, 409, "version-conflict")
    current = int(etag.strip('"')) + 1
    assert problem["current_version"] == current
    assert stale.headers["ETag"] == f'"{current}"'
    assert api.services.caretrail.case(case_id).contacts == 1


def test_a_change_needs_if_match_and_star_means_whatever_is_current(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")
    contact = {"mode": "phone", "outcome": "successful", "contacted": "client"}
    path = case_path(case_id, "/contacts")

    assert_problem(team.rivera.post(path, json=contact), 428, "if-match-required")
    assert_problem(
        team.rivera.post(path, json=contact, headers={"If-Match": 'W/"3"'}), 422, "invalid-request"
    )
    assert changed(team.rivera.post(path, json=contact, headers={"If-Match": "*"})) == '"4"'
    assert changed(team.rivera.post(path, json=contact, headers={"If-Match": "4"})) == '"5"'


# --- problem details ----------------------------------------------------------------------------


@dataclass
class Scene:
    api: Api
    team: Team
    case_id: UUID

    def post(self, name: str, body: dict[str, Any], caller: Caller | None = None) -> Any:
        caller = caller or self.team.rivera
        return caller.post(case_path(self.case_id, name), json=body, headers={"If-Match": "*"})


REFUSALS: dict[str, tuple[int, Callable[[Scene], Any]]] = {
    "consent-required": (409, lambda s: (
        s.post("/consent-withdrawal", {"reason": "changed her mind"}),
        s.post("/plan-revisions", plan(s.api)),
    )[-1]),
    "case-closed": (409, lambda s: (
        s.post("/closure", {"reason": "goals_met", "post_closure_direction": "call us"}),
        s.post("/contacts", {"mode": "phone", "outcome": "successful", "contacted": "client"}),
    )[-1]),
    "invalid-transition": (409, lambda s: s.post("/consent", {"given_by": "c", "method": "oral"})),
    "implausible-date": (422, lambda s: s.post("/plan-revisions", plan(s.api, days=-3))),
    "invalid-value": (422, lambda s: s.team.rivera.post("/api/v1/patients", json={
        "identifiers": [{"value": " MRN-78", "assigning_authority": "GENHOSP"}],
        "family_name": "Nguyen", "given_name": "Linh",
    })),
    "unknown-reference": (422, lambda s: s.post(
        "/barrier-resolutions", {"barrier_id": "nope", "resolution": "n/a"}
    )),
    "emergency-access-refused": (422, lambda s: s.team.okafor.post(
        case_path(s.case_id, "/break-glass"), json={"reason": " urgent    "}
    )),
    "account-change-refused": (409, lambda s: s.team.admin.post(
        "/api/v1/users",
        json={"username": "cm.rivera", "password": "long enough password", "roles": ["compliance"]},
    )),
    "not-found": (404, lambda s: s.team.patel.get(case_path(uuid4()))),
    "forbidden": (403, lambda s: s.team.patel.post(
        "/api/v1/cases", json={"patient_id": str(uuid4()), "source": "referral", "reason": "x"}
    )),
    "invalid-request": (422, lambda s: s.post("/contacts", {"mode": "carrier pigeon"})),
    "unauthenticated": (401, lambda s: s.team.rivera.http.get(case_path(s.case_id))),
}  # fmt: skip


@pytest.mark.parametrize("name", REFUSALS)
def test_every_refusal_is_a_problem_with_its_own_type(api: Api, team: Team, name: str) -> None:
    status, act = REFUSALS[name]

    assert_problem(act(Scene(api, team, api.case_of("cm.rivera"))), status, name)


def test_a_step_dated_before_the_case_was_opened_is_refused(api: Api, team: Team) -> None:
    scene = Scene(api, team, api.case_of("cm.rivera"))
    contact = {"mode": "phone", "outcome": "successful", "contacted": "client"}
    response = scene.post("/contacts", contact | {"occurred_at": "1900-01-01T00:00:00Z"})

    problem = assert_problem(response, 422, "implausible-date")
    assert "nothing on it can have happened before that" in problem["detail"]


def test_a_malformed_request_names_each_bad_field(api: Api, team: Team) -> None:
    response = Scene(api, team, api.case_of("cm.rivera")).post(
        "/contacts", {"mode": "carrier pigeon", "outcome": "successful", "contacted": "\x00"}
    )

    problem = assert_problem(response, 422, "invalid-request")
    assert {tuple(error["location"]) for error in problem["errors"]} == {
        ("body", "mode"),
        ("body", "contacted"),
    }


def test_every_domain_rule_has_its_own_problem_type() -> None:
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    rules: set[type] = set()
    pending: list[type] = [DomainRuleViolation]
    while pending:
        rule = pending.pop()
        rules.add(rule)
        pending.extend(rule.__subclasses__())

    assert rules - {DomainRuleViolation} <= set(DOMAIN_REFUSALS)
    names = [refusal.name for refusal in DOMAIN_REFUSALS.values()]
    assert len(set(names)) == len(names)


# --- replay -------------------------------------------------------------------------------------


def test_compliance_replays_a_case_at_a_version_and_as_of_a_time(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")
    first = step(team.rivera, case_id, "/plan-revisions", plan(api), "*")
    planned_at = api.clock.now
    api.clock.advance(hours=6)
    revision = plan(api, goal_id="g2") | {"reason": "readmitted"}
    step(team.rivera, case_id, "/plan-revisions", revision, "*")
    patel = team.patel

    as_of = patel.get(
        case_path(case_id), params={"as_of": (planned_at + timedelta(hours=1)).isoformat()}
    )
    at_version = patel.get(case_path(case_id), params={"version": first.strip('"')})
    current = patel.get(case_path(case_id))

    assert as_of.json()["plan_of_care"]["goals"][0]["goal_id"] == "g1"
    assert as_of.json()["as_of"] is not None
    assert at_version.json()["plan_of_care"]["version"] == 1
    assert at_version.headers["ETag"] == first
    assert current.json()["plan_of_care"]["version"] == 2
    before = (planned_at - timedelta(days=30)).isoformat()
    assert_problem(patel.get(case_path(case_id), params={"as_of": before}), 404, "not-found")
    assert_problem(patel.get(case_path(case_id), params={"version": 99}), 404, "not-found")
    both = {"version": 1, "as_of": planned_at.isoformat()}
    assert_problem(patel.get(case_path(case_id), params=both), 422, "invalid-request")
    naive = {"as_of": planned_at.replace(tzinfo=None).isoformat()}
    assert_problem(patel.get(case_path(case_id), params=naive), 422, "invalid-request")
    interactions = [read.interaction for read in api.read_audit()]
    assert interactions == [
        ReadInteraction.AS_OF_READ,
        ReadInteraction.VERSION_READ,
        ReadInteraction.READ,
    ]
    assert {read.purpose for read in api.read_audit()} == {PurposeOfUse.COMPLIANCE}


def test_history_pages_are_bounded(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")  # opened, consent, assigned: 3 events
    history = case_path(case_id, "/history")

    page = team.patel.get(history, params={"limit": 2, "offset": 1}).json()

    assert [event["version"] for event in page["items"]] == [2, 3]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert_problem(team.patel.get(history, params={"limit": 201}), 422, "invalid-request")
    assert_problem(team.patel.get(history, params={"offset": -1}), 422, "invalid-request")
    assert team.admin.get("/api/v1/users", params={"limit": 2}).json()["total"] == 5


# --- caseloads and break-glass ------------------------------------------------------------------


def test_a_case_manager_reads_but_no_longer_changes_a_case_reassigned_away(
    api: Api, team: Team
) -> None:
    case_id = api.case_of("cm.rivera")
    contact = {"mode": "video", "outcome": "successful", "contacted": "client"}

    reassigned = {"case_manager": "cm.okafor", "reason": "caseload balance"}
    step(team.morgan, case_id, "/assignment", reassigned, "*")

    assert team.rivera.get(case_path(case_id)).status_code == 200
    denied = team.rivera.post(
        case_path(case_id, "/contacts"), json=contact, headers={"If-Match": "*"}
    )
    assert_problem(denied, 403, "forbidden")
    step(team.okafor, case_id, "/contacts", contact, "*")
    assert_problem(team.okafor.get(case_path(api.case_of("cm.rivera"))), 403, "forbidden")


def test_a_case_manager_claims_an_unassigned_case_but_assigns_nobody_else(
    api: Api, team: Team
) -> None:
    case_id = api.case_of(None)
    to_okafor = {"case_manager": "cm.okafor", "reason": "you take it"}
    to_self = {"case_manager": "cm.rivera", "reason": "mine"}

    assert team.rivera.get(case_path(case_id)).json()["case_manager"] is None
    denied = team.rivera.post(
        case_path(case_id, "/assignment"), json=to_okafor, headers={"If-Match": "*"}
    )
    assert_problem(denied, 403, "forbidden")
    step(team.rivera, case_id, "/assignment", to_self, "*")
    assert api.services.caretrail.case(case_id).case_manager == "cm.rivera"


def test_break_glass_opens_a_case_for_a_while_and_leaves_an_event(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")
    okafor = team.okafor
    assert_problem(okafor.get(case_path(case_id)), 403, "forbidden")

    granted = okafor.post(
        case_path(case_id, "/break-glass"), json={"reason": "client in ED, Rivera unreachable"}
    )

    assert granted.status_code == 201, granted.text
    assert granted.json()["expires_at"].startswith(
        (api.clock.now + timedelta(minutes=60)).isoformat()[:16]
    )
    assert okafor.get(case_path(case_id)).status_code == 200
    contact = {"mode": "phone", "outcome": "successful", "contacted": "ED charge nurse"}
    step(okafor, case_id, "/contacts", contact, "*")
    used = [
        e.event for e in api.services.caretrail.event_log() if isinstance(e.event, BreakGlassUsed)
    ]
    assert [(e.actor, e.case_id, e.reason) for e in used] == [
        ("cm.okafor", case_id, "client in ED, Rivera unreachable")
    ]
    assert used[0].patient_id == api.services.caretrail.case(case_id).patient_id
    assert api.services.caretrail.history(case_id)[-1].source == "api:break-glass"
    assert api.read_audit()[-1].purpose == PurposeOfUse.EMERGENCY_TREATMENT

    api.clock.advance(minutes=61)
    assert_problem(okafor.get(case_path(case_id)), 403, "forbidden")
    assert_problem(
        team.patel.post(case_path(case_id, "/break-glass"), json={"reason": "just curious, sorry"}),
        403,
        "forbidden",
    )


# --- 42 CFR Part 2 ------------------------------------------------------------------------------


def needs_shown(caller: Caller, case_id: UUID) -> list[str]:
    history = caller.get(case_path(case_id, "/history")).json()["items"]
    assessments = [e for e in history if e["event_type"] == "caretrail.AssessmentRecorded"]
    return [need["description"] for e in assessments for need in e["payload"]["needs"]]


def test_part2_needs_are_shown_only_under_part2_consent_or_in_an_emergency(
    api: Api, team: Team
) -> None:
    case_id = api.case_of("cm.rivera")
    assessment = {
        "needs": [
            {"domain": "behavioral", "description": "opioid use disorder", "part2": True},
            {"domain": "food", "description": "skips meals"},
        ],
        "preferred_language": "en",
        "interpreter_needed": False,
    }
    step(team.rivera, case_id, "/assessments", assessment, "*")

    assert needs_shown(team.rivera, case_id) == ["skips meals"]
    assert needs_shown(team.patel, case_id) == ["skips meals"]
    consent = {"given_by": "client", "method": "written, signed (42 CFR 2.31)"}
    assert team.rivera.post(case_path(case_id, "/part2-consent"), json=consent).json()["active"]
    assert needs_shown(team.patel, case_id) == ["opioid use disorder", "skips meals"]
    revocation = team.rivera.post(
        case_path(case_id, "/part2-consent-revocation"), json={"reason": "client revoked"}
    )
    assert revocation.json()["active"] is False
    assert needs_shown(team.patel, case_id) == ["skips meals"]
    emergency = {"reason": "overdose suspected, in the ED now"}
    assert team.okafor.post(case_path(case_id, "/break-glass"), json=emergency).status_code == 201
    assert needs_shown(team.okafor, case_id) == ["opioid use disorder", "skips meals"]

    disclosed = [(read.actor, read.part2_disclosed) for read in api.read_audit()]
    assert disclosed == [
        ("cm.rivera", False),
        ("comp.patel", False),
        ("comp.patel", True),
        ("comp.patel", False),
        ("cm.okafor", True),
    ]


# --- the read audit -----------------------------------------------------------------------------


def test_a_read_records_who_what_why_when_and_from_where(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")
    patient_id = api.services.caretrail.case(case_id).patient_id

    team.rivera.get(case_path(case_id))
    team.morgan.get(f"/api/v1/patients/{patient_id}")

    case_read, patient_read = api.read_audit()
    assert (case_read.actor, case_read.patient_id, case_read.record_id) == (
        "cm.rivera", patient_id, case_id
    )  # fmt: skip
    assert (case_read.record_type, case_read.purpose) == (RecordType.CASE, PurposeOfUse.TREATMENT)
    assert (case_read.network_address, case_read.user_agent) == ("testclient", "caretrail-tests/1")
    assert case_read.timestamp == api.clock.now
    assert (patient_read.actor, patient_read.record_type, patient_read.purpose) == (
        "sup.morgan", RecordType.PATIENT, PurposeOfUse.OPERATIONS
    )  # fmt: skip


def test_reads_reach_the_audit_trail(api: Api, team: Team) -> None:
    case_id = api.case_of("cm.rivera")
    team.patel.get(case_path(case_id, "/history"))
    store = ProjectionStore.open("memory://")
    store.create_tables()

    EventStoreFeed(api.services.caretrail, store, [AuditTrail()]).catch_up()

    with store.engine.connect() as db:
        rows = db.execute(
            select(audit_events.c.actor, audit_events.c.patient_id).where(
                audit_events.c.event_type == "caretrail.PatientRecordRead"
            )
        ).all()
    patient_id = str(api.services.caretrail.case(case_id).patient_id)
    assert rows == [("comp.patel", patient_id)]
