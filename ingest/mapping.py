"""From a parsed HL7 ADT message to an `AdtMessage`: the command its trigger asks for, and its facts
in caretrail's terms. Pure: the stored record is consulted later, by services.ingestion.

A message that cannot be mapped becomes a `Rejection` the ACK is built from, like a parse error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from domain.diagnoses import Diagnosis, DiagnosisType
from domain.encounter import Disposition, PatientClass
from domain.patient import Demographics, Identifier
from ingest.hl7v2 import (
    AckCode,
    ErrorCondition,
    ParsedMessage,
    PatientIdentifier,
    PatientLocation,
    Rejection,
    ReportedDiagnosis,
    Segment,
    _identifiers,
    read_message,
)
from services.ingestion import AdtCommand, AdtMessage, PersonFacts, VisitFacts

C = AdtCommand
TRIGGER_COMMANDS: Mapping[str, AdtCommand] = MappingProxyType({
    "A01": C.ADMIT,             # admit inpatient
    "A04": C.ADMIT,             # register outpatient or ED visit
    "A05": C.PREADMIT,
    "A02": C.TRANSFER,
    "A03": C.DISCHARGE,
    "A06": C.CHANGE_CLASS,      # outpatient to inpatient
    "A07": C.CHANGE_CLASS,      # inpatient to outpatient
    "A08": C.UPDATE_VISIT,
    "A11": C.CANCEL_ADMISSION,
    "A12": C.CANCEL_TRANSFER,
    "A13": C.CANCEL_DISCHARGE,
    "A21": C.START_LEAVE,
    "A22": C.END_LEAVE,
    "A28": C.RECORD_PERSON,     # add person
    "A31": C.RECORD_PERSON,     # update person
    "A40": C.MERGE,             # merge patient identifier list
    "A34": C.MERGE,             # merge patient id only
    "A36": C.MERGE,             # merge patient id and account number
    "A39": C.MERGE,             # merge person
    "A37": C.UNMERGE,           # unlink, read as the reversal of a merge
})  # fmt: skip

# Commands that act on a visit: PV1-19 is required (for A08 it is optional).
_PERSON_ONLY = frozenset({C.RECORD_PERSON, C.MERGE, C.UNMERGE})
_PATIENT_CLASSES = frozenset(c.value for c in PatientClass)
_CLASS_WHEN_PV1_2_IS_EMPTY = {"A06": PatientClass.INPATIENT, "A07": PatientClass.OUTPATIENT}

# HL7 table 0203 identifier types. Account and visit numbers name a visit, not a person, so they
# are dropped; national, licence and payer numbers are kept on the record but never matched on,
# because a reused or mistyped one would silently pull the wrong patient's record in.
_VISIT_LEVEL_TYPES = frozenset({"AN", "ANON", "VN", "FIN"})
_NEVER_MATCHED_TYPES = frozenset({"SS", "SSN", "DL", "PPN", "MB", "MA", "MC", "NI", "NH", "HC"})
_DEFAULT_IDENTIFIER_TYPE = "MR"

# PV1-36 discharge disposition (the UB-04 patient discharge status codes most feeds send there),
# grouped the way case managers act on them. Anything else, or nothing, is OTHER.
_D = Disposition
DISPOSITIONS: Mapping[str, Disposition] = MappingProxyType({
    "01": _D.HOME, "81": _D.HOME,
    "06": _D.HOME_HEALTH, "08": _D.HOME_HEALTH, "86": _D.HOME_HEALTH,
    "03": _D.SKILLED_NURSING, "61": _D.SKILLED_NURSING, "64": _D.SKILLED_NURSING,
    "83": _D.SKILLED_NURSING, "89": _D.SKILLED_NURSING, "92": _D.SKILLED_NURSING,
    "62": _D.REHABILITATION, "90": _D.REHABILITATION,
    "50": _D.HOSPICE, "51": _D.HOSPICE,
    "07": _D.AGAINST_MEDICAL_ADVICE,
    "20": _D.EXPIRED, "40": _D.EXPIRED, "41": _D.EXPIRED, "42": _D.EXPIRED,
    "02": _D.TRANSFERRED, "05": _D.TRANSFERRED, "43": _D.TRANSFERRED, "63": _D.TRANSFERRED,
    "65": _D.TRANSFERRED, "66": _D.TRANSFERRED, "70": _D.TRANSFERRED, "82": _D.TRANSFERRED,
    "85": _D.TRANSFERRED, "88": _D.TRANSFERRED, "91": _D.TRANSFERRED, "93": _D.TRANSFERRED,
    "94": _D.TRANSFERRED, "95": _D.TRANSFERRED,
})  # fmt: skip


class _Unmappable(Exception):
    def __init__(self, reason: str, code: AckCode, condition: ErrorCondition) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.condition = condition


def to_adt_message(parsed: ParsedMessage) -> AdtMessage | Rejection:
    """The command and facts of one parsed message, or why it cannot be applied."""
    try:
        return _map(parsed)
    except _Unmappable as problem:
        return rejection(parsed, problem.reason, problem.code, problem.condition)


def rejection(
    parsed: ParsedMessage,
    reason: str,
    code: AckCode = AckCode.AE,
    condition: ErrorCondition = ErrorCondition.APPLICATION_INTERNAL_ERROR,
) -> Rejection:
    """A parsed message turned away after parsing; its header still addresses the ACK."""
    return Rejection(
        reason=reason,
        code=code,
        condition=condition,
        control_id=parsed.control_id,
        sending_application=parsed.sending_application,
        sending_facility=parsed.sending_facility,
        receiving_application=parsed.receiving_application,
        receiving_facility=parsed.receiving_facility,
        trigger=parsed.trigger,
        version=parsed.version,
        processing_id=parsed.processing_id,
        encoding=parsed.encoding,
    )


def _map(parsed: ParsedMessage) -> AdtMessage:
    command = TRIGGER_COMMANDS.get(parsed.trigger)
    if command is None:
        raise _Unmappable(
            f"ADT^{parsed.trigger} is not a trigger caretrail acts on",
            AckCode.AR,
            ErrorCondition.UNSUPPORTED_EVENT_CODE,
        )
    return AdtMessage(
        dedup_key=parsed.dedup_key,
        content_hash=content_hash(parsed),
        trigger=parsed.trigger,
        command=command,
        occurred_at=_clinical_time(parsed, command),
        person=_person(parsed, parsed.patient_identifiers, "PID-3"),
        visit=_visit(parsed, command),
        counterpart=_counterpart(parsed, command),
    )


def content_hash(parsed: ParsedMessage) -> str:
    """SHA-256 of the message as normalized by the parser, without MSH-7: engines restamp the
    message time when they resend, and that must not make a resend look like new content."""
    segments = parsed.raw.split("\r")
    header = segments[0].split(parsed.encoding.field)
    if len(header) > 6:
        header[6] = ""  # MSH-1 is the separator itself, so MSH-7 sits at index 6
    segments[0] = parsed.encoding.field.join(header)
    return hashlib.sha256("\r".join(segments).encode()).hexdigest()


def _clinical_time(parsed: ParsedMessage, command: AdtCommand) -> datetime:
    # A pre-admission happens when it is recorded; its PV1-44 is the planned admission, later.
    moment = (
        parsed.event_time or parsed.recorded_time or parsed.message_time
        if command is C.PREADMIT
        else parsed.clinical_time
    )
    if moment is None:
        raise _Unmappable(
            "no clinical time: EVN-6, PV1-44/45, EVN-2 and MSH-7 are all empty or malformed",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )
    return moment


def _person(
    parsed: ParsedMessage, listed: tuple[PatientIdentifier, ...], field: str
) -> PersonFacts:
    matched: list[Identifier] = []
    kept: list[Identifier] = []
    for cx in listed:
        identifier = _identifier(cx, parsed)
        if identifier is None or identifier.identifier_type in _VISIT_LEVEL_TYPES:
            continue
        (kept if identifier.identifier_type in _NEVER_MATCHED_TYPES else matched).append(identifier)
    if not matched:
        raise _Unmappable(
            f"{field} holds no identifier a patient can be matched on (an MRN or patient id"
            " with its assigning authority; SSN, licence and member numbers are not used)",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )
    return PersonFacts(tuple(matched), tuple(kept), _demographics(parsed))


def _identifier(cx: PatientIdentifier, parsed: ParsedMessage) -> Identifier | None:
    """CX to Identifier. Without CX.4 the number is the sending facility's own."""
    authority = cx.assigning_authority or parsed.sending_facility or parsed.sending_application
    if not authority.strip():
        return None
    kind = (cx.identifier_type or _DEFAULT_IDENTIFIER_TYPE).upper()
    return Identifier(cx.value, authority, kind)


