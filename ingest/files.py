"""Files of HL7 messages for backfills: MLLP-framed streams, or plain text with one message after
another (each starts at a line beginning with MSH, whatever the line ends are).

A live feed resends whatever it got no ACK for, so the MLLP server may drop bytes it cannot frame;
nobody resends a file. So every byte of one reaches the receiver: what does not make a whole
message (a frame cut short, text outside the frames of a framed file) goes as a fragment with the
fault that makes it one, to be archived and quarantined. Only filler is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.mllp import START_BLOCK

CUT_BY_END_OF_FILE = "MLLP frame cut short: the file ends before its end block (0x1C 0x0D)"
CUT_BY_NEXT_FRAME = "MLLP frame cut short: a start block (0x0B) came before its end block"
OUTSIDE_FRAMES = "outside any MLLP frame, in a file of MLLP frames"

# Editors and some exports start a file (or each message of a concatenated file) with a UTF-8
# byte-order mark, and leave blank lines around messages: neither is a message.
_FILLER_PATTERN = rb"(?:\s|\xef\xbb\xbf)*"
_FILLER = re.compile(_FILLER_PATTERN)
_HEADER_FIRST = re.compile(_FILLER_PATTERN + b"MSH")
# A segment terminator (or several: blank lines between messages) followed by a new header.
_MESSAGE_BOUNDARY = re.compile(rb"(?:\r\n|\r|\n)+(?=(?:\xef\xbb\xbf)?MSH)")
# MLLP has no escaping, so a payload never holds a start block: a frame that meets one (or the
# end of the file) before its end block was cut short. (A 0x1C alone is payload, as the MLLP
# decoder has it; spelled out rather than as a lazy `.*?`, which is ten times slower.)
_FRAME = re.compile(
    rb"\x0b(?P<payload>[^\x0b\x1c]*(?:\x1c(?!\r)[^\x0b\x1c]*)*)(?:(?P<end>\x1c\r)|(?=\x0b)|\Z)"
)


@dataclass(frozen=True)
class FilePart:
    """Bytes of a file that reach the receiver as one message; `framing_fault` says why they are
    not a whole one, when the file's framing shows it."""

    raw: bytes
    framing_fault: str | None = None


class NoHl7Message(ValueError):
    """A file in which nothing begins like an HL7 message (empty, blank, some other format):
    quarantining its bytes as messages would only bury the mistake of naming it."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no MSH segment in its {size} bytes" if size else "it is empty")


def split_messages(content: bytes) -> list[FilePart]:
    """The messages in a file's bytes, as they would arrive one by one over MLLP, and the
    fragments around them; NoHl7Message when none of them begins with an MSH segment."""
    parts = _framed(content) if START_BLOCK in content else _unframed(content, None)
    found = [part for part in parts if not _is_filler(part.raw)]
    if not any(_HEADER_FIRST.match(part.raw) for part in found):
        raise NoHl7Message(len(content))
    return found


def _framed(content: bytes) -> list[FilePart]:
    parts: list[FilePart] = []
    outside_from = 0
    for frame in _FRAME.finditer(content):
        parts += _unframed(content[outside_from : frame.start()], OUTSIDE_FRAMES)
        parts.append(FilePart(frame["payload"], _frame_fault(frame)))
        outside_from = frame.end()
    return parts + _unframed(content[outside_from:], OUTSIDE_FRAMES)


def _frame_fault(frame: re.Match[bytes]) -> str | None:
    if frame["end"] is not None:
        return None
    return CUT_BY_END_OF_FILE if frame.end() == len(frame.string) else CUT_BY_NEXT_FRAME


def _unframed(text: bytes, fault: str | None) -> list[FilePart]:
    return [FilePart(message, fault) for message in _MESSAGE_BOUNDARY.split(text)]


def _is_filler(raw: bytes) -> bool:
    return _FILLER.fullmatch(raw) is not None
