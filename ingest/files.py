"""Files of HL7 messages for backfills: MLLP-framed streams, or plain text with one message after
another (each starts at a line beginning with MSH, whatever the line ends are)."""

from __future__ import annotations

import re

from ingest.mllp import START_BLOCK, MllpDecoder

# Editors and some exports start a file (or each message of a concatenated file) with a UTF-8
# byte-order mark, and leave blank lines around messages: neither is a message.
_FILLER = re.compile(rb"(?:\s|\xef\xbb\xbf)*")
# A segment terminator (or several: blank lines between messages) followed by a new header.
_MESSAGE_BOUNDARY = re.compile(rb"(?:\r\n|\r|\n)+(?=(?:\xef\xbb\xbf)?MSH)")


def split_messages(content: bytes) -> list[bytes]:
    """The messages in a file's bytes, as they would arrive one by one over MLLP."""
    if START_BLOCK in content:
        decoder = MllpDecoder(max_frame_bytes=len(content) + 1)
        frames = [*decoder.feed(content), *decoder.close()]
        return [item for item in frames if isinstance(item, bytes)]
    return [message for message in _MESSAGE_BOUNDARY.split(content) if not _is_filler(message)]


def _is_filler(raw: bytes) -> bool:
    return _FILLER.fullmatch(raw) is not None
