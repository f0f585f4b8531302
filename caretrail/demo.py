"""`caretrail demo`: a synthetic, seeded population fed through the real services.

The demo writes to its own store (default .caretrail/demo.db, recreated each run), never to the
configured CARETRAIL_DATABASE_URL, so synthetic patients cannot reach a real store.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import click
from tqdm import tqdm

from caretrail.alert_commands import alert_summary
from caretrail.demo_serve import serve_demo
from domain.case import (
    AssessedNeed,
    AssessmentDomain,
    CaseSource,
    ClosureReason,
    ContactMode,
    ContactOutcome,
    FollowUpFocus,
    Goal,
    GoalOutcome,
    Intervention,
    ReceivedInformation,
    ScreeningResult,
)
from domain.diagnoses import Diagnosis, DiagnosisType
from domain.encounter import Disposition, PatientClass, TransitionKind
from domain.patient import Demographics, Identifier
from projections.store import ProjectionStore, projection_url
from services.application import CareTrail, Provenance
from services.bootstrap import bootstrap
from services.settings import Settings

DEMO_STORE = "sqlite:///.caretrail/demo.db"
DEMO_DAYS = 35  # the population's history ends at the start of today (UTC)
FACILITIES = ("GENHOSP", "STMARY")
CASE_MANAGERS = ("cm.rivera", "cm.okafor", "cm.chen", "cm.novak", "cm.haddad")
FAMILY_NAMES = ("Garcia", "Smith", "Nguyen", "Johnson", "Okafor", "Kowalski", "Haddad", "Lee")
GIVEN_NAMES = ("Maria", "James", "Linh", "Robert", "Ada", "Piotr", "Samira", "Grace")
DISPOSITIONS = (
    (Disposition.HOME, 50),
    (Disposition.HOME_HEALTH, 18),
    (Disposition.SKILLED_NURSING, 12),
    (Disposition.REHABILITATION, 6),
    (Disposition.HOSPICE, 3),
    (Disposition.AGAINST_MEDICAL_ADVICE, 4),
    (Disposition.EXPIRED, 2),
)
# Principal diagnoses at discharge (the A03's DG1), with what a follow-up visit is for and weights.
_G, _MH, _SU = FollowUpFocus.GENERAL, FollowUpFocus.MENTAL_HEALTH, FollowUpFocus.SUBSTANCE_USE
INPATIENT_DIAGNOSES = (
    (("I50.9", "Heart failure, unspecified", _G), 30),
    (("J44.1", "COPD with acute exacerbation", _G), 20),
    (("A41.9", "Sepsis, unspecified organism", _G), 12),
    (("N17.9", "Acute kidney failure, unspecified", _G), 10),
    (("F32.2", "Major depressive disorder, single episode, severe", _MH), 9),
    (("F20.9", "Schizophrenia, unspecified", _MH), 4),
    (("F10.239", "Alcohol dependence with withdrawal", _SU), 4),
)
ED_DIAGNOSES = (
    (("R07.9", "Chest pain, unspecified", _G), 30),
    (("S93.401A", "Sprain of ankle, initial encounter", _G), 20),
    (("J06.9", "Acute upper respiratory infection", _G), 20),
    (("F41.9", "Anxiety disorder, unspecified", _MH), 9),
    (("F10.129", "Alcohol abuse with intoxication", _SU), 7),
    (("F11.10", "Opioid abuse, uncomplicated", _SU), 4),
)
FEED = "feed:demo-adt"
DEMO_SOURCE = "demo"  # every event the demo's feed writes says so
REFERRAL_OUTCOMES = {"accept": "accepted", "decline": "declined", "complete": "completed"}


@dataclass
class DemoTally:
    patients: int = 0
    merged: int = 0
    encounters: Counter[str] = field(default_factory=Counter)
    dispositions: Counter[str] = field(default_factory=Counter)
    cancelled_discharges: int = 0
    cases: Counter[str] = field(default_factory=Counter)
    referrals: Counter[str] = field(default_factory=Counter)
    caseload: Counter[str] = field(default_factory=Counter)
    diagnoses: Counter[str] = field(default_factory=Counter)
    follow_ups: Counter[str] = field(default_factory=Counter)


class DemoPopulation:
    """Feeds one seeded population of patients, encounters and cases through the services."""

    def __init__(self, app: CareTrail, seed: int, anchor: datetime) -> None:
        self.app = app
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.anchor = anchor
        self.now = anchor + timedelta(days=DEMO_DAYS)
        self.tally = DemoTally()

    def feed(self, patients: int) -> DemoTally:
        patient_ids = [self._patient(n) for n in tqdm(range(patients), desc="patients", unit="pt")]
        self._merge_duplicates(patient_ids)
        return self.tally

    def _patient(self, number: int) -> UUID:
        rng = self.rng
        demographics = Demographics(
            rng.choice(FAMILY_NAMES),
            rng.choice(GIVEN_NAMES),
            date(1935, 1, 1) + timedelta(days=rng.randrange(25_000)),
            rng.choice("FM"),
        )
        mrn = Identifier(f"{100000 + number * 7919 % 900000}", rng.choice(FACILITIES))
        patient_id = self.app.register_patient([mrn], demographics, self._feed_at(0))
        self.tally.patients += 1
        day = rng.randrange(0, 20)
        # A story that reaches the present stops there: its stay or its case is still going on.
        with suppress(_NotYet):
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                day = self._encounter(patient_id, mrn, day) + rng.randrange(2, 6)
        return patient_id

    def _encounter(self, patient_id: UUID, mrn: Identifier, day: int) -> int:
        rng = self.rng
        inpatient = rng.random() < 0.6
        patient_class = PatientClass.INPATIENT if inpatient else PatientClass.EMERGENCY
        stay_hours = rng.randrange(48, 150) if inpatient else rng.randrange(3, 20)
        admitted = day * 24 + rng.randrange(0, 24)
        encounter_id = self.app.register_encounter(
            patient_id,
            facility=mrn.assigning_authority,
            visit_number=f"V{rng.randrange(10**7):07d}",
            patient_class=patient_class,
            location="4W^401^A" if inpatient else "ED^12",
            by=self._feed_at(admitted),
        )
        self.tally.encounters[str(patient_class.name.lower())] += 1
        if inpatient and rng.random() < 0.3:
            self.app.transfer(
                encounter_id, "ICU^2^B", "intensive care", self._feed_at(admitted + 6)
            )
        disposition = self._disposition() if inpatient else Disposition.HOME
        discharged = admitted + stay_hours
        self.app.discharge(encounter_id, disposition, self._feed_at(discharged))
        focus = self._diagnose(encounter_id, inpatient, discharged)
        if rng.random() < 0.04:
            self._cancel_and_rediscard(encounter_id, disposition, discharged)
        self.tally.dispositions[str(disposition)] += 1
        # Inpatient discharges, and ED visits for mental illness or substance use, are screened.
        screened = inpatient if focus is FollowUpFocus.GENERAL else rng.random() < 0.7
        if screened and disposition is not Disposition.EXPIRED and rng.random() < 0.55:
            self._case(patient_id, discharged, focus)
        return discharged // 24

    def _diagnose(self, encounter_id: UUID, inpatient: bool, discharged: int) -> FollowUpFocus:
        """The A03's final principal diagnosis; returns what its follow-up visit is for."""
        table = INPATIENT_DIAGNOSES if inpatient else ED_DIAGNOSES
        code, description, focus = self.rng.choices(
            [entry for entry, _ in table], [weight for _, weight in table]
        )[0]
        principal = Diagnosis(code, "I10", description, DiagnosisType.FINAL, 1)
        self.app.record_diagnoses(encounter_id, [principal], self._feed_at(discharged))
        self.tally.diagnoses[str(focus)] += 1
        return focus

    def _cancel_and_rediscard(
        self, encounter_id: UUID, disposition: Disposition, discharged: int
    ) -> None:
        """A13 after the fact, then the corrected discharge, as feeds really do."""
        self.app.cancel_latest(
            encounter_id, TransitionKind.DISCHARGE, "sent in error", self._feed_at(discharged + 1)
        )
        self.app.discharge(encounter_id, disposition, self._feed_at(discharged + 2))
        self.tally.cancelled_discharges += 1

    def _case(self, patient_id: UUID, discharged: int, focus: FollowUpFocus) -> None:
        rng, app = self.rng, self.app
        manager = rng.choice(CASE_MANAGERS)
        hour = discharged + rng.randrange(2, 20)
        case_id = app.open_case(
            patient_id, CaseSource.ADT_TRIGGER, "discharge", self._by(manager, hour)
        )
        self.tally.cases["open"] += 1  # until the story closes it (it may reach the present)
        app.assign_case_manager(case_id, manager, "caseload rotation", self._by(manager, hour))
        # The ADT trigger that opened the case is how its case manager learned of the stay.
        app.record_information_received(
            case_id,
            ReceivedInformation.ADMISSION_NOTIFICATION,
            FEED,
            "ADT trigger",
            self._by(manager, hour),
        )
        app.screen(
            case_id, ScreeningResult.APPROPRIATE, "high readmission risk", self._by(manager, hour)
        )
        self.tally.caseload[manager] += 1
        if rng.random() < 0.12:
            app.close_case(
                case_id,
                ClosureReason.CLIENT_DECLINED,
                "call the care line at any time if you change your mind",
                self._by(manager, hour + 1),
            )
            self.tally.cases.subtract({"open": 1, "declined consent": -1})
            return
        app.give_consent(case_id, "client", "verbal", self._by(manager, hour + 1))
        self._work_case(case_id, manager, hour + 2, focus)

    def _work_case(self, case_id: UUID, manager: str, hour: int, focus: FollowUpFocus) -> None:
        rng, app = self.rng, self.app
        by = self._by(manager, hour)
        if rng.random() < 0.85:
            # Most discharge summaries reach the team within HEDIS TRC's two days; some do not.
            app.record_information_received(
                case_id,
                ReceivedInformation.DISCHARGE_INFORMATION,
                "discharging unit",
                "discharge summary",
                self._by(manager, hour + rng.randrange(0, 60)),
            )
            self.tally.follow_ups["discharge information received"] += 1
        app.record_assessment(
            case_id,
            [AssessedNeed(AssessmentDomain.MEDICAL, "new heart failure diagnosis", 1),
             AssessedNeed(AssessmentDomain.TRANSPORTATION, "no car; bus twice a week", 2)],
            rng.choice(("English", "English", "Spanish", "Vietnamese")),
            rng.random() < 0.2,
            "lives alone; daughter nearby",
            by,
        )  # fmt: skip
        today = by.occurred_at.date() if by.occurred_at else self.anchor.date()
        goals = [
            Goal("g1", "Weigh daily and call if up 2 lb", "days weighed per week", 1,
                 today + timedelta(days=30)),
            Goal("g2", "Attend follow-up visit", "visit completed", 2, today + timedelta(days=14)),
        ]  # fmt: skip
        interventions = [
            Intervention("i1", "g1", "Teach-back on scale use", manager, today + timedelta(days=3)),
            Intervention("i2", "g2", "Book ride to clinic", manager, today + timedelta(days=5)),
        ]
        app.revise_plan(case_id, goals, interventions, "", by)
        app.refer(case_id, "r1", "home health", "Visiting Nurses", "post-discharge", by)
        answer = rng.choices(("accept", "decline", "complete"), (6, 1, 3))[0]
        if answer == "complete":
            app.answer_referral(case_id, "r1", "accept", "", self._by(manager, hour + 20))
        app.answer_referral(case_id, "r1", answer, "", self._by(manager, hour + 24))
        self.tally.referrals[REFERRAL_OUTCOMES[answer]] += 1
        self._call_client(case_id, manager, hour + 20)
        if rng.random() < 0.8:
            app.record_medication_reconciliation(
                case_id, rng.randrange(0, 3), "", self._by(manager, hour + 40)
            )
        if rng.random() < 0.7:
            # Most clients see a clinician within the TCM week; the rest are what alerts are for.
            app.record_follow_up_visit(
                case_id,
                ContactMode.FACE_TO_FACE,
                "Dr. Osei",
                "",
                self._by(manager, hour + rng.randrange(72, 160)),
            )
        if focus is not FollowUpFocus.GENERAL and rng.random() < 0.8:
            # HEDIS FUH/FUM/FUA: a visit with a behavioral health or addiction clinician.
            app.record_follow_up_visit(
                case_id,
                ContactMode.VIDEO,
                "Dr. Amari (behavioral health)",
                "",
                self._by(manager, hour + rng.randrange(24, 200)),
                focus=focus,
            )
            self.tally.follow_ups[f"{focus} follow-up"] += 1
        if rng.random() < 0.3:
            app.evaluate_goal(
                case_id, "g2", GoalOutcome.MET, "visit on record", self._by(manager, hour + 200)
            )
            app.close_case(
                case_id,
                ClosureReason.GOALS_MET,
                "call the care line if symptoms return",
                self._by(manager, hour + 201),
            )
            self.tally.cases.subtract({"open": 1, "closed, goals met": -1})

    def _call_client(self, case_id: UUID, manager: str, hour: int) -> None:
        """Phone calls until the client answers, a day apart, three tries at most."""
        for attempt in range(3):
            answered = self.rng.random() < 0.7
            outcome = ContactOutcome.SUCCESSFUL if answered else ContactOutcome.UNSUCCESSFUL
            self.app.log_contact(
                case_id,
                ContactMode.PHONE,
                outcome,
                "client",
                "",
                self._by(manager, hour + 24 * attempt),
            )
            if answered:
                self.tally.follow_ups["clients reached by phone"] += 1
                return

    def _merge_duplicates(self, patient_ids: list[UUID]) -> None:
        """Registration desks create duplicates; a few are merged (A40), as in real feeds."""
        for retired, survivor in zip(patient_ids[1::50], patient_ids[2::50], strict=False):
            self.app.merge_patients(retired, survivor, self._feed_at(24 * 28))
            self.tally.merged += 1

    def _disposition(self) -> Disposition:
        values = [disposition for disposition, _ in DISPOSITIONS]
        weights = [weight for _, weight in DISPOSITIONS]
        return self.rng.choices(values, weights)[0]

    def _feed_at(self, hour: int) -> Provenance:
        return Provenance(FEED, self._moment(hour), source=DEMO_SOURCE)

    def _by(self, user: str, hour: int) -> Provenance:
        return Provenance(user, self._moment(hour))

    def _moment(self, hour: int) -> datetime:
        moment = self.anchor + timedelta(hours=hour)
        if moment > self.now:
            raise _NotYet
        return moment


