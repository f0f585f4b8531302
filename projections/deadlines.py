"""What the transition rules ask for, per patient: deadlines, immediate findings, patient flags.

The projection turns encounter events into the rule facts of ``domain.alert_rules`` and case events
into the recorded actions that satisfy them, then re-derives the patient's *alert conditions* from
those facts after every relevant event. Re-deriving (rather than patching) makes the result
independent of arrival order: a discharge that arrives after the readmission it explains, a contact
logged before the discharge message came in, a cancel (A11/A12/A13) that voids a transition.

A condition is the wish "this patient should have this alert": it falls due at ``raise_at``,
is overdue at ``escalate_at``, and is settled when satisfied (the required action was recorded)
or withdrawn (a cancel voided its cause). Alert events are mirrored onto the same rows, so the
scheduler finds its work (raise, update, escalate, resolve, retract) with one query: the rows
where what the rules want and what the alert says differ.

When deadline alerts are raised: on the local day a deadline falls due (the start of the last day
of its window), escalated once it is overdue. A deadline met before it falls due never becomes an
alert; that is the main lever against alert fatigue. Immediate rules (discharge AMA, home without
follow-up, admission with an open case), readmissions and high utilizers fall due at the clinical
time of the transition; a stale ED visit falls due when it has been open too long.

The behavioral-health and substance-use flags of FUH/FUM/FUA come from the encounter's latest
diagnoses (DG1), read against the rule set's value sets, and apply to every transition of the
encounter: a diagnosis recorded after the discharge starts the clocks of that discharge. Receipt
of discharge information, and of an admission notification, is what the care team records on the
case; an admission notification is also the ADT event itself when the patient's open case has a
case manager: caretrail is the notification service that delivers it to them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, ClassVar, Final
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    Row,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
)

from domain.alert import (
    AlertAcknowledged,
    AlertCause,
    AlertCauseNoted,
    AlertEscalated,
    AlertRaised,
    AlertReopened,
    AlertResolved,
    AlertRetracted,
    AlertSnoozed,
    AlertState,
    AlertStep,
    AlertUpdated,
    AlertWork,
    alert_id_for,
)
from domain.alert_rules import (
    ActionFact,
    ActionKind,
    CaseContext,
    Deadline,
    Disposition,
    PatientClass,
    RuleFinding,
    RuleSet,
    Severity,
    StaleEncounterRule,
    TransitionFact,
    TransitionKind,
    deadlines_for,
    detect_high_utilizer,
    detect_readmission,
    effective_due_at,
    immediate_alerts,
    is_satisfied,
    stale_ed_encounter_alert,
)
from domain.alert_rules import Alert as Finding
from domain.calendar import BusinessCalendar, utc_instant
from domain.case import (
    AdmissionNotificationReceived,
    CaseClosed,
    CaseManagerAssigned,
    CaseOpened,
    CaseReopened,
    ContactLogged,
    ContactMode,
    ContactOutcome,
    DischargeInformationReceived,
    FollowUpFocus,
    FollowUpVisitRecorded,
    MedicationReconciliationRecorded,
    ReferralDeclined,
    ReferralMade,
)
from domain.encounter import (
    EncounterDiagnosesRecorded,
    EncounterRegistered,
    LeaveOfAbsenceEnded,
    LeaveOfAbsenceStarted,
    PatientAdmitted,
    PatientClassChanged,
    PatientDischarged,
    PatientTransferred,
    TransitionCancelled,
    TransitionEvent,
)
from domain.encounter import PatientClass as EncounterClass
from domain.events import CaretrailEvent
from domain.patient import PatientMergedInto, PatientUnmerged
from projections.batch_rows import BatchRows
from projections.store import (
    Delivered,
    Projection,
    ProjectionStore,
    UtcDateTime,
    events_of,
    metadata,
)

rule_transitions = Table(
    "rule_transitions",
    metadata,
    Column("encounter_id", String(36), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("patient_id", String(36), nullable=False, index=True),
    # NULL for transitions no rule looks at (pre-admission, leave of absence...).
    Column("kind", String(20)),
    Column("patient_class", String(20), nullable=False),
    Column("disposition", String(20), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("cancelled", Boolean, nullable=False),
    # What the case record said when the transition arrived (CaseContext), and whether its
    # case manager was notified by it.
    Column("has_open_case", Boolean, nullable=False),
    Column("follow_up_planned", Boolean, nullable=False),
    Column("notified", Boolean, nullable=False),
    Column("previous_class", String(1)),
    Column("ref", String(120), nullable=False),
)

rule_encounters = Table(
    "rule_encounters",
    metadata,
    Column("encounter_id", String(36), primary_key=True),
    Column("patient_id", String(36), nullable=False),
    Column("patient_class", String(1), nullable=False),
    # From the latest diagnoses; NULL while none is known.
    Column("behavioral_health", Boolean),
    Column("substance_use", Boolean),
)

rule_actions = Table(
    "rule_actions",
    metadata,
    Column("ref", String(120), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("successful", Boolean, nullable=False),
)

rule_cases = Table(
    "rule_cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("open", Boolean, nullable=False),
    Column("case_manager", String(200)),
    Column("active_referrals", Integer, nullable=False),
)

rule_patient_links = Table(
    "rule_patient_links",
    metadata,
    Column("retired_id", String(36), primary_key=True),
    Column("survivor_id", String(36), nullable=False, index=True),
)

alert_conditions = Table(
    "alert_conditions",
    metadata,
    Column("condition_key", String(200), primary_key=True),
    Column("alert_id", String(36), nullable=False, index=True),
    Column("patient_id", String(36), nullable=False, index=True),
    Column("rule_id", String(60), nullable=False),
    Column("rule_version", String(40), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("facts", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("encounter_id", String(36), nullable=False),
    Column("transition_number", Integer, nullable=False),
    Column("raise_at", UtcDateTime, nullable=False, index=True),
    Column("due_at", UtcDateTime),
    Column("escalate_at", UtcDateTime),
    Column("status", String(10), nullable=False, index=True),
    Column("settled_by", String(120)),
    Column("settled_at", UtcDateTime),
    Column("known_at", UtcDateTime, nullable=False),
    # Mirrored from the alert's own events.
    Column("alert_state", String(15), nullable=False, default="none"),
    Column("alert_digest", String(64)),
    Column("alert_escalated", Boolean, nullable=False, default=False),
    Column("alert_snoozed_until", UtcDateTime),
)

patient_flags = Table(
    "patient_flags",
    metadata,
    Column("patient_id", String(36), primary_key=True),
    Column("flag", String(60), primary_key=True),
    Column("since", UtcDateTime, nullable=False),
    Column("condition_key", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)


# Facts ------------------------------------------------------------------------------------------


class ConditionStatus(StrEnum):
    PENDING = "pending"
    SATISFIED = "satisfied"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class KnownTransition:
    """A transition as the rules see it, with when caretrail learned of it and the case context
    of that moment."""

    fact: TransitionFact
    number: int
    recorded_at: datetime
    case: CaseContext
    notified: bool
    ref: str

    # A key of the derivation's caches, looked up for every event of the patient: hashed once.
    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.fact, self.number, self.recorded_at, self.case, self.notified, self.ref))


@dataclass(frozen=True)
class KnownAction:
    fact: ActionFact
    recorded_at: datetime
    ref: str

    def __hash__(self) -> int:
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.fact, self.recorded_at, self.ref))


@dataclass(frozen=True, eq=False)
class Condition:
    """Compared by `signature` (what its row stores), not with ==: the derivation hands out the
    same object for the same facts, so its signature and row are worked out once."""

    patient_id: UUID
    condition_key: str
    cause: AlertCause
    raise_at: datetime
    escalate_at: datetime | None
    known_at: datetime
    status: ConditionStatus = ConditionStatus.PENDING
    settled_by: str | None = None
    settled_at: datetime | None = None

    @cached_property
    def signature(self) -> tuple[Any, ...]:
        """What tells whether a stored row still says what this condition says."""
        return (
            self.cause.digest(),
            self.raise_at,
            self.escalate_at,
            self.status.value,
            self.settled_by,
            self.settled_at,
            self.known_at,
        )

    @cached_property
    def row(self) -> Mapping[str, Any]:
        cause = self.cause
        return {
            "condition_key": self.condition_key,
            "alert_id": str(alert_id_for(self.patient_id, self.condition_key)),
            "patient_id": str(self.patient_id),
            "rule_id": cause.rule_id,
            "rule_version": cause.rule_version,
            "severity": str(cause.severity),
            "reason": cause.reason,
            "facts": json.dumps(dict(cause.facts), sort_keys=True),
            "digest": cause.digest(),
            "encounter_id": str(cause.encounter_id),
            "transition_number": cause.transition_number,
            "raise_at": _utc(self.raise_at),
            "due_at": _utc(cause.due_at),
            "escalate_at": _utc(self.escalate_at),
            "status": self.status.value,
            "settled_by": self.settled_by,
            "settled_at": _utc(self.settled_at),
            "known_at": _utc(self.known_at),
        }


@dataclass(frozen=True)
class PatientFlag:
    patient_id: UUID
    flag: str
    since: datetime
    condition_key: str
    reason: str

    @property
    def label(self) -> str:
        """The flag as the care team says it."""
        return _FLAG_LABELS.get(self.flag, self.flag)


_RULE_CLASS: Final[Mapping[EncounterClass, PatientClass]] = {
    EncounterClass.INPATIENT: PatientClass.INPATIENT,
    EncounterClass.OBSTETRICS: PatientClass.INPATIENT,
    EncounterClass.EMERGENCY: PatientClass.EMERGENCY,
    EncounterClass.OUTPATIENT: PatientClass.OUTPATIENT,
    EncounterClass.RECURRING: PatientClass.OUTPATIENT,
}

# What settles an immediate finding; the others are notices that people acknowledge.
_RESOLVED_BY: Final[Mapping[str, frozenset[ActionKind]]] = {
    "discharge-ama": frozenset({ActionKind.CONTACT}),
    "discharge-home-no-follow-up": frozenset(
        {ActionKind.REFERRAL, ActionKind.FOLLOW_UP_VISIT, ActionKind.FACE_TO_FACE_VISIT}
    ),
}


def rule_class(patient_class: EncounterClass) -> PatientClass:
    return _RULE_CLASS.get(patient_class, PatientClass.OTHER)


def arrival_kind(patient_class: EncounterClass) -> TransitionKind:
    """An ED registration is an ED visit; any other registration or admission is an admission."""
    if patient_class is EncounterClass.EMERGENCY:
        return TransitionKind.ED_VISIT
    return TransitionKind.ADMISSION


_FOCUSED_FOLLOW_UP: Final[Mapping[FollowUpFocus, set[ActionKind]]] = {
    FollowUpFocus.MENTAL_HEALTH: {ActionKind.MENTAL_HEALTH_FOLLOW_UP},
    FollowUpFocus.SUBSTANCE_USE: {ActionKind.SUBSTANCE_USE_FOLLOW_UP},
}


def action_kinds(event: CaretrailEvent) -> frozenset[ActionKind]:
    """The rule actions a case event records (empty for the events that record none)."""
    if isinstance(event, ContactLogged):
        return frozenset({ActionKind.CONTACT})
    if isinstance(event, FollowUpVisitRecorded):
        # A visit is interactive contact too; only an in-person one is a TCM face-to-face visit.
        in_person = (
            {ActionKind.FACE_TO_FACE_VISIT} if event.mode == ContactMode.FACE_TO_FACE else set()
        )
        focused = _FOCUSED_FOLLOW_UP.get(FollowUpFocus(event.focus), set())
        return frozenset({ActionKind.FOLLOW_UP_VISIT, ActionKind.CONTACT, *in_person, *focused})
    if isinstance(event, AdmissionNotificationReceived):
        return frozenset({ActionKind.ADMISSION_NOTIFICATION_RECEIVED})
    if isinstance(event, DischargeInformationReceived):
        return frozenset({ActionKind.DISCHARGE_INFORMATION_RECEIVED})
    if isinstance(event, MedicationReconciliationRecorded):
        return frozenset({ActionKind.MEDICATION_RECONCILIATION})
    if isinstance(event, ReferralMade):
        return frozenset({ActionKind.REFERRAL})
    return frozenset()


def event_ref(event: CaretrailEvent) -> str:
    """Names one stored event, e.g. ``ContactLogged/<case id>@7``."""
    kind = event.TOPIC.removeprefix("caretrail.")
    return f"{kind}/{event.originator_id}@{event.originator_version}"


# Derivation (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleContext:
    ruleset: RuleSet
    calendar: BusinessCalendar


Settlement = KnownAction | KnownTransition


@dataclass(frozen=True)
class Expected:
    """What one transition asks for before any action is known: each deadline with the condition
    it states while unmet, each immediate finding with the actions that settle it, the finding of
    an ED visit left open too long, and the notification caretrail itself delivered."""

    deadlines: tuple[tuple[Deadline, Condition], ...]
    immediate: tuple[tuple[frozenset[ActionKind], Condition], ...]
    stale: Condition | None
    own_notification: tuple[KnownAction, ...]

    @cached_property
    def action_kinds(self) -> frozenset[ActionKind]:
        """The kinds of action that settle any of it, or bring a deadline forward."""
        kinds = {kind for settled_by, _ in self.immediate for kind in settled_by}
        for deadline, _ in self.deadlines:
            kinds |= deadline.required_actions
            if deadline.no_later_than is not None:
                kinds.add(deadline.no_later_than)
        return frozenset(kinds)


class Derivation:
    """Every alert condition the facts of one patient (and the identities linked to them) imply,
    under one rule context.

    A patient's every event re-derives all of their transitions, and most leave most of them as
    they were, so the derivation remembers (up to `remembered` of each): what each transition
    asks for, the conditions it implies for the actions known, and each condition as settled by
    a given action. The same facts then give the very same condition objects, whose stored form
    is worked out once."""

    def __init__(self, rules: RuleContext, remembered: int = 20_000) -> None:
        self.rules = rules
        self._expected = lru_cache(maxsize=remembered)(self._expectations)
        self._of_transition = lru_cache(maxsize=remembered)(self._transition_conditions)
        self._settled = lru_cache(maxsize=remembered)(_settled)
        self._deadline = lru_cache(maxsize=remembered)(self._deadline_condition)
        self._finding = lru_cache(maxsize=remembered)(_finding_condition)

    def conditions(
        self, transitions: Sequence[KnownTransition], actions: Sequence[KnownAction]
    ) -> list[Condition]:
        per_transition = [
            condition
            for transition in transitions
            for condition in self._of_transition(
                transition,
                self._bearing_on(transition, actions),
                _visit_endings(transition, transitions),
            )
        ]
        return [
            *per_transition,
            *_readmission_conditions(transitions, self.rules, self._finding),
            *_high_utilizer_condition(transitions, self.rules, self._finding),
        ]

    def _bearing_on(
        self, transition: KnownTransition, actions: Sequence[KnownAction]
    ) -> tuple[KnownAction, ...]:
        """The actions that can settle what the transition asks for: of a kind it asks for, and
        not before it (every rule counts actions from the transition on, or later). The rest
        cannot change its conditions, so leaving them out lets one be remembered across events
        that add them."""
        kinds = self._expected(transition).action_kinds
        since = transition.fact.occurred_at
        return tuple(a for a in actions if a.fact.kind in kinds and a.fact.occurred_at >= since)

    def _transition_conditions(
        self,
        transition: KnownTransition,
        actions: tuple[KnownAction, ...],
        endings: tuple[KnownTransition, ...],
    ) -> tuple[Condition, ...]:
        expected = self._expected(transition)
        conditions = self._deadline_conditions(transition, expected, actions)
        for settled_by, condition in expected.immediate:
            settling = (a for a in actions if _settles_after(a, settled_by, transition.fact))
            conditions.append(self._settle(condition, settling))
        if expected.stale is not None:
            conditions.append(self._settle(expected.stale, endings))
        return tuple(conditions)

    def _deadline_conditions(
        self, transition: KnownTransition, expected: Expected, actions: tuple[KnownAction, ...]
    ) -> list[Condition]:
        actions = (*actions, *expected.own_notification)
        facts = [action.fact for action in actions]
        conditions = []
        for deadline, pending in expected.deadlines:
            due = effective_due_at(deadline, facts, self.rules.calendar)
            # Brought forward by a face-to-face visit (medication reconciliation).
            condition = pending if due == deadline.due_at else (
                self._deadline(deadline, transition, due))  # fmt: skip
            settling = (a for a in actions if is_satisfied(deadline, [a.fact]))
            conditions.append(self._settle(condition, settling))
        return conditions

    def _settle(self, condition: Condition, settling: Iterable[Settlement]) -> Condition:
        """Settled by the action (or, for a stale ED visit, the discharge) caretrail learned of
        first, if any."""
        first = min(settling, key=lambda action: utc_instant(action.recorded_at), default=None)
        return condition if first is None else self._settled(condition, first)

    def _expectations(self, transition: KnownTransition) -> Expected:
        rules = self.rules
        return Expected(
            deadlines=tuple(
                (deadline, self._deadline(deadline, transition, deadline.due_at))
                for deadline in deadlines_for(transition.fact, rules.ruleset, rules.calendar)
            ),
            immediate=tuple(
                (
                    _RESOLVED_BY.get(finding.rule_id, frozenset()),
                    _finding_condition(finding, transition, transition),
                )
                for finding in immediate_alerts(
                    transition.fact, transition.case, rules.ruleset, rules.calendar
                )
            ),
            stale=_stale_ed_condition(transition, rules),
            own_notification=_own_notification(transition),
        )

    def _deadline_condition(
        self, deadline: Deadline, transition: KnownTransition, due: datetime
    ) -> Condition:
        return Condition(
            patient_id=UUID(deadline.patient_id),
            condition_key=deadline.condition_key,
            cause=_cause(deadline, transition, due),
            raise_at=_falls_due(due, self.rules.calendar),
            escalate_at=due,
            known_at=transition.recorded_at,
        )


def derive_flags(conditions: Iterable[Condition]) -> list[PatientFlag]:
    """Readmission and high-utilizer flags: the latest finding of each per patient."""
    latest: dict[tuple[UUID, str], Condition] = {}
    for condition in conditions:
        if condition.cause.rule_id not in _FLAG_RULES:
            continue
        key = (condition.patient_id, condition.cause.rule_id)
        if key not in latest or utc_instant(condition.raise_at) > utc_instant(latest[key].raise_at):
            latest[key] = condition
    return [
        PatientFlag(c.patient_id, c.cause.rule_id, c.raise_at, c.condition_key, c.cause.reason)
        for c in latest.values()
    ]


_FLAG_LABELS: Final = {
    "readmission-30": "Readmitted within 30 days",
    "high-utilizer": "High utilizer",
}
_FLAG_RULES: Final = frozenset(_FLAG_LABELS)


def _own_notification(transition: KnownTransition) -> tuple[KnownAction, ...]:
    """The case manager received this transition's notification when caretrail recorded it."""
    if not transition.notified:
        return ()
    received = ActionFact(
        kind=ActionKind.ADMISSION_NOTIFICATION_RECEIVED, occurred_at=transition.recorded_at
    )
    return (KnownAction(received, transition.recorded_at, transition.ref),)


