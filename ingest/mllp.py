"""MLLP framing (0x0B message 0x1C 0x0D), pure: no sockets, so any transport can reuse it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
_FIRST_END_BYTE = END_BLOCK[:1]
_LAST_END_BYTE = END_BLOCK[1:]
_PREVIEW_BYTES = 32


def frame(payload: bytes) -> bytes:
    """Wrap one message. MLLP has no escaping, so a payload holding a block byte cannot be framed;
    that is a caller's bug (an ACK from `ingest.ack` never holds one), hence the ValueError."""
    if START_BLOCK in payload or _FIRST_END_BYTE in payload:
        raise ValueError("an MLLP payload must not contain 0x0B or 0x1C")
    return START_BLOCK + payload + END_BLOCK


@dataclass(frozen=True)
class FrameError:
    """Bytes the decoder had to drop, and why; the stream goes on at the next start block."""

    reason: str


class _State(Enum):
    BETWEEN_FRAMES = auto()
    IN_FRAME = auto()
    DISCARDING = auto()  # an oversized frame: drop everything until the next start block


class MllpDecoder:
    """Incremental MLLP decoder: feed it bytes as they arrive, get whole payloads back.

    Frames may be split across feeds or several may arrive in one. Bytes outside a frame are
    reported once per run as a FrameError when the next frame starts (blank lines, which some
    senders put between frames, are ignored). A frame over `max_frame_bytes` is reported as soon
    as it is too big and dropped, so a peer cannot make us buffer without bound."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._state = _State.BETWEEN_FRAMES
        self._frame = bytearray()
        self._held_end_byte = False  # a 0x1C ended the last feed; the 0x0D may come next
        self._garbage_count = 0
        self._garbage_preview = b""
        self._garbage_is_blank = True  # blank lines between frames are a common, harmless quirk

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        results: list[bytes | FrameError] = []
        position = 0
        while position < len(data):
            if self._state is _State.BETWEEN_FRAMES:
                position = self._hunt(data, position, results)
            elif self._state is _State.IN_FRAME:
                position = self._collect(data, position, results)
            else:
                position = self._discard(data, position)
        return results

    def close(self) -> list[FrameError]:
        """End of stream: report what was left unfinished, and start afresh."""
        results: list[FrameError] = []
        if self._state is _State.IN_FRAME:
            size = len(self._frame) + int(self._held_end_byte)
            results.append(FrameError(f"stream ended inside a frame after {size} bytes"))
        if (garbage := self._take_garbage_report()) is not None:
            results.append(garbage)
        self._state = _State.BETWEEN_FRAMES
        self._frame.clear()
        self._held_end_byte = False
        return results

    def _hunt(self, data: bytes, position: int, results: list[bytes | FrameError]) -> int:
        start = data.find(START_BLOCK, position)
        if start == -1:
            self._note_garbage(data[position:])
            return len(data)
        self._note_garbage(data[position:start])
        if (garbage := self._take_garbage_report()) is not None:
            results.append(garbage)
        self._begin_frame()
        return start + 1

    def _collect(self, data: bytes, position: int, results: list[bytes | FrameError]) -> int:
        if self._held_end_byte:
            self._held_end_byte = False
            if data[position : position + 1] == _LAST_END_BYTE:
                self._finish_frame(results)
                return position + 1
            self._append(_FIRST_END_BYTE, results)  # a stray 0x1C: keep it as frame content
            if self._state is not _State.IN_FRAME:
                return position
        end = data.find(END_BLOCK, position)
        restart = data.find(START_BLOCK, position)
        if restart != -1 and (end == -1 or restart < end):
            self._append(data[position:restart], results)
            if self._state is _State.IN_FRAME:
                results.append(
                    FrameError(
                        f"frame of {len(self._frame)} bytes interrupted by a new start block;"
                        " discarded"
                    )
                )
            self._begin_frame()
            return restart + 1
        if end == -1:
            chunk = data[position:]
            self._held_end_byte = chunk.endswith(_FIRST_END_BYTE)
            self._append(chunk[:-1] if self._held_end_byte else chunk, results)
            return len(data)
        self._append(data[position:end], results)
        if self._state is _State.IN_FRAME:
            self._finish_frame(results)
        return end + len(END_BLOCK)

    def _discard(self, data: bytes, position: int) -> int:
        start = data.find(START_BLOCK, position)
        if start == -1:
            return len(data)
        self._begin_frame()
        return start + 1

    def _append(self, chunk: bytes, results: list[bytes | FrameError]) -> None:
        if len(self._frame) + len(chunk) > self.max_frame_bytes:
            results.append(
                FrameError(
                    f"frame exceeds max_frame_bytes={self.max_frame_bytes};"
                    " discarded up to the next start block"
                )
            )
            self._frame.clear()
            self._held_end_byte = False
            self._state = _State.DISCARDING
            return
        self._frame += chunk

    def _begin_frame(self) -> None:
        self._frame.clear()
        self._held_end_byte = False
        self._state = _State.IN_FRAME

    def _finish_frame(self, results: list[bytes | FrameError]) -> None:
        results.append(bytes(self._frame))
        self._frame.clear()
        self._state = _State.BETWEEN_FRAMES

    def _note_garbage(self, chunk: bytes) -> None:
        self._garbage_count += len(chunk)
        self._garbage_preview = (self._garbage_preview + chunk[:_PREVIEW_BYTES])[:_PREVIEW_BYTES]
        self._garbage_is_blank = self._garbage_is_blank and not chunk.strip()

    def _take_garbage_report(self) -> FrameError | None:
        report = None
        if not self._garbage_is_blank:
            report = FrameError(
                f"{self._garbage_count} bytes outside a frame discarded,"
                f" starting {self._garbage_preview!r}"
            )
        self._garbage_count = 0
        self._garbage_preview = b""
        self._garbage_is_blank = True
        return report
