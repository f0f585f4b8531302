"""Read models rebuilt from the log: the property behind `projections rebuild` and `replay`, and
the two commands run as a user runs them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from caretrail.projection_commands import feed_from_log
from consumers.embedded import EventStoreFeed
from domain.alert import AlertCause, AlertIsClosed, Severity
from domain.case import CaseSource, ContactOutcome, Goal, ScreeningResult
from domain.encounter import Disposition, EncounterStatus, PatientClass, TransitionKind
from domain.errors import DomainRuleViolation
from domain.patient import Demographics, Identifier
from projections.alerts import open_alerts
from projections.plan_views import plan_goals
from projections.store import ProjectionStore
from services.alerting import AlertService
from services.application import CareTrail, Provenance
from services.errors import NotFound
from services.read_models import read_models
from tests.clock import ManualClock
from tests.terminal import Terminal, terminal
from tests.ward import NURSE, Ward, local

__all__ = ["terminal"]

START = local(2026, 3, 2, 8)
BY = Provenance(NURSE)


@dataclass(frozen=True)
class Step:
    """One thing that happens in a random history, `hours` after the previous one."""

    kind: str
    hours: int
    choice: int


# Admissions, discharges and ticks come up more often, as they do on a ward.
STEP_KINDS = (
    "admit", "admit", "admit_ed", "discharge", "discharge", "discharge_ama", "cancel_discharge",
    "cancel_admission", "open_case", "contact", "failed_contact", "refer", "visit", "tick",
    "tick", "acknowledge", "merge", "catch_up",
)  # fmt: skip

steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(STEP_KINDS),
        hours=st.integers(min_value=0, max_value=40),
        choice=st.integers(min_value=0, max_value=3),
    ),
    min_size=10,
    max_size=30,
)


class History:
    """Plays steps on a ward, catching an incremental store up now and then."""

    def __init__(self, ward: Ward) -> None:
        self.ward = ward
        self.now = START
        self.encounters: list[UUID] = []
        self.cases: list[UUID] = []
        self.patients = [ward.patient, ward.register()]
        self.incremental = ProjectionStore.open("memory://")
        self.incremental.create_tables()
        self.feed = EventStoreFeed(ward.app, self.incremental, read_models(), section_size=3)

    def play(self, step: Step) -> None:
        self.now += timedelta(hours=step.hours, minutes=7)
        # A refused command records nothing, as in real life.
        with suppress(DomainRuleViolation, NotFound, AlertIsClosed):
            self._actions[step.kind](self, step.choice)

    def _pick(self, items: list[UUID], choice: int) -> UUID:
        if not items:
            raise NotFound("nothing to pick")
        return items[choice % len(items)]

    def _admit(self, choice: int, patient_class: PatientClass = PatientClass.INPATIENT) -> None:
        patient = self.patients[choice % 2]
        self.encounters.append(self.ward.admit(self.now, patient_class, patient=patient))

    def _discharge(self, choice: int, disposition: Disposition = Disposition.HOME) -> None:
        # Messages are late sometimes: the clinical time is up to a day before arrival.
        in_house = [
            encounter
            for encounter in self.encounters
            if self.ward.app.encounter(encounter).status is EncounterStatus.ACTIVE
        ]
        encounter = self._pick(in_house, choice)
        at = self.now - timedelta(hours=6 * choice)
        self.ward.discharge(encounter, at, disposition, arrives=self.now)

    def _cancel(self, choice: int, kind: TransitionKind) -> None:
        self.ward.cancel(self._pick(self.encounters, choice), kind, self.now)

    _actions: ClassVar[dict[str, Callable[[History, int], object]]] = {
        "admit": lambda h, c: h._admit(c),
        "admit_ed": lambda h, c: h._admit(c, PatientClass.EMERGENCY),
        "discharge": lambda h, c: h._discharge(c),
        "discharge_ama": lambda h, c: h._discharge(c, Disposition.AGAINST_MEDICAL_ADVICE),
        "cancel_discharge": lambda h, c: h._cancel(c, TransitionKind.DISCHARGE),
        "cancel_admission": lambda h, c: h._cancel(c, TransitionKind.ADMISSION),
        "open_case": lambda h, c: h.cases.append(h.ward.open_case(h.now)),
        "contact": lambda h, c: h.ward.contact(h._pick(h.cases, c), h.now),
        "failed_contact": lambda h, c: h.ward.contact(
            h._pick(h.cases, c), h.now, ContactOutcome.UNSUCCESSFUL
        ),
        "refer": lambda h, c: h.ward.refer(h._pick(h.cases, c), h.now, f"r{h.now:%d%H%M}"),
        "visit": lambda h, c: h.ward.visit(h._pick(h.cases, c), h.now),
        "tick": lambda h, c: h._tick(c),
        "acknowledge": lambda h, c: h._acknowledge(c),
        "merge": lambda h, c: h.ward.app.merge_patients(
            h.patients[1], h.patients[0], h.ward.feed_at(h.now)
        ),
        "catch_up": lambda h, c: h.feed.catch_up(),
    }

    def _tick(self, choice: int) -> None:
        """The scheduler runs a day or more later: deadlines fall due and slip."""
        self.now += timedelta(days=1 + 3 * choice)
        self.ward.tick(self.now)

    def _acknowledge(self, choice: int) -> None:
        self.ward.feed.catch_up()
        with self.ward.store.engine.connect() as db:
            alerts = open_alerts(db, self.now)
        alert = alerts[choice % len(alerts)] if alerts else None
        if alert is not None:
            self.ward.alerting.acknowledge(alert.alert_id, "on it", BY)


def checksums(store: ProjectionStore) -> dict[str, str]:
    return {projection.name: store.checksum(projection) for projection in read_models()}


def fresh_store() -> ProjectionStore:
    store = ProjectionStore.open("memory://")
    store.create_tables()
    return store


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(history=steps)
def test_incremental_rebuild_and_replay_as_of_the_end_agree(history: list[Step]) -> None:
    ward = Ward()
    played = History(ward)
    for step in [*history, Step("tick", 0, 3), Step("acknowledge", 0, 1), Step("tick", 0, 10)]:
        played.play(step)
    played.feed.catch_up()
    kinds = {type(logged.event).__name__ for logged in ward.app.event_log()}
    event(f"alert events: {sorted(kind for kind in kinds if kind.startswith('Alert'))}")
    rebuilt, replayed = fresh_store(), fresh_store()
    feed_from_log(ward.app, rebuilt, read_models())
    feed_from_log(ward.app, replayed, read_models(), recorded_until=ward.clock())
    assert checksums(rebuilt) == checksums(played.incremental)
    assert checksums(replayed) == checksums(played.incremental)
    for store in (played.incremental, rebuilt, replayed):
        store.close()
    ward.close()


# The commands -----------------------------------------------------------------------------------


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/caretrail.db"


@pytest.fixture
def planned_case(app: CareTrail, clock: ManualClock) -> UUID:
    """A case whose plan is revised on March 10th (the tests' clock starts March 2nd)."""
    patient = app.register_patient(
        [Identifier("884422", "GENHOSP")], Demographics("Nguyen", "Linh", date(1951, 4, 9)), BY
    )
    case = app.open_case(patient, CaseSource.REFERRAL, "PCP", BY)
    app.screen(case, ScreeningResult.APPROPRIATE, "", BY)
    app.give_consent(case, "client", "verbal", BY)
    app.assign_case_manager(case, "cm.chen", "caseload", BY)
    target = clock().date() + timedelta(days=60)
    app.revise_plan(case, [Goal("g1", "Weigh daily", "days", 1, target)], [], "", BY)
    clock.advance(days=8)
    goals = [Goal("g2", "Attend follow-up", "visit", 1, target)]
    app.revise_plan(case, goals, [], "readmitted: follow-up first", BY)
    return case


def test_rebuild_verify_finds_a_damaged_read_model_and_rebuild_repairs_it(
    planned_case: UUID, terminal: Terminal, store_url: str
) -> None:
    assert "equal a rebuild from zero" in terminal.ok("projections", "rebuild", "--verify")
    store = ProjectionStore.open(store_url)
    with store.engine.begin() as db:
        db.execute(plan_goals.delete())
    line = terminal.refused("projections", "rebuild", "--verify")
    assert "differ from the live store: plan_views" in line
    assert "rebuilt audit_trail, plan_views" in terminal.ok("projections", "rebuild")
    assert "equal a rebuild from zero" in terminal.ok("projections", "rebuild", "--verify")
    store.close()


def test_replay_shows_the_plan_as_it_stood_then(planned_case: UUID, terminal: Terminal) -> None:
    then = terminal.ok("replay", "--as-of", "2026-03-05", "--case", str(planned_case))
    assert "plan of care version 1" in then
    assert "g1: Weigh daily" in then
    now = terminal.ok("replay", "--as-of", "2026-03-31", "--case", str(planned_case))
    assert "version 2: readmitted: follow-up first" in now
    before = terminal.ok("replay", "--as-of", "2026-03-01", "--case", str(planned_case))
    assert "was not known then" in before


def test_replay_of_a_case_shows_the_alerts_of_its_patient_only(
    app: CareTrail, planned_case: UUID, terminal: Terminal
) -> None:
    other = app.register_patient(
        [Identifier("330017", "GENHOSP")], Demographics("Haddad", "Rami", date(1948, 2, 1)), BY
    )
    alerting = AlertService(app)
    for patient, reason in ((app.case(planned_case).patient_id, "call Linh"), (other, "call Rami")):
        cause = AlertCause("tcm-interactive-contact", "1", Severity.HIGH, reason, {}, None,
                           uuid4(), 1)  # fmt: skip
        alerting.raise_alert(patient, f"tcm-interactive-contact/{patient}", cause)
    shown = terminal.ok("replay", "--as-of", "2026-03-31", "--case", str(planned_case))
    assert "call Linh" in shown
    assert "call Rami" not in shown
    unknown = terminal.refused("replay", "--as-of", "2026-03-31", "--case", str(uuid4()))
    assert "no case with id" in unknown


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (("replay", "--as-of", "last tuesday"), "is not a time"),
        (("replay",), "Missing option '--as-of'"),
        (("projections", "rebuild", "--projection", "nope"), "no projection nope"),
    ],
)
def test_bad_projection_commands_are_refused_in_one_line(
    terminal: Terminal, arguments: tuple[str, ...], reason: str
) -> None:
    assert reason in terminal.refused(*arguments)