def _visit_endings(
    visit: KnownTransition, transitions: Sequence[KnownTransition]
) -> tuple[KnownTransition, ...]:
    """What ended an ED visit: its discharge, or an admission from the ED (A06)."""
    if visit.fact.kind is not TransitionKind.ED_VISIT:
        return ()
    return tuple(
        t
        for t in transitions
        if t.fact.encounter_id == visit.fact.encounter_id
        and t.number > visit.number
        and t.fact.kind in (TransitionKind.DISCHARGE, TransitionKind.ADMISSION)
        and not t.fact.cancelled
    )


def _stale_ed_condition(visit: KnownTransition, rules: RuleContext) -> Condition | None:
    """An ED visit's finding of being open too long (its discharge, or admission, settles it)."""
    limits = [rule.max_open_hours for rule in rules.ruleset.enabled(StaleEncounterRule)]
    if not limits or visit.fact.kind is not TransitionKind.ED_VISIT:
        return None
    stale_at = utc_instant(visit.fact.occurred_at) + timedelta(hours=min(limits))
    finding = stale_ed_encounter_alert(visit.fact, stale_at, rules.ruleset, rules.calendar)
    if finding is None:
        return None
    # It falls due when the visit has been open too long, not when the visit began.
    return replace(_finding_condition(finding, visit, visit), raise_at=stale_at)


