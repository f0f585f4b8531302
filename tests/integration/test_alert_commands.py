"""`caretrail alerts`, `caretrail scheduler` and `caretrail rules backtest` on a SQLite store.

The stay below happened in March 2026 (the tests' manual clock); the commands run on the real
clock, so by then every deadline of it is overdue.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from domain.case import CaseSource
from domain.encounter import Disposition, PatientClass
from domain.patient import Demographics, Identifier
from services.application import CareTrail, Provenance
from services.rules_config import DEFAULT_RULES_PATH
from tests.clock import ManualClock
from tests.terminal import Terminal, terminal

__all__ = ["terminal"]

FEED = Provenance("feed:genhosp", source="GENHOSP|ADT|1")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/caretrail.db"


@pytest.fixture
def stay(app: CareTrail, clock: ManualClock) -> CareTrail:
    """A client with an open case, admitted and discharged against medical advice."""
    patient = app.register_patient(
        [Identifier("884422", "GENHOSP")], Demographics("Nguyen", "Linh", date(1951, 4, 9)), FEED
    )
    case = app.open_case(patient, CaseSource.REFERRAL, "PCP", FEED)
    app.assign_case_manager(case, "cm.chen", "caseload", FEED)
    encounter = app.register_encounter(
        patient, facility="GENHOSP", visit_number="V1", patient_class=PatientClass.INPATIENT,
        location="4W", by=FEED,
    )  # fmt: skip
    clock.advance(days=2)
    app.discharge(encounter, Disposition.AGAINST_MEDICAL_ADVICE, FEED)
    return app


def stored(app: CareTrail) -> int:
    return sum(1 for _ in app.event_log())


def listed(terminal: Terminal) -> list[dict[str, str]]:
    return [json.loads(line) for line in terminal.ok("alerts", "list", "--json").splitlines()]


def test_the_scheduler_raises_once_and_the_queue_shows_it(
    stay: CareTrail, terminal: Terminal
) -> None:
    before = terminal.ok("alerts", "list")
    assert "no open alerts" in before
    assert "are not raised yet: the scheduler raises them" in before
    first = terminal.ok("scheduler", "--once")
    assert first.startswith("tick: raise ")
    assert terminal.ok("scheduler", "--once").strip() == "tick: nothing"
    assert "not raised yet" not in terminal.ok("alerts", "list")
    alerts = listed(terminal)
    assert {alert["rule_id"] for alert in alerts} >= {"discharge-ama", "admission-open-case"}
    assert {alert["case_manager"] for alert in alerts} == {"cm.chen"}
    raised_at = alerts[0]["raised_at"]  # ISO 8601 with its offset, as `caretrail log --json`
    assert raised_at[10] == "T"
    assert datetime.fromisoformat(raised_at).tzinfo is not None
    queue = terminal.ok("alerts", "list", "--case-manager", "cm.chen")
    assert "needing attention: cm.chen" in queue


def test_a_case_manager_acknowledges_snoozes_and_escalates(
    stay: CareTrail, terminal: Terminal
) -> None:
    terminal.ok("scheduler", "--once")
    alert = next(a for a in listed(terminal) if a["rule_id"] == "discharge-ama")["alert_id"]
    assert "acknowledged" in terminal.ok("alerts", "ack", alert, "--note", "calling now")
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    terminal.ok("alerts", "snooze", alert, "--reason", "client asked", "--until", tomorrow)
    terminal.ok("alerts", "escalate", alert, "--reason", "unreachable", "--to", "sup.diaz")
    shown = next(a for a in listed(terminal) if a["alert_id"] == alert)
    assert (shown["state"], shown["escalated_to"]) == ("snoozed", "sup.diaz")


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (("snooze", "{alert}", "--reason", " ", "--until", "2099-01-01"), "needs a reason"),
        (("snooze", "{alert}", "--reason", "later", "--until", "2020-01-01"), "in the future"),
        (("snooze", "{alert}", "--until", "2099-01-01"), "Missing option '--reason'"),
        (("snooze", "{alert}", "--reason", "x", "--until", "soon"), "is not a time"),
        (("ack", "00000000-0000-4000-8000-000000000000"), "no alert with id"),
        (("ack", "not-a-uuid"), "not a valid UUID"),
    ],
)
def test_bad_alert_commands_are_refused_in_one_line_and_store_nothing(
    stay: CareTrail, terminal: Terminal, arguments: tuple[str, ...], reason: str
) -> None:
    terminal.ok("scheduler", "--once")
    alert = listed(terminal)[0]["alert_id"]
    before = stored(stay)
    line = terminal.refused("alerts", *(a.format(alert=alert) for a in arguments))
    assert reason in line
    assert stored(stay) == before


def test_a_backtest_shows_what_a_candidate_rule_file_would_change_and_writes_nothing(
    stay: CareTrail, terminal: Terminal, tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate.toml"
    rules = DEFAULT_RULES_PATH.read_text()
    rules = rules.replace('version = "2026.1"', 'version = "2026.2-candidate"')
    rules = rules.replace(
        'id = "discharge-ama"\nsource = "Project RED (Re-Engineered Discharge); CMSA Standards '
        'of Practice: monitoring"\nseverity = "high"\nenabled = true',
        'id = "discharge-ama"\nsource = "Project RED (Re-Engineered Discharge); CMSA Standards '
        'of Practice: monitoring"\nseverity = "high"\nenabled = false',
    )
    candidate.write_text(rules)
    before = stored(stay)
    report = terminal.ok(
        "rules", "backtest", "--rules", str(candidate), "--from", "2026-03-01", "--to", "2026-04-30"
    )
    assert "candidate (v2026.2-candidate)" in report
    assert "discharge-ama" in report
    assert "only in force: 1; only candidate: 0" in report
    assert stored(stay) == before


def test_a_backtest_refuses_a_broken_rule_file_and_an_empty_period(
    stay: CareTrail, terminal: Terminal, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('version = "x"\n[organization]\ntimezone = "Mars/Olympus"\n')
    line = terminal.refused("rules", "backtest", "--rules", str(broken), "--from", "2026-03-01",
                            "--to", "2026-04-01")  # fmt: skip
    assert "broken.toml" in line
    line = terminal.refused("rules", "backtest", "--rules", str(DEFAULT_RULES_PATH),
                            "--from", "2026-04-01", "--to", "2026-03-01")  # fmt: skip
    assert "--from must be before --to" in line