def test_rebuild_verify_on_postgres_uses_a_scratch_schema_and_drops_it(
    postgres_url: str,
    open_app: Callable[[str], CareTrail],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARETRAIL_USER", "cm.chen")
    app = open_app(postgres_url)
    patient = app.register_patient([Identifier("1", "GENHOSP")], Demographics("Lee", "Ann"), BY)
    app.open_case(patient, CaseSource.REFERRAL, "PCP", BY)
    on_postgres = Terminal(postgres_url, capsys)
    assert "equal a rebuild from zero" in on_postgres.ok("projections", "rebuild", "--verify")
    store = ProjectionStore.open(postgres_url)
    with store.engine.connect() as db:
        schemas = db.exec_driver_sql("SELECT schema_name FROM information_schema.schemata").all()
    store.close()
    assert not [name for (name,) in schemas if name.startswith("caretrail_scratch_")]


def test_a_damaged_stored_event_is_named_by_its_position_not_a_traceback(
    planned_case: UUID, terminal: Terminal, store_url: str
) -> None:
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
        (state,) = db.execute("SELECT state FROM stored_events WHERE rowid = 3").fetchone()
        damaged = {k: v for k, v in json.loads(state).items() if k != "actor"}
        damaged_bytes = json.dumps(damaged).encode()
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = 3", [damaged_bytes])
    code, _, err = terminal.run("projections", "rebuild", "--verify")
    assert code == 3
    (line,) = err.strip().splitlines()
    assert "the stored event at position 3 (caretrail.ClientScreened) cannot be read" in line
    assert "it lacks actor" in line
