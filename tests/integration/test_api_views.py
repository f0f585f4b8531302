"""The read views of the API: the alert worklist and its actions, a patient's timeline, the
audit trail and the chain's verification; every record shown is in the read audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from consumers.embedded import EventStoreFeed
from domain.alert import AlertCause, Severity
from domain.alert_rules import PART2_WITHHELD
from domain.encounter import Disposition, PatientClass
from domain.users import Role
from services.alerting import AlertService
from services.application import Provenance
from services.read_models import read_models
from tests.api_client import Api, assert_every_read_audited, bearer, open_api


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    api = open_api(store_url)
    for username, role in (
        ("cm.own", Role.CASE_MANAGER), ("cm.other", Role.CASE_MANAGER),
        ("sup.boss", Role.SUPERVISOR), ("comp.audit", Role.COMPLIANCE),
    ):  # fmt: skip
        api.add_user(username, role)
    yield api
    api.close()


def raise_alert(api: Api, patient_id: UUID, rule_id: str) -> UUID:
    cause = AlertCause(
        rule_id, "2026.1", Severity.HIGH, f"{rule_id} is due", {"disposition": "home"},
        api.clock.now - timedelta(days=3), uuid4(), 1,
    )  # fmt: skip
    alert_id = AlertService(api.services.caretrail).raise_alert(patient_id, rule_id, cause)
    caught_up(api)
    return alert_id


def caught_up(api: Api) -> None:
    EventStoreFeed(api.services.caretrail, api.services.read_models, read_models()).catch_up()


def test_the_worklist_shows_own_alerts_and_acknowledge_and_snooze_change_them(api: Api) -> None:
    patient_id = api.patient()
    case_id = api.case_of("cm.own", patient_id)
    alert_id = raise_alert(api, patient_id, "tcm-interactive-contact")
    with TestClient(api.app) as http:
        own, other = bearer(http, api, "cm.own"), bearer(http, api, "cm.other")
        listed = own.get("/api/v1/worklist").json()
        shown = [
            (item["alert_id"], item["case_id"], item["patient_name"], item["due"])
            for item in listed["items"]
        ]
        assert shown == [(str(alert_id), str(case_id), "Garcia, Maria", "overdue by 3 days")]
        assert other.get("/api/v1/worklist").json()["items"] == []
        assert other.get("/api/v1/worklist", params={"case_manager": "cm.own"}).status_code == 403
        refused = other.post(f"/api/v1/alerts/{alert_id}/acknowledgement", json={"note": "x"})
        assert refused.status_code == 403

        done = own.post(f"/api/v1/alerts/{alert_id}/acknowledgement", json={"note": "calling"})
        assert done.status_code == 204, done.text
        caught_up(api)
        assert own.get("/api/v1/worklist").json()["items"][0]["state"] == "acknowledged"

        until = (api.clock.now + timedelta(days=2)).isoformat()
        no_reason = own.post(f"/api/v1/alerts/{alert_id}/snooze", json={"until": until})
        assert no_reason.status_code == 422
        snoozed = own.post(
            f"/api/v1/alerts/{alert_id}/snooze", json={"reason": "in surgery", "until": until}
        )
        assert snoozed.status_code == 204, snoozed.text
        caught_up(api)
        item = own.get("/api/v1/worklist").json()["items"][0]
        assert (item["state"], item["needs_attention"]) == ("snoozed", False)
    reads = [read for read in api.read_audit() if read.actor == "cm.own"]
    assert {read.patient_id for read in reads} == {patient_id}
    assert all(read.detail == "worklist: 1 alert(s)" for read in reads)


def test_a_substance_use_alert_is_withheld_until_part2_consent(api: Api) -> None:
    patient_id = api.patient()
    case_id = api.case_of("cm.own", patient_id)
    raise_alert(api, patient_id, "fua-7")
    with TestClient(api.app) as http:
        own = bearer(http, api, "cm.own")
        item = own.get("/api/v1/worklist").json()["items"][0]
        assert (item["reason"], item["rule_id"], item["facts"]) == (PART2_WITHHELD, "withheld", {})
        consent = own.post(
            f"/api/v1/cases/{case_id}/part2-consent",
            json={"given_by": "client", "method": "written"},
        )
        assert consent.status_code == 200, consent.text
        item = own.get("/api/v1/worklist").json()["items"][0]
        assert (item["reason"], item["rule_id"]) == ("fua-7 is due", "fua-7")


def test_timeline_audit_trail_and_verification(api: Api) -> None:
    patient_id = api.patient()
    api.case_of("cm.own", patient_id)
    caught_up(api)
    with TestClient(api.app) as http:
        own, compliance = bearer(http, api, "cm.own"), bearer(http, api, "comp.audit")
        timeline = own.get(f"/api/v1/patients/{patient_id}/timeline")
        assert timeline.status_code == 200, timeline.text
        shown = {entry["what"] for entry in timeline.json()["items"]}
        assert {"PatientRegistered", "CaseOpened", "CaseManagerAssigned"} <= shown
        assert own.get(f"/api/v1/patients/{patient_id}/audit-trail").status_code == 403

        trail = compliance.get(f"/api/v1/patients/{patient_id}/audit-trail", params={"limit": 200})
        assert trail.status_code == 200, trail.text
        types = [e["event_type"] for e in trail.json()["items"]]
        assert "caretrail.PatientRecordRead" in types  # the case manager's timeline read
        unsealed = compliance.get("/api/v1/audit/verification").json()
        assert (unsealed["verdict"], unsealed["checked"]) == ("unsealed", 0)
        api.services.audit_chain.seal()
        verdict = compliance.get("/api/v1/audit/verification").json()
        assert (verdict["verdict"], verdict["unsealed"]) == ("intact", 0)
        missing = compliance.get(f"/api/v1/patients/{uuid4()}/timeline")
        assert missing.status_code == 404
    assert_every_read_audited(api, own, compliance)


def stay(api: Api, patient_id: UUID, admitted_days_ago: int, discharged_days_ago: int) -> None:
    app, now = api.services.caretrail, api.clock.now
    encounter = app.register_encounter(
        patient_id, facility="GENHOSP", visit_number=f"V{uuid4().hex[:8]}",
        patient_class=PatientClass.INPATIENT, location="4W",
        by=Provenance("feed:adt", now - timedelta(days=admitted_days_ago)),
    )  # fmt: skip
    if discharged_days_ago >= 0:
        discharged = Provenance("feed:adt", now - timedelta(days=discharged_days_ago))
        app.discharge(encounter, Disposition.HOME, discharged)


def test_a_readmission_flags_the_patient_in_the_api_and_on_the_case_page(api: Api) -> None:
    patient_id = api.patient()
    case_id = api.case_of("cm.own", patient_id)
    stay(api, patient_id, admitted_days_ago=20, discharged_days_ago=16)
    with TestClient(api.app) as http:
        own = bearer(http, api, "cm.own")
        assert own.get(f"/api/v1/patients/{patient_id}/flags").json() == []
        stay(api, patient_id, admitted_days_ago=6, discharged_days_ago=-1)
        caught_up(api)
        flags = own.get(f"/api/v1/patients/{patient_id}/flags").json()
        page = own.get(f"/cases/{case_id}")
        missing = own.get(f"/api/v1/patients/{uuid4()}/flags")
    assert [(f["flag"], f["label"]) for f in flags] == [
        ("readmission-30", "Readmitted within 30 days")
    ]
    assert flags[0]["reason"].startswith("Readmitted 10 days after discharge")
    assert page.status_code == 200
    assert "Readmitted within 30 days</span> since" in page.text
    assert missing.status_code == 404
    assert_every_read_audited(api, own)


def test_a_timeline_leaves_out_the_cases_of_another_caseload(api: Api) -> None:
    """Minimum necessary: a case manager treating the patient sees their stays and their own
    case, not what another case manager does on theirs (break-glass is for that)."""
    patient_id = api.patient()
    theirs = api.case_of("cm.own", patient_id)
    stay(api, patient_id, admitted_days_ago=5, discharged_days_ago=2)
    caught_up(api)
    with TestClient(api.app) as http:
        shown = {
            caller: {
                (entry["aggregate_id"], entry["what"])
                for entry in bearer(http, api, caller)
                .get(f"/api/v1/patients/{patient_id}/timeline", params={"limit": 200})
                .json()["items"]
            }
            for caller in ("cm.own", "cm.other", "sup.boss")
        }
    case_entries = {(str(theirs), "CaseOpened"), (str(theirs), "CaseManagerAssigned")}
    assert case_entries <= shown["cm.own"]
    assert case_entries <= shown["sup.boss"]
    assert not {aggregate for aggregate, _ in shown["cm.other"]} & {str(theirs)}
    assert {"PatientRegistered", "EncounterRegistered", "PatientDischarged"} <= {
        what for _, what in shown["cm.other"]
    }
