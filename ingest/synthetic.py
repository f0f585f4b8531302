"""A seeded stream of realistic, fictional ADT messages from one sending system, for tests,
benchmarks and trial backfills.

Patients come to the ED (A04) or are admitted (A01), some after a pre-admission (A05); they move
(A02), change class (A06), go on leave and come back (A21/A22), have their visit updated (A08)
and are discharged (A03). Some admissions, transfers and discharges are cancelled (A11/A12/A13),
as feeds do. Clinical time only moves forward, so the stream applied in order is all accepted.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.hl7v2 import format_timestamp

_FAMILY = ("RIVERA", "NGUYEN", "OKAFOR", "SMITH", "KOWALSKI", "HAYES", "GARCIA", "LEE", "KHAN")
_GIVEN = ("MARIA", "JAMES", "AISHA", "WEI", "HELENA", "GORDON", "LUIS", "SOO-JIN", "OMAR")
_UNITS = ("4WEST", "5NORTH", "3EAST", "ICU", "CARDIO", "NEURO", "ONC")
_ATTENDING = ("1447358839^OKAFOR^CHIDI", "50021^BROOKS^ALAN", "22334^PATEL^ANJALI")
_DISPOSITIONS = ("01", "01", "01", "06", "03", "62", "50", "07", "20")


@dataclass(frozen=True)
class SyntheticMessage:
    raw: bytes
    trigger: str
    control_id: str
    new_patient: bool  # the first message naming this patient
    new_visit: bool  # the message that opens this visit


@dataclass(eq=False)
class _Patient:
    mrn: str
    family: str
    given: str
    birth: str
    sex: str
    seen: bool = False


@dataclass
class _Visit:
    patient: _Patient
    number: str
    patient_class: str
    location: str
    admitted_at: datetime
    attending: str
    state: str = "active"  # preadmitted, active, on_leave, discharged
    history: list[str] = field(default_factory=list)  # triggers sent, newest last
    moved_from: list[str] = field(default_factory=list)  # locations before each transfer


class SyntheticFeed:
    def __init__(
        self,
        seed: int = 0,
        *,
        sending_application: str = "EPIC",
        sending_facility: str = "UMCMAIN",
        patients: int = 500,
        start: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
    ) -> None:
        self.random = random.Random(seed)  # noqa: S311 - reproducible fiction, not secrets
        self.application = sending_application
        self.facility = sending_facility
        self.now = start
        self.patients = [self._patient(n) for n in range(patients)]
        self.open_visits: list[_Visit] = []
        self._sequence = 0
        self._visits = 0

    def messages(self, count: int) -> Iterator[SyntheticMessage]:
        for _ in range(count):
            self.now += timedelta(minutes=self.random.randint(1, 20))
            yield self._next()

    def _next(self) -> SyntheticMessage:
        busy = {visit.patient for visit in self.open_visits}
        free = [patient for patient in self.patients if patient not in busy]
        if free and (not self.open_visits or self.random.random() < 0.3):
            return self._open_visit(self.random.choice(free))
        return self._advance(self.random.choice(self.open_visits))

    def _open_visit(self, patient: _Patient) -> SyntheticMessage:
        self._visits += 1
        trigger = self.random.choice(("A01", "A01", "A04", "A05"))
        patient_class = {"A01": "I", "A04": "E", "A05": "P"}[trigger]
        unit = "ED" if trigger == "A04" else self.random.choice(_UNITS)
        visit = _Visit(
            patient,
            f"V{self._visits:08d}",
            patient_class,
            f"{unit}^{self.random.randint(1, 40):02d}",
            self.now,
            self.random.choice(_ATTENDING),
            state="preadmitted" if trigger == "A05" else "active",
        )
        self.open_visits.append(visit)
        visit.history.append(trigger)
        return self._message(trigger, visit, new_visit=True)

    def _advance(self, visit: _Visit) -> SyntheticMessage:
        trigger = self._next_trigger(visit)
        if trigger == "A01":
            visit.state, visit.patient_class, visit.admitted_at = "active", "I", self.now
        elif trigger == "A02":
            visit.moved_from.append(visit.location)
            visit.location = self._other_location(visit.location)
        elif trigger == "A06":
            visit.patient_class = "I"
        elif trigger == "A08":
            visit.attending = self._other(_ATTENDING, visit.attending)
        elif trigger in ("A21", "A22"):
            visit.state = "on_leave" if trigger == "A21" else "active"
        elif trigger == "A12":
            visit.location = visit.moved_from.pop()
        elif trigger in ("A03", "A13"):
            visit.state = "discharged" if trigger == "A03" else "active"
        # A discharge is final unless a cancel follows (some do); a cancelled admission ends it.
        if trigger == "A11" or (trigger == "A03" and self.random.random() >= 0.05):
            self.open_visits.remove(visit)
        message = self._message(trigger, visit, new_visit=False)
        visit.history.append(trigger)
        return message

    def _next_trigger(self, visit: _Visit) -> str:
        last = visit.history[-1] if visit.history else None
        if visit.state == "preadmitted":
            return "A01"
        if visit.state == "on_leave":
            return "A22"
        if visit.state == "discharged":
            return "A13"
        if last in ("A01", "A04") and self.random.random() < 0.05:
            return "A11"
        if last == "A02" and self.random.random() < 0.1:
            return "A12"
        if visit.patient_class == "E":
            return self.random.choice(("A06", "A08", "A03", "A03"))
        return self.random.choice(("A02", "A02", "A08", "A21", "A03", "A03"))

    def _message(self, trigger: str, visit: _Visit, *, new_visit: bool) -> SyntheticMessage:
        self._sequence += 1
        control_id = f"{self.application[:3]}{self._sequence:010d}"
        patient = visit.patient
        new_patient = not patient.seen
        patient.seen = True
        when = format_timestamp(self.now)
        discharged = trigger == "A03"
        prior = visit.moved_from[-1] if trigger == "A02" else ""
        segments = [
            f"MSH|^~\\&|{self.application}|{self.facility}|CARETRAIL|CTHIE|{when}||"
            f"ADT^{trigger}|{control_id}|P|2.5.1",
            f"EVN|{trigger}|{when}||||{when}",
            f"PID|1||{patient.mrn}^^^{self.facility}^MR||{patient.family}^{patient.given}||"
            f"{patient.birth}|{patient.sex}",
            "|".join(
                [
                    "PV1",
                    "1",
                    visit.patient_class,
                    f"{visit.location}^^{self.facility}",
                    "",
                    "",
                    f"{prior}^^{self.facility}" if prior else "",
                    visit.attending,
                    *[""] * 11,
                    visit.number,
                    *[""] * 16,
                    self.random.choice(_DISPOSITIONS) if discharged else "",
                    *[""] * 7,
                    format_timestamp(visit.admitted_at),
                    when if discharged else "",
                ]
            ),
        ]
        raw = "\r".join(segments) + "\r"
        return SyntheticMessage(raw.encode(), trigger, control_id, new_patient, new_visit)

    def _patient(self, number: int) -> _Patient:
        birth = datetime(1930, 1, 1) + timedelta(days=self.random.randint(0, 30_000))
        return _Patient(
            mrn=f"M{number:07d}",
            family=self.random.choice(_FAMILY),
            given=self.random.choice(_GIVEN),
            birth=f"{birth:%Y%m%d}",
            sex=self.random.choice("FM"),
        )

    def _other_location(self, current: str) -> str:
        while (
            location := f"{self.random.choice(_UNITS)}^{self.random.randint(1, 40):02d}"
        ) == current:
            continue
        return location

    def _other(self, choices: tuple[str, ...], current: str) -> str:
        return self.random.choice([choice for choice in choices if choice != current])