class _NotYet(Exception):
    """What the story does next would happen after the demo's present."""


@click.command()
@click.option("--patients", type=click.IntRange(1, 100_000), default=150, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same population.")
@click.option(
    "--store",
    default=DEMO_STORE,
    show_default=True,
    help="Where the demo writes; a SQLite file is recreated on every run.",
)
@click.option("--no-serve", is_flag=True, help="Exit after the summary instead of serving.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Serve the dashboard here.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def demo(patients: int, seed: int, store: str, no_serve: bool, host: str, port: int) -> None:
    """Feed a synthetic, seeded population through caretrail, summarize it, and serve the
    dashboard on it with demo users."""
    _refuse_a_real_store(store)
    _recreate_sqlite_file(store)
    _recreate_sqlite_file(projection_url(store))  # read models of an earlier run would be stale
    app = bootstrap(Settings(database_url=store))
    anchor = datetime.combine(
        datetime.now(UTC).date() - timedelta(days=DEMO_DAYS), datetime.min.time(), UTC
    )
    started = time.perf_counter()
    tally = DemoPopulation(app, seed, anchor).feed(patients)
    elapsed = time.perf_counter() - started
    stored = sum(1 for _ in app.event_log())
    click.echo(_summary(tally, stored, elapsed, store))
    read_models = ProjectionStore.open(store)
    read_models.create_tables()
    click.echo(alert_summary(app, read_models))
    read_models.close()
    app.close()
    if not no_serve:
        serve_demo(store, host, port)


def _refuse_a_real_store(store: str) -> None:
    """Synthetic patients must never reach a real store, nor may recreating the demo's store
    delete one: the demo writes only to a store that is empty or that a demo made."""
    if _same_store(store, Settings().database_url):
        raise click.ClickException(
            f"{store} is the configured store (CARETRAIL_DATABASE_URL); the demo writes only to "
            f"a store of its own, such as {DEMO_STORE}"
        )
    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).is_file():
        return
    app = bootstrap(Settings(database_url=store))
    try:
        first = next(app.event_log(section_size=1), None)
    finally:
        app.close()
    if first is not None and first.event.source != DEMO_SOURCE:
        raise click.ClickException(
            f"{store} holds events the demo did not write; the demo writes only to a store of "
            f"its own, such as {DEMO_STORE}"
        )


def _same_store(one: str, other: str) -> bool:
    def where(url: str) -> str:
        if url.startswith("sqlite:///"):
            return str(Path(url.removeprefix("sqlite:///")).resolve())
        return url

    return where(one) == where(other)


def _recreate_sqlite_file(store: str) -> None:
    if store.startswith("sqlite:///"):
        path = Path(store.removeprefix("sqlite:///"))
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)


def _summary(tally: DemoTally, stored: int, elapsed: float, store: str) -> str:
    def counts(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {count}" for name, count in counter.most_common())

    return "\n".join(
        [
            "caretrail demo: synthetic population fed through the case services",
            f"  patients       {tally.patients} ({tally.merged} duplicate records merged)",
            f"  encounters     {counts(tally.encounters)}",
            f"  discharged to  {counts(tally.dispositions)}",
            f"  cancelled      {tally.cancelled_discharges} discharges cancelled and re-sent",
            f"  cases          {counts(tally.cases)}",
            f"  referrals      {counts(tally.referrals)}",
            f"  clients        {counts(tally.caseload)} (cases per case manager)",
            f"  diagnosed      {counts(tally.diagnoses)} (principal diagnosis at discharge)",
            f"  follow-up      {counts(tally.follow_ups)}",
            f"  events stored  {stored} in {elapsed:.1f} s ({stored / elapsed:.0f} events/s)",
            f"  store          {store}",
            f"  look around    caretrail --database {store} log --limit 20",
        ]
    )
