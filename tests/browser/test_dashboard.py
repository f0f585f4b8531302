"""The dashboard in a real browser, from an HL7 message in to an alert worked on the page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from playwright.sync_api import Page, expect

from domain.access import PurposeOfUse, ReadInteraction
from domain.case import Goal, Intervention
from services.application import Provenance
from services.bootstrap import bootstrap
from services.settings import Settings
from tests.browser.conftest import Site, adt_message, days_ago, screenshot, sign_in

ALERT_WAIT_MS = 20_000  # the scheduler ticks every second; a loaded CI machine is slower


def admitted_patient(site: Site) -> tuple[uuid.UUID, str, str]:
    """A patient admitted nine days ago through the ADT feed, with an open case of cm.rivera."""
    mrn, visit = f"E{uuid.uuid4().hex[:8].upper()}", f"V{uuid.uuid4().hex[:8].upper()}"
    site.post_adt(adt_message("A01", mrn, visit, days_ago(9), days_ago(9)))
    patient_id = site.patient_with_mrn(mrn)
    site.case_for(patient_id, "cm.rivera")
    return patient_id, mrn, visit


def test_a_discharge_posted_moments_ago_reaches_the_worklist_and_a_contact_resolves_it(
    page: Page, site: Site
) -> None:
    _, mrn, visit = admitted_patient(site)
    sign_in(page, "cm.rivera", "/worklist")
    contact_alert = page.locator('#worklist-rows tr[data-rule="tcm-interactive-contact"]')
    # The admission alone asks for its notification to be received (HEDIS TRC), no contact yet.
    admission = page.locator('#worklist-rows tr[data-rule="trc-admission-notification"]')
    expect(admission).to_be_visible(timeout=ALERT_WAIT_MS)
    expect(contact_alert).to_have_count(0)
    screenshot(page, "worklist-admitted")

    # The discharge happened a week ago and reaches caretrail only now: the two-business-day
    # contact deadline of CMS TCM is already past, so the alert comes up at once, overdue.
    site.post_adt(adt_message("A03", mrn, visit, days_ago(9), days_ago(7)))
    expect(contact_alert).to_be_visible(timeout=ALERT_WAIT_MS)  # live update, no reload
    expect(contact_alert).to_contain_text("overdue by")
    expect(contact_alert).to_contain_text("RIVERA, MARIA")
    screenshot(page, "worklist-with-alert")

    contact_alert.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("RIVERA, MARIA")
    screenshot(page, "case-page")
    page.get_by_label("How").select_option("phone")
    page.get_by_label("Outcome").select_option("successful")
    page.get_by_label("Notes").fill("Reached her at home; meds picked up")
    page.get_by_role("button", name="Log contact").click()
    expect(page.get_by_role("status")).to_have_text("Contact logged.")
    expect(page.locator(".contacts")).to_contain_text("Reached her at home")

    page.goto("/worklist")
    expect(contact_alert).to_have_count(0, timeout=ALERT_WAIT_MS)  # resolved by the contact
    screenshot(page, "worklist-after-contact")
    reads = site.reads_by("cm.rivera")
    assert {read.interaction for read in reads} == {ReadInteraction.READ}
    assert any("worklist" in read.detail for read in reads)
    assert any(read.detail == "case page" for read in reads)


def test_acknowledge_and_snooze_with_a_reason(page: Page, site: Site) -> None:
    _, mrn, visit = admitted_patient(site)
    site.post_adt(adt_message("A03", mrn, visit, days_ago(9), days_ago(7)))
    sign_in(page, "cm.rivera", "/worklist")
    contact_alert = page.locator('#worklist-rows tr[data-rule="tcm-interactive-contact"]')
    expect(contact_alert).to_be_visible(timeout=ALERT_WAIT_MS)

    contact_alert.get_by_role("button", name=re.compile("Acknowledge")).click()
    expect(contact_alert).to_contain_text("acknowledged")
    contact_alert.locator("summary", has_text="Snooze").click()
    contact_alert.get_by_label("Reason").fill("Client in surgery until Friday")
    contact_alert.get_by_label("For hours").fill("48")
    contact_alert.get_by_role("button", name="Snooze", exact=True).click()
    expect(contact_alert).to_contain_text("snoozed")
    screenshot(page, "worklist-snoozed")


def test_a_compliance_user_replays_the_case_as_of_yesterday_and_sees_the_older_plan(
    page: Page, site: Site
) -> None:
    patient_id, _, _ = admitted_patient(site)
    due = days_ago(-30).date()
    yesterday = days_ago(1)
    recorded_yesterday = bootstrap(Settings(database_url=site.store), clock=lambda: yesterday)
    case_id = site.case_for(patient_id, "cm.rivera", recorded_yesterday)
    recorded_yesterday.revise_plan(
        case_id, [Goal("g1", "Walk to the mailbox daily", "7 of 7 days", 1, due)],
        [Intervention("i1", "g1", "Home PT referral", "cm.rivera", due)], "first plan",
        Provenance("cm.rivera"),
    )  # fmt: skip
    recorded_yesterday.close()
    site.services.caretrail.revise_plan(
        case_id, [Goal("g1", "Walk to the corner shop daily", "7 of 7 days", 1, due)],
        [Intervention("i1", "g1", "Home PT referral", "cm.rivera", due)], "PT says she can",
        Provenance("cm.rivera"),
    )  # fmt: skip

    sign_in(page, "comp.patel", "/compliance")
    page.get_by_label("Case id").fill(str(case_id))
    as_of = (yesterday + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label(re.compile("As of")).fill(as_of)
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text("what caretrail knew then")
    expect(page.locator("main")).to_contain_text("Walk to the mailbox daily")
    expect(page.locator("main")).not_to_contain_text("corner shop")
    screenshot(page, "compliance-replay")

    page.get_by_role("link", name="Audit trail of this patient").click()
    expect(page.locator("table.audit")).to_contain_text("PatientRecordRead")
    screenshot(page, "compliance-audit-trail")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert "PlanOfCareRevised" in download.value.path().read_text()

    page.goto("/compliance")
    page.get_by_role("button", name="Verify the event log now").click()
    expect(page.locator("#verdict")).to_contain_text("Intact")
    screenshot(page, "compliance-verify")
    reads = site.reads_by("comp.patel")
    assert {read.interaction for read in reads} == {
        ReadInteraction.AS_OF_READ,
        ReadInteraction.HISTORY,
    }
    assert {read.purpose for read in reads} == {PurposeOfUse.COMPLIANCE}


def test_roles_without_rights_get_a_clear_refusal(page: Page, site: Site) -> None:
    page.goto("/worklist")
    expect(page).to_have_url(re.compile(r"/login\?next=/worklist$"))  # signed out: sign in first
    screenshot(page, "sign-in")

    sign_in(page, "comp.patel", "/compliance")
    page.goto("/worklist")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text("this page is for case_manager or supervisor")
    screenshot(page, "refused-compliance-on-worklist")

    patient_id, _, _ = admitted_patient(site)
    case_id = site.case_for(patient_id, "cm.rivera")
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("RIVERA, MARIA")
    expect(page.get_by_role("button", name="Log contact")).to_have_count(0)  # read-only

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "sec.admin", "/account")
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_role("alert")).to_contain_text("needs one of the roles")
    screenshot(page, "refused-security-admin-on-case")


def test_the_sign_in_form_works_from_the_keyboard_alone(page: Page) -> None:
    page.goto("/login")
    page.keyboard.type("cm.rivera")  # the username field has focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/worklist$"))
