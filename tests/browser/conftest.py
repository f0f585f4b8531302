"""Browser tests: the whole application (API, dashboard, embedded pipeline with a 1 s scheduler)
on a temporary SQLite store under uvicorn, driven by Playwright in Debian's chromium.

Screenshots of every page visited go to test-artifacts/screenshots/ (kept by CI as artifacts).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from api.deps import ApiServices
from api.main import app_from_settings
from api.settings import ApiSettings
from domain.access import PatientRecordRead
from domain.case import CaseSource
from domain.patient import PatientRegistered
from domain.users import Role
from services.application import CareTrail, Provenance
from services.settings import Settings
from services.users import open_user_accounts
from tests.adt_support import FIXTURES
from tests.api_client import CHEAP_HASHER, PASSWORD, live_server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ZONE = ZoneInfo("America/New_York")
USERS = {
    "cm.rivera": Role.CASE_MANAGER,
    "sup.morgan": Role.SUPERVISOR,
    "comp.patel": Role.COMPLIANCE,
    "sec.admin": Role.SECURITY_ADMIN,
    "feed:adt": Role.ADT_FEED,
}
INTAKE = Provenance("intake.clerk", source="test")


@dataclass
class Site:
    url: str
    services: ApiServices
    store: str

    def post_adt(self, message: str) -> None:
        """Posts an HL7 message as the ADT feed, as a hospital's interface engine does."""
        with httpx.Client(base_url=self.url) as http:
            token = http.post(
                "/api/v1/auth/token", data={"username": "feed:adt", "password": PASSWORD}
            ).json()["access_token"]
            answer = http.post(
                "/api/v1/adt",
                content=message.encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/hl7-v2"},
            )
        assert answer.status_code == 200, answer.text

    def patient_with_mrn(self, mrn: str) -> uuid.UUID:
        for logged in self.services.caretrail.event_log():
            event = logged.event
            if isinstance(event, PatientRegistered) and any(
                identifier.value == mrn for identifier in event.identifiers
            ):
                return event.originator_id
        raise AssertionError(f"no patient registered with MRN {mrn}")

    def case_for(
        self, patient_id: uuid.UUID, case_manager: str, app: CareTrail | None = None
    ) -> uuid.UUID:
        """An open case with consent, assigned to `case_manager`, recorded through `app`
        (default: the site's own)."""
        app = app or self.services.caretrail
        case_id = app.open_case(patient_id, CaseSource.REFERRAL, "readmitted twice", INTAKE)
        app.give_consent(case_id, "client", "written", INTAKE)
        app.assign_case_manager(case_id, case_manager, "caseload", INTAKE)
        return case_id

    def reads_by(self, username: str) -> list[PatientRecordRead]:
        return [
            logged.event
            for logged in self.services.caretrail.event_log()
            if isinstance(logged.event, PatientRecordRead) and logged.event.actor == username
        ]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = f"sqlite:///{tmp_path / 'caretrail.db'}"
    settings = Settings(database_url=store, scheduler_interval_seconds=1.0)
    accounts = open_user_accounts(settings, hasher=CHEAP_HASHER)
    for username, role in USERS.items():
        accounts.register(username, PASSWORD, {role}, "test.admin")
    accounts.close()
    app = app_from_settings(settings, ApiSettings(session_cookie_secure=False))
    services: ApiServices = app.state.services
    with live_server(app, lifespan="on") as url:
        yield Site(url, services, store)
    services.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt install chromium)")
    # As root (CI), chromium refuses to start with its sandbox.
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1366, "height": 768})
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, username: str, landing: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(landing) + "$"))


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def adt_message(
    trigger: str, mrn: str, visit: str, admitted: datetime, discharged: datetime
) -> str:
    """A fixture message made this patient's: its MRN, visit number, control id and clinical
    times (admitted, discharged) replaced; the rest is a real Epic-shaped message."""
    fixture = {"A01": "epic_a01_admit_inpatient.hl7", "A03": "a03_discharge_home.hl7"}[trigger]
    text = (FIXTURES / fixture).read_text().replace("\n", "\r")
    text = text.replace("E1048823", mrn).replace("V3300198", visit)
    text = re.sub(r"EPC\d+", f"CT{uuid.uuid4().hex[:12]}", text)
    text = text.replace("20240312", f"{admitted.astimezone(ZONE):%Y%m%d}")
    return text.replace("20240316", f"{discharged.astimezone(ZONE):%Y%m%d}")


def days_ago(days: int) -> datetime:
    return datetime.now(ZONE) - timedelta(days=days)
