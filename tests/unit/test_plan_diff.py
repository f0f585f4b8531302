"""The difference between two plan versions, as a reviewer reads it."""

from __future__ import annotations

from datetime import date

from domain.case import Goal, Intervention, PlanOfCare
from domain.plan_diff import plan_diff

WEIGH = Goal("g1", "Daily weights", "7 of 7 days", 1, date(2026, 4, 1))
CLINIC = Goal("g2", "Attend heart clinic", "visit kept", 2, date(2026, 4, 15))
SCALE = Intervention("i1", "g1", "Deliver a scale", "cm.rivera", date(2026, 3, 10))


def test_added_removed_and_changed_goals_and_interventions_are_named_with_their_fields() -> None:
    first = PlanOfCare(1, (WEIGH, CLINIC), (SCALE,), "first draft")
    later_weigh = Goal("g1", "Daily weights", "6 of 7 days", 1, date(2026, 4, 20))
    rides = Intervention("i2", "g2", "Book rides", "cm.rivera", date(2026, 3, 20))
    second = PlanOfCare(2, (later_weigh,), (SCALE, rides), "clinic moved to PCP")

    diff = plan_diff(first, second)

    assert (diff.from_version, diff.to_version, diff.reason) == (1, 2, "clinic moved to PCP")
    by_item = {(item.kind, item.item_id): item for item in diff.items}
    assert set(by_item) == {("goal", "g1"), ("goal", "g2"), ("intervention", "i2")}
    assert by_item["goal", "g2"].change == "removed"
    assert by_item["intervention", "i2"].change == "added"
    changed = by_item["goal", "g1"]
    assert changed.change == "changed"
    assert [(c.field, c.before, c.after) for c in changed.changes] == [
        ("measure", "7 of 7 days", "6 of 7 days"),
        ("target_date", "2026-04-01", "2026-04-20"),
    ]


def test_identical_plans_differ_in_nothing() -> None:
    plan = PlanOfCare(1, (WEIGH,), (SCALE,), "first")
    assert plan_diff(plan, PlanOfCare(2, (WEIGH,), (SCALE,), "re-signed")).items == ()
