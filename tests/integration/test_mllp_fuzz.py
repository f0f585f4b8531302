"""20,000 mutated and random inputs through a live MLLP server on loopback: every frame is answered
with a readable ACK echoing the control id it could read, nothing fails inside the ingestion path,
and the server goes on serving.

A seeded mutation loop rather than hypothesis: the same inputs on every run, and fast enough to
push them all through real sockets, the worker and the store.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from ingest.hl7v2 import ParsedMessage, parse_message
from ingest.synthetic import SyntheticFeed
from services.application import CareTrail
from tests.adt_support import (
    FIXTURES,
    LiveMllpServer,
    OpenReceiver,
    fixture_bytes,
    mllp_client,
    receivers_on,
)

INPUTS = 20_000
CONNECTIONS = 4
WINDOW = 250  # frames sent ahead of reading their ACKs, per connection
SEPARATORS = b"|^~\\&\r\n#$%!@*"
FRAMING_BYTES = (0x0B, 0x1C)  # cannot travel inside an MLLP frame; framing is tested elsewhere


@pytest.fixture
def receiver_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    yield from receivers_on(open_app)


def seeds() -> list[bytes]:
    fixtures = [path.read_bytes() for path in sorted(FIXTURES.glob("*.hl7"))]
    generated = [message.raw for message in SyntheticFeed(seed=99, patients=30).messages(60)]
    return fixtures + generated


def _flip(data: bytearray, chance: random.Random) -> None:
    for _ in range(chance.randint(1, 8)):
        if data:
            data[chance.randrange(len(data))] = chance.randrange(256)


def _insert(data: bytearray, chance: random.Random) -> None:
    at = chance.randint(0, len(data))
    data[at:at] = bytes(chance.choice(SEPARATORS) for _ in range(chance.randint(1, 12)))


def _delete(data: bytearray, chance: random.Random) -> None:
    if data:
        start = chance.randrange(len(data))
        del data[start : start + chance.randint(1, 60)]


def _truncate(data: bytearray, chance: random.Random) -> None:
    del data[chance.randint(0, len(data)) :]


def _shuffle_segments(data: bytearray, chance: random.Random) -> None:
    segments = bytes(data).split(b"\r")
    operation = chance.choice(("drop", "duplicate", "swap"))
    index = chance.randrange(len(segments))
    if operation == "drop":
        del segments[index]
    elif operation == "duplicate":
        segments.insert(index, segments[index])
    else:
        other = chance.randrange(len(segments))
        segments[index], segments[other] = segments[other], segments[index]
    data[:] = b"\r".join(segments)


def _long_field(data: bytearray, chance: random.Random) -> None:
    at = chance.randint(0, len(data))
    data[at:at] = b"|" + bytes(chance.randrange(32, 127) for _ in range(chance.randint(50, 3000)))


def _noise(data: bytearray, chance: random.Random) -> None:
    data[:] = bytes(chance.randrange(256) for _ in range(chance.randint(0, 400)))


def _header_then_noise(data: bytearray, chance: random.Random) -> None:
    data[:] = b"MSH" + bytes(chance.choice(SEPARATORS) for _ in range(chance.randint(0, 40)))


MUTATIONS = (
    _flip, _insert, _delete, _truncate, _shuffle_segments, _long_field, _noise, _header_then_noise
)  # fmt: skip


def fuzz_inputs(count: int, seed: int = 20_000) -> list[bytes]:
    chance = random.Random(seed)
    originals = seeds()
    inputs = []
    for _ in range(count):
        data = bytearray(chance.choice(originals))
        for mutation in chance.sample(MUTATIONS, chance.randint(1, 3)):
            mutation(data, chance)
        inputs.append(bytes(byte for byte in data if byte not in FRAMING_BYTES))
    return inputs


def expected_control_id(payload: bytes) -> str | None:
    parsed = parse_message(payload)
    return parsed.control_id if isinstance(parsed, ParsedMessage) else None


def test_twenty_thousand_fuzzed_frames_are_all_answered(
    receiver_on: OpenReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = fuzz_inputs(INPUTS)
    shares = [inputs[n::CONNECTIONS] for n in range(CONNECTIONS)]
    codes: Counter[str] = Counter()
    mismatched: list[tuple[bytes, str, str | None]] = []
    lock = threading.Lock()

    def feed(share: list[bytes]) -> None:
        with mllp_client(server.port, timeout=60) as client:
            for start in range(0, len(share), WINDOW):
                window = share[start : start + WINDOW]
                acks = client.exchange(window)
                assert len(acks) == len(window), "every frame gets an ACK"
                with lock:
                    codes.update(ack.code for ack in acks)
                    for payload, ack in zip(window, acks, strict=True):
                        control_id = expected_control_id(payload)
                        if control_id is not None and ack.control_id != control_id:
                            mismatched.append((payload, ack.control_id, control_id))

    caplog.set_level(logging.WARNING)
    with LiveMllpServer(receiver_on("memory://")) as server:
        threads = [threading.Thread(target=feed, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        with mllp_client(server.port) as client:
            (after,) = client.exchange([fixture_bytes("a01_missing_evn")])

    assert sum(codes.values()) == INPUTS
    assert set(codes) <= {"AA", "AE", "AR"}
    assert min(codes["AA"], codes["AE"], codes["AR"]) > 0, codes
    assert mismatched == []
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], "nothing failed inside the ingestion path"
    assert after.code in ("AA", "AE")