FindingCondition = Callable[[Finding, KnownTransition, KnownTransition], Condition]


def _readmission_conditions(
    transitions: Sequence[KnownTransition], rules: RuleContext, condition_of: FindingCondition
) -> list[Condition]:
    facts = [t.fact for t in transitions]
    conditions = []
    for admission in transitions:
        finding = detect_readmission(facts, admission.fact, rules.ruleset, rules.calendar)
        if finding is None:
            continue
        index = _transition(transitions, finding.index_encounter_id, TransitionKind.DISCHARGE)
        conditions.append(condition_of(finding, admission, index))
    return conditions


def _high_utilizer_condition(
    transitions: Sequence[KnownTransition], rules: RuleContext, condition_of: FindingCondition
) -> list[Condition]:
    """The latest visit at which the patient counted as a high utilizer, if any: the alert is kept
    (and updated) when the window later moves past old visits, and goes only if a cancel voids
    the visits that made it."""
    visits = sorted(
        (t for t in transitions if t.fact.kind is TransitionKind.ED_VISIT and not t.fact.cancelled),
        key=lambda t: utc_instant(t.fact.occurred_at),
    )
    facts = [t.fact for t in visits]
    for visit in reversed(visits):
        finding = detect_high_utilizer(facts, visit.fact.occurred_at, rules.ruleset, rules.calendar)
        if finding is not None:
            newest = max(
                (t for t in visits if t.fact.encounter_id in finding.visit_encounter_ids),
                key=lambda t: utc_instant(t.recorded_at),
            )
            return [condition_of(finding, visit, newest)]
    return []


