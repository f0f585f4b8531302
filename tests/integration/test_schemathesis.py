"""Schemathesis against the served OpenAPI document: generated requests, valid and not, from a
signed-in user, must get no 5xx and only answers the document describes.

The app is built when this module is imported because schemathesis 4.32's lazy fixture loader
(`schemathesis.pytest.from_fixture`) fails under pytest 9.2 (`Function` has no `_nodeid`).
Path ids are pinned to a real case and patient, with `If-Match: *`, so generated bodies reach the
domain instead of stopping at 404 or 409; the user holds every role and emergency access to the
case, so no reassignment by one generated request locks the others out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import schemathesis
from schemathesis import Case

from domain.users import Role
from services.application import Provenance
from tests.api_client import open_api

API = open_api("memory://", access_token_minutes=24 * 60)
USER = API.add_user("all.roles", *Role)
TOKEN = API.token(USER)
CASE_ID = API.case_of(USER)
PATIENT_ID = API.services.caretrail.case(CASE_ID).patient_id
API.services.access.break_glass(
    CASE_ID, "fuzzing acts on this case", timedelta(hours=12), Provenance(USER)
)

CONFIG: dict[str, Any] = {
    # The same examples every run (a failure is reproducible, never flaky), and no health check
    # on generation speed: these machines are shared and their load varies.
    "generation": {"max-examples": 3, "deterministic": True},
    "suppress-health-check": ["too_slow"],
    # One undeclared method per path shows the 405 and its Allow header; all eight cost 8x.
    "phases": {"coverage": {"unexpected-methods": ["patch"]}},
    "parameters": {
        "path.case_id": str(CASE_ID),
        "path.patient_id": str(PATIENT_ID),
        "path.username": USER,
        "header.If-Match": "*",
    },
    "checks": {
        # Schema-valid requests the process refuses: a rule of the domain (409, 422).
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422"]
        },
        # A change without If-Match is refused with 428 Precondition Required (RFC 6585).
        "missing_required_header": {"expected-statuses": ["400", "401", "403", "422", "428"]},
    },
}
# An HL7 v2 message is text; generated bodies for POST /adt are sent as such.
schemathesis.serializer.alias("application/hl7-v2", "text/plain")
schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json", API.app, config=schemathesis.Config.from_dict(CONFIG)
)


@schema.parametrize()
def test_the_api_keeps_to_its_openapi_document(case: Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
