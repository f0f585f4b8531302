"""A patient's timeline: encounters, transitions, case actions and alerts in clinical order."""

from __future__ import annotations

from consumers.embedded import EventStoreFeed
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
