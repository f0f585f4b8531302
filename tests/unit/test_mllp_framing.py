"""MLLP framing and the incremental decoder."""

from __future__ import annotations

import pytest

from ingest.mllp import END_BLOCK, START_BLOCK, FrameError, MllpDecoder, frame

MSG_A = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||X\r"
MSG_B = b"MSH|^~\\&|A|B|C|D|2024||ADT^A03|2|P|2.5\rPID|1||Y\r"


def errors(results: list[bytes | FrameError]) -> list[str]:
    return [item.reason for item in results if isinstance(item, FrameError)]


def payloads(results: list[bytes | FrameError]) -> list[bytes]:
    return [item for item in results if isinstance(item, bytes)]


def test_frame_wraps_payload() -> None:
    assert frame(MSG_A) == b"\x0b" + MSG_A + b"\x1c\x0d"
    assert START_BLOCK == b"\x0b"
    assert END_BLOCK == b"\x1c\x0d"


@pytest.mark.parametrize("payload", [b"a\x0bb", b"a\x1cb", b"a\x1c\x0d"])
def test_frame_refuses_payloads_holding_block_bytes(payload: bytes) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        frame(payload)


def test_one_frame_in_one_feed() -> None:
    assert MllpDecoder().feed(frame(MSG_A)) == [MSG_A]


def test_several_frames_in_one_feed() -> None:
    assert MllpDecoder().feed(frame(MSG_A) + frame(MSG_B) + frame(b"")) == [MSG_A, MSG_B, b""]


def test_frame_split_byte_by_byte() -> None:
    decoder = MllpDecoder()
    results: list[bytes | FrameError] = []
    for byte in frame(MSG_A) + frame(MSG_B):
        results += decoder.feed(bytes([byte]))
    assert results == [MSG_A, MSG_B]


def test_end_block_split_across_feeds() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(START_BLOCK + MSG_A + b"\x1c") == []
    assert decoder.feed(b"\x0d") == [MSG_A]


def test_lone_file_separator_is_kept_as_content() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(START_BLOCK + b"ab\x1c") == []
    assert decoder.feed(b"cd" + END_BLOCK) == [b"ab\x1ccd"]


def test_blank_bytes_between_frames_are_ignored() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(frame(MSG_A) + b"\r\n" + frame(MSG_B) + b"\n") == [MSG_A, MSG_B]
    assert decoder.close() == []


def test_garbage_between_frames_is_reported_once_then_resynced() -> None:
    decoder = MllpDecoder()
    results = decoder.feed(frame(MSG_A) + b"HELLO")
    results += decoder.feed(b" WORLD" + frame(MSG_B))
    assert payloads(results) == [MSG_A, MSG_B]
    assert errors(results) == ["11 bytes outside a frame discarded, starting b'HELLO WORLD'"]
    assert results[1] == FrameError("11 bytes outside a frame discarded, starting b'HELLO WORLD'")


def test_garbage_before_the_first_frame() -> None:
    results = MllpDecoder().feed(b"\x00\x01junk" + frame(MSG_A))
    assert results == [
        FrameError("6 bytes outside a frame discarded, starting b'\\x00\\x01junk'"),
        MSG_A,
    ]


def test_new_start_block_inside_a_frame_drops_the_partial_frame() -> None:
    results = MllpDecoder().feed(START_BLOCK + b"MSH|partial" + frame(MSG_B))
    assert results == [
        FrameError("frame of 11 bytes interrupted by a new start block; discarded"),
        MSG_B,
    ]


def test_oversized_frame_is_reported_and_skipped() -> None:
    decoder = MllpDecoder(max_frame_bytes=len(MSG_A))
    results = decoder.feed(frame(MSG_A) + frame(MSG_A + b"Z") + frame(MSG_B[: len(MSG_A)]))
    assert results == [
        MSG_A,
        FrameError(
            f"frame exceeds max_frame_bytes={len(MSG_A)}; discarded up to the next start block"
        ),
        MSG_B[: len(MSG_A)],
    ]


def test_oversized_frame_across_feeds_is_reported_as_soon_as_it_is_too_big() -> None:
    decoder = MllpDecoder(max_frame_bytes=10)
    assert decoder.feed(START_BLOCK + b"0123456789") == []
    assert errors(decoder.feed(b"A")) == [
        "frame exceeds max_frame_bytes=10; discarded up to the next start block"
    ]
    assert decoder.feed(b"more bytes" + END_BLOCK + b"ignored") == []
    assert decoder.feed(frame(b"ok")) == [b"ok"]


def test_frame_of_exactly_the_limit_with_split_end_block() -> None:
    decoder = MllpDecoder(max_frame_bytes=4)
    assert decoder.feed(START_BLOCK + b"abcd\x1c") == []
    assert decoder.feed(b"\x0d") == [b"abcd"]


def test_close_reports_an_unfinished_frame_and_trailing_garbage() -> None:
    decoder = MllpDecoder()
    decoder.feed(START_BLOCK + b"MSH|half")
    assert decoder.close() == [FrameError("stream ended inside a frame after 8 bytes")]
    decoder.feed(b"tail")
    assert decoder.close() == [FrameError("4 bytes outside a frame discarded, starting b'tail'")]
    assert decoder.feed(frame(MSG_A)) == [MSG_A]
