"""Original-mode HL7 ACKs: what caretrail answers to each message, and a reader for such answers."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from ingest.hl7v2 import (
    AckCode,
    EncodingCharacters,
    ErrorCondition,
    ParsedMessage,
    Rejection,
    escape,
    format_timestamp,
    read_message,
    version_number,
)

DEFAULT_ACK_VERSION = "2.5.1"

_CONDITION_TEXT = {
    ErrorCondition.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCondition.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCondition.DATA_TYPE_ERROR: "Data type error",
    ErrorCondition.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCondition.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCondition.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCondition.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class AckSummary(NamedTuple):
    """What a sender learns from an ACK: MSA-1, MSA-2 and the error text (ERR-8 or MSA-3)."""

    code: str
    control_id: str
    text: str | None


def build_ack(
    received: ParsedMessage | Rejection,
    code: AckCode,
    text: str | None = None,
    *,
    now: datetime,
    control_id: str,
) -> str:
    """The ACK for `received`, CR-terminated segments, in the sender's own encoding characters.

    `control_id` is this ACK's own MSH-10; MSA-2 echoes the received one (empty when unreadable).
    AE and AR carry an ERR segment; the ERR-3 condition comes from the rejection, else 207."""
    encoding = received.encoding
    version = received.version or DEFAULT_ACK_VERSION
    condition = (
        received.condition
        if isinstance(received, Rejection)
        else ErrorCondition.APPLICATION_INTERNAL_ERROR
    )
    segments = [
        _ack_header(received, encoding, version, now, control_id),
        _acknowledgment(code, received.control_id, text, encoding, version),
    ]
    if code != AckCode.AA:
        segments.append(_error(condition, text, encoding, version))
    return "".join(segment + "\r" for segment in segments)


def _ack_header(
    received: ParsedMessage | Rejection,
    encoding: EncodingCharacters,
    version: str,
    now: datetime,
    control_id: str,
) -> str:
    trigger = escape(received.trigger, encoding)
    message_type = encoding.component.join(("ACK", trigger, "ACK")) if trigger else "ACK"
    fields = [
        "MSH",
        encoding.msh2,
        # The ACK goes back, so the sender of the message becomes the receiver of the answer.
        escape(received.receiving_application, encoding),
        escape(received.receiving_facility, encoding),
        escape(received.sending_application, encoding),
        escape(received.sending_facility, encoding),
        format_timestamp(now),
        "",
        message_type,
        escape(control_id, encoding),
        escape(received.processing_id or "P", encoding),
        escape(version, encoding),
    ]
    return encoding.field.join(fields)


def _acknowledgment(
    code: AckCode,
    received_control_id: str,
    text: str | None,
    encoding: EncodingCharacters,
    version: str,
) -> str:
    fields = ["MSA", code, escape(received_control_id, encoding)]
    if text and _is_before(version, (2, 7)):
        # MSA-3 was withdrawn in v2.7, but older engines show only this field to their operators.
        fields.append(escape(text, encoding))
    return encoding.field.join(fields)


def _error(
    condition: ErrorCondition, text: str | None, encoding: EncodingCharacters, version: str
) -> str:
    coded = (condition, _CONDITION_TEXT[condition], "HL70357")
    if _is_before(version, (2, 5)):
        # Before v2.5 ERR has only ERR-1 (segment^sequence^field^code); the text rides in MSA-3.
        location = encoding.component * 3 + encoding.subcomponent.join(coded)
        return encoding.field.join(("ERR", location))
    fields = ["ERR", "", "", encoding.component.join(coded), "E", "", "", ""]
    fields.append(escape(text or "", encoding))
    return encoding.field.join(fields)


def _is_before(version: str, limit: tuple[int, int]) -> bool:
    number = version_number(version)
    return number is None or number < limit


def parse_ack(raw: bytes | str) -> AckSummary | Rejection:
    """Read an ACK's MSA (and ERR-8 text). Never raises: unreadable input is a Rejection."""
    message = read_message(raw)
    if isinstance(message, Rejection):
        return message
    msa = message.first("MSA")
    code = msa.text(1)
    if code is None:
        return Rejection(
            reason="ACK has no MSA-1 acknowledgment code",
            code=AckCode.AR,
            condition=ErrorCondition.REQUIRED_FIELD_MISSING,
            control_id=message.header.text(10) or "",
        )
    text = message.first("ERR").text(8) or msa.text(3)
    return AckSummary(code=code, control_id=msa.text(2) or "", text=text)
