"""Transition safety alert rules (domain.md, "Safety alert rules") as data and pure functions.

Two kinds of knowledge meet here:

* What a rule *means* is fixed by its public source and lives in code: which transition starts it,
  which recorded action satisfies it, from which day actions count (``FOLLOW_UP_OBLIGATIONS``,
  ``IMMEDIATE_TRIGGERS``).
* What an organization *tunes* (windows, thresholds, severity, on/off, the citation text) comes from
  the versioned rule file (``services/transition_rules.toml``), and every deadline and alert records
  that version, so history shows which rule version raised it.

Rules read plain immutable facts, never aggregates. Times are clinical times (EVN-6, PV1-44/45),
never the time a message was received, and they must be timezone-aware. Deadlines follow the
end-of-day convention of ``domain.calendar``: ``due_at`` is the first instant that is late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Final, TypeVar

from domain.calendar import BusinessCalendar, utc_instant
from domain.diagnoses import DiagnosisValueSets


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class TransitionKind(StrEnum):
    ADMISSION = "admission"
    DISCHARGE = "discharge"
    ED_VISIT = "ed_visit"
    TRANSFER = "transfer"


class PatientClass(StrEnum):
    INPATIENT = "inpatient"
    OBSERVATION = "observation"
    EMERGENCY = "emergency"
    OUTPATIENT = "outpatient"
    OTHER = "other"


class Disposition(StrEnum):
    """Same values as ``domain.encounter.Disposition``, plus ``UNKNOWN`` for an empty PV1-36."""

    HOME = "home"
    HOME_HEALTH = "home_health"
    SKILLED_NURSING = "snf"
    REHABILITATION = "rehab"
    HOSPICE = "hospice"
    AGAINST_MEDICAL_ADVICE = "ama"
    EXPIRED = "expired"
    TRANSFERRED = "transferred"
    OTHER = "other"
    UNKNOWN = "unknown"


class ActionKind(StrEnum):
    CONTACT = "contact"
    FACE_TO_FACE_VISIT = "face_to_face_visit"
    MEDICATION_RECONCILIATION = "medication_reconciliation"
    FOLLOW_UP_VISIT = "follow_up_visit"
    MENTAL_HEALTH_FOLLOW_UP = "mental_health_follow_up"
    SUBSTANCE_USE_FOLLOW_UP = "substance_use_follow_up"
    DISCHARGE_INFORMATION_RECEIVED = "discharge_information_received"
    ADMISSION_NOTIFICATION_RECEIVED = "admission_notification_received"
    REFERRAL = "referral"


class ClinicalFlag(StrEnum):
    BEHAVIORAL_HEALTH = "behavioral_health"
    SUBSTANCE_USE = "substance_use"


class WindowUnit(StrEnum):
    BUSINESS_DAYS = "business_days"
    CALENDAR_DAYS = "calendar_days"
    HOURS = "hours"


class Complexity(StrEnum):
    """Medical decision-making complexity of a TCM service (99495 moderate, 99496 high)."""

    MODERATE = "moderate"
    HIGH = "high"


class Counting(StrEnum):
    """From when a recorded action counts toward a deadline."""

    FROM_TRANSITION = "from_transition"
    # HEDIS FUH and TRC patient engagement exclude the day of discharge itself.
    FROM_NEXT_DAY = "from_next_day"


class Circumstance(StrEnum):
    """Case facts, outside the transition itself, that an immediate rule depends on."""

    NO_FOLLOW_UP_PLANNED = "no_follow_up_planned"
    OPEN_CASE = "open_case"


# Facts -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TransitionFact:
    """A care transition as the rules see it; ``occurred_at`` is the clinical time."""

    kind: TransitionKind
    encounter_id: str
    patient_id: str
    occurred_at: datetime
    patient_class: PatientClass
    disposition: Disposition = Disposition.UNKNOWN
    behavioral_health: bool | None = None
    substance_use: bool | None = None
    cancelled: bool = False

    def __post_init__(self) -> None:
        utc_instant(self.occurred_at)

    def has_flag(self, flag: ClinicalFlag) -> bool:
        """Only an explicit yes counts: an unknown diagnosis starts no FUH/FUM/FUA clock."""
        flags = {
            ClinicalFlag.BEHAVIORAL_HEALTH: self.behavioral_health,
            ClinicalFlag.SUBSTANCE_USE: self.substance_use,
        }
        return flags[flag] is True


@dataclass(frozen=True, kw_only=True)
class ActionFact:
    """Something the care team recorded; an unsuccessful contact attempt satisfies nothing."""

    kind: ActionKind
    occurred_at: datetime
    successful: bool = True

    def __post_init__(self) -> None:
        utc_instant(self.occurred_at)


@dataclass(frozen=True, kw_only=True)
class CaseContext:
    """What the case record says at the time of a transition (asked of the caller, not guessed)."""

    has_open_case: bool
    follow_up_planned: bool


# Rule semantics ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TransitionScope:
    """Which transitions a rule looks at. Cancelled transitions are never in scope."""

    kind: TransitionKind
    patient_classes: frozenset[PatientClass]
    dispositions: frozenset[Disposition] = frozenset(Disposition)
    flag: ClinicalFlag | None = None

    def covers(self, transition: TransitionFact) -> bool:
        return (
            not transition.cancelled
            and transition.kind is self.kind
            and transition.patient_class in self.patient_classes
            and transition.disposition in self.dispositions
            and (self.flag is None or transition.has_flag(self.flag))
        )


@dataclass(frozen=True, kw_only=True)
class Obligation:
    """What a deadline rule asks of the care team after a transition."""

    requirement: str
    scope: TransitionScope
    satisfied_by: frozenset[ActionKind]
    counting: Counting = Counting.FROM_TRANSITION
    # CMS TCM: medication reconciliation no later than the date of the face-to-face visit.
    no_later_than: ActionKind | None = None


@dataclass(frozen=True, kw_only=True)
class ImmediateTrigger:
    """A transition that needs attention now rather than by a deadline."""

    summary: str
    scope: TransitionScope
    circumstance: Circumstance | None = None

    def fires(self, transition: TransitionFact, case: CaseContext) -> bool:
        return self.scope.covers(transition) and (
            self.circumstance is None or _CIRCUMSTANCE_HOLDS[self.circumstance](case)
        )


_CasePredicate = Callable[[CaseContext], bool]
_CIRCUMSTANCE_HOLDS: Final[Mapping[Circumstance, _CasePredicate]] = MappingProxyType(
    {
        Circumstance.NO_FOLLOW_UP_PLANNED: lambda case: not case.follow_up_planned,
        Circumstance.OPEN_CASE: lambda case: case.has_open_case,
    }
)

_INPATIENT: Final = frozenset({PatientClass.INPATIENT})
# TCM also covers observation stays; HEDIS TRC and FUH count inpatient stays only.
_HOSPITAL_STAY: Final = frozenset({PatientClass.INPATIENT, PatientClass.OBSERVATION})
# A discharge to another facility starts that facility's stay, and the follow-up clocks start when
# the patient finally leaves it (HEDIS counts only the last discharge of a chain). An unreported
# disposition (PV1-36 is often empty) still starts them: a missed follow-up costs more than a
# superfluous deadline.
_TO_COMMUNITY: Final = frozenset(
    {
        Disposition.HOME,
        Disposition.HOME_HEALTH,
        Disposition.AGAINST_MEDICAL_ADVICE,
        Disposition.OTHER,
        Disposition.UNKNOWN,
    }
)
_TCM_DISCHARGE: Final = TransitionScope(
    kind=TransitionKind.DISCHARGE, patient_classes=_HOSPITAL_STAY, dispositions=_TO_COMMUNITY
)
_TRC_DISCHARGE: Final = TransitionScope(
    kind=TransitionKind.DISCHARGE, patient_classes=_INPATIENT, dispositions=_TO_COMMUNITY
)
_EMERGENCY: Final = frozenset({PatientClass.EMERGENCY})

_FUH: Final = Obligation(
    requirement="Mental health follow-up visit",
    scope=TransitionScope(
        kind=TransitionKind.DISCHARGE,
        patient_classes=_INPATIENT,
        dispositions=_TO_COMMUNITY,
        flag=ClinicalFlag.BEHAVIORAL_HEALTH,
    ),
    satisfied_by=frozenset({ActionKind.MENTAL_HEALTH_FOLLOW_UP}),
    counting=Counting.FROM_NEXT_DAY,
)
_FUM: Final = Obligation(
    requirement="Mental health follow-up visit",
    scope=TransitionScope(
        kind=TransitionKind.ED_VISIT,
        patient_classes=_EMERGENCY,
        flag=ClinicalFlag.BEHAVIORAL_HEALTH,
    ),
    satisfied_by=frozenset({ActionKind.MENTAL_HEALTH_FOLLOW_UP}),
)
_FUA: Final = Obligation(
    requirement="Substance use follow-up",
    scope=TransitionScope(
        kind=TransitionKind.ED_VISIT,
        patient_classes=_EMERGENCY,
        flag=ClinicalFlag.SUBSTANCE_USE,
    ),
    satisfied_by=frozenset({ActionKind.SUBSTANCE_USE_FOLLOW_UP}),
)

FOLLOW_UP_OBLIGATIONS: Final[Mapping[str, Obligation]] = MappingProxyType(
    {
        "tcm-interactive-contact": Obligation(
            requirement="Interactive contact",
            scope=_TCM_DISCHARGE,
            satisfied_by=frozenset({ActionKind.CONTACT, ActionKind.FACE_TO_FACE_VISIT}),
        ),
        "tcm-face-to-face": Obligation(
            requirement="Face-to-face visit",
            scope=_TCM_DISCHARGE,
            satisfied_by=frozenset({ActionKind.FACE_TO_FACE_VISIT}),
        ),
        "trc-medication-reconciliation": Obligation(
            requirement="Medication reconciliation",
            scope=_TCM_DISCHARGE,
            satisfied_by=frozenset({ActionKind.MEDICATION_RECONCILIATION}),
            no_later_than=ActionKind.FACE_TO_FACE_VISIT,
        ),
        "trc-admission-notification": Obligation(
            requirement="Receipt of admission notification",
            scope=TransitionScope(kind=TransitionKind.ADMISSION, patient_classes=_INPATIENT),
            satisfied_by=frozenset({ActionKind.ADMISSION_NOTIFICATION_RECEIVED}),
        ),
        "trc-discharge-information": Obligation(
            requirement="Receipt of discharge information",
            scope=_TRC_DISCHARGE,
            satisfied_by=frozenset({ActionKind.DISCHARGE_INFORMATION_RECEIVED}),
        ),
        "trc-patient-engagement": Obligation(
            requirement="Patient engagement",
            scope=_TRC_DISCHARGE,
            # HEDIS TRC counts office, home and telehealth visits, telephone included.
            satisfied_by=frozenset(
                {
                    ActionKind.CONTACT,
                    ActionKind.FACE_TO_FACE_VISIT,
                    ActionKind.FOLLOW_UP_VISIT,
                    ActionKind.MENTAL_HEALTH_FOLLOW_UP,
                    ActionKind.SUBSTANCE_USE_FOLLOW_UP,
                }
            ),
            counting=Counting.FROM_NEXT_DAY,
        ),
        "fuh-7": _FUH,
        "fuh-30": _FUH,
        "fum-7": _FUM,
        "fum-30": _FUM,
        "fua-7": _FUA,
        "fua-30": _FUA,
    }
)

PART2_WITHHELD: Final = "Follow-up due (details withheld: 42 CFR Part 2 needs the client's consent)"


def discloses_substance_use(rule_id: str) -> bool:
    """An alert of a substance-use rule tells of the disorder itself (42 CFR Part 2): its
    text is shown only where Part 2 data may be, under the client's consent or break-glass."""
    obligation = FOLLOW_UP_OBLIGATIONS.get(rule_id)
    return obligation is not None and obligation.scope.flag is ClinicalFlag.SUBSTANCE_USE


