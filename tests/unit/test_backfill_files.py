"""How `caretrail ingest` cuts a file into messages (`ingest.files`): every byte that is not
filler reaches the receiver, and only filler is left out."""

from __future__ import annotations

from ingest.files import split_messages
from tests.adt_support import fixture_bytes

BOM = b"\xef\xbb\xbf"


def test_a_byte_order_mark_and_blank_lines_around_a_message_are_not_messages() -> None:
    (message,) = split_messages(fixture_bytes("a01_bom_and_blank_lines"))

    assert message.startswith(b"MSH|")


def test_a_byte_order_mark_before_each_message_of_a_concatenated_file_is_not_a_message() -> None:
    one, two = fixture_bytes("a01_missing_evn"), fixture_bytes("a03_discharge_home")

    # kept with its message, as received: the parser reads past it
    assert split_messages(BOM + one + b"\r\n" + BOM + two) == [BOM + one.rstrip(b"\r"), BOM + two]