def _finding_condition(
    finding: Finding, source: KnownTransition, newest: KnownTransition
) -> Condition:
    """A condition that falls due when it is observed; `newest` is the latest fact behind it."""
    return Condition(
        patient_id=UUID(finding.patient_id),
        condition_key=finding.condition_key,
        cause=_cause(finding, source, None),
        raise_at=finding.observed_at,
        escalate_at=None,
        known_at=max(source.recorded_at, newest.recorded_at, key=utc_instant),
    )


def _cause(finding: RuleFinding, source: KnownTransition, due: datetime | None) -> AlertCause:
    return AlertCause(
        rule_id=finding.rule_id,
        rule_version=finding.rule_version,
        severity=finding.severity,
        reason=finding.reason,
        facts=_facts(finding, source.fact),
        due_at=None if due is None else utc_instant(due),
        encounter_id=UUID(source.fact.encounter_id),
        transition_number=source.number,
    )


_FINDING_FIELDS: Final = frozenset(field.name for field in fields(RuleFinding))


def _own_fields(kind: type[RuleFinding]) -> tuple[str, ...]:
    """The fields a kind of finding adds to every finding's (looked up once per kind)."""
    own = _OWN_FIELDS.get(kind)
    if own is None:
        own = tuple(field.name for field in fields(kind) if field.name not in _FINDING_FIELDS)
        _OWN_FIELDS[kind] = own
    return own


_OWN_FIELDS: Final[dict[type[RuleFinding], tuple[str, ...]]] = {}


def _facts(finding: RuleFinding, transition: TransitionFact) -> dict[str, str]:
    found = {name: _text(getattr(finding, name)) for name in _own_fields(type(finding))}
    return {
        "transition": str(transition.kind),
        "occurred_at": _text(transition.occurred_at),
        "patient_class": str(transition.patient_class),
        "disposition": str(transition.disposition),
        **found,
    }


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return utc_instant(value).isoformat()
    if isinstance(value, frozenset | tuple):
        return ",".join(sorted(str(item) for item in value))
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _settled(condition: Condition, first: Settlement) -> Condition:
    return replace(
        condition,
        status=ConditionStatus.SATISFIED,
        settled_by=first.ref,
        settled_at=first.recorded_at,
    )


