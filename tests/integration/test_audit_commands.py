"""`caretrail audit seal|verify|export` on a SQLite store, tampered with behind caretrail's back."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest

from domain.case import CaseSource
from domain.patient import Demographics, Identifier
from services.application import CareTrail, Provenance
from tests.terminal import Terminal, terminal

__all__ = ["terminal"]

NURSE = Provenance("cm.chen")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/caretrail.db"


@pytest.fixture
def case(app: CareTrail) -> UUID:
    patient = app.register_patient(
        [Identifier("884422", "GENHOSP")], Demographics("Nguyen", "Linh", date(1951, 4, 9)), NURSE
    )
    case = app.open_case(patient, CaseSource.REFERRAL, "PCP", NURSE)
    app.assign_case_manager(case, "cm.chen", "caseload", NURSE)
    return case


def test_seal_verify_and_a_changed_byte_named_by_position(
    case: UUID, terminal: Terminal, store_url: str, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    assert "sealed up to position 3" in terminal.ok("audit", "seal", "--anchor", str(anchors))
    assert json.loads(anchors.read_text())["position"] == 3
    assert "intact: 3 sealed events" in terminal.ok("audit", "verify", "--anchor", str(anchors))
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE stored_events SET state = replace(state, 'PCP', 'PCX') WHERE rowid = 2")
    line = terminal.refused("audit", "verify")
    assert "altered at position 2" in line


def test_export_a_case_as_fhir_and_a_patient_as_csv(
    app: CareTrail, case: UUID, terminal: Terminal, tmp_path: Path
) -> None:
    terminal.ok("audit", "seal")
    bundle = json.loads(terminal.ok("audit", "export", "--case", str(case)))
    assert bundle["resourceType"] == "Bundle"
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds == ["AuditEvent", "Provenance"] * 2
    out = tmp_path / "history.csv"
    patient = app.case(case).patient_id
    terminal.ok(
        "audit", "export", "--patient", str(patient), "--format", "csv", "--output", str(out)
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["event_type"].removeprefix("caretrail.") for row in rows] == [
        "PatientRegistered", "CaseOpened", "CaseManagerAssigned",
    ]  # fmt: skip
    assert f"{patient} is not a case" in terminal.refused("audit", "export", "--case", str(patient))


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (("export",), "exactly one of --patient or --case"),
        (("export", "--patient", "00000000-0000-4000-8000-000000000000"), "no patient with id"),
        (("export", "--case", "x"), "not a valid UUID"),
        (("export", "--case", "00000000-0000-4000-8000-000000000000"), "no case with id"),
        (("verify", "--anchor", "/no/such/file"), "does not exist"),
    ],
)
def test_bad_audit_commands_are_refused_in_one_line(
    case: UUID, terminal: Terminal, arguments: tuple[str, ...], reason: str
) -> None:
    assert reason in terminal.refused("audit", *arguments)


def test_an_export_from_a_store_not_created_yet_is_refused_in_one_line_creating_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = Terminal(f"sqlite:///{tmp_path}/not/yet/caretrail.db", capsys)
    assert "no store at" in fresh.refused("audit", "export", "--case", str(UUID(int=1)))
    assert not (tmp_path / "not").exists()


def test_verify_refuses_to_call_a_log_intact_that_no_seal_covers(
    case: UUID, terminal: Terminal
) -> None:
    assert "no seal covers the 3 stored events" in terminal.refused("audit", "verify")
    terminal.ok("audit", "seal")
    assert terminal.ok("audit", "verify").startswith("intact: 3 sealed events")