IMMEDIATE_TRIGGERS: Final[Mapping[str, ImmediateTrigger]] = MappingProxyType(
    {
        "discharge-ama": ImmediateTrigger(
            summary="Discharged against medical advice",
            scope=TransitionScope(
                kind=TransitionKind.DISCHARGE,
                patient_classes=_HOSPITAL_STAY | _EMERGENCY,
                dispositions=frozenset({Disposition.AGAINST_MEDICAL_ADVICE}),
            ),
        ),
        "discharge-home-no-follow-up": ImmediateTrigger(
            summary="Discharged home with no follow-up or referral on the plan",
            scope=TransitionScope(
                kind=TransitionKind.DISCHARGE,
                patient_classes=_HOSPITAL_STAY,
                dispositions=frozenset({Disposition.HOME}),
            ),
            circumstance=Circumstance.NO_FOLLOW_UP_PLANNED,
        ),
        "admission-open-case": ImmediateTrigger(
            summary="Admitted while a case is open; plan review due",
            scope=TransitionScope(kind=TransitionKind.ADMISSION, patient_classes=_HOSPITAL_STAY),
            circumstance=Circumstance.OPEN_CASE,
        ),
    }
)


# Configured rules --------------------------------------------------------------------------------

_UNIT_NAMES: Final[Mapping[WindowUnit, tuple[str, str]]] = MappingProxyType(
    {
        WindowUnit.BUSINESS_DAYS: ("business day", "business days"),
        WindowUnit.CALENDAR_DAYS: ("day", "days"),
        WindowUnit.HOURS: ("hour", "hours"),
    }
)


