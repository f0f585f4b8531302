"""Access-control rules of the domain: break-glass, Part 2 consent, read records, user accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.access import (
    BreakGlassUsed,
    CasePrivacy,
    CasePrivacyOpened,
    EmergencyAccessRefused,
    Part2ConsentGiven,
    Part2ConsentRevoked,
    PatientRecordRead,
    PurposeOfUse,
    ReadInteraction,
    RecordRead,
    RecordType,
    case_privacy_id,
)
from domain.errors import InvalidTransition
from domain.events import Action
from domain.users import AccountChangeRefused, Role, User, user_id

CASE = UUID("6f1c0c1e-0000-4000-8000-000000000001")
PATIENT = UUID("6f1c0c1e-0000-4000-8000-000000000002")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def by(actor: str, at: datetime = NOW) -> Action:
    return Action(actor, at, at)


def privacy() -> CasePrivacy:
    return CasePrivacy.open(CASE, PATIENT, by("cm.rivera"))


# --- break-glass --------------------------------------------------------------------------------


def test_break_glass_grants_one_user_access_until_it_expires() -> None:
    record = privacy()

    until = record.break_glass("client in the ED, CM away", timedelta(hours=1), by("cm.okafor"))

    assert until == NOW + timedelta(hours=1)
    assert record.has_emergency_access("cm.okafor", NOW + timedelta(minutes=59))
    assert not record.has_emergency_access("cm.okafor", until)
    assert not record.has_emergency_access("cm.chen", NOW)
    used = record.pending_events[-1]
    assert isinstance(used, BreakGlassUsed)
    assert (used.actor, used.case_id, used.patient_id) == ("cm.okafor", CASE, PATIENT)


@pytest.mark.parametrize(
    ("reason", "duration"),
    [
        ("", timedelta(hours=1)),
        ("   urgent  ", timedelta(hours=1)),
        ("client in the ED", timedelta(0)),
        ("client in the ED", timedelta(hours=13)),
    ],
    ids=["no reason", "too short a reason", "no time", "longer than 12 hours"],
)
def test_break_glass_needs_a_real_reason_and_a_bounded_time(
    reason: str, duration: timedelta
) -> None:
    record = privacy()

    with pytest.raises(EmergencyAccessRefused):
        record.break_glass(reason, duration, by("cm.okafor"))
    assert [type(e) for e in record.pending_events] == [CasePrivacyOpened]


def test_the_privacy_record_of_a_case_has_an_id_derived_from_the_case() -> None:
    assert privacy().id == case_privacy_id(CASE) != CASE


# --- 42 CFR Part 2 ------------------------------------------------------------------------------


def test_part2_records_are_disclosed_under_consent_or_in_an_emergency() -> None:
    record = privacy()
    assert not record.may_disclose_part2("comp.patel", NOW)

    record.give_part2_consent("client", "written", by("cm.rivera"))
    assert record.may_disclose_part2("comp.patel", NOW)

    record.revoke_part2_consent("client revoked", by("cm.rivera"))
    assert not record.may_disclose_part2("comp.patel", NOW)
    record.break_glass("overdose suspected in ED", timedelta(hours=1), by("cm.okafor"))
    assert record.may_disclose_part2("cm.okafor", NOW)
    assert not record.may_disclose_part2("comp.patel", NOW)
    assert [type(e) for e in record.pending_events] == [
        CasePrivacyOpened, Part2ConsentGiven, Part2ConsentRevoked, BreakGlassUsed
    ]  # fmt: skip


def test_part2_consent_is_given_once_revoked_once_and_names_who_gave_it() -> None:
    record = privacy()
    with pytest.raises(InvalidTransition, match="no active Part 2 consent"):
        record.revoke_part2_consent("n/a", by("cm.rivera"))
    with pytest.raises(InvalidTransition, match="who gave it"):
        record.give_part2_consent("  ", "written", by("cm.rivera"))

    record.give_part2_consent("client", "written", by("cm.rivera"))

    with pytest.raises(InvalidTransition, match="already active"):
        record.give_part2_consent("client", "written", by("cm.rivera"))


# --- the read record ----------------------------------------------------------------------------


def test_a_read_is_recorded_against_the_patient_with_why_and_from_where() -> None:
    read = RecordRead.record(
        UUID("6f1c0c1e-0000-4000-8000-000000000003"),
        PATIENT,
        record_type=RecordType.CASE,
        record_id=CASE,
        interaction=ReadInteraction.HISTORY,
        detail="50 events from position 1",
        purpose=PurposeOfUse.COMPLIANCE,
        network_address="10.0.0.7",
        user_agent="Mozilla/5.0",
        part2_disclosed=False,
        action=by("comp.patel"),
    )

    (event,) = read.pending_events
    assert isinstance(event, PatientRecordRead)
    assert (event.actor, event.patient_id, event.record_id) == ("comp.patel", PATIENT, CASE)
    assert (event.purpose, event.network_address) == (PurposeOfUse.COMPLIANCE, "10.0.0.7")
    assert event.TOPIC == "caretrail.PatientRecordRead"


# --- user accounts ------------------------------------------------------------------------------


def user(roles: set[Role] | None = None) -> User:
    return User.register("cm.rivera", "Ana Rivera", "$argon2id$hash", roles or {Role.CASE_MANAGER},
                         "sec.admin", NOW)  # fmt: skip


def test_an_account_is_found_by_its_name() -> None:
    assert user().id == user_id("cm.rivera")


@pytest.mark.parametrize("username", ["", "x", "Ana", "ana rivera", "-ana", "a" * 65, "ana\x00"])
def test_a_user_name_is_lower_case_and_plain(username: str) -> None:
    with pytest.raises(AccountChangeRefused, match="not a user name"):
        User.register(username, "", "h", {Role.COMPLIANCE}, "sec.admin", NOW)


def test_an_account_needs_a_role() -> None:
    with pytest.raises(AccountChangeRefused, match="at least one role"):
        User.register("cm.rivera", "", "h", set(), "sec.admin", NOW)


def test_roles_are_granted_and_revoked_by_someone_else_and_only_as_changes() -> None:
    account = user()

    account.grant({Role.SUPERVISOR, Role.CASE_MANAGER}, "sec.admin", NOW)
    assert account.roles == {Role.CASE_MANAGER, Role.SUPERVISOR}
    assert account.pending_events[-1].roles == [Role.SUPERVISOR]  # type: ignore[attr-defined]
    with pytest.raises(AccountChangeRefused, match="already has"):
        account.grant({Role.SUPERVISOR}, "sec.admin", NOW)
    with pytest.raises(AccountChangeRefused, match="their own roles"):
        account.grant({Role.SECURITY_ADMIN}, "cm.rivera", NOW)
    account.revoke({Role.SUPERVISOR, Role.COMPLIANCE}, "sec.admin", NOW)
    assert account.roles == {Role.CASE_MANAGER}
    with pytest.raises(AccountChangeRefused, match="has none of"):
        account.revoke({Role.COMPLIANCE}, "sec.admin", NOW)


def test_a_disabled_account_is_enabled_again_only_by_someone_else() -> None:
    account = user()
    account.disable("left", "sec.admin", NOW)
    assert account.disabled
    with pytest.raises(AccountChangeRefused, match="already disabled"):
        account.disable("again", "sec.admin", NOW)
    with pytest.raises(AccountChangeRefused, match="their own"):
        account.enable("I am back", "cm.rivera", NOW)
    with pytest.raises(AccountChangeRefused, match="is disabled"):
        account.change_password("$argon2id$new", "cm.rivera", NOW)

    account.enable("back from leave", "sec.admin", NOW)

    assert not account.disabled


def test_a_new_password_is_dated() -> None:
    account = user()
    later = NOW + timedelta(days=90)

    account.change_password("$argon2id$new", "cm.rivera", later)

    assert (account.password_hash, account.password_changed_at) == ("$argon2id$new", later)
