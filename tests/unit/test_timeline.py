"""A patient's timeline: encounters, transitions, case actions and alerts in clinical order."""

from __future__ import annotations

from consumers.embedded import EventStoreFeed
from domain.case import FollowUpFocus, ReceivedInformation
from domain.encounter import Disposition, TransitionKind
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
        entries = patient_timeline(db, ward.patient)
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
        summaries = [entry.summary for entry in patient_timeline(db, ward.patient)]
    assert "diagnoses recorded (2)" in summaries
    assert "discharge information received from GENHOSP" in summaries
    assert "face_to_face follow-up visit with Dr. Osei" in summaries
    # 42 CFR Part 2: nothing on the timeline tells of the substance use disorder.
    assert not any("F10" in s or "substance" in s for s in summaries)
    ward.close()
