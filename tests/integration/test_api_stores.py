"""The API on every event store: accounts, changes, conflicts and the read audit persist alike in
memory, in SQLite and in PostgreSQL (where accounts get tables of their own)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from domain.users import Role
from tests.api_client import PASSWORD, Caller, assert_every_read_audited, changed, open_api
from tests.clock import ManualClock


def test_the_api_keeps_accounts_changes_and_reads_on_every_store(
    store_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARETRAIL_IDENTITY_KEY", "test-site-identity-key")
    api = open_api(store_url, clock)
    api.add_user("cm.rivera", Role.CASE_MANAGER)
    with TestClient(api.app) as http:
        signed_in = http.post(
            "/api/v1/auth/token", data={"username": "cm.rivera", "password": PASSWORD}
        )
        rivera = Caller(
            http, "cm.rivera", {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        )
        patient = rivera.post(
            "/api/v1/patients",
            json={
                "identifiers": [{"value": "MRN-9", "assigning_authority": "GENHOSP"}],
                "family_name": "Kowalski",
                "given_name": "Piotr",
            },
        ).json()["patient_id"]
        opened = rivera.post(
            "/api/v1/cases",
            json={"patient_id": patient, "source": "adt_trigger", "reason": "ED x3"},
        )
        case = opened.json()["case_id"]
        claim = {"case_manager": "cm.rivera", "reason": "mine"}
        first = changed(opened, 201)
        claimed = changed(
            rivera.post(f"/api/v1/cases/{case}/assignment", json=claim, headers={"If-Match": first})
        )
        screening = {"result": "appropriate"}
        stale = rivera.post(
            f"/api/v1/cases/{case}/screening", json=screening, headers={"If-Match": first}
        )
        shown = rivera.get(f"/api/v1/cases/{case}")

    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert shown.headers["ETag"] == claimed == '"2"'
    assert_every_read_audited(api, rivera)
    api.close()
    if store_url != "memory://":  # a memory store ends with its application
        reopened = open_api(store_url, clock)
        assert reopened.services.users.user("cm.rivera").roles == {Role.CASE_MANAGER}
        assert_every_read_audited(reopened, rivera)
        reopened.close()
