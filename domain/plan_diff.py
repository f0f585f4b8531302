"""What changed between two versions of a plan of care: goals and interventions added, removed
or changed, field by field. Compliance reviews and case conferences read a plan this way."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from domain.case import Goal, Intervention, PlanOfCare


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class ItemChange:
    """One goal or intervention: added (only `after`), removed (only `before`) or changed."""

    kind: str  # "goal" or "intervention"
    item_id: str
    before: str | None
    after: str | None
    changes: tuple[FieldChange, ...] = ()

    @property
    def change(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"


@dataclass(frozen=True)
class PlanDiff:
    from_version: int
    to_version: int
    reason: str
    items: tuple[ItemChange, ...]


def plan_diff(older: PlanOfCare, newer: PlanOfCare) -> PlanDiff:
    goals = _item_changes("goal", _by_id(older.goals), _by_id(newer.goals))
    interventions = _item_changes(
        "intervention", _by_id(older.interventions), _by_id(newer.interventions)
    )
    return PlanDiff(older.version, newer.version, newer.reason, goals + interventions)


def _by_id(items: tuple[Goal, ...] | tuple[Intervention, ...]) -> dict[str, Any]:
    return {
        item.goal_id if isinstance(item, Goal) else item.intervention_id: item for item in items
    }


def _item_changes(
    kind: str, before: dict[str, Any], after: dict[str, Any]
) -> tuple[ItemChange, ...]:
    changes = []
    for item_id in sorted(before.keys() | after.keys()):
        old, new = before.get(item_id), after.get(item_id)
        if old == new:
            continue
        changes.append(
            ItemChange(
                kind,
                item_id,
                None if old is None else old.description,
                None if new is None else new.description,
                () if old is None or new is None else _field_changes(old, new),
            )
        )
    return tuple(changes)


def _field_changes(old: Any, new: Any) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(field.name, str(getattr(old, field.name)), str(getattr(new, field.name)))
        for field in fields(old)
        if getattr(old, field.name) != getattr(new, field.name)
    )