@dataclass(frozen=True)
class Window:
    amount: int
    unit: WindowUnit

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"a window cannot be negative: {self.amount} {self.unit}")

    def __str__(self) -> str:
        singular, plural = _UNIT_NAMES[self.unit]
        return f"{self.amount} {singular if self.amount == 1 else plural}"

    def due_at(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        match self.unit:
            case WindowUnit.BUSINESS_DAYS:
                return calendar.add_business_days(start, self.amount)
            case WindowUnit.CALENDAR_DAYS:
                return calendar.add_calendar_days(start, self.amount)
            case WindowUnit.HOURS:
                # Elapsed hours, not wall-clock hours: 48 h over a DST change is still 48 h.
                elapsed = utc_instant(start) + timedelta(hours=self.amount)
                return elapsed.astimezone(calendar.timezone)


@dataclass(frozen=True, kw_only=True)
class AlertRule:
    rule_id: str
    source: str
    severity: Severity
    enabled: bool = True

    def citation(self, version: str) -> str:
        return f"[{self.source}; rule {self.rule_id} v{version}]"


@dataclass(frozen=True, kw_only=True)
class DeadlineRule(AlertRule):
    obligation: Obligation
    window: Window
    high_complexity_window: Window | None = None

    def window_for(self, complexity: Complexity) -> Window:
        if complexity is Complexity.HIGH and self.high_complexity_window is not None:
            return self.high_complexity_window
        return self.window


@dataclass(frozen=True, kw_only=True)
class ReadmissionRule(AlertRule):
    window_days: int
    # HEDIS PCR: an admission on the discharge day or the day after is a direct transfer.
    direct_transfer_days: int


@dataclass(frozen=True, kw_only=True)
class HighUtilizerRule(AlertRule):
    visits: int
    window_days: int


@dataclass(frozen=True, kw_only=True)
class StaleEncounterRule(AlertRule):
    max_open_hours: int


@dataclass(frozen=True, kw_only=True)
class ImmediateRule(AlertRule):
    trigger: ImmediateTrigger


_Rule = TypeVar("_Rule", bound=AlertRule)


@dataclass(frozen=True)
class RuleSet:
    version: str
    rules: tuple[AlertRule, ...]
    # What sets the behavioral-health and substance-use flags FUH, FUM and FUA start on.
    value_sets: DiagnosisValueSets = field(default_factory=DiagnosisValueSets)

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("a rule set needs a version")
        ids = [rule.rule_id for rule in self.rules]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise ValueError(f"rule ids used twice: {', '.join(duplicates)}")

    def enabled(self, kind: type[_Rule]) -> tuple[_Rule, ...]:
        # Asked for every transition a projection re-derives; the answer never changes.
        enabled = self._enabled.get(kind)
        if enabled is None:
            enabled = tuple(rule for rule in self.rules if isinstance(rule, kind) and rule.enabled)
            self._enabled[kind] = enabled
        return enabled  # type: ignore[return-value]

    @cached_property
    def _enabled(self) -> dict[type[AlertRule], tuple[AlertRule, ...]]:
        return {}


# Outcomes ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RuleFinding:
    """What every rule outcome carries, so that an alert can cite the rule and version behind it."""

    rule_id: str
    rule_version: str
    severity: Severity
    patient_id: str
    encounter_id: str
    reason: str

    @property
    def condition_key(self) -> str:
        """One alert per patient-condition: findings with the same key update one alert."""
        return f"{self.rule_id}/{self.patient_id}/{self.encounter_id}"


@dataclass(frozen=True, kw_only=True)
class Deadline(RuleFinding):
    required_actions: frozenset[ActionKind]
    counts_from: datetime
    due_at: datetime
    no_later_than: ActionKind | None
    # 42 CFR Part 2: a substance-use deadline discloses the diagnosis; show it only under consent.
    part2_protected: bool


@dataclass(frozen=True, kw_only=True)
class Alert(RuleFinding):
    observed_at: datetime


@dataclass(frozen=True, kw_only=True)
class Readmission(Alert):
    index_encounter_id: str
    discharged_at: datetime
    days_after_discharge: int


@dataclass(frozen=True, kw_only=True)
class HighUtilizer(Alert):
    visit_encounter_ids: tuple[str, ...]

    @property
    def condition_key(self) -> str:
        # Each further ED visit updates the patient's one high-utilizer alert.
        return f"{self.rule_id}/{self.patient_id}"


# Deadlines ---------------------------------------------------------------------------------------


def deadlines_for(
    transition: TransitionFact,
    ruleset: RuleSet,
    calendar: BusinessCalendar,
    complexity: Complexity = Complexity.HIGH,
) -> list[Deadline]:
    """Deadlines a transition starts.

    ``complexity`` picks the TCM face-to-face window. It defaults to high (7 days) because it is
    only known at the visit, and a visit within 7 days satisfies both 99495 and 99496.
    """
    return [
        _deadline(rule, transition, ruleset.version, calendar, complexity)
        for rule in ruleset.enabled(DeadlineRule)
        if rule.obligation.scope.covers(transition)
    ]


def is_satisfied(deadline: Deadline, actions: Iterable[ActionFact]) -> bool:
    """Whether a required action happened at or after ``deadline.counts_from``.

    A late action still satisfies: the alert resolves itself when the action is recorded, whenever
    that is; ``is_met_on_time`` tells whether it was late. Pass only the patient's actions.
    """
    return any(
        action.kind in deadline.required_actions and _counts_toward(action, deadline)
        for action in actions
    )


def effective_due_at(
    deadline: Deadline, actions: Iterable[ActionFact], calendar: BusinessCalendar
) -> datetime:
    """``due_at``, brought forward to the end of the day of the first ``no_later_than`` action
    (medication reconciliation is due by the date of the face-to-face visit)."""
    anchors = [
        utc_instant(action.occurred_at)
        for action in actions
        if action.kind is deadline.no_later_than and _counts_toward(action, deadline)
    ]
    if not anchors:
        return deadline.due_at
    return min(deadline.due_at, calendar.add_calendar_days(min(anchors), 0), key=utc_instant)


def is_overdue(
    deadline: Deadline, actions: Iterable[ActionFact], now: datetime, calendar: BusinessCalendar
) -> bool:
    """Whether, as of ``now``, the deadline has passed unmet. Actions after ``now`` are ignored so
    that a replay answers as the live system did."""
    known = [action for action in actions if utc_instant(action.occurred_at) <= utc_instant(now)]
    due = effective_due_at(deadline, known, calendar)
    return utc_instant(now) >= utc_instant(due) and not is_satisfied(deadline, known)


def is_met_on_time(
    deadline: Deadline, actions: Iterable[ActionFact], calendar: BusinessCalendar
) -> bool:
    """Whether a required action happened before the (effective) due instant, for compliance
    reporting; ``is_satisfied`` answers whether the alert can close."""
    recorded = list(actions)
    due = utc_instant(effective_due_at(deadline, recorded, calendar))
    return is_satisfied(
        deadline, [action for action in recorded if utc_instant(action.occurred_at) < due]
    )


def _deadline(
    rule: DeadlineRule,
    transition: TransitionFact,
    version: str,
    calendar: BusinessCalendar,
    complexity: Complexity,
) -> Deadline:
    obligation = rule.obligation
    window = rule.window_for(complexity)
    qualifier = f" ({complexity} complexity)" if rule.high_complexity_window is not None else ""
    return Deadline(
        rule_id=rule.rule_id,
        rule_version=version,
        severity=rule.severity,
        patient_id=transition.patient_id,
        encounter_id=transition.encounter_id,
        reason=(
            f"{obligation.requirement} due within {window}{qualifier} of "
            f"{_describe(transition, calendar)} {rule.citation(version)}"
        ),
        required_actions=obligation.satisfied_by,
        counts_from=_counts_from(obligation.counting, transition, calendar),
        due_at=window.due_at(transition.occurred_at, calendar),
        no_later_than=obligation.no_later_than,
        part2_protected=obligation.scope.flag is ClinicalFlag.SUBSTANCE_USE,
    )


def _counts_from(
    counting: Counting, transition: TransitionFact, calendar: BusinessCalendar
) -> datetime:
    if counting is Counting.FROM_NEXT_DAY:
        return calendar.add_calendar_days(transition.occurred_at, 0)
    return transition.occurred_at


def _counts_toward(action: ActionFact, deadline: Deadline) -> bool:
    return action.successful and utc_instant(action.occurred_at) >= utc_instant(
        deadline.counts_from
    )


# Readmission and utilization ---------------------------------------------------------------------


def detect_readmission(
    transitions: Iterable[TransitionFact],
    new_admission: TransitionFact,
    ruleset: RuleSet,
    calendar: BusinessCalendar,
) -> Readmission | None:
    """A new inpatient admission within the window after the patient's latest inpatient discharge.

    Days are counted between local dates. An admission on the discharge day or the next day is a
    direct transfer (one stay), not a readmission. ``transitions`` is the patient's history under
    all linked identifiers, which is why it is not filtered by ``patient_id``.
    """
    if not _is_inpatient(new_admission, TransitionKind.ADMISSION):
        return None
    index = _latest_discharge_before(transitions, new_admission)
    if index is None:
        return None
    days = (
        calendar.local_date(new_admission.occurred_at) - calendar.local_date(index.occurred_at)
    ).days
    for rule in ruleset.enabled(ReadmissionRule):
        if rule.direct_transfer_days < days <= rule.window_days:
            return _readmission(rule, ruleset.version, index, new_admission, days, calendar)
    return None


def detect_high_utilizer(
    ed_visits: Iterable[TransitionFact],
    at: datetime,
    ruleset: RuleSet,
    calendar: BusinessCalendar,
) -> HighUtilizer | None:
    """N or more ED visits (distinct encounters) whose local dates fall in the M days ending on the
    local date of ``at``; visits after ``at`` are ignored so that a replay gives the same answer."""
    counted = {
        visit.encounter_id: visit
        for visit in ed_visits
        if visit.kind is TransitionKind.ED_VISIT
        and not visit.cancelled
        and utc_instant(visit.occurred_at) <= utc_instant(at)
    }
    visits = list(counted.values())
    for rule in ruleset.enabled(HighUtilizerRule):
        first_day = calendar.local_date(at) - timedelta(days=rule.window_days - 1)
        recent = [visit for visit in visits if calendar.local_date(visit.occurred_at) >= first_day]
        if len(recent) >= rule.visits:
            return _high_utilizer(rule, ruleset.version, recent, calendar)
    return None


def is_stale_ed_encounter(ed_visit_start: datetime, now: datetime, ruleset: RuleSet) -> bool:
    """Whether an ED visit that is still open at ``now`` has been open too long."""
    return _stale_rule(ed_visit_start, now, ruleset) is not None


def stale_ed_encounter_alert(
    ed_visit: TransitionFact, now: datetime, ruleset: RuleSet, calendar: BusinessCalendar
) -> Alert | None:
    """The alert for an ED visit still open at ``now``; pass only visits with no discharge."""
    if ed_visit.cancelled or ed_visit.kind is not TransitionKind.ED_VISIT:
        return None
    rule = _stale_rule(ed_visit.occurred_at, now, ruleset)
    if rule is None:
        return None
    return _alert(
        rule,
        ruleset.version,
        ed_visit,
        f"ED visit still open after {rule.max_open_hours} h without a discharge: "
        f"{_describe(ed_visit, calendar)}",
    )


def immediate_alerts(
    transition: TransitionFact, case: CaseContext, ruleset: RuleSet, calendar: BusinessCalendar
) -> list[Alert]:
    """Alerts a transition raises at once (discharge AMA, home without follow-up, admission of a
    client with an open case)."""
    return [
        _alert(
            rule,
            ruleset.version,
            transition,
            f"{rule.trigger.summary}: {_describe(transition, calendar)}",
        )
        for rule in ruleset.enabled(ImmediateRule)
        if rule.trigger.fires(transition, case)
    ]


def _is_inpatient(transition: TransitionFact, kind: TransitionKind) -> bool:
    return (
        transition.kind is kind
        and transition.patient_class is PatientClass.INPATIENT
        and not transition.cancelled
    )


def _latest_discharge_before(
    transitions: Iterable[TransitionFact], admission: TransitionFact
) -> TransitionFact | None:
    admitted = utc_instant(admission.occurred_at)
    discharges = [
        transition
        for transition in transitions
        if _is_inpatient(transition, TransitionKind.DISCHARGE)
        and transition.encounter_id != admission.encounter_id
        and utc_instant(transition.occurred_at) < admitted
    ]
    return max(discharges, key=lambda discharge: utc_instant(discharge.occurred_at), default=None)


def _stale_rule(
    ed_visit_start: datetime, now: datetime, ruleset: RuleSet
) -> StaleEncounterRule | None:
    open_for = utc_instant(now) - utc_instant(ed_visit_start)
    return next(
        (
            rule
            for rule in ruleset.enabled(StaleEncounterRule)
            if open_for >= timedelta(hours=rule.max_open_hours)
        ),
        None,
    )


def _readmission(
    rule: ReadmissionRule,
    version: str,
    index: TransitionFact,
    admission: TransitionFact,
    days: int,
    calendar: BusinessCalendar,
) -> Readmission:
    return Readmission(
        rule_id=rule.rule_id,
        rule_version=version,
        severity=rule.severity,
        patient_id=admission.patient_id,
        encounter_id=admission.encounter_id,
        observed_at=admission.occurred_at,
        reason=(
            f"Readmitted {days} days after discharge (window {rule.window_days} days): "
            f"{_describe(admission, calendar)}, after {_describe(index, calendar)} "
            f"{rule.citation(version)}"
        ),
        index_encounter_id=index.encounter_id,
        discharged_at=index.occurred_at,
        days_after_discharge=days,
    )


def _high_utilizer(
    rule: HighUtilizerRule,
    version: str,
    visits: list[TransitionFact],
    calendar: BusinessCalendar,
) -> HighUtilizer:
    ordered = sorted(visits, key=lambda visit: utc_instant(visit.occurred_at))
    latest = ordered[-1]
    dates = ", ".join(f"{calendar.local_date(visit.occurred_at):%Y-%m-%d}" for visit in ordered)
    return HighUtilizer(
        rule_id=rule.rule_id,
        rule_version=version,
        severity=rule.severity,
        patient_id=latest.patient_id,
        encounter_id=latest.encounter_id,
        observed_at=latest.occurred_at,
        reason=(
            f"{len(ordered)} ED visits in {rule.window_days} days "
            f"(threshold {rule.visits}) on {dates} {rule.citation(version)}"
        ),
        visit_encounter_ids=tuple(visit.encounter_id for visit in ordered),
    )


def _alert(rule: AlertRule, version: str, transition: TransitionFact, what: str) -> Alert:
    return Alert(
        rule_id=rule.rule_id,
        rule_version=version,
        severity=rule.severity,
        patient_id=transition.patient_id,
        encounter_id=transition.encounter_id,
        observed_at=transition.occurred_at,
        reason=f"{what} {rule.citation(version)}",
    )


_KIND_NAMES: Final[Mapping[TransitionKind, str]] = MappingProxyType(
    {
        TransitionKind.ADMISSION: "admission",
        TransitionKind.DISCHARGE: "discharge",
        TransitionKind.ED_VISIT: "ED visit",
        TransitionKind.TRANSFER: "transfer",
    }
)


def _describe(transition: TransitionFact, calendar: BusinessCalendar) -> str:
    """The facts behind a finding, in the organization's local time."""
    local = utc_instant(transition.occurred_at).astimezone(calendar.timezone)
    disposition = (
        f", disposition {transition.disposition}"
        if transition.kind is TransitionKind.DISCHARGE
        else ""
    )
    return (
        f"{transition.patient_class} {_KIND_NAMES[transition.kind]} on "
        f"{local:%a %Y-%m-%d %H:%M %Z} (encounter {transition.encounter_id}{disposition})"
    )
