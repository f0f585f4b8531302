"""The current plan of care per case and the caseload worklist, built from case events only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from uuid import UUID

import pytest

from consumers.embedded import EventStoreFeed
from domain.case import (
    CaseSource,
    ClosureReason,
    Goal,
    GoalOutcome,
    Intervention,
    ScreeningResult,
)
from domain.patient import Demographics, Identifier
from projections.plan_views import PlanView, PlanViews, caseload, plan_view
from projections.store import ProjectionStore
from services.application import CareTrail, Provenance
from services.bootstrap import bootstrap
from services.settings import Settings
from tests.clock import ManualClock

NURSE = Provenance("cm.rivera")


class Caseload:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.app: CareTrail = bootstrap(Settings(database_url="memory://"), clock=self.clock)
        self.store = ProjectionStore.open("memory://")
        self.store.create_tables()
        self.feed = EventStoreFeed(self.app, self.store, [PlanViews()])

    def consented_case(self, manager: str = "cm.rivera") -> UUID:
        patient = self.app.register_patient(
            [Identifier("1", "GENHOSP")], Demographics("Okafor", "Ada", date(1950, 1, 1)), NURSE
        )
        case = self.app.open_case(patient, CaseSource.REFERRAL, "PCP referral", NURSE)
        self.app.screen(case, ScreeningResult.APPROPRIATE, "", NURSE)
        self.app.give_consent(case, "client", "verbal", NURSE)
        self.app.assign_case_manager(case, manager, "caseload", NURSE)
        return case

    def view(self, case: UUID) -> PlanView:
        self.feed.catch_up()
        with self.store.engine.connect() as db:
            view = plan_view(db, case)
        assert view is not None
        return view


@pytest.fixture
def cases() -> Iterator[Caseload]:
    caseload_ = Caseload()
    yield caseload_
    caseload_.store.close()
    caseload_.app.close()


def goals(today: date) -> list[Goal]:
    return [
        Goal("g2", "Attend follow-up", "visit done", 2, today + timedelta(days=14)),
        Goal("g1", "Weigh daily", "days weighed", 1, today + timedelta(days=30)),
    ]


def test_the_plan_view_shows_goals_by_priority_interventions_referrals_barriers(
    cases: Caseload,
) -> None:
    case = cases.consented_case()
    today = cases.clock().date()
    interventions = [Intervention("i1", "g1", "Teach-back", "cm.rivera", today + timedelta(days=3))]
    cases.app.revise_plan(case, goals(today), interventions, "", NURSE)
    cases.app.refer(case, "r1", "home health", "VNS", "post-discharge", NURSE)
    cases.app.answer_referral(case, "r1", "accept", "starts Monday", NURSE)
    cases.app.note_barrier(case, "b1", "no car", NURSE)
    view = cases.view(case)
    assert [goal.goal_id for goal in view.goals] == ["g1", "g2"]
    assert view.interventions[0].owner == "cm.rivera"
    assert [(r.referral_id, r.status) for r in view.referrals] == [("r1", "accepted")]
    assert [(b.barrier_id, b.resolution) for b in view.barriers] == [("b1", None)]
    assert (view.consent, view.case_manager, view.plan_version) == ("active", "cm.rivera", 1)


def test_a_revision_replaces_the_plan_and_kept_goals_keep_their_outcome(cases: Caseload) -> None:
    case = cases.consented_case()
    today = cases.clock().date()
    cases.app.revise_plan(case, goals(today), [], "", NURSE)
    cases.app.evaluate_goal(case, "g2", GoalOutcome.MET, "visit on record", NURSE)
    cases.app.revise_plan(case, goals(today)[:1], [], "g1 dropped after admission", NURSE)
    view = cases.view(case)
    assert [(g.goal_id, g.outcome) for g in view.goals] == [("g2", "met")]
    assert (view.plan_version, view.plan_reason) == (2, "g1 dropped after admission")


def test_withdrawn_consent_and_closure_show_in_the_view(cases: Caseload) -> None:
    case = cases.consented_case()
    cases.app.withdraw_consent(case, "client declined further contact", NURSE)
    assert cases.view(case).consent == "withdrawn"
    cases.app.close_case(case, ClosureReason.CLIENT_DECLINED, "call us any time", NURSE)
    assert cases.view(case).status == "closed (client_declined)"


def test_the_caseload_lists_open_cases_earliest_due_intervention_first(cases: Caseload) -> None:
    today = cases.clock().date()
    later, sooner, unplanned = (cases.consented_case() for _ in range(3))
    for case, days in ((later, 9), (sooner, 2)):
        item = Intervention("i1", "g1", "Call", "cm.rivera", today + timedelta(days=days))
        cases.app.revise_plan(case, goals(today), [item], "", NURSE)
    cases.app.refer(sooner, "r1", "meals", "Meals on Wheels", "", NURSE)
    someone_elses = cases.consented_case(manager="cm.okafor")
    closed = cases.consented_case()
    cases.app.close_case(closed, ClosureReason.MOVED, "call us", NURSE)
    cases.feed.catch_up()
    with cases.store.engine.connect() as db:
        worklist = caseload(db, "cm.rivera")
    assert [entry.case_id for entry in worklist] == [sooner, later, unplanned]
    assert worklist[0].pending_referrals == 1
    assert worklist[0].next_intervention_due == today + timedelta(days=2)
    assert someone_elses not in [entry.case_id for entry in worklist]
