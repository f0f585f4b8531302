"""A ward for alert tests: real services on in-memory stores, a manual clock, one patient at a time.

Every message arrives a minute after its clinical time unless a test says otherwise (`arrives`),
so tests can play messages out of order. `tick(now)` runs the scheduler exactly as
`caretrail scheduler` does: catch the read models up, then carry out what the rules require.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import select

from consumers.embedded import EventStoreFeed
from domain.alert import AlertState
from domain.case import (
    CaseSource,
    ContactMode,
    ContactOutcome,
    FollowUpFocus,
    ReceivedInformation,
    ScreeningResult,
)
from domain.diagnoses import Diagnosis, DiagnosisType
from domain.encounter import Disposition, PatientClass, TransitionKind
from domain.patient import Demographics, Identifier
from projections.alerts import Alerts, OpenAlert, open_alerts
from projections.deadlines import AlertWorkQuery, Deadlines, alert_conditions, flags_of
from projections.store import ProjectionStore
from services.alerting import AlertService
from services.application import CareTrail, Provenance
from services.bootstrap import bootstrap
from services.rules_config import load_ruleset
from services.scheduler import Scheduler
from services.settings import Settings
from tests.clock import ManualClock

NEW_YORK = ZoneInfo("America/New_York")
RULES, CALENDAR = load_ruleset()
FEED = "feed:genhosp"
NURSE = "cm.chen"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


class Ward:
    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(local(2026, 1, 5))
        self.app: CareTrail = bootstrap(Settings(database_url="memory://"), clock=self.clock)
        self.store = ProjectionStore.open("memory://")
        self.store.create_tables()
        self.feed = EventStoreFeed(self.app, self.store, [Deadlines(RULES, CALENDAR), Alerts()])
        self.alerting = AlertService(self.app)
        self.scheduler = Scheduler(
            self.alerting, AlertWorkQuery(self.store), self.clock, [self.feed.catch_up]
        )
        self.patient = self.register()

    def close(self) -> None:
        self.store.close()
        self.app.close()

    # Messages and case actions, each stored when it `arrives` (default: a minute after `at`)

    def register(self) -> UUID:
        return self.app.register_patient(
            [Identifier("884422", "GENHOSP")],
            Demographics("Nguyen", "Linh", date(1951, 4, 9)),
            Provenance(FEED),
        )

    def admit(
        self,
        at: datetime,
        patient_class: PatientClass = PatientClass.INPATIENT,
        *,
        patient: UUID | None = None,
        arrives: datetime | None = None,
    ) -> UUID:
        self._arrive(at, arrives)
        return self.app.register_encounter(
            patient or self.patient,
            facility="GENHOSP",
            visit_number=f"V{at:%m%d%H%M}",
            patient_class=patient_class,
            location="4W^401" if patient_class is PatientClass.INPATIENT else "ED^3",
            by=self.feed_at(at),
        )

    def discharge(
        self,
        encounter: UUID,
        at: datetime,
        disposition: Disposition = Disposition.HOME,
        *,
        arrives: datetime | None = None,
    ) -> None:
        self._arrive(at, arrives)
        self.app.discharge(encounter, disposition, self.feed_at(at))

    def stay(
        self, admitted: datetime, discharged: datetime, disposition: Disposition = Disposition.HOME
    ) -> UUID:
        encounter = self.admit(admitted)
        self.discharge(encounter, discharged, disposition)
        return encounter

    def merge(self, duplicate: UUID, at: datetime) -> None:
        self._arrive(at, None)
        self.app.merge_patients(duplicate, self.patient, self.feed_at(at))

    def cancel(self, encounter: UUID, kind: TransitionKind, at: datetime) -> None:
        self._arrive(at, None)
        self.app.cancel_latest(encounter, kind, "sent in error", self.feed_at(at))

    def open_case(self, at: datetime, *, manager: str | None = NURSE) -> UUID:
        self._arrive(at, None)
        case = self.app.open_case(self.patient, CaseSource.REFERRAL, "PCP", self.nurse_at(at))
        self.app.screen(case, ScreeningResult.APPROPRIATE, "", self.nurse_at(at))
        self.app.give_consent(case, "client", "verbal", self.nurse_at(at))
        if manager is not None:
            self.app.assign_case_manager(case, manager, "caseload", self.nurse_at(at))
        return case

    def contact(
        self, case: UUID, at: datetime, outcome: ContactOutcome = ContactOutcome.SUCCESSFUL
    ) -> None:
        self._arrive(at, None)
        self.app.log_contact(case, ContactMode.PHONE, outcome, "client", "", self.nurse_at(at))

    def visit(
        self,
        case: UUID,
        at: datetime,
        mode: ContactMode = ContactMode.FACE_TO_FACE,
        focus: FollowUpFocus = FollowUpFocus.GENERAL,
    ) -> None:
        self._arrive(at, None)
        self.app.record_follow_up_visit(case, mode, "Dr. Osei", "", self.nurse_at(at), focus=focus)

    def received(self, case: UUID, at: datetime, information: ReceivedInformation) -> None:
        self._arrive(at, None)
        self.app.record_information_received(case, information, "GENHOSP", "", self.nurse_at(at))

    def diagnose(self, encounter: UUID, at: datetime, *codes: str) -> None:
        """Final ICD-10-CM diagnoses from the feed, the first one principal."""
        self._arrive(at, None)
        diagnoses = [
            Diagnosis(code, "I10", code, DiagnosisType.FINAL, rank)
            for rank, code in enumerate(codes, start=1)
        ]
        self.app.record_diagnoses(encounter, diagnoses, self.feed_at(at))

    def refer(self, case: UUID, at: datetime, referral_id: str = "r1") -> None:
        self._arrive(at, None)
        self.app.refer(case, referral_id, "home health", "VNS", "post-discharge", self.nurse_at(at))

    # The scheduler and what it leaves behind

    def tick(self, now: datetime) -> Counter[str]:
        self.clock.now = now
        return self.scheduler.tick()

    def conditions(self) -> dict[str, Any]:
        """The patient's alert conditions by rule id (rows of the deadline projection)."""
        self.feed.catch_up()
        with self.store.engine.connect() as db:
            rows = db.execute(
                select(alert_conditions).where(alert_conditions.c.patient_id == str(self.patient))
            ).all()
        return {row.rule_id: row for row in rows}

    def alerts(self, now: datetime | None = None) -> dict[str, OpenAlert]:
        """The patient's open alerts by rule id."""
        self.feed.catch_up()
        with self.store.engine.connect() as db:
            found = open_alerts(db, now or self.clock(), patient_id=self.patient)
        return {alert.rule_id: alert for alert in found}

    def alert_state(self, rule_id: str) -> AlertState | None:
        condition = self.conditions()[rule_id]
        return None if condition.alert_state == "none" else AlertState(condition.alert_state)

    def flags(self) -> set[str]:
        self.feed.catch_up()
        with self.store.engine.connect() as db:
            return {flag.flag for flag in flags_of(db, [self.patient])}

    def events_of(self, alert_id: UUID) -> list[str]:
        return [type(event).__name__ for event in self.app.history(alert_id)]

    def _arrive(self, at: datetime, arrives: datetime | None) -> None:
        self.clock.now = arrives or at + timedelta(minutes=1)

    def feed_at(self, at: datetime) -> Provenance:
        return Provenance(FEED, at, source=f"GENHOSP|ADT|{at:%Y%m%d%H%M}")

    def nurse_at(self, at: datetime) -> Provenance:
        return Provenance(NURSE, at)
