"""Rows held for a batch: loaded once, changed in memory, written back once (SQLite and PostgreSQL
alike), with nothing written that the batch did not change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from projections.batch_rows import BatchRows
from projections.deadlines import rule_cases, rule_transitions
from projections.store import ProjectionStore

ARRIVED = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)


def case(case_id: str, patient: str, **values: Any) -> dict[str, Any]:
    return {"case_id": case_id, "patient_id": patient, "open": True, "case_manager": None,
            "active_referrals": 0, **values}  # fmt: skip


def stored_cases(db: Connection) -> dict[str, tuple[Any, ...]]:
    return {row.case_id: tuple(row) for row in db.execute(select(rule_cases))}


def test_changes_removals_and_new_rows_are_written_back_and_nothing_else(
    store: ProjectionStore,
) -> None:
    with store.engine.begin() as db:
        db.execute(rule_cases.insert(), [case("c1", "p1"), case("c2", "p1"), case("c3", "p2")])
    with store.engine.begin() as db:
        cases = BatchRows(rule_cases, index_by=("patient_id",))
        assert len(cases.load(db, "patient_id", ["p1"])) == 2
        first = cases.get("c1")
        assert first is not None
        cases.change(first, case_manager="cm.chen", active_referrals=2)
        cases.remove("c2")
        cases.put(case("c4", "p1", open=False))
        assert sorted(row["case_id"] for row in cases.where("patient_id", "p1")) == ["c1", "c4"]
        cases.write(db)
    with store.engine.connect() as db:
        assert stored_cases(db) == {
            "c1": ("c1", "p1", True, "cm.chen", 2),
            "c3": ("c3", "p2", True, None, 0),
            "c4": ("c4", "p1", False, None, 0),
        }


def test_loading_again_keeps_what_the_batch_changed_and_left_out_columns_take_defaults(
    store: ProjectionStore,
) -> None:
    with store.engine.begin() as db:
        db.execute(rule_cases.insert(), [case("c1", "p1")])
    with store.engine.begin() as db:
        cases = BatchRows(rule_cases, index_by=("patient_id",))
        cases.load(db, "patient_id", ["p1"])
        held = cases.get("c1")
        assert held is not None
        cases.change(held, open=False)
        assert cases.load(db, "case_id", ["c1"]) == []
        cases.remove("c1")
        assert cases.load(db, "case_id", ["c1"]) == []
        cases.put(case("c1", "p1", active_referrals=1))
        transitions = BatchRows(rule_transitions)
        transitions.put(
            {"encounter_id": "e1", "number": 1, "patient_id": "p1", "kind": "discharge",
             "patient_class": "inpatient", "disposition": "home", "occurred_at": ARRIVED,
             "recorded_at": ARRIVED, "cancelled": False, "has_open_case": True,
             "follow_up_planned": False, "notified": True, "ref": "PatientDischarged/e1@2"}
        )  # fmt: skip
        cases.write(db)
        transitions.write(db)
    with store.engine.connect() as db:
        assert stored_cases(db) == {"c1": ("c1", "p1", True, None, 1)}
        (transition,) = db.execute(select(rule_transitions)).all()
        assert transition.previous_class is None
        assert transition.occurred_at == ARRIVED


def test_rows_asked_for_by_more_keys_than_one_statement_takes_all_load(
    store: ProjectionStore,
) -> None:
    with store.engine.begin() as db:
        db.execute(rule_cases.insert(), [case(f"c{n}", f"p{n}") for n in range(1200)])
    with store.engine.connect() as db:
        cases = BatchRows(rule_cases, index_by=("patient_id",))
        loaded = cases.load(db, "patient_id", [f"p{n}" for n in range(0, 1200, 2)] * 2)
        assert len(loaded) == 600
        assert cases.where("patient_id", "p1198")[0]["case_id"] == "c1198"
        assert cases.where("patient_id", "p1199") == []