def _demographics(parsed: ParsedMessage) -> Demographics | None:
    name = parsed.patient_name
    if name is None and parsed.birth_date is None and parsed.sex is None:
        return None
    return Demographics(
        family_name=(name.family if name else None) or "",
        given_name=(name.given if name else None) or "",
        birth_date=parsed.birth_date,
        sex=parsed.sex,
    )


def _visit(parsed: ParsedMessage, command: AdtCommand) -> VisitFacts | None:
    if command in _PERSON_ONLY:
        return None
    if parsed.visit_number is None:
        if command is C.UPDATE_VISIT:
            return None
        raise _Unmappable(
            f"ADT^{parsed.trigger} has no visit number (PV1-19): encounters are followed by it",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )
    location = location_text(parsed.location)
    if command is C.TRANSFER and not location:
        raise _Unmappable(
            "ADT^A02 has no new location (PV1-3)",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )
    return VisitFacts(
        facility=parsed.sending_facility or parsed.sending_application,
        visit_number=parsed.visit_number,
        patient_class=_patient_class(parsed),
        location=location,
        prior_location=_prior_location(parsed) if command is C.TRANSFER else None,
        attending=parsed.attending,
        level_of_care=parsed.hospital_service,
        disposition=DISPOSITIONS.get(parsed.discharge_disposition or "", Disposition.OTHER),
        admitted_at=parsed.admit_time,
        diagnoses=_diagnoses(parsed),
    )


