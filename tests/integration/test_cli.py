"""The `caretrail` command, run as a user runs it: a real process on a real store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import click
import pytest
from click.testing import CliRunner

from caretrail.cli import cli
from caretrail.plan_file import EXAMPLE
from domain.alert import AlertCause, Severity
from domain.encounter import Disposition, PatientClass
from services.alerting import AlertService
from services.application import Provenance
from services.bootstrap import bootstrap
from services.rules_config import DEFAULT_RULES_PATH
from services.settings import Settings

CORE_KEYS = {
    "position", "event_type", "aggregate_id", "version", "patient_id",
    "occurred_at", "recorded_at", "actor", "source",
}  # fmt: skip


class Terminal:
    """Runs caretrail commands against one store, as one user."""

    def __init__(self, store: str, workdir: Path) -> None:
        self.workdir = workdir
        self.env = os.environ | {
            "CARETRAIL_DATABASE_URL": store,
            "CARETRAIL_USER": "cm.rivera",
            "CARETRAIL_TIMEZONE": "America/New_York",
            "CARETRAIL_IDENTITY_KEY": "test-site-identity-key",
        }

    def run(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "caretrail", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            input=input_text,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str, input_text: str | None = None) -> str:
        done = self.run(*args, input_text=input_text)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def refused(self, *args: str, exit_code: int | None = None) -> str:
        done = self.run(*args)
        assert done.returncode != 0, done.stdout
        assert exit_code in (None, done.returncode), done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("caretrail: ")
        return lines[0]

    def log(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.ok("log", "--json").splitlines()]


@pytest.fixture(params=["sqlite", "postgres"])
def terminal(request: pytest.FixtureRequest, tmp_path: Path) -> Terminal:
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path}/store/caretrail.db"
    else:
        store = str(request.getfixturevalue("postgres_url"))
    return Terminal(store, tmp_path)


def open_a_case(terminal: Terminal) -> str:
    patient = terminal.ok(
        "patient", "register", "--mrn", "884422", "--authority", "GENHOSP",
        "--family", "Nguyen", "--given", "Linh", "--birth-date", "1951-04-09",
    )  # fmt: skip
    return terminal.ok(
        "case", "open", "--patient", patient, "--source", "referral", "--reason", "PCP"
    )


@pytest.fixture
def case_id(terminal: Terminal) -> str:
    return open_a_case(terminal)


@pytest.fixture(scope="module")
def sqlite_terminal_with_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Terminal, str]:
    """One store for the refusal tests: a refusal must leave it as it was, so it can be shared.
    Beside it, notes.txt: a file that is neither an anchor file nor a rule file."""
    workdir = tmp_path_factory.mktemp("refusals")
    (workdir / "notes.txt").write_text("call the pharmacy on Monday\n")
    terminal = Terminal(f"sqlite:///{workdir}/caretrail.db", workdir)
    return terminal, open_a_case(terminal)


def plan_json(goal: str) -> str:
    target = (date.today() + timedelta(days=40)).isoformat()
    return json.dumps(
        {"goals": [{"goal_id": "g1", "description": goal, "measure": "days per week",
                    "priority": 1, "target_date": target}]}
    )  # fmt: skip


def test_case_commands_record_each_step_and_show_the_case(terminal: Terminal, case_id: str) -> None:
    terminal.ok("case", "screen", case_id, "--result", "appropriate")
    terminal.ok("case", "consent", case_id, "--method", "verbal")
    terminal.ok("case", "assign", case_id, "--to", "cm.okafor")
    terminal.ok(
        "case", "assess", case_id, "--need", "housing:unstable housing",
        "--language", "Vietnamese", "--interpreter",
    )  # fmt: skip
    terminal.ok("case", "plan", case_id, "--file", "-", input_text=plan_json("Walk daily"))
    terminal.ok("case", "refer", case_id, "--referral-id", "r1", "--service", "meals",
                "--provider", "Meals on Wheels")  # fmt: skip
    terminal.ok("case", "referral", case_id, "--referral-id", "r1", "--answer", "decline")
    out = terminal.ok("case", "contact", case_id, "--mode", "phone", "--outcome", "successful")
    assert out.endswith("is now at version 9")
    out = terminal.ok(
        "case", "visit", case_id, "--provider", "Dr. Amari", "--mode", "video",
        "--focus", "mental_health",
    )  # fmt: skip
    assert out.startswith("mental_health follow-up visit recorded")
    out = terminal.ok(
        "case", "received", case_id, "--information", "discharge_information",
        "--from", "GENHOSP 4 West",
    )  # fmt: skip
    assert out.startswith("discharge_information received from GENHOSP 4 West")
    assert [e["event_type"] for e in terminal.log()[-2:]] == [
        "caretrail.FollowUpVisitRecorded",
        "caretrail.DischargeInformationReceived",
    ]

    shown = json.loads(terminal.ok("case", "show", case_id, "--json"))
    assert shown["consent"] == "active"
    assert shown["case_manager"] == "cm.okafor"
    assert shown["interpreter_needed"] is True
    assert shown["plan_of_care"]["goals"][0]["description"] == "Walk daily"
    assert shown["referrals"][0]["status"] == "declined"
    text = terminal.ok("case", "show", case_id)
    assert "P1 g1: Walk daily" in text


def test_log_json_lines_carry_actor_and_source_on_every_line(
    terminal: Terminal, case_id: str
) -> None:
    terminal.ok("case", "screen", case_id, "--result", "appropriate")
    entries = terminal.log()
    assert [e["event_type"] for e in entries] == [
        "caretrail.PatientRegistered", "caretrail.PatientIdentifierClaimed",
        "caretrail.CaseOpened", "caretrail.ClientScreened",
    ]  # fmt: skip
    for entry in entries:
        assert set(entry) == CORE_KEYS
        assert entry["actor"] == "cm.rivera"
        assert "source" in entry
    patient = str(entries[0]["patient_id"])
    assert len(json.loads(terminal.ok("log", "--json", "--patient", patient, "--limit", "2")
                          .splitlines()[-1])) == len(CORE_KEYS)  # fmt: skip
    assert terminal.ok("log", "--json", "--since", "2999-01-01") == ""


def test_case_show_as_of_a_past_time_shows_the_older_plan(terminal: Terminal, case_id: str) -> None:
    terminal.ok("case", "consent", case_id, "--method", "written")
    terminal.ok("case", "plan", case_id, "--file", "-", input_text=plan_json("Walk daily"))
    first_plan_at = str(terminal.log()[-1]["recorded_at"])
    terminal.ok("case", "plan", case_id, "--file", "-", "--reason", "fell at home",
                input_text=plan_json("Walk with a frame"))  # fmt: skip
    then = json.loads(terminal.ok("case", "show", case_id, "--as-of", first_plan_at, "--json"))
    now = json.loads(terminal.ok("case", "show", case_id, "--json"))
    assert then["plan_of_care"]["goals"][0]["description"] == "Walk daily"
    assert now["plan_of_care"]["goals"][0]["description"] == "Walk with a frame"
    assert now["plan_of_care"]["reason"] == "fell at home"


@pytest.mark.parametrize(
    ("args", "reason", "exit_code"),
    [
        (["case", "show", "7d1c1a43-8a4f-4e59-9f51-7a3d3c6c2b11"], "no case with id", 1),
        (["case", "show", "not-a-uuid"], "not a valid UUID", 2),
        (["case", "show", "{case}", "--as-of", "last tuesday"], "is not a time", 2),
        (["case", "refer", "{case}", "--referral-id", "r1", "--service", "meals",
          "--provider", "Meals on Wheels"], "a referral needs the client's active consent", 1),
        (["case", "reopen", "{case}", "--reason", "x"], "only a closed case can be reopened", 1),
        (["case", "consent", "{case}", "--method", "telepathy"], "'telepathy' is not one of", 2),
        (["case", "screen", "{case}", "--result", "appropriate", "--expected-version", "7"],
         "is at version 1, not 7", 1),
        (["case", "received", "{case}", "--information", "discharge_information",
          "--from", " "], "a receipt of discharge_information needs whom it came from", 1),
        (["case", "visit", "{case}", "--provider", "Dr. Amari", "--focus", "spiritual"],
         "'spiritual' is not one of", 2),
        (["case", "screen", "{case}"],
         "Missing option '--result'. Choose from: appropriate, not_appropriate", 2),
        (["log", "--since", "yesterday"], "is not a time", 2),
        (["--database", "mysql://x/y", "log"], "unsupported database URL 'mysql://x/y'", 2),
        (["replay", "--as-of", "2026-12-03", "--into", "bogus://x"],
         "Invalid value for '--into': unsupported database URL 'bogus://x'", 2),
        (["audit", "verify", "--anchor", "notes.txt"],
         "notes.txt line 1: 'call the pharmacy on Monday' is not an anchor", 2),
        (["rules", "backtest", "--rules", "notes.txt", "--from", "2026-01-01",
          "--to", "2026-02-01"], "notes.txt: not valid TOML", 2),
    ],
)  # fmt: skip
def test_bad_input_gets_one_line_reason_its_exit_code_and_store_unchanged(
    sqlite_terminal_with_case: tuple[Terminal, str], args: list[str], reason: str, exit_code: int
) -> None:
    terminal, case_id = sqlite_terminal_with_case
    before = terminal.log()
    line = terminal.refused(*(arg.replace("{case}", case_id) for arg in args), exit_code=exit_code)
    assert reason in line
    assert terminal.log() == before


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["patient", "register", "--mrn", " 884422", "--authority", "GENHOSP",
          "--family", "Nguyen", "--given", "Linh"], "the GENHOSP identifier has blanks around it"),
        (["patient", "register", "--mrn", "a|b^c", "--authority", "GENHOSP",
          "--family", "Nguyen", "--given", "Linh"], "holds HL7 delimiters"),
        (["patient", "register", "--mrn", "5550199", "--authority", "GENHOSP",
          "--family", "", "--given", ""], "registering a patient needs their family name"),
        (["patient", "register", "--mrn", "5550199", "--authority", "GENHOSP",
          "--family", "Nguyen", "--given", "Linh", "--birth-date", "2099-01-01"],
         "birth date 2099-01-01 is after"),
        (["case", "assign", "{case}", "--to", ""], "needs the case manager's user id"),
        (["case", "assess", "{case}", "--need", "housing", "--language", "Vietnamese"],
         "the housing need has no description"),
        (["case", "consent", "{case}", "--method", "verbal", "--occurred-at", "1990-01-01"],
         "nothing on it can have happened before that"),
    ],
)  # fmt: skip
def test_a_rule_of_the_domain_refuses_with_one_line_and_exit_1_storing_nothing(
    sqlite_terminal_with_case: tuple[Terminal, str], args: list[str], reason: str
) -> None:
    terminal, case_id = sqlite_terminal_with_case
    before = terminal.log()
    done = terminal.run(*(arg.replace("{case}", case_id) for arg in args))
    assert (done.returncode, done.stdout) == (1, "")
    (line,) = done.stderr.splitlines()
    assert line.startswith("caretrail: ")
    assert reason in line
    assert terminal.log() == before


def test_a_time_zone_that_does_not_exist_is_refused_naming_the_setting(
    sqlite_terminal_with_case: tuple[Terminal, str],
) -> None:
    terminal, _ = sqlite_terminal_with_case
    on_mars = Terminal(terminal.env["CARETRAIL_DATABASE_URL"], terminal.workdir)
    on_mars.env["CARETRAIL_TIMEZONE"] = "Mars/Base"
    line = on_mars.refused("log", exit_code=2)
    assert line.startswith("caretrail: CARETRAIL_TIMEZONE: no time zone named 'Mars/Base'")


UNKNOWN_ID = "7d1c1a43-8a4f-4e59-9f51-7a3d3c6c2b11"


@pytest.mark.parametrize(
    "args",
    [
        ["log"],
        ["patient", "show", UNKNOWN_ID],
        ["case", "show", UNKNOWN_ID],
        ["alerts", "list"],
        ["audit", "verify"],
        ["audit", "export", "--case", UNKNOWN_ID],
        ["replay", "--as-of", "2026-12-03"],
        ["rules", "backtest", "--rules", str(DEFAULT_RULES_PATH), "--from", "2026-01-01",
         "--to", "2026-02-01"],
        ["projections", "rebuild", "--verify"],
        ["quarantine", "list"],
        ["quarantine", "show", "1"],
    ],
)  # fmt: skip
def test_a_command_that_only_reads_refuses_a_store_that_is_not_there_and_creates_none(
    tmp_path: Path, args: list[str]
) -> None:
    terminal = Terminal(f"sqlite:///{tmp_path}/mistyped/caretrail.db", tmp_path)
    line = terminal.refused(*args, exit_code=3)
    assert line.startswith(f"caretrail: no store at {tmp_path}/mistyped/caretrail.db: check")
    assert not (tmp_path / "mistyped").exists()


@pytest.mark.parametrize("args", [["log"], ["quarantine", "list"]])
def test_a_file_that_is_not_a_store_is_refused_in_one_line(tmp_path: Path, args: list[str]) -> None:
    garbage = tmp_path / "caretrail.db"
    garbage.write_text("these are not the droids\n")
    line = Terminal(f"sqlite:///{garbage}", tmp_path).refused(*args, exit_code=3)
    assert line == f"caretrail: {garbage} cannot be used as a store: file is not a database"
    assert garbage.read_text() == "these are not the droids\n"


def test_a_store_moved_without_its_identity_key_is_refused_rather_than_given_a_new_one(
    tmp_path: Path,
) -> None:
    """Under a new key no stored identifier would be found: the MRN would be registered again."""
    register = ("patient", "register", "--mrn", "884422", "--authority", "GENHOSP",
                "--family", "Nguyen", "--given", "Linh")  # fmt: skip
    original = Terminal(f"sqlite:///{tmp_path}/caretrail.db", tmp_path)
    del original.env["CARETRAIL_IDENTITY_KEY"]  # so the key is the file kept beside the store
    original.ok(*register)
    shutil.copy(tmp_path / "caretrail.db", tmp_path / "moved.db")
    moved = Terminal(f"sqlite:///{tmp_path}/moved.db", tmp_path)
    del moved.env["CARETRAIL_IDENTITY_KEY"]
    before = moved.log()

    line = moved.refused(*register, exit_code=3)

    assert f"{tmp_path}/moved.identity-key is missing" in line
    assert "CARETRAIL_IDENTITY_KEY" in line
    assert not (tmp_path / "moved.identity-key").exists()
    assert moved.log() == before
    shutil.copy(tmp_path / "caretrail.identity-key", tmp_path / "moved.identity-key")
    assert "already registered" in moved.refused(*register, exit_code=1)


def test_a_refused_transition_on_postgres_leaves_the_store_unchanged(
    terminal: Terminal, case_id: str
) -> None:
    before = terminal.log()
    line = terminal.refused("case", "withdraw-consent", case_id, "--reason", "moving")
    assert line == "caretrail: there is no active consent to withdraw"
    assert terminal.log() == before


def walk(command: click.Command, path: list[str]) -> list[list[str]]:
    found = [path]
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            found += walk(sub, [*path, name])
    return found


def test_every_command_has_help() -> None:
    paths = walk(cli, [])
    assert ["case", "close"] in paths
    assert ["demo"] in paths
    assert ["audit", "verify"] in paths
    for path in paths:
        shown = CliRunner().invoke(cli, [*path, "--help"], prog_name="caretrail")
        assert shown.exit_code == 0, (path, shown.output)
        assert f"Usage: caretrail {' '.join(path)}".rstrip() in shown.output
        assert "--help" in shown.output


def test_demo_feeds_a_seeded_population_and_prints_a_summary(tmp_path: Path) -> None:
    def run_demo() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "caretrail", "demo", "--no-serve", "--patients", "40"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    first, second = run_demo(), run_demo()
    assert "patients       40" in first
    same_population = [line for line in first.splitlines() if "events stored" not in line]
    assert same_population == [line for line in second.splitlines() if "events stored" not in line]
    assert (tmp_path / ".caretrail" / "demo.db").exists()
    assert not (tmp_path / ".caretrail" / "caretrail.db").exists()


def test_the_demo_refuses_a_store_it_did_not_make_and_leaves_it_as_it_was(
    terminal: Terminal,
) -> None:
    real = terminal.env["CARETRAIL_DATABASE_URL"]
    open_a_case(terminal)
    before = terminal.log()
    configured = terminal.refused("demo", "--no-serve", "--patients", "3", "--store", real)
    assert "is the configured store" in configured
    elsewhere = terminal.env | {"CARETRAIL_DATABASE_URL": "sqlite:///elsewhere.db"}
    done = subprocess.run(
        [sys.executable, "-m", "caretrail", "demo", "--no-serve", "--patients", "3",
         "--store", real],
        env=elsewhere, cwd=terminal.workdir, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "holds events the demo did not write" in done.stderr
    assert terminal.log() == before


def test_a_fresh_process_reads_events_of_every_domain_module(tmp_path: Path) -> None:
    """`caretrail log` imports no alert code, yet the store holds alert events: each stored
    topic must resolve in any process (this crashed on the scheduler's first alert)."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    app = bootstrap(Settings(database_url=store))
    cause = AlertCause(
        "tcm-interactive-contact", "1", Severity.HIGH, "no contact yet", {}, None, uuid4(), 1
    )
    AlertService(app).raise_alert(uuid4(), "tcm-interactive-contact:1", cause)
    app.close()
    done = subprocess.run(
        [sys.executable, "-m", "caretrail", "--database", store, "log", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
        env=os.environ | {"CARETRAIL_USER": "tester"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["event_type"] for line in done.stdout.splitlines()] == [
        "caretrail.AlertRaised"
    ]


def test_an_mrn_registered_once_is_refused_the_second_time_naming_its_patient(
    terminal: Terminal,
) -> None:
    register = ("patient", "register", "--mrn", "5550123", "--authority", "GENHOSP",
                "--family", "Okafor", "--given", "Ada")  # fmt: skip
    patient_id = terminal.ok(*register).strip()
    refused = terminal.refused(*register)
    assert f"already registered to patient {patient_id}" in refused


def test_patient_show_names_a_readmission_flag(terminal: Terminal) -> None:
    patient_id = terminal.ok(
        "patient", "register", "--mrn", "330017", "--authority", "GENHOSP",
        "--family", "Haddad", "--given", "Rami",
    )  # fmt: skip
    assert "flag" not in terminal.ok("patient", "show", patient_id)
    app = bootstrap(Settings(database_url=terminal.env["CARETRAIL_DATABASE_URL"]))
    now = datetime.now(UTC)
    for visit, admitted, discharged in (("V1", 20, 16), ("V2", 6, 2)):
        encounter = app.register_encounter(
            UUID(patient_id), facility="GENHOSP", visit_number=visit,
            patient_class=PatientClass.INPATIENT, location="4W",
            by=Provenance("feed:adt", now - timedelta(days=admitted)),
        )  # fmt: skip
        app.discharge(
            encounter, Disposition.HOME, Provenance("feed:adt", now - timedelta(days=discharged))
        )
    app.close()
    shown = terminal.ok("patient", "show", patient_id)
    (flag,) = [line for line in shown.splitlines() if line.lstrip().startswith("flag")]
    assert "Readmitted within 30 days since " in flag
    assert "Readmitted 10 days after discharge" in flag
    as_of = terminal.ok("patient", "show", patient_id, "--as-of", now.isoformat())
    assert "flag" not in as_of


def test_the_plan_example_in_the_help_is_a_plan_caretrail_accepts(
    terminal: Terminal, case_id: str
) -> None:
    terminal.ok("case", "consent", case_id, "--method", "verbal")
    assert "plan of care saved" in terminal.ok(
        "case", "plan", case_id, "--file", "-", input_text=EXAMPLE
    )
