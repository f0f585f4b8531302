"""Original-mode ACKs built from parsed messages and rejections, and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingest.ack import AckSummary, build_ack, parse_ack
from ingest.hl7v2 import AckCode, ParsedMessage, Rejection, parse_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hl7"
NOW = datetime(2024, 3, 12, 12, 30, 45, tzinfo=timezone(timedelta(hours=-4)))

A01 = (
    "MSH|^~\\&|EPIC|UMCMAIN|CARETRAIL|CTHIE|20240312083015||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r"
    "EVN|A01|20240312083010\r"
    "PID|1||E1^^^EPIC^MR||DOE^JANE\r"
)


def parsed(raw: bytes | str) -> ParsedMessage:
    result = parse_message(raw)
    assert isinstance(result, ParsedMessage), result
    return result


def rejected(raw: bytes | str) -> Rejection:
    result = parse_message(raw)
    assert isinstance(result, Rejection), result
    return result


def summary(ack: str) -> AckSummary:
    result = parse_ack(ack)
    assert isinstance(result, AckSummary), result
    return result


def test_accept_ack_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    ack = build_ack(parsed(A01), AckCode.AA, now=NOW, control_id="ACK0001")
    assert ack == (
        "MSH|^~\\&|CARETRAIL|CTHIE|EPIC|UMCMAIN|20240312123045-0400||ACK^A01^ACK|ACK0001|P|2.5.1\r"
        "MSA|AA|CTRL1\r"
    )
    assert summary(ack) == AckSummary("AA", "CTRL1", None)


def test_error_ack_carries_the_reason_in_err_and_msa() -> None:
    bad = A01.replace("EVN|A01|20240312083010", "EVN|A01|20240312083010||||2024136")
    rejection = rejected(bad)
    ack = build_ack(rejection, rejection.code, rejection.reason, now=NOW, control_id="ACK0002")
    segments = ack.split("\r")
    assert segments[1] == "MSA|AE|CTRL1|EVN-6 event time '2024136' is not a valid HL7 timestamp"
    assert segments[2] == (
        "ERR|||102^Data type error^HL70357|E||||"
        "EVN-6 event time '2024136' is not a valid HL7 timestamp"
    )
    assert summary(ack) == AckSummary("AE", "CTRL1", rejection.reason)


def test_reject_ack_for_garbage_has_an_empty_msa2_and_defaults() -> None:
    rejection = rejected(b"\x00\xffnot hl7")
    ack = build_ack(rejection, rejection.code, rejection.reason, now=NOW, control_id="ACK0003")
    assert ack.startswith("MSH|^~\\&|||||20240312123045-0400||ACK|ACK0003|P|2.5.1\r")
    assert "\rMSA|AR||not an HL7 v2 message" in ack
    assert summary(ack) == AckSummary("AR", "", rejection.reason)


def test_reasons_are_escaped_in_the_senders_encoding() -> None:
    raw = (FIXTURES / "custom_encoding_characters.hl7").read_bytes()
    message = parsed(raw)
    text = "bad value 'a!b@c#d$e%f' \x1c\x0b\nnext line"
    ack = build_ack(message, AckCode.AE, text, now=NOW, control_id="X!1")
    assert ack.startswith("MSH!@#$%!CARETRAIL!CTHIE!ALTENGINE!HARBORVIEW!")
    assert "!ACK@A04@ACK!X$F$1!P!2.5\r" in ack
    assert not set("\x1c\x0b\n") & set(ack)
    assert "a$F$b$S$c$R$d$E$e$T$f" in ack
    assert summary(ack) == AckSummary("AE", "HV-2024-0520-0001", text)


def test_pre_v25_ack_puts_the_code_in_err1() -> None:
    rejection = rejected(A01.replace("|2.5.1", "|2.3").replace("E1^^^EPIC^MR", ""))
    ack = build_ack(rejection, rejection.code, rejection.reason, now=NOW, control_id="A4")
    assert ack.split("\r")[1:3] == [
        "MSA|AE|CTRL1|ADT\\S\\A01 PID-3 holds no patient identifier",
        "ERR|^^^101&Required field missing&HL70357",
    ]
    assert summary(ack).text == "ADT^A01 PID-3 holds no patient identifier"


@pytest.mark.parametrize("version", ["2.7", "2.8"])
def test_v27_and_later_ack_drops_msa3(version: str) -> None:
    message = parsed(A01.replace("|2.5.1", f"|{version}"))
    ack = build_ack(message, AckCode.AE, "storage unavailable", now=NOW, control_id="A5")
    assert ack.split("\r")[1:3] == [
        "MSA|AE|CTRL1",
        "ERR|||207^Application internal error^HL70357|E||||storage unavailable",
    ]
    assert summary(ack) == AckSummary("AE", "CTRL1", "storage unavailable")


def test_unsupported_version_is_echoed() -> None:
    rejection = rejected(A01.replace("|2.5.1", "|2.1"))
    ack = build_ack(rejection, rejection.code, rejection.reason, now=NOW, control_id="A6")
    assert ack.split("\r")[0].endswith("|ACK^A01^ACK|A6|P|2.1")
    assert summary(ack) == AckSummary("AR", "CTRL1", "unsupported HL7 version 2.1")


def test_echoed_control_id_with_delimiters_round_trips() -> None:
    message = parsed(A01.replace("|CTRL1|", "|C\\F\\1\\E\\x|"))
    assert message.control_id == "C|1\\x"
    ack = build_ack(message, AckCode.AA, now=NOW, control_id="A7")
    assert "\rMSA|AA|C\\F\\1\\E\\x\r" in ack
    assert summary(ack).control_id == "C|1\\x"


def test_naive_now_is_written_without_offset() -> None:
    ack = build_ack(parsed(A01), AckCode.AA, now=datetime(2024, 1, 2, 3, 4, 5), control_id="A8")
    assert "|20240102030405||ACK^A01^ACK|" in ack


def test_ack_time_keeps_the_zone_given() -> None:
    ack = build_ack(parsed(A01), AckCode.AA, now=NOW.astimezone(UTC), control_id="A9")
    assert "|20240312163045+0000||" in ack


def test_parse_ack_accepts_bytes_and_lf() -> None:
    ack = "MSH|^~\\&|B|B|A|A|2024||ACK^A01^ACK|1|P|2.4\nMSA|AE|CTRL7|short text\n"
    assert parse_ack(ack.encode()) == AckSummary("AE", "CTRL7", "short text")


def test_parse_ack_rejects_what_is_not_an_ack() -> None:
    garbage = parse_ack(b"\x0bnope")
    assert isinstance(garbage, Rejection)
    assert garbage.reason == "not an HL7 v2 message: it does not start with an MSH segment"
    no_msa = parse_ack(A01)
    assert isinstance(no_msa, Rejection)
    assert no_msa.reason == "ACK has no MSA-1 acknowledgment code"
    assert no_msa.control_id == "CTRL1"