_DIAGNOSIS_TYPES = frozenset(t.value for t in DiagnosisType)


def _diagnoses(parsed: ParsedMessage) -> tuple[Diagnosis, ...]:
    """DG1 segments in the order sent. A DG1 without a code is refused rather than dropped:
    dropping the principal diagnosis would silently keep an FUH/FUM/FUA clock from starting."""
    return tuple(
        _diagnosis(reported, number) for number, reported in enumerate(parsed.diagnoses, start=1)
    )


def _diagnosis(reported: ReportedDiagnosis, number: int) -> Diagnosis:
    if reported.code is None:
        raise _Unmappable(
            f"DG1 #{number} has no diagnosis code (DG1-3)",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )
    kind = (reported.diagnosis_type or "").upper()
    return Diagnosis(
        code=reported.code,
        coding_system=reported.coding_system or "",
        description=reported.text or reported.description or "",
        # Table 0052 is site-extensible: a local type code is kept as no type, not refused.
        diagnosis_type=DiagnosisType(kind) if kind in _DIAGNOSIS_TYPES else None,
        priority=_priority(reported.priority, number),
    )


def _priority(text: str | None, number: int) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise _Unmappable(
            f"DG1 #{number} priority (DG1-15) {text!r} is not a positive number",
            AckCode.AE,
            ErrorCondition.DATA_TYPE_ERROR,
        )
    return int(text)


def _patient_class(parsed: ParsedMessage) -> PatientClass:
    code = (parsed.patient_class or "").upper()
    if code in _PATIENT_CLASSES:
        return PatientClass(code)
    return _CLASS_WHEN_PV1_2_IS_EMPTY.get(parsed.trigger, PatientClass.UNKNOWN)


def location_text(location: PatientLocation | None) -> str:
    """PV1-3 as `point of care^room^bed`, trailing empty parts left out."""
    if location is None:
        return ""
    parts = (location.point_of_care, location.room, location.bed)
    return "^".join(part or "" for part in parts).rstrip("^")


def _prior_location(parsed: ParsedMessage) -> str | None:
    """PV1-6, where an A02 moved the patient from."""
    pv1 = _segments(parsed, "PV1")[0]
    prior = PatientLocation(pv1.value(6, 1), pv1.value(6, 2), pv1.value(6, 3), pv1.value(6, 4))
    return location_text(prior) or None


def _counterpart(parsed: ParsedMessage, command: AdtCommand) -> PersonFacts | None:
    if command is C.MERGE:
        return _person(parsed, parsed.prior_patient_identifiers, "MRG-1")
    if command is not C.UNMERGE:
        return None
    patients = _segments(parsed, "PID")
    if len(patients) < 2:
        raise _Unmappable(
            "ADT^A37 needs a second PID segment: the record to split off again",
            AckCode.AE,
            ErrorCondition.SEGMENT_SEQUENCE_ERROR,
        )
    return _person(parsed, _identifiers(patients[1], 3), "second PID-3")


def _segments(parsed: ParsedMessage, segment_id: str) -> list[Segment]:
    """Segments the parsed facts leave out (PV1-6, a second PID), read again from the text."""
    message = read_message(parsed.raw)
    assert not isinstance(message, Rejection), "a parsed message reads again"
    return [s for s in message.segments if s.segment_id == segment_id] or [
        message.first(segment_id)
    ]