def _settles_after(
    action: KnownAction, kinds: frozenset[ActionKind], transition: TransitionFact
) -> bool:
    return (
        action.fact.kind in kinds
        and action.fact.successful
        and utc_instant(action.fact.occurred_at) >= utc_instant(transition.occurred_at)
    )


def _falls_due(due_at: datetime, calendar: BusinessCalendar) -> datetime:
    """The start of the last local day before ``due_at`` (the day the deadline is due)."""
    last_day = calendar.local_date(utc_instant(due_at) - timedelta(microseconds=1))
    return calendar.end_of_day(last_day - timedelta(days=1))


def _transition(
    transitions: Sequence[KnownTransition], encounter_id: str, kind: TransitionKind
) -> KnownTransition:
    return next(
        t
        for t in transitions
        if t.fact.encounter_id == encounter_id and t.fact.kind is kind and not t.fact.cancelled
    )


# The projection ---------------------------------------------------------------------------------

_Handler = Callable[["_Facts", Any], None]
_OPEN_STATES: Final = (AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.SNOOZED)


class Deadlines(Projection):
    """Alert conditions and patient flags under one rule set (a constructor argument, so that a
    backtest can run the same projection under a candidate rule file).

    A batch of events is applied to the rows of the patients it concerns, loaded into memory
    first and written back once: every event still re-derives its patient's conditions, so the
    rows are the same whatever the batches were."""

    name: ClassVar[str] = "deadlines"
    tables: ClassVar[tuple[Table, ...]] = (
        rule_transitions, rule_encounters, rule_actions, rule_cases, rule_patient_links,
        alert_conditions, patient_flags,
    )  # fmt: skip

    def __init__(self, ruleset: RuleSet, calendar: BusinessCalendar) -> None:
        self.rules = RuleContext(ruleset, calendar)
        self.derivation = Derivation(self.rules)
        self._handlers: dict[type[CaretrailEvent], _Handler] = {
            EncounterRegistered: self._registered,
            PatientAdmitted: self._admitted,
            PatientTransferred: self._transition,
            PatientDischarged: self._discharged,
            LeaveOfAbsenceStarted: self._transition,
            LeaveOfAbsenceEnded: self._transition,
            PatientClassChanged: self._class_changed,
            TransitionCancelled: self._cancelled,
            EncounterDiagnosesRecorded: self._diagnosed,
            CaseOpened: self._case_opened,
            CaseManagerAssigned: self._case_manager_assigned,
            CaseClosed: self._case_closed,
            CaseReopened: self._case_reopened,
            ReferralMade: self._referral_made,
            ReferralDeclined: self._referral_declined,
            ContactLogged: self._action,
            FollowUpVisitRecorded: self._action,
            MedicationReconciliationRecorded: self._action,
            AdmissionNotificationReceived: self._action,
            DischargeInformationReceived: self._action,
            PatientMergedInto: self._merged,
            PatientUnmerged: self._unmerged,
            **dict.fromkeys(_ALERT_MIRROR, self._alert_changed),
        }

    def apply_batch(self, db: Connection, batch: Sequence[Delivered]) -> None:
        handled = [event for event in events_of(batch) if type(event) in self._handlers]
        if not handled:
            return
        facts = _Facts.of(db, handled)
        for event in handled:
            self._handlers[type(event)](facts, event)
        facts.write(db)

    # Encounters

    def _registered(self, facts: _Facts, event: EncounterRegistered) -> None:
        patient_class = EncounterClass(event.patient_class)
        facts.encounters.put(
            {
                "encounter_id": str(event.originator_id),
                "patient_id": str(event.patient_id),
                "patient_class": patient_class.value,
            }
        )
        kind = None if event.preadmission else arrival_kind(patient_class)
        self._record_transition(facts, event, 1, kind, patient_class)

    def _admitted(self, facts: _Facts, event: PatientAdmitted) -> None:
        patient_class = EncounterClass(event.patient_class)
        facts.set_class(event, patient_class)
        self._record_transition(
            facts, event, event.transition_number, arrival_kind(patient_class), patient_class
        )

    def _transition(self, facts: _Facts, event: TransitionEvent) -> None:
        kind = TransitionKind.TRANSFER if isinstance(event, PatientTransferred) else None
        self._record_transition(facts, event, event.transition_number, kind, facts.class_of(event))

    def _discharged(self, facts: _Facts, event: PatientDischarged) -> None:
        self._record_transition(
            facts,
            event,
            event.transition_number,
            TransitionKind.DISCHARGE,
            facts.class_of(event),
            Disposition(str(event.disposition)),
        )

    def _class_changed(self, facts: _Facts, event: PatientClassChanged) -> None:
        to_class = EncounterClass(event.to_class)
        facts.set_class(event, to_class)
        # A06 (outpatient or ED to inpatient) is when the inpatient stay begins.
        becomes_inpatient = (
            rule_class(to_class) is PatientClass.INPATIENT
            and rule_class(EncounterClass(event.from_class)) is not PatientClass.INPATIENT
        )
        kind = TransitionKind.ADMISSION if becomes_inpatient else None
        self._record_transition(
            facts, event, event.transition_number, kind, to_class,
            previous_class=EncounterClass(event.from_class),
        )  # fmt: skip

    def _diagnosed(self, facts: _Facts, event: EncounterDiagnosesRecorded) -> None:
        value_sets = self.rules.ruleset.value_sets
        encounter = facts.encounters.get(str(event.originator_id))
        if encounter is not None:
            facts.encounters.change(
                encounter,
                behavioral_health=value_sets.behavioral_health(event.diagnoses),
                substance_use=value_sets.substance_use(event.diagnoses),
            )
        self._rederive(facts, event)

    def _cancelled(self, facts: _Facts, event: TransitionCancelled) -> None:
        voided = facts.transitions.get(str(event.originator_id), event.transition_number)
        if voided is not None:
            facts.transitions.change(voided, cancelled=True)
            if voided["previous_class"] is not None:
                facts.set_class(event, EncounterClass(voided["previous_class"]))
        self._rederive(facts, event)

    def _record_transition(
        self,
        facts: _Facts,
        event: CaretrailEvent,
        number: int,
        kind: TransitionKind | None,
        patient_class: EncounterClass,
        disposition: Disposition = Disposition.UNKNOWN,
        previous_class: EncounterClass | None = None,
    ) -> None:
        case, notified = facts.case_context(str(event.patient_id))
        facts.transitions.put(
            {
                "encounter_id": str(event.originator_id),
                "number": number,
                "patient_id": str(event.patient_id),
                "kind": None if kind is None else kind.value,
                "patient_class": rule_class(patient_class).value,
                "disposition": disposition.value,
                "occurred_at": utc_instant(event.occurred_at),
                "recorded_at": utc_instant(event.timestamp),
                "cancelled": False,
                "has_open_case": case.has_open_case,
                "follow_up_planned": case.follow_up_planned,
                "notified": notified,
                "previous_class": None if previous_class is None else previous_class.value,
                "ref": event_ref(event),
            }
        )
        if kind is not None:
            self._rederive(facts, event)

    # Cases and actions

    def _case_opened(self, facts: _Facts, event: CaseOpened) -> None:
        facts.cases.put(
            {
                "case_id": str(event.originator_id),
                "patient_id": str(event.patient_id),
                "open": True,
                "case_manager": None,
                "active_referrals": 0,
            }
        )

    def _case_manager_assigned(self, facts: _Facts, event: CaseManagerAssigned) -> None:
        facts.change_case(event, case_manager=event.case_manager)

    def _case_closed(self, facts: _Facts, event: CaseClosed) -> None:
        facts.change_case(event, open=False)

    def _case_reopened(self, facts: _Facts, event: CaseReopened) -> None:
        facts.change_case(event, open=True)

    def _referral_made(self, facts: _Facts, event: ReferralMade) -> None:
        facts.count_referral(event, 1)
        self._action(facts, event)

    def _referral_declined(self, facts: _Facts, event: ReferralDeclined) -> None:
        facts.count_referral(event, -1)

    def _action(self, facts: _Facts, event: CaretrailEvent) -> None:
        successful = not (
            isinstance(event, ContactLogged) and event.outcome != ContactOutcome.SUCCESSFUL
        )
        for kind in sorted(action_kinds(event)):
            facts.actions.put(
                {
                    "ref": event_ref(event),
                    "kind": kind.value,
                    "patient_id": str(event.patient_id),
                    "occurred_at": utc_instant(event.occurred_at),
                    "recorded_at": utc_instant(event.timestamp),
                    "successful": successful,
                }
            )
        self._rederive(facts, event)

    # Identities

    def _merged(self, facts: _Facts, event: PatientMergedInto) -> None:
        facts.links.put(
            {"retired_id": str(event.patient_id), "survivor_id": str(event.survivor_id)}
        )
        self._rederive(facts, event)

    def _unmerged(self, facts: _Facts, event: PatientUnmerged) -> None:
        facts.links.remove(str(event.patient_id))
        self._rederive(facts, event)
        self._rederive(facts, event, str(event.survivor_id))

    # Alerts

    def _alert_changed(self, facts: _Facts, event: CaretrailEvent) -> None:
        mirrored = _ALERT_MIRROR[type(event)](event)
        if isinstance(event, AlertRaised):
            raised = facts.conditions.get(event.condition_key)
            conditions = [] if raised is None else [raised]
        else:
            conditions = facts.conditions.where("alert_id", str(event.originator_id))
        for condition in conditions:
            facts.conditions.change(condition, **mirrored)

    # Re-deriving a patient's conditions

    def _rederive(
        self, facts: _Facts, event: CaretrailEvent, patient_id: str | None = None
    ) -> None:
        patients = facts.linked(patient_id or str(event.patient_id))
        conditions = self.derivation.conditions(
            facts.known_transitions(patients), facts.known_actions(patients)
        )
        if facts.store_conditions(patients, conditions, event):
            facts.store_flags(patients, derive_flags(conditions))


