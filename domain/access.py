"""Who looked at a patient's record and why, emergency (break-glass) access, and Part 2 consent.

HIPAA audit controls log reads as well as writes (164.312(b)); these events go to the clinical
event store beside the case events, keyed by patient, so they reach the audit trail and Kafka like
any other. Field names follow the FHIR AuditEvent / IHE BALP shape: agent, purpose of use, network
address, entity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import DomainRuleViolation, InvalidTransition
from domain.events import Action, CaretrailCreated, CaretrailEvent, recorded, stable_topic

CASE_PRIVACY_NAMESPACE = uuid5(NAMESPACE_URL, "urn:caretrail:case-privacy")
MINIMUM_REASON_LENGTH = 10
LONGEST_EMERGENCY_ACCESS = timedelta(hours=12)


class PurposeOfUse(StrEnum):
    """Why a record was read (HL7 v3 PurposeOfUse codes, as BALP audit events carry them)."""

    TREATMENT = "TREAT"
    EMERGENCY_TREATMENT = "ETREAT"
    OPERATIONS = "HOPERAT"
    COMPLIANCE = "HCOMPL"


class RecordType(StrEnum):
    PATIENT = "patient"
    CASE = "case"


class ReadInteraction(StrEnum):
    """What kind of read (FHIR RESTful interactions): current, a version, as of a time, history."""

    READ = "read"
    VERSION_READ = "vread"
    AS_OF_READ = "read-as-of"
    HISTORY = "history-instance"


class EmergencyAccessRefused(DomainRuleViolation):
    """Break-glass needs a reason a reviewer can judge and a bounded duration."""


class PatientRecordRead(CaretrailCreated):
    """Someone was shown a patient's data. One event per read request."""

    TOPIC = "caretrail.PatientRecordRead"
    record_type: RecordType
    record_id: UUID
    interaction: ReadInteraction
    detail: str
    purpose: PurposeOfUse
    network_address: str | None
    user_agent: str | None
    part2_disclosed: bool


@stable_topic("caretrail.RecordRead")
class RecordRead(Aggregate):
    """One read of patient data. A read never conflicts with another, so each is its own record."""

    @classmethod
    def record(
        cls,
        read_id: UUID,
        patient_id: UUID,
        *,
        record_type: RecordType,
        record_id: UUID,
        interaction: ReadInteraction,
        detail: str,
        purpose: PurposeOfUse,
        network_address: str | None,
        user_agent: str | None,
        part2_disclosed: bool,
        action: Action,
    ) -> RecordRead:
        return cls._create(
            PatientRecordRead,
            id=read_id,
            record_type=record_type,
            record_id=record_id,
            interaction=interaction,
            detail=detail,
            purpose=purpose,
            network_address=network_address,
            user_agent=user_agent,
            part2_disclosed=part2_disclosed,
            **recorded(action, patient_id),
        )


class CasePrivacyEvent(CaretrailEvent):
    """Base of the events about one case's privacy controls; each names the case."""

    case_id: UUID


class CasePrivacyOpened(CaretrailCreated, CasePrivacyEvent):
    """Privacy controls were first recorded for a case; the control itself follows in one save."""

    TOPIC = "caretrail.CasePrivacyOpened"

    def apply(self, aggregate: CasePrivacy) -> None:
        aggregate.case_id = self.case_id
        aggregate.patient_id = self.patient_id
        aggregate.part2_consent_active = False
        aggregate.emergency_access_until = {}


class Part2ConsentGiven(CasePrivacyEvent):
    """The client's written consent to disclose substance-use disorder records (42 CFR 2.31)."""

    TOPIC = "caretrail.Part2ConsentGiven"
    given_by: str
    method: str

    def apply(self, aggregate: CasePrivacy) -> None:
        aggregate.part2_consent_active = True


class Part2ConsentRevoked(CasePrivacyEvent):
    TOPIC = "caretrail.Part2ConsentRevoked"
    reason: str

    def apply(self, aggregate: CasePrivacy) -> None:
        aggregate.part2_consent_active = False


class BreakGlassUsed(CasePrivacyEvent):
    """A user claimed emergency access to a case outside their rights; compliance reviews each."""

    TOPIC = "caretrail.BreakGlassUsed"
    reason: str
    expires_at: datetime

    def apply(self, aggregate: CasePrivacy) -> None:
        aggregate.emergency_access_until[self.actor] = self.expires_at


@stable_topic("caretrail.CasePrivacy")
class CasePrivacy(Aggregate):
    """The privacy controls on one case: its Part 2 disclosure consent and emergency access.

    Kept apart from the case itself: they govern who may see the record, not the care given, and
    a break-glass must be recordable even by someone who may not change the case.
    """

    if TYPE_CHECKING:  # for type checkers only: eventsourcing would make them __init__ args
        case_id: UUID
        patient_id: UUID
        part2_consent_active: bool
        emergency_access_until: dict[str, datetime]

    @classmethod
    def open(cls, case_id: UUID, patient_id: UUID, action: Action) -> CasePrivacy:
        return cls._create(
            CasePrivacyOpened,
            id=case_privacy_id(case_id),
            case_id=case_id,
            **recorded(action, patient_id),
        )

    def give_part2_consent(self, given_by: str, method: str, action: Action) -> None:
        if self.part2_consent_active:
            raise InvalidTransition("Part 2 consent is already active on this case")
        if not given_by.strip():
            raise InvalidTransition("Part 2 consent must name who gave it")
        self._record(Part2ConsentGiven, action, given_by=given_by, method=method)

    def revoke_part2_consent(self, reason: str, action: Action) -> None:
        if not self.part2_consent_active:
            raise InvalidTransition("there is no active Part 2 consent to revoke")
        self._record(Part2ConsentRevoked, action, reason=reason)

    def break_glass(self, reason: str, duration: timedelta, action: Action) -> datetime:
        """Grant `action.actor` emergency access until the returned time."""
        if len(reason.strip()) < MINIMUM_REASON_LENGTH:
            raise EmergencyAccessRefused(
                f"break-glass needs a reason of at least {MINIMUM_REASON_LENGTH} characters"
            )
        if not timedelta(0) < duration <= LONGEST_EMERGENCY_ACCESS:
            raise EmergencyAccessRefused(
                f"emergency access lasts more than nothing and at most {LONGEST_EMERGENCY_ACCESS}"
            )
        expires_at = action.recorded_at + duration
        self._record(BreakGlassUsed, action, reason=reason, expires_at=expires_at)
        return expires_at

    def has_emergency_access(self, user: str, at: datetime) -> bool:
        until = self.emergency_access_until.get(user)
        return until is not None and at < until

    def may_disclose_part2(self, user: str, at: datetime) -> bool:
        """Part 2 records go out under the client's consent or in a medical emergency (2.51)."""
        return self.part2_consent_active or self.has_emergency_access(user, at)

    def _record(self, event_class: type[CasePrivacyEvent], action: Action, **facts: object) -> None:
        self.trigger_event(
            event_class, case_id=self.case_id, **facts, **recorded(action, self.patient_id)
        )


def case_privacy_id(case_id: UUID) -> UUID:
    return uuid5(CASE_PRIVACY_NAMESPACE, str(case_id))
