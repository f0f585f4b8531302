"""A patient's timeline: encounters, transitions, case actions and alerts in clinical order."""

from __future__ import annotations

from consumers.embedded import EventStoreFeed
from domain.alert_rules import FOLLOW_UP_OBLIGATIONS, PART2_WITHHELD, discloses_substance_use
from domain.case import FollowUpFocus, ReceivedInformation
from domain.encounter import Disposition, PatientClass, TransitionKind
from projections.timeline import Timeline, patient_timeline
from tests.ward import Ward, local


def test_the_timeline_tells_the_stay_in_clinical_order_whatever_the_arrival_order() -> None:
    ward = Ward()
    case = ward.open_case(local(2026, 3, 1, 9))
    encounter = ward.admit(local(2026, 3, 2, 10))
    ward.discharge(encounter, local(2026, 3, 4, 12), Disposition.AGAINST_MEDICAL_ADVICE)
    ward.tick(local(2026, 3, 4, 12, 5))
    ward.cancel(encounter, TransitionKind.DISCHARGE, local(2026, 3, 4, 13))
    ward.contact(case, local(2026, 3, 3, 15))  # logged late, happened during the stay
    ward.tick(local(2026, 3, 4, 13, 5))
    EventStoreFeed(ward.app, ward.store, [Timeline()]).catch_up()
    with ward.store.engine.connect() as db:
        entries = patient_timeline(db, [ward.patient])
    categories = {entry.category for entry in entries}
    assert categories == {"patient", "case", "encounter", "alert"}
    summaries = [entry.summary for entry in entries]
    assert summaries.index("phone contact with client: successful") < summaries.index(
        "discharged (ama)"
    )
    assert any(s.startswith("discharge (transition 2) cancelled") for s in summaries)
    assert any(s.startswith("alert retracted") for s in summaries)
    assert [e.occurred_at for e in entries] == sorted(e.occurred_at for e in entries)
    ward.close()


def test_diagnoses_and_receipts_show_without_the_codes() -> None:
    ward = Ward()
    case = ward.open_case(local(2026, 3, 1, 9))
    encounter = ward.stay(local(2026, 3, 2, 10), local(2026, 3, 4, 12))
    ward.diagnose(encounter, local(2026, 3, 4, 12), "F10.20", "I10")
    ward.received(case, local(2026, 3, 4, 15), ReceivedInformation.DISCHARGE_INFORMATION)
    ward.visit(case, local(2026, 3, 5, 9), focus=FollowUpFocus.SUBSTANCE_USE)
    EventStoreFeed(ward.app, ward.store, [Timeline()]).catch_up()
    with ward.store.engine.connect() as db:
        summaries = [entry.summary for entry in patient_timeline(db, [ward.patient])]
    assert "diagnoses recorded (2)" in summaries
    assert "discharge information received from GENHOSP" in summaries
    assert "face_to_face follow-up visit with Dr. Osei" in summaries
    # 42 CFR Part 2: nothing on the timeline tells of the substance use disorder.
    assert not any("F10" in s or "substance" in s for s in summaries)
    ward.close()


def test_a_substance_use_alert_is_shown_without_what_it_is_about() -> None:
    """42 CFR Part 2: an FUA alert tells of the disorder; its reason stays off the timeline and
    is withheld from alert readers without consent, while an FUM alert shows in full."""
    ward = Ward()
    ward.open_case(local(2026, 3, 1))
    visit = ward.admit(local(2026, 3, 2, 22), PatientClass.EMERGENCY)
    ward.discharge(visit, local(2026, 3, 3, 2))
    ward.diagnose(visit, local(2026, 3, 3, 2), "F10.20")
    ward.tick(local(2026, 3, 11))
    fua = ward.alerts()["fua-7"]
    assert fua.discloses_substance_use
    withheld = fua.without_part2_details()
    assert withheld.reason == PART2_WITHHELD
    assert "fua" not in withheld.rule_id
    assert withheld.facts == {}
    assert (withheld.alert_id, withheld.due_at) == (fua.alert_id, fua.due_at)
    EventStoreFeed(ward.app, ward.store, [Timeline()]).catch_up()
    with ward.store.engine.connect() as db:
        summaries = [entry.summary for entry in patient_timeline(db, [ward.patient])]
    assert f"alert raised (high): {PART2_WITHHELD}" in summaries
    assert not any("ubstance" in s for s in summaries)
    ward.close()


def test_only_substance_use_rules_are_part2() -> None:
    assert {rule for rule in FOLLOW_UP_OBLIGATIONS if discloses_substance_use(rule)} == {
        "fua-7",
        "fua-30",
    }