class _Facts:
    """The deadline tables' rows of the patients a batch of events concerns, and of every
    identity merged with them, held while the batch is applied (see `BatchRows`)."""

    def __init__(self) -> None:
        self.transitions = BatchRows(rule_transitions, index_by=("patient_id",))
        self.encounters = BatchRows(rule_encounters)
        self.actions = BatchRows(rule_actions, index_by=("patient_id",))
        self.cases = BatchRows(rule_cases, index_by=("patient_id",))
        self.links = BatchRows(rule_patient_links, index_by=("survivor_id",))
        self.conditions = BatchRows(alert_conditions, index_by=("patient_id", "alert_id"))
        self.flags = BatchRows(patient_flags, index_by=("patient_id",))

    @classmethod
    def of(cls, db: Connection, events: Sequence[CaretrailEvent]) -> _Facts:
        facts = cls()
        patients = facts._load_links(db, {_id for event in events for _id in _patients(event)})
        for rows in (facts.transitions, facts.actions, facts.cases, facts.conditions, facts.flags):
            rows.load(db, "patient_id", patients)
        encounters = {str(event.originator_id) for event in events}
        facts.encounters.load(
            db, "encounter_id", encounters | {row["encounter_id"] for row in facts.transitions}
        )
        return facts

    def write(self, db: Connection) -> None:
        for rows in (
            self.transitions, self.encounters, self.actions, self.cases, self.links,
            self.conditions, self.flags,
        ):  # fmt: skip
            rows.write(db)

    def _load_links(self, db: Connection, patients: set[str]) -> set[str]:
        """The patients and every identity stored as merged with them, transitively."""
        linked: set[str] = set()
        new = patients
        while new:
            linked |= new
            rows = [
                *self.links.load(db, "retired_id", new),
                *self.links.load(db, "survivor_id", new),
            ]
            new = {id_ for row in rows for id_ in (row["retired_id"], row["survivor_id"])} - linked
        return linked

    # Encounters and cases

    def class_of(self, event: CaretrailEvent) -> EncounterClass:
        encounter = self.encounters.get(str(event.originator_id))
        return EncounterClass.UNKNOWN if encounter is None else (
            EncounterClass(encounter["patient_class"]))  # fmt: skip

    def set_class(self, event: CaretrailEvent, patient_class: EncounterClass) -> None:
        encounter = self.encounters.get(str(event.originator_id))
        if encounter is not None:
            self.encounters.change(encounter, patient_class=patient_class.value)

    def change_case(self, event: CaretrailEvent, **values: Any) -> None:
        case = self.cases.get(str(event.originator_id))
        if case is not None:
            self.cases.change(case, **values)

    def count_referral(self, event: CaretrailEvent, delta: int) -> None:
        case = self.cases.get(str(event.originator_id))
        if case is not None:
            self.change_case(event, active_referrals=case["active_referrals"] + delta)

    def case_context(self, patient_id: str) -> tuple[CaseContext, bool]:
        """What the patient's open cases say now, and whether one has a case manager."""
        open_cases = [case for case in self.cases.where("patient_id", patient_id) if case["open"]]
        context = CaseContext(
            has_open_case=bool(open_cases),
            follow_up_planned=any(case["active_referrals"] > 0 for case in open_cases),
        )
        return context, any(case["case_manager"] is not None for case in open_cases)

    # A patient's facts

    def linked(self, patient_id: str) -> list[str]:
        """The patient and every identity merged with it (A40), transitively."""
        linked: set[str] = set()
        waiting = [patient_id]
        while waiting:
            patient = waiting.pop()
            if patient in linked:
                continue
            linked.add(patient)
            retired = self.links.get(patient)
            if retired is not None:
                waiting.append(retired["survivor_id"])
            waiting.extend(link["retired_id"] for link in self.links.where("survivor_id", patient))
        return sorted(linked)

    def known_transitions(self, patients: list[str]) -> list[KnownTransition]:
        rows = [
            row
            for patient in patients
            for row in self.transitions.where("patient_id", patient)
            if row["kind"] is not None
        ]
        rows.sort(key=lambda row: (row["recorded_at"], row["ref"]))
        return [self._known_transition(row) for row in rows]

    def _known_transition(self, row: Mapping[str, Any]) -> KnownTransition:
        encounter = self.encounters.get(row["encounter_id"]) or {}
        return _known_transition(
            tuple(row[name] for name in _TRANSITION_FACTS),
            encounter.get("behavioral_health"),
            encounter.get("substance_use"),
        )

    def known_actions(self, patients: list[str]) -> list[KnownAction]:
        rows = [row for patient in patients for row in self.actions.where("patient_id", patient)]
        rows.sort(key=lambda row: (row["recorded_at"], row["ref"], row["kind"]))
        return [_known_action(*(row[name] for name in _ACTION_FACTS)) for row in rows]

    # What the facts imply

    def store_conditions(
        self, patients: list[str], conditions: Sequence[Condition], event: CaretrailEvent
    ) -> bool:
        """Keep what changed; a stored condition no longer derived was voided by this event.
        Returns whether a readmission or high-utilizer condition (a flag's source) changed."""
        stored = {
            row["condition_key"]: row
            for patient in patients
            for row in self.conditions.where("patient_id", patient)
        }
        derived = {condition.condition_key: condition for condition in conditions}
        changed_rules = []
        for key, condition in sorted(derived.items()):
            row = stored.get(key)
            if row is None or _stored_signature(row) != condition.signature:
                self.conditions.put({**(row or {}), **condition.row})
                changed_rules.append(condition.cause.rule_id)
        for key, row in sorted(stored.items()):
            if key not in derived and row["status"] != ConditionStatus.WITHDRAWN:
                self.conditions.change(
                    row,
                    status=ConditionStatus.WITHDRAWN.value,
                    settled_by=event_ref(event),
                    settled_at=utc_instant(event.timestamp),
                )
                changed_rules.append(row["rule_id"])
        return not _FLAG_RULES.isdisjoint(changed_rules)

    def store_flags(self, patients: list[str], flags: Sequence[PatientFlag]) -> None:
        for patient in patients:
            for row in self.flags.where("patient_id", patient):
                self.flags.remove(row["patient_id"], row["flag"])
        for flag in flags:
            self.flags.put(
                {
                    "patient_id": str(flag.patient_id),
                    "flag": flag.flag,
                    "since": utc_instant(flag.since),
                    "condition_key": flag.condition_key,
                    "reason": flag.reason,
                }
            )


