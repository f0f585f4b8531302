"""How `caretrail ingest` cuts a file into messages (`ingest.files`): every byte that is not
filler reaches the receiver, a fragment with the fault that makes it one."""

from __future__ import annotations

import pytest

from ingest.files import (
    CUT_BY_END_OF_FILE,
    CUT_BY_NEXT_FRAME,
    OUTSIDE_FRAMES,
    FilePart,
    NoHl7Message,
    split_messages,
)
from ingest.hl7v2 import ParsedMessage, parse_message
from ingest.mllp import frame
from tests.adt_support import fixture_bytes

BOM = b"\xef\xbb\xbf"
ONE, TWO = fixture_bytes("a01_missing_evn"), fixture_bytes("a03_discharge_home")


def messages(content: bytes) -> list[bytes]:
    """The messages of a file that holds no fragment."""
    parts = split_messages(content)
    assert all(part.framing_fault is None for part in parts), parts
    return [part.raw for part in parts]


def triggers(content: bytes) -> list[str]:
    parsed = [parse_message(raw) for raw in messages(content)]
    return [message.trigger for message in parsed if isinstance(message, ParsedMessage)]


def test_files_split_into_messages_whatever_their_line_ends_or_framing() -> None:
    lf = ONE.replace(b"\r", b"\n")
    crlf = TWO.replace(b"\r", b"\r\n")

    assert messages(ONE + TWO) == [ONE.rstrip(b"\r"), TWO]
    assert triggers(lf + b"\n\n" + crlf) == ["A01", "A03"]
    assert triggers(lf + crlf) == ["A01", "A03"]
    assert messages(frame(ONE) + b"\r\n" + frame(TWO)) == [ONE, TWO]


def test_a_byte_order_mark_and_blank_lines_around_a_message_are_not_messages() -> None:
    (message,) = messages(fixture_bytes("a01_bom_and_blank_lines"))

    assert message.startswith(b"MSH|")
    assert messages(BOM + b"\r\n" + frame(ONE) + b"\n\n" + frame(TWO) + b"\r\n") == [ONE, TWO]


def test_a_byte_order_mark_before_each_message_of_a_concatenated_file_is_not_a_message() -> None:
    # kept with its message, as received: the parser reads past it
    assert messages(BOM + ONE + b"\r\n" + BOM + TWO) == [BOM + ONE.rstrip(b"\r"), BOM + TWO]


def test_a_frame_the_file_ends_inside_is_a_fragment() -> None:
    assert split_messages(b"\x0b" + ONE) == [FilePart(ONE, CUT_BY_END_OF_FILE)]
    assert split_messages(frame(ONE) + b"\x0b" + TWO[:60]) == [
        FilePart(ONE),
        FilePart(TWO[:60], CUT_BY_END_OF_FILE),
    ]


def test_a_frame_cut_short_by_the_next_start_block_is_a_fragment() -> None:
    assert split_messages(b"\x0b" + ONE[:60] + frame(TWO)) == [
        FilePart(ONE[:60], CUT_BY_NEXT_FRAME),
        FilePart(TWO),
    ]


def test_messages_outside_the_frames_of_a_framed_file_are_fragments_one_by_one() -> None:
    assert split_messages(ONE + frame(TWO)) == [FilePart(ONE, OUTSIDE_FRAMES), FilePart(TWO)]
    assert split_messages(frame(ONE) + b"\r\n" + ONE + TWO + b"\x1c\r") == [
        FilePart(ONE),
        FilePart(ONE.rstrip(b"\r"), OUTSIDE_FRAMES),
        FilePart(TWO + b"\x1c\r", OUTSIDE_FRAMES),  # its start block lost
    ]


def test_a_lone_0x1c_is_part_of_its_frame_and_does_not_close_it() -> None:
    assert split_messages(b"\x0bMSH|A\x1cB\r\x1c\r\x0bMSH|C\x1c") == [
        FilePart(b"MSH|A\x1cB\r"),
        FilePart(b"MSH|C\x1c", CUT_BY_END_OF_FILE),
    ]


def test_text_before_the_first_message_of_a_plain_file_is_kept_for_the_receiver_to_reject() -> None:
    assert messages(b"exported 2024-03-16\n" + ONE) == [b"exported 2024-03-16", ONE]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "it is empty"),
        (BOM + b"\r\n\n", "no MSH segment in its 6 bytes"),
        (bytes(range(256)) * 4, "no MSH segment in its 1024 bytes"),  # start blocks among them
        (frame(b"EVN|A01|20240316\r"), "no MSH segment in its 20 bytes"),
    ],
    ids=["empty", "blank", "binary", "no header"],
)
def test_a_file_in_which_nothing_begins_like_an_hl7_message_holds_none(
    content: bytes, why: str
) -> None:
    with pytest.raises(NoHl7Message, match=why):
        split_messages(content)
