"""Property tests: no input makes the HL7 layer raise, and every answer echoes what it could read.

Example counts are explicit (20,000 in all) and sized to run in well under a minute."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.ack import AckSummary, build_ack, parse_ack
from ingest.hl7v2 import AckCode, ParsedMessage, Rejection, parse_message
from ingest.mllp import FrameError, MllpDecoder, frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hl7"
FIXTURE_BYTES = tuple(path.read_bytes() for path in sorted(FIXTURES.glob("*.hl7")))
NOW = datetime(2024, 3, 12, 12, 0, tzinfo=UTC)


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def assert_answered(raw: bytes | str) -> None:
    """parse_message gives a value, and the ACK built from it reads back with the same MSA-2."""
    result = parse_message(raw)
    assert isinstance(result, ParsedMessage | Rejection)
    if isinstance(result, ParsedMessage):
        assert result.control_id
        assert result.message_type == "ADT"
        assert "\n" not in result.raw
        clinical = result.clinical_time
        assert clinical is None or clinical.tzinfo is not None
        code, text = AckCode.AA, None
    else:
        assert result.reason
        assert not result.reason.startswith("internal parser error"), result.reason
        code, text = result.code, result.reason
    ack = build_ack(result, code, text, now=NOW, control_id="ACK1")
    assert not any(char in ack for char in "\n\x0b\x1c")
    summary = parse_ack(ack)
    assert isinstance(summary, AckSummary), summary
    assert summary.code == code
    assert summary.control_id == result.control_id
    assert summary.text == text


@fuzz_settings(4000)
@given(st.binary(max_size=1500))
def test_arbitrary_bytes_are_answered(raw: bytes) -> None:
    assert_answered(raw)
    assert isinstance(parse_ack(raw), AckSummary | Rejection)


HL7_ALPHABET = st.one_of(
    st.sampled_from(list('|^~\\&#*!\r\n.X0123456789 AEIMNPSHVDRGZ"+-')),
    st.characters(),
)


@fuzz_settings(3000)
@given(
    st.sampled_from(["MSH", "MSH|", "MSH|^~\\&|", "MSH|^~\\&#|", "MSH*^~\\&*"]),
    st.text(HL7_ALPHABET, max_size=400),
)
def test_text_behind_a_header_is_answered(header: str, body: str) -> None:
    assert_answered(header + body)


INSERTIONS = [
    *(bytes([byte]) for byte in b"|^~\\&#\r\n Z\x0b\x1c\xff\xc3"),
    *(b"\r\n", b'""', b"MSH|", b"\\X", b"\\E\\", b"\\.br\\", b"\\XC3\\", b"+2400"),
]
OPERATIONS = ("flip", "truncate", "insert", "delete", "duplicate", "drop", "swap")
# `at` and `amount` are reduced modulo the data at hand, so one tuple describes any mutation.
MUTATIONS = st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 4096), st.integers(1, 255))


def mutate(data: bytes, operation: str, at: int, amount: int) -> bytes:
    at %= len(data) + 1
    if operation == "flip":
        return data[:at] + bytes([data[at] ^ amount]) + data[at + 1 :] if at < len(data) else data
    if operation == "truncate":
        return data[:at]
    if operation == "insert":
        return data[:at] + INSERTIONS[amount % len(INSERTIONS)] + data[at:]
    if operation == "delete":
        return data[:at] + data[at + amount % 20 + 1 :]
    segments = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    first, second = at % len(segments), amount % len(segments)
    if operation == "duplicate":
        segments.insert(second, segments[first])
    elif operation == "drop":
        del segments[first]
    else:
        segments[first], segments[second] = segments[second], segments[first]
    return b"\r".join(segments)


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(FIXTURE_BYTES))
    for operation, at, amount in draw(st.lists(MUTATIONS, min_size=1, max_size=4)):
        data = mutate(data, operation, at, amount)
    return data


@fuzz_settings(7000)
@given(mutated_fixtures())
def test_mutated_fixtures_are_answered(raw: bytes) -> None:
    assert_answered(raw)


@fuzz_settings(2500)
@given(
    control_id=st.text(HL7_ALPHABET, min_size=1, max_size=30),
    trigger=st.sampled_from(["A01", "A03", "A08", "A40", "A20", "a04", "R01", "", "A9"]),
    version=st.sampled_from(["2.3", "2.3.1", "2.5.1", "2.8", "2.1", "2.9", "", "x"]),
    event_time=st.text(st.sampled_from(list("0123456789.+-")), max_size=24),
    separators=st.sampled_from(["|^~\\&", "|^~\\&#", "*^~\\&", "!@#$%", "|^~\\", "||~\\&"]),
)
def test_generated_headers_are_answered(
    control_id: str, trigger: str, version: str, event_time: str, separators: str
) -> None:
    field = separators[0]
    header = field.join(
        [
            *("MSH", separators[1:], "APP", "FAC", "CT", "CTHIE", "20240101", ""),
            *(f"ADT^{trigger}", control_id, "P", version),
        ]
    )
    raw = "\r".join(
        [
            header,
            field.join(["EVN", "", "20240101", "", "", "", event_time]),
            field.join(["PID", "1", "", "MRN1^^^AUTH^MR"]),
            field.join(["MRG", "OLD1^^^AUTH^MR"]),
        ]
    )
    assert_answered(raw)


PAYLOADS = st.one_of(
    st.sampled_from(FIXTURE_BYTES),
    st.binary(max_size=300).map(lambda data: data.replace(b"\x0b", b"").replace(b"\x1c", b"")),
)


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    edges = [0, *points, len(stream)]
    return [stream[start:end] for start, end in pairwise(edges)]


@fuzz_settings(2000)
@given(
    st.lists(PAYLOADS, min_size=1, max_size=6),
    st.lists(st.integers(0, 10_000), max_size=40),
    st.sampled_from([b"", b"\r\n", b"\n"]),
)
def test_decoder_reassembles_frames_under_any_chunking(
    messages: list[bytes], cuts: list[int], between: bytes
) -> None:
    stream = b"".join(frame(message) + between for message in messages)
    decoder = MllpDecoder()
    results: list[bytes | FrameError] = []
    for chunk in chunked(stream, cuts):
        results += decoder.feed(chunk)
    assert results == messages
    assert decoder.close() == []


@fuzz_settings(1500)
@given(
    st.binary(max_size=600).map(
        lambda data: data.replace(b"\x01", b"\x0b").replace(b"\x02", b"\x1c")
    ),
    st.lists(st.integers(0, 10_000), max_size=30),
    st.integers(1, 200),
)
def test_decoder_output_does_not_depend_on_chunking(
    stream: bytes, cuts: list[int], max_frame_bytes: int
) -> None:
    whole = MllpDecoder(max_frame_bytes)
    expected = whole.feed(stream) + list(whole.close())
    pieces = MllpDecoder(max_frame_bytes)
    results: list[bytes | FrameError] = []
    for chunk in chunked(stream, cuts):
        results += pieces.feed(chunk)
    results += pieces.close()
    assert results == expected
    for item in results:
        if isinstance(item, bytes):
            assert len(item) <= max_frame_bytes
            assert b"\x0b" not in item
            assert b"\x1c\x0d" not in item