# The same stored facts make the same objects, which the derivation's caches then find at once.
_TRANSITION_FACTS: Final = (
    "kind", "encounter_id", "patient_id", "occurred_at", "patient_class", "disposition",
    "cancelled", "number", "recorded_at", "has_open_case", "follow_up_planned", "notified", "ref",
)  # fmt: skip
_ACTION_FACTS: Final = ("kind", "occurred_at", "successful", "recorded_at", "ref")


@lru_cache(maxsize=50_000)
def _known_transition(
    stored: tuple[Any, ...], behavioral_health: bool | None, substance_use: bool | None
) -> KnownTransition:
    (kind, encounter_id, patient_id, occurred_at, patient_class, disposition, cancelled, number,
     recorded_at, has_open_case, follow_up_planned, notified, ref) = stored  # fmt: skip
    return KnownTransition(
        fact=TransitionFact(
            kind=TransitionKind(kind),
            encounter_id=encounter_id,
            patient_id=patient_id,
            occurred_at=occurred_at,
            patient_class=PatientClass(patient_class),
            disposition=Disposition(disposition),
            behavioral_health=behavioral_health,
            substance_use=substance_use,
            cancelled=cancelled,
        ),
        number=number,
        recorded_at=recorded_at,
        case=CaseContext(has_open_case=has_open_case, follow_up_planned=follow_up_planned),
        notified=notified,
        ref=ref,
    )


@lru_cache(maxsize=50_000)
def _known_action(
    kind: str, occurred_at: datetime, successful: bool, recorded_at: datetime, ref: str
) -> KnownAction:
    return KnownAction(
        ActionFact(kind=ActionKind(kind), occurred_at=occurred_at, successful=successful),
        recorded_at,
        ref,
    )


def _patients(event: CaretrailEvent) -> list[str]:
    """The patients whose rows an event reads or changes (a merge's survivor among them)."""
    if isinstance(event, PatientMergedInto | PatientUnmerged):
        return [str(event.patient_id), str(event.survivor_id)]
    return [str(event.patient_id)]


