"""`POST /api/v1/adt` on PostgreSQL: the ACK comes back as the body, the status follows MSA-1;
503 while ingestion cannot be used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from domain.users import Role
from ingest.ack import parse_ack
from ingest.hl7v2 import Rejection
from tests.adt_support import SITE_KEY, fixture_bytes, names, stored_events
from tests.api_client import Api, open_api

HL7 = {"Content-Type": "application/hl7-v2"}


@pytest.fixture
def api(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    key = SITE_KEY.identity_key
    assert key is not None
    monkeypatch.setenv("CARETRAIL_IDENTITY_KEY", key.get_secret_value())
    monkeypatch.setenv("CARETRAIL_TIMEZONE", "UTC")
    with serving(postgres_url) as opened:
        yield opened


@contextmanager
def serving(store_url: str) -> Iterator[Api]:
    opened = open_api(store_url)
    try:
        yield opened
    finally:
        worker = getattr(opened.app.state, "adt_worker", None)
        if worker is not None:
            worker.stop(10)
        opened.close()


@pytest.fixture
def feed(api: Api) -> Iterator[TestClient]:
    with feed_client(api) as client:
        yield client


def feed_client(api: Api) -> TestClient:
    token = api.token(api.add_user("feed.epic", Role.ADT_FEED))
    return TestClient(api.app, headers={"Authorization": f"Bearer {token}"})


def post(feed: TestClient, body: bytes) -> tuple[int, str, str]:
    response = feed.post("/api/v1/adt", content=body, headers=HL7)
    ack = parse_ack(response.content)
    assert not isinstance(ack, Rejection), response.text
    assert response.headers["content-type"].startswith("application/hl7-v2")
    return response.status_code, ack.code, ack.control_id


def test_an_accepted_message_is_answered_200_with_its_ack(feed: TestClient, api: Api) -> None:
    assert post(feed, fixture_bytes("epic_a01_admit_inpatient")) == (200, "AA", "EPC000184721")
    assert post(feed, fixture_bytes("epic_a01_admit_inpatient")) == (200, "AA", "EPC000184721")

    made = names(stored_events(api.services.caretrail))
    assert made.count("AdtMessageAccepted") == 1
    assert "EncounterRegistered" in made


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(b"not an HL7 message", 400, "AR", id="unreadable"),
        pytest.param(fixture_bytes("a20_bed_status_no_patient"), 400, "AR", id="unsupported"),
        pytest.param(fixture_bytes("a12_cancel_transfer"), 422, "AE", id="refused"),
    ],
)
def test_a_message_not_applied_is_answered_4xx_with_its_ack(
    feed: TestClient, body: bytes, status: int, code: str
) -> None:
    answered_status, answered_code, _ = post(feed, body)
    assert (answered_status, answered_code) == (status, code)


def test_a_patient_registered_at_intake_is_the_one_the_feed_finds_and_only_once(
    feed: TestClient, api: Api
) -> None:
    token = api.token(api.add_user("cm.rivera", Role.CASE_MANAGER))
    registration = {
        "identifiers": [{"value": "E1048823", "assigning_authority": "EPIC"}],
        "family_name": "Rivera",
        "given_name": "Maria",
    }
    with TestClient(api.app, headers={"Authorization": f"Bearer {token}"}) as intake:
        registered = intake.post("/api/v1/patients", json=registration)
        again = intake.post("/api/v1/patients", json=registration)
    patient_id = registered.json()["patient_id"]

    assert post(feed, fixture_bytes("epic_a01_admit_inpatient"))[1] == "AA"
    assert again.status_code == 409
    assert again.json()["type"] == "urn:caretrail:problem:patient-already-registered"
    assert patient_id in again.json()["detail"]
    events = stored_events(api.services.caretrail)
    assert names(events).count("PatientRegistered") == 1
    (encounter,) = [e for e in events if type(e).__name__ == "EncounterRegistered"]
    assert str(encounter.patient_id) == patient_id


def test_a_reused_control_id_is_a_conflict(feed: TestClient) -> None:
    post(feed, fixture_bytes("a03_discharge_home"))
    reused = fixture_bytes("a03_discharge_home").replace(b"|01|", b"|03|")
    assert post(feed, reused) == (409, "AE", "EPC000186510")


def test_an_oversized_body_is_refused_before_it_is_read_as_hl7(feed: TestClient) -> None:
    response = feed.post("/api/v1/adt", content=b"MSH|" + b"x" * (5 * 1024 * 1024), headers=HL7)
    assert response.status_code == 413


def test_an_sqlite_store_moved_without_its_identity_key_answers_503_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CARETRAIL_IDENTITY_KEY", raising=False)
    store = f"sqlite:///{tmp_path}/caretrail.db"
    with serving(store) as api, feed_client(api) as feed:
        assert post(feed, fixture_bytes("epic_a01_admit_inpatient"))[1] == "AA"
    (tmp_path / "caretrail.identity-key").unlink()

    with serving(store) as api, TestClient(api.app) as http:
        token = {"Authorization": f"Bearer {api.token('feed.epic')}"}
        discharge = fixture_bytes("a03_discharge_home")
        response = http.post("/api/v1/adt", content=discharge, headers=HL7 | token)
        stored = names(stored_events(api.services.caretrail))

    assert response.status_code == 503
    assert "caretrail.identity-key is missing" in response.json()["detail"]
    assert stored.count("AdtMessageAccepted") == 1
    assert not (tmp_path / "caretrail.identity-key").exists()
