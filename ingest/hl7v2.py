"""HL7 v2 ADT messages in, a `ParsedMessage` or a `Rejection` out: pure, no I/O, never raises.

A hospital feed expects an answer (an ACK) for every message it sends, and keeps resending until it
gets one, so every input, however broken, must end in a value the ACK can be built from.

python-hl7 is deliberately not used underneath: on the inputs a feed really sends it crashes (a bare
`MSH`, odd separators), merges LF-separated segments, strips field content, builds trees whose depth
depends on the content, and its unescape raises on `\\.sp5x\\`. The grammar is small enough that a
typed splitter here is simpler than guarding that one.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import NamedTuple


class AckCode(StrEnum):
    """HL7 table 0008, original acknowledgment mode."""

    AA = "AA"  # accepted (only once the message is durably stored)
    AE = "AE"  # application error: a resend will not help until the message is fixed
    AR = "AR"  # rejected: not readable, or a type/version we do not support


class ErrorCondition(StrEnum):
    """HL7 table 0357, reported in ERR-3 so the sender's engine can route the error."""

    SEGMENT_SEQUENCE_ERROR = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE_ERROR = "102"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT_CODE = "201"
    UNSUPPORTED_VERSION_ID = "203"
    APPLICATION_INTERNAL_ERROR = "207"