def _mirror_cause(event: AlertCauseNoted) -> dict[str, Any]:
    return {"alert_digest": event.cause.digest()}


def _mirror_reopen(event: AlertCauseNoted) -> dict[str, Any]:
    return {
        "alert_state": AlertState.OPEN.value,
        "alert_escalated": False,
        "alert_snoozed_until": None,
        **_mirror_cause(event),
    }


_ALERT_MIRROR: Final[Mapping[type[CaretrailEvent], Callable[[Any], dict[str, Any]]]] = {
    AlertRaised: _mirror_reopen,
    AlertReopened: _mirror_reopen,
    AlertUpdated: _mirror_cause,
    AlertAcknowledged: lambda _: {"alert_state": AlertState.ACKNOWLEDGED.value,
                                  "alert_snoozed_until": None},
    AlertSnoozed: lambda event: {"alert_state": AlertState.SNOOZED.value,
                                 "alert_snoozed_until": utc_instant(event.until)},
    AlertEscalated: lambda _: {"alert_escalated": True},
    AlertResolved: lambda _: {"alert_state": AlertState.RESOLVED.value},
    AlertRetracted: lambda _: {"alert_state": AlertState.RETRACTED.value},
}  # fmt: skip


def _stored_signature(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in _SIGNATURE_COLUMNS)


# What tells whether a stored condition is still what the facts say (the cause is in the digest).
_SIGNATURE_COLUMNS: Final = (
    "digest", "raise_at", "escalate_at", "status", "settled_by", "settled_at", "known_at",
)  # fmt: skip


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc_instant(moment)


# Queries ----------------------------------------------------------------------------------------


def alert_work(db: Connection, now: datetime) -> list[AlertWork]:
    """What the scheduler must do at `now`, in a stable order; empty once alerts match the rules."""
    unsettled = alert_conditions.c.status == ConditionStatus.PENDING.value
    alert_open = alert_conditions.c.alert_state.in_([state.value for state in _OPEN_STATES])
    rows = db.execute(
        select(alert_conditions)
        .where(
            or_(
                and_(unsettled, alert_conditions.c.raise_at <= now, ~alert_open),
                and_(
                    unsettled,
                    alert_open,
                    or_(
                        alert_conditions.c.alert_digest != alert_conditions.c.digest,
                        and_(
                            alert_conditions.c.escalate_at <= now,
                            ~alert_conditions.c.alert_escalated,
                        ),
                    ),
                ),
                and_(~unsettled, alert_open),
            )
        )
        .order_by(alert_conditions.c.condition_key)
    )
    return [work for row in rows for work in _steps(row, now)]


class AlertWorkQuery:
    """The deadline projection as the scheduler's source of work (`AlertWorkSource`)."""

    def __init__(self, store: ProjectionStore) -> None:
        self.store = store

    def alert_work(self, now: datetime) -> list[AlertWork]:
        with self.store.engine.connect() as db:
            return alert_work(db, now)


def _steps(row: Row[Any], now: datetime) -> list[AlertWork]:
    status = ConditionStatus(row.status)
    alert_open = row.alert_state in _OPEN_STATES
    if status is ConditionStatus.SATISFIED:
        return [_work(AlertStep.RESOLVE, row)]
    if status is ConditionStatus.WITHDRAWN:
        return [_work(AlertStep.RETRACT, row)]
    steps = []
    if not alert_open:
        steps.append(AlertStep.RAISE)
    elif row.alert_digest != row.digest:
        steps.append(AlertStep.UPDATE)
    if _overdue(row, now, just_raised=not alert_open):
        steps.append(AlertStep.ESCALATE)
    return [_work(step, row) for step in steps]


def _overdue(row: Row[Any], now: datetime, just_raised: bool) -> bool:
    if row.escalate_at is None or utc_instant(now) < row.escalate_at:
        return False
    if just_raised:
        return True
    snoozed = row.alert_snoozed_until is not None and utc_instant(now) < row.alert_snoozed_until
    return not row.alert_escalated and not snoozed


def _work(step: AlertStep, row: Row[Any]) -> AlertWork:
    return AlertWork(
        step=step,
        patient_id=UUID(row.patient_id),
        condition_key=row.condition_key,
        cause=AlertCause(
            rule_id=row.rule_id,
            rule_version=row.rule_version,
            severity=Severity(row.severity),
            reason=row.reason,
            facts=json.loads(row.facts),
            due_at=row.due_at,
            encounter_id=UUID(row.encounter_id),
            transition_number=row.transition_number,
        ),
        settled_by=row.settled_by,
    )


@dataclass(frozen=True)
class WouldAlert:
    """A condition that a continuously ticking scheduler turned into an alert at `alerted_at`."""

    condition_key: str
    rule_id: str
    rule_version: str
    severity: str
    alerted_at: datetime
    reason: str


def would_alert(db: Connection, start: datetime, end: datetime) -> list[WouldAlert]:
    """Conditions that fell due in [start, end) while caretrail knew of them and before they were
    settled: the alerts a scheduler would have raised in that period (for backtests)."""
    alerted = []
    for row in db.execute(select(alert_conditions).order_by(alert_conditions.c.condition_key)):
        at = max(row.raise_at, row.known_at)
        settled_first = row.settled_at is not None and row.settled_at <= at
        if not settled_first and utc_instant(start) <= at < utc_instant(end):
            alerted.append(
                WouldAlert(row.condition_key, row.rule_id, row.rule_version, row.severity, at,
                           row.reason)
            )  # fmt: skip
    return alerted


def flags_of(db: Connection, identities: Iterable[UUID]) -> list[PatientFlag]:
    """A patient's readmission and high-utilizer flags, found under any of the identities given
    (a record and the records merged into it): the latest of each flag."""
    rows = db.execute(
        select(patient_flags)
        .where(patient_flags.c.patient_id.in_(sorted(str(identity) for identity in identities)))
        .order_by(patient_flags.c.since)
    )
    latest = {
        row.flag: PatientFlag(
            UUID(row.patient_id), row.flag, row.since, row.condition_key, row.reason
        )
        for row in rows
    }
    return [latest[flag] for flag in sorted(latest)]
