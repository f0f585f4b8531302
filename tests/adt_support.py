"""Helpers for the ADT ingestion tests: fixture messages, receivers on every store, a live MLLP
server in a background thread, and a plain socket MLLP client."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from domain.events import CaretrailEvent
from ingest.ack import AckSummary, parse_ack
from ingest.archive import Arrival, adt_archive
from ingest.hl7v2 import Rejection
from ingest.mllp import FrameError, MllpDecoder, frame
from ingest.mllp_server import MllpLimits, MllpServer
from ingest.receiver import AdtReceiver, receiver_for
from ingest.synthetic import SyntheticMessage
from ingest.worker import IngestionWorker
from services.application import CareTrail
from services.ingestion import IngestSettings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hl7"
SITE_KEY = IngestSettings(identity_key=SecretStr("test-site-identity-key"))
LOOPBACK = "127.0.0.1"


NEW_PATIENT = ["PatientRegistered", "PatientIdentifierClaimed"]
NEW_ENCOUNTER = ["EncounterRegistered", "VisitNumberClaimed"]
ACCEPTED = ["AdtMessageAccepted"]
# What a message of the synthetic feed produces, by (trigger, opens a visit).
SYNTHETIC_EVENTS = {
    ("A01", True): NEW_ENCOUNTER,
    ("A01", False): ["PatientAdmitted"],
    ("A04", True): NEW_ENCOUNTER,
    ("A05", True): NEW_ENCOUNTER,
    ("A02", False): ["PatientTransferred"],
    ("A03", False): ["PatientDischarged"],
    ("A06", False): ["PatientClassChanged"],
    ("A08", False): ["VisitUpdated"],
    ("A11", False): ["TransitionCancelled"],
    ("A12", False): ["TransitionCancelled"],
    ("A13", False): ["TransitionCancelled"],
    ("A21", False): ["LeaveOfAbsenceStarted"],
    ("A22", False): ["LeaveOfAbsenceEnded"],
}


def expected_events(message: SyntheticMessage) -> list[str]:
    """The names of the events a synthetic message produces, sorted (one transaction)."""
    first_sight = NEW_PATIENT if message.new_patient else []
    return sorted(first_sight + SYNTHETIC_EVENTS[(message.trigger, message.new_visit)] + ACCEPTED)


def events_by_source(app: CareTrail) -> dict[str, list[str]]:
    """Sorted event names per source (the dedup key of the message that produced them)."""
    found: dict[str, list[str]] = {}
    for event in stored_events(app):
        found.setdefault(event.source or "", []).append(type(event).__name__)
    return {source: sorted(made) for source, made in found.items()}


def archived_outcomes(receiver: AdtReceiver) -> Counter[str]:
    """How many archived messages ended how ("received": never answered)."""
    with receiver.archive.engine.connect() as connection:
        return Counter(connection.execute(select(adt_archive.c.outcome)).scalars())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.hl7").read_bytes()


def arrival(raw: bytes | str, channel: str = "test") -> Arrival:
    data = raw.encode() if isinstance(raw, str) else raw
    return Arrival(data, channel, "pytest", datetime.now(UTC))


def stored_events(app: CareTrail) -> list[CaretrailEvent]:
    return [entry.event for entry in app.event_log()]


def names(events: Sequence[CaretrailEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


OpenReceiver = Callable[[str], AdtReceiver]


def receivers_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    """For a `receiver_on` fixture: opens receivers on store URLs (times without an offset read
    as UTC), and closes them after the test."""
    opened: list[AdtReceiver] = []

    def open_on(url: str) -> AdtReceiver:
        receiver = receiver_for(open_app(url), UTC, SITE_KEY)
        opened.append(receiver)
        return receiver

    yield open_on
    for receiver in opened:
        receiver.close()


class LiveMllpServer:
    """An MLLP server with its worker, on an event loop in a background thread."""

    def __init__(self, receiver: AdtReceiver, limits: MllpLimits | None = None) -> None:
        self.worker = IngestionWorker(receiver)
        self.server = MllpServer(self.worker, limits)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LiveMllpServer:
        self.worker.start()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(LOOPBACK, 0), self.loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.worker.stop(10)
        self.loop.close()

    @property
    def port(self) -> int:
        return self.server.address[1]


class MllpClient:
    """A blocking MLLP client: send frames, read ACKs (None for an unreadable answer)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.socket = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.decoder = MllpDecoder()
        self.pending: list[bytes] = []

    def send(self, payloads: Sequence[bytes]) -> None:
        self.socket.sendall(b"".join(frame(payload) for payload in payloads))

    def send_raw(self, data: bytes) -> None:
        self.socket.sendall(data)

    def acks(self, count: int) -> list[AckSummary]:
        """The next `count` answers; fewer when the server closes the connection first."""
        while len(self.pending) < count:
            data = self.socket.recv(65536)
            if not data:
                break
            for item in self.decoder.feed(data):
                assert not isinstance(item, FrameError), item
                self.pending.append(item)
        answers, self.pending = self.pending[:count], self.pending[count:]
        return [_summary(answer) for answer in answers]

    def exchange(self, payloads: Sequence[bytes]) -> list[AckSummary]:
        self.send(payloads)
        return self.acks(len(payloads))

    def is_closed_by_server(self) -> bool:
        try:
            return self.socket.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.socket.close()


@contextmanager
def mllp_client(port: int, timeout: float = 10.0) -> Iterator[MllpClient]:
    client = MllpClient(port, timeout)
    try:
        yield client
    finally:
        client.close()


def _summary(answer: bytes) -> AckSummary:
    summary = parse_ack(answer)
    assert not isinstance(summary, Rejection), (summary, answer)
    return summary