@dataclass(frozen=True)
class EncodingCharacters:
    """MSH-1 and MSH-2: the separators this message uses (senders may pick their own)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""  # fifth MSH-2 character, v2.7 and later

    @property
    def msh2(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


DEFAULT_ENCODING = EncodingCharacters()
SUPPORTED_VERSIONS = ((2, 3), (2, 8))  # inclusive (major, minor) range seen in the wild

# Triggers whose message structure carries MRG (the retired identifier) next to PID.
MERGE_TRIGGERS = frozenset(
    {"A18", "A30", "A34", "A35", "A36", "A39", "A40", "A41", "A42", "A43", "A44", "A45"}
    | {"A46", "A47", "A48", "A49", "A50", "A51"}
)
# A20 (bed status update) is the only ADT event about no patient.
TRIGGERS_WITHOUT_PATIENT = frozenset({"A20"})
ADMIT_TRIGGERS = frozenset({"A01", "A04", "A05"})
DISCHARGE_TRIGGER = "A03"


class PatientIdentifier(NamedTuple):
    """One CX repetition: CX.1 value, CX.4 assigning authority, CX.5 identifier type (MR, PI...)."""

    value: str
    assigning_authority: str | None
    identifier_type: str | None


class PersonName(NamedTuple):
    family: str | None
    given: str | None
    middle: str | None


class PatientLocation(NamedTuple):
    """PV1-3 (PL): where the patient is assigned."""

    point_of_care: str | None
    room: str | None
    bed: str | None
    facility: str | None


class ReportedDiagnosis(NamedTuple):
    """One DG1 segment: DG1-3 code, its text and coding system (DG1-2 in older versions),
    DG1-4 description, DG1-6 type (A admitting, W working, F final), DG1-15 priority."""

    code: str | None
    text: str | None
    coding_system: str | None
    description: str | None
    diagnosis_type: str | None
    priority: str | None


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """Why a message cannot be accepted, plus whatever of its MSH could be read so the ACK can
    still echo MSH-10 and address the sender."""

    reason: str
    code: AckCode
    condition: ErrorCondition
    control_id: str = ""
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    trigger: str = ""
    version: str = ""
    processing_id: str | None = None
    encoding: EncodingCharacters = DEFAULT_ENCODING


@dataclass(frozen=True, kw_only=True)
class ParsedMessage:
    """The facts caretrail needs from one ADT message; text values are unescaped, absent is None."""

    encoding: EncodingCharacters
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    control_id: str
    message_type: str
    trigger: str
    structure: str | None
    version: str
    processing_id: str | None
    message_time: datetime | None
    recorded_time: datetime | None
    event_time: datetime | None
    patient_identifiers: tuple[PatientIdentifier, ...]
    patient_name: PersonName | None
    birth_date: date | None
    sex: str | None
    patient_class: str | None
    location: PatientLocation | None
    attending: str | None
    hospital_service: str | None
    visit_number: str | None
    discharge_disposition: str | None
    admit_time: datetime | None
    discharge_time: datetime | None
    prior_patient_identifiers: tuple[PatientIdentifier, ...]
    prior_visit_number: str | None
    diagnoses: tuple[ReportedDiagnosis, ...]
    z_segments: tuple[str, ...]
    raw: str

    @property
    def dedup_key(self) -> tuple[str, str, str]:
        """(MSH-3, MSH-4, MSH-10): a resent message has the same key and must not count twice."""
        return (self.sending_application, self.sending_facility, self.control_id)

    @property
    def clinical_time(self) -> datetime | None:
        """When the event happened; deadlines run from this, never from the time of receipt."""
        if self.event_time is not None:
            return self.event_time
        if self.trigger == DISCHARGE_TRIGGER and self.discharge_time is not None:
            return self.discharge_time
        if self.trigger in ADMIT_TRIGGERS and self.admit_time is not None:
            return self.admit_time
        return self.recorded_time or self.message_time


# --- text level: decoding, escaping, timestamps, versions ----------------------------------------


def decode(raw: bytes) -> str:
    """Bytes to text without ever failing.

    UTF-8 first (v2.8's preferred charset, and identical for ASCII); then cp1252, which Windows
    interface engines emit; latin-1 last because it maps every byte."""
    for codec in ("utf-8", "cp1252"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def unescape(value: str, encoding: EncodingCharacters) -> str:
    """Resolve HL7 escape sequences; anything unknown or unterminated is kept as sent."""
    esc = encoding.escape
    if esc not in value:
        return value
    parts: list[str] = []
    position = 0
    while (start := value.find(esc, position)) != -1:
        end = value.find(esc, start + 1)
        if end == -1:
            break
        parts.append(value[position:start])
        parts.append(_resolve_escape(value[start + 1 : end], encoding))
        position = end + 1
    parts.append(value[position:])
    return "".join(parts)


_HEX_PAIRS = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def _resolve_escape(sequence: str, encoding: EncodingCharacters) -> str:
    delimiters = {
        "F": encoding.field,
        "S": encoding.component,
        "T": encoding.subcomponent,
        "R": encoding.repetition,
        "E": encoding.escape,
    }
    if encoding.truncation:
        delimiters["P"] = encoding.truncation
    if sequence in delimiters:
        return delimiters[sequence]
    if sequence == ".br" or sequence.startswith(".sp"):
        return "\n"
    # Highlighting and other formatting commands carry no meaning for stored data.
    if sequence in ("H", "N") or sequence.startswith("."):
        return ""
    if sequence.startswith("X") and _HEX_PAIRS.fullmatch(sequence[1:]):
        return decode(bytes.fromhex(sequence[1:]))
    return encoding.escape + sequence + encoding.escape


def escape(value: str, encoding: EncodingCharacters) -> str:
    """Make text safe to place in a field: delimiters become \\F\\ \\S\\ ..., a line feed becomes
    \\.br\\, and every other control character (CR, MLLP's 0x0B/0x1C) becomes \\Xhh\\ so it can
    neither end a segment nor a frame."""
    codes = {
        encoding.escape: "E",
        encoding.field: "F",
        encoding.component: "S",
        encoding.subcomponent: "T",
        encoding.repetition: "R",
    }
    if encoding.truncation:
        codes[encoding.truncation] = "P"
    parts: list[str] = []
    for char in value:
        if char in codes:
            parts.append(encoding.escape + codes[char] + encoding.escape)
        elif char == "\n":
            parts.append(encoding.escape + ".br" + encoding.escape)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            parts.append(f"{encoding.escape}X{ord(char):02X}{encoding.escape}")
        else:
            parts.append(char)
    return "".join(parts)


_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})(?:(?P<month>[0-9]{2})(?:(?P<day>[0-9]{2})(?:(?P<hour>[0-9]{2})"
    r"(?:(?P<minute>[0-9]{2})(?:(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,4}))?)?)?)?)?)?"
    r"(?P<offset>[+-][0-9]{4})?"
)


def parse_timestamp(text: str, default_tz: tzinfo = UTC) -> datetime | None:
    """HL7 TS/DTM `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` to an aware datetime.

    Without an offset the time is local to the sender, hence `default_tz`. None when malformed."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    try:
        return _timestamp_from(match, default_tz)
    except (ValueError, OverflowError):  # month 13, hour 25, an offset of a day or more
        return None


def _timestamp_from(match: re.Match[str], default_tz: tzinfo) -> datetime:
    part = match.groupdict()
    fraction = part["fraction"] or ""
    moment = datetime(
        int(part["year"]),
        int(part["month"] or 1),
        int(part["day"] or 1),
        int(part["hour"] or 0),
        int(part["minute"] or 0),
        int(part["second"] or 0),
        int(fraction.ljust(6, "0")),
    )
    offset = part["offset"]
    if offset is None:
        return moment.replace(tzinfo=default_tz)
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if minutes >= 60:
        raise ValueError(f"offset minutes out of range: {offset}")
    sign = -1 if offset[0] == "-" else 1
    return moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


def format_timestamp(moment: datetime) -> str:
    """An HL7 DTM to the second, with the offset when the datetime is aware."""
    text = (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    )
    offset = moment.utcoffset()
    if offset is None:
        return text
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{text}{sign}{minutes // 60:02d}{minutes % 60:02d}"


_VERSION = re.compile(r"([0-9]+)\.([0-9]+)(?:\.[0-9]+)*")


def version_number(version: str) -> tuple[int, int] | None:
    """(major, minor) of an MSH-12 version such as '2.5.1'; None when it is not a version."""
    match = _VERSION.fullmatch(version)
    return (int(match[1]), int(match[2])) if match else None


# --- structure level: segments, fields, repetitions, components ----------------------------------


def _clean(text: str) -> str | None:
    """Surrounding blanks are padding; HL7's explicit null `""` carries no value for us either."""
    text = text.strip()
    return None if text in ("", '""') else text


@dataclass(frozen=True)
class Repetition:
    """One repetition of a field, still escaped."""

    text: str
    encoding: EncodingCharacters

    def value(self, component: int = 1, subcomponent: int = 1) -> str | None:
        components = self.text.split(self.encoding.component)
        if component > len(components):
            return None
        subcomponents = components[component - 1].split(self.encoding.subcomponent)
        if subcomponent > len(subcomponents):
            return None
        return _clean(unescape(subcomponents[subcomponent - 1], self.encoding))


@dataclass(frozen=True)
class Segment:
    """Fields are numbered as in the standard: fields[0] is the segment id, so for MSH
    fields[1] is the field separator and fields[2] the encoding characters."""

    fields: tuple[str, ...]
    encoding: EncodingCharacters

    @property
    def segment_id(self) -> str:
        return self.fields[0]

    def raw(self, number: int) -> str:
        return self.fields[number] if number < len(self.fields) else ""

    def text(self, number: int) -> str | None:
        """The whole field unescaped, for plain-text fields that must echo exactly (MSH-10)."""
        return _clean(unescape(self.raw(number), self.encoding))

    def repetitions(self, number: int) -> tuple[Repetition, ...]:
        raw = self.raw(number)
        if not raw:
            return ()
        parts = raw.split(self.encoding.repetition)
        return tuple(Repetition(part, self.encoding) for part in parts)

    def value(self, number: int, component: int = 1, subcomponent: int = 1) -> str | None:
        """A component of the first repetition."""
        first = self.raw(number).split(self.encoding.repetition)[0]
        return Repetition(first, self.encoding).value(component, subcomponent)


@dataclass(frozen=True)
class RawMessage:
    """A message split into segments under its own encoding characters; nothing checked yet
    beyond a readable MSH header."""

    encoding: EncodingCharacters
    segments: tuple[Segment, ...]
    text: str

    @property
    def header(self) -> Segment:
        return self.segments[0]

    def has(self, segment_id: str) -> bool:
        return any(segment.segment_id == segment_id for segment in self.segments)

    def first(self, segment_id: str) -> Segment:
        """The first such segment, or an empty one whose every value is None."""
        for segment in self.segments:
            if segment.segment_id == segment_id:
                return segment
        return Segment((segment_id,), self.encoding)


def read_message(raw: bytes | str) -> RawMessage | Rejection:
    """Decode, normalize segment terminators to CR and split under the message's own MSH-1/MSH-2."""
    text = decode(raw) if isinstance(raw, bytes) else raw
    text = text.replace("\r\n", "\r").replace("\n", "\r").lstrip(string.whitespace + "\ufeff")
    if not text:
        return _unreadable("empty message", ErrorCondition.SEGMENT_SEQUENCE_ERROR)
    if not text.startswith("MSH"):
        return _unreadable(
            "not an HL7 v2 message: it does not start with an MSH segment",
            ErrorCondition.SEGMENT_SEQUENCE_ERROR,
        )
    encoding = _read_encoding(text)
    if isinstance(encoding, Rejection):
        return encoding
    lines = [line.lstrip() for line in text.split("\r") if line.strip()]
    segments = tuple(_split_segment(line, encoding) for line in lines)
    return RawMessage(encoding, segments, "".join(line + "\r" for line in lines))


def _unreadable(reason: str, condition: ErrorCondition, control_id: str = "") -> Rejection:
    return Rejection(reason=reason, code=AckCode.AR, condition=condition, control_id=control_id)


def _is_separator(char: str) -> bool:
    return not char.isalnum() and not char.isspace() and char.isprintable()


def _read_encoding(text: str) -> EncodingCharacters | Rejection:
    if len(text) < 4 or text[3] == "\r":
        return _unreadable(
            "MSH segment is truncated: no field separator after 'MSH'",
            ErrorCondition.SEGMENT_SEQUENCE_ERROR,
        )
    field = text[3]
    if not _is_separator(field):
        return _unreadable(
            f"MSH-1 field separator {field!r} is not allowed", ErrorCondition.DATA_TYPE_ERROR
        )
    header = text[4:].split("\r", 1)[0]
    characters = header.split(field, 1)[0]
    if len(characters) not in (4, 5):
        return _unreadable(
            f"MSH-2 encoding characters {characters!r} must be 4 characters"
            " (5 with the truncation character)",
            ErrorCondition.DATA_TYPE_ERROR,
            control_id=_raw_control_id(header, field),
        )
    separators = field + characters
    if len(set(separators)) != len(separators) or not all(map(_is_separator, characters)):
        return _unreadable(
            f"MSH-2 encoding characters {characters!r} must be distinct punctuation"
            " different from the field separator",
            ErrorCondition.DATA_TYPE_ERROR,
            control_id=_raw_control_id(header, field),
        )
    return EncodingCharacters(
        field=field,
        component=characters[0],
        repetition=characters[1],
        escape=characters[2],
        subcomponent=characters[3],
        truncation=characters[4:],
    )


def _raw_control_id(header: str, field: str) -> str:
    """MSH-10 as sent, for an ACK when the encoding characters are too broken to unescape it."""
    fields = header.split(field)
    return (_clean(fields[8]) or "") if len(fields) > 8 else ""


def _split_segment(line: str, encoding: EncodingCharacters) -> Segment:
    parts = line.split(encoding.field)
    if parts[0] == "MSH":
        # MSH-1 is the separator itself, so splitting on it loses one field.
        parts.insert(1, encoding.field)
    return Segment(tuple(parts), encoding)


# --- message level: the ADT facts and the rules they must meet -----------------------------------


class _Invalid(Exception):
    """Raised inside the extraction only; always turned into a Rejection before leaving."""

    def __init__(self, reason: str, code: AckCode, condition: ErrorCondition) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.condition = condition


@dataclass(frozen=True)
class _Header:
    encoding: EncodingCharacters
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    control_id: str
    message_type: str
    trigger: str
    structure: str | None
    version: str
    processing_id: str | None
    message_time: datetime | None

    @classmethod
    def read(cls, message: RawMessage, default_tz: tzinfo) -> _Header:
        msh = message.header
        # v2.3 senders may leave the trigger out of MSH-9 and send it in EVN-1 only.
        trigger = msh.value(9, 2) or message.first("EVN").value(1) or ""
        return cls(
            encoding=message.encoding,
            sending_application=msh.value(3) or "",
            sending_facility=msh.value(4) or "",
            receiving_application=msh.value(5) or "",
            receiving_facility=msh.value(6) or "",
            control_id=msh.text(10) or "",
            message_type=(msh.value(9) or "").upper(),
            trigger=trigger.upper(),
            structure=msh.value(9, 3),
            version=msh.value(12) or "",
            processing_id=msh.value(11),
            message_time=_lenient_time(msh, 7, default_tz),
        )

    def reject(self, problem: _Invalid) -> Rejection:
        return Rejection(
            reason=problem.reason,
            code=problem.code,
            condition=problem.condition,
            control_id=self.control_id,
            sending_application=self.sending_application,
            sending_facility=self.sending_facility,
            receiving_application=self.receiving_application,
            receiving_facility=self.receiving_facility,
            trigger=self.trigger,
            version=self.version,
            processing_id=self.processing_id,
            encoding=self.encoding,
        )


def parse_message(raw: bytes | str, *, default_tz: tzinfo = UTC) -> ParsedMessage | Rejection:
    """Parse one ADT message. Never raises: every input ends as a message or a rejection.

    `default_tz` is the sender's zone, for timestamps that carry no offset."""
    try:
        message = read_message(raw)
        if isinstance(message, Rejection):
            return message
        header = _Header.read(message, default_tz)
        try:
            return _extract(message, header, default_tz)
        except _Invalid as problem:
            return header.reject(problem)
    except Exception as error:  # a parser bug must still produce an answer for the sender
        return Rejection(
            reason=f"internal parser error: {type(error).__name__}",
            code=AckCode.AE,
            condition=ErrorCondition.APPLICATION_INTERNAL_ERROR,
        )


def _check_header(header: _Header) -> None:
    if not header.control_id:
        raise _Invalid(
            "MSH-10 message control id is missing",
            AckCode.AR,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )
    if not header.version:
        raise _Invalid(
            "MSH-12 version id is missing", AckCode.AR, ErrorCondition.REQUIRED_FIELD_MISSING
        )
    number = version_number(header.version)
    if number is None or not SUPPORTED_VERSIONS[0] <= number <= SUPPORTED_VERSIONS[1]:
        raise _Invalid(
            f"unsupported HL7 version {header.version}",
            AckCode.AR,
            ErrorCondition.UNSUPPORTED_VERSION_ID,
        )
    _check_message_type(header)


_ADT_TRIGGER = re.compile(r"A[0-9]{2}")


def _check_message_type(header: _Header) -> None:
    if not header.message_type:
        raise _Invalid(
            "MSH-9 message type is missing", AckCode.AR, ErrorCondition.REQUIRED_FIELD_MISSING
        )
    if header.message_type != "ADT":
        raise _Invalid(
            f"unsupported message type {header.message_type}: only ADT is accepted",
            AckCode.AR,
            ErrorCondition.UNSUPPORTED_MESSAGE_TYPE,
        )
    if not header.trigger:
        raise _Invalid(
            "MSH-9 trigger event is missing", AckCode.AR, ErrorCondition.REQUIRED_FIELD_MISSING
        )
    if not _ADT_TRIGGER.fullmatch(header.trigger):
        raise _Invalid(
            f"unsupported ADT trigger event {header.trigger}",
            AckCode.AR,
            ErrorCondition.UNSUPPORTED_EVENT_CODE,
        )


def _check_patient_segments(message: RawMessage, trigger: str) -> None:
    if trigger in TRIGGERS_WITHOUT_PATIENT:
        return
    _require_identifiers(message, trigger, "PID", 3, "patient identifier")
    if trigger in MERGE_TRIGGERS:
        _require_identifiers(message, trigger, "MRG", 1, "prior patient identifier")


def _require_identifiers(
    message: RawMessage, trigger: str, segment_id: str, field: int, what: str
) -> None:
    if not message.has(segment_id):
        raise _Invalid(
            f"ADT^{trigger} has no {segment_id} segment",
            AckCode.AE,
            ErrorCondition.SEGMENT_SEQUENCE_ERROR,
        )
    if not _identifiers(message.first(segment_id), field):
        raise _Invalid(
            f"ADT^{trigger} {segment_id}-{field} holds no {what}",
            AckCode.AE,
            ErrorCondition.REQUIRED_FIELD_MISSING,
        )


def _check_single_message(message: RawMessage) -> None:
    headers = sum(segment.segment_id == "MSH" for segment in message.segments)
    if headers > 1:
        raise _Invalid(
            f"{headers} MSH segments found: send one message per frame",
            AckCode.AR,
            ErrorCondition.SEGMENT_SEQUENCE_ERROR,
        )


def _extract(message: RawMessage, header: _Header, tz: tzinfo) -> ParsedMessage:
    _check_single_message(message)
    _check_header(header)
    _check_patient_segments(message, header.trigger)
    evn, pid, pv1, mrg = (message.first(name) for name in ("EVN", "PID", "PV1", "MRG"))
    birth = _lenient_time(pid, 7, tz)
    return ParsedMessage(
        encoding=header.encoding,
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        receiving_application=header.receiving_application,
        receiving_facility=header.receiving_facility,
        control_id=header.control_id,
        message_type=header.message_type,
        trigger=header.trigger,
        structure=header.structure,
        version=header.version,
        processing_id=header.processing_id,
        message_time=header.message_time,
        recorded_time=_lenient_time(evn, 2, tz),
        event_time=_clinical_time(evn, 6, "EVN-6 event time", tz),
        patient_identifiers=_identifiers(pid, 3),
        patient_name=_person_name(pid),
        birth_date=birth.date() if birth else None,
        sex=pid.value(8),
        patient_class=pv1.value(2),
        location=_location(pv1),
        attending=_practitioner(pv1, 7),
        hospital_service=pv1.value(10),
        visit_number=pv1.value(19),
        discharge_disposition=pv1.value(36),
        admit_time=_clinical_time(pv1, 44, "PV1-44 admit time", tz),
        discharge_time=_clinical_time(pv1, 45, "PV1-45 discharge time", tz),
        prior_patient_identifiers=_identifiers(mrg, 1),
        prior_visit_number=mrg.value(5),
        diagnoses=tuple(
            _diagnosis(segment) for segment in message.segments if segment.segment_id == "DG1"
        ),
        z_segments=tuple(
            message.encoding.field.join(segment.fields)
            for segment in message.segments
            if _is_z_segment(segment.segment_id)
        ),
        raw=message.text,
    )


def _lenient_time(segment: Segment, field: int, tz: tzinfo) -> datetime | None:
    """For fields nothing depends on strictly: a malformed value reads as absent."""
    text = segment.value(field)
    return parse_timestamp(text, tz) if text else None


def _clinical_time(segment: Segment, field: int, label: str, tz: tzinfo) -> datetime | None:
    """Deadlines run from these fields, so a malformed one must not be silently dropped."""
    text = segment.value(field)
    if text is None:
        return None
    moment = parse_timestamp(text, tz)
    if moment is None:
        raise _Invalid(
            f"{label} {text!r} is not a valid HL7 timestamp",
            AckCode.AE,
            ErrorCondition.DATA_TYPE_ERROR,
        )
    return moment


def _identifiers(segment: Segment, field: int) -> tuple[PatientIdentifier, ...]:
    found: list[PatientIdentifier] = []
    for repetition in segment.repetitions(field):
        value = repetition.value(1)
        if value is not None:
            # CX.4 is an HD: its namespace id, or else its universal id (an OID) names the authority
            authority = repetition.value(4, 1) or repetition.value(4, 2)
            found.append(PatientIdentifier(value, authority, repetition.value(5)))
    return tuple(found)


def _diagnosis(dg1: Segment) -> ReportedDiagnosis:
    return ReportedDiagnosis(
        code=dg1.value(3, 1),
        text=dg1.value(3, 2),
        coding_system=dg1.value(3, 3) or dg1.value(2),
        description=dg1.value(4),
        diagnosis_type=dg1.value(6),
        priority=dg1.value(15),
    )


def _person_name(pid: Segment) -> PersonName | None:
    name = PersonName(family=pid.value(5, 1), given=pid.value(5, 2), middle=pid.value(5, 3))
    return None if name == PersonName(None, None, None) else name


def _location(pv1: Segment) -> PatientLocation | None:
    location = PatientLocation(
        point_of_care=pv1.value(3, 1),
        room=pv1.value(3, 2),
        bed=pv1.value(3, 3),
        facility=pv1.value(3, 4),
    )
    return None if location == PatientLocation(None, None, None, None) else location


def _practitioner(segment: Segment, field: int) -> str | None:
    """An XCN as people read it: 'FAMILY, GIVEN MIDDLE (id)'."""
    identifier = segment.value(field, 1)
    family = segment.value(field, 2)
    given = " ".join(part for part in (segment.value(field, 3), segment.value(field, 4)) if part)
    name = ", ".join(part for part in (family, given) if part)
    if name and identifier:
        return f"{name} ({identifier})"
    return name or identifier


_Z_SEGMENT_ID = re.compile(r"Z[A-Z0-9]{2}")


def _is_z_segment(segment_id: str) -> bool:
    return _Z_SEGMENT_ID.fullmatch(segment_id) is not None
