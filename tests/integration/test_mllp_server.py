"""The MLLP server on real loopback sockets: pipelining, many feeds at once, broken framing,
limits, and a store that fails."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from eventsourcing.persistence import OperationalError

from ingest.mllp import frame
from ingest.mllp_server import MllpLimits
from ingest.synthetic import SyntheticFeed
from services.application import CareTrail
from tests.adt_support import (
    LiveMllpServer,
    OpenReceiver,
    archived_outcomes,
    fixture_bytes,
    mllp_client,
    names,
    receivers_on,
    stored_events,
)


@pytest.fixture
def receiver_on(open_app: Callable[[str], CareTrail]) -> Iterator[OpenReceiver]:
    yield from receivers_on(open_app)


def test_pipelined_messages_are_answered_in_order(
    receiver_on: OpenReceiver, postgres_url: str
) -> None:
    receiver = receiver_on(postgres_url)
    feed = list(SyntheticFeed(seed=3, patients=40).messages(200))
    with LiveMllpServer(receiver) as server, mllp_client(server.port) as client:
        acks = client.exchange([message.raw for message in feed])

    assert [ack.control_id for ack in acks] == [message.control_id for message in feed]
    assert {ack.code for ack in acks} == {"AA"}
    receipts = Counter(names(stored_events(receiver.service.app)))["AdtMessageAccepted"]
    assert receipts == len(feed)


def test_many_feeds_at_once_are_each_answered(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    feeds = {
        f"FEED{n}": list(
            SyntheticFeed(
                seed=n, sending_application=f"FEED{n}", sending_facility=f"HOSP{n}"
            ).messages(30)
        )
        for n in range(16)
    }
    answered: dict[str, list[str]] = {}

    def send(application: str) -> None:
        with mllp_client(server.port) as client:
            acks = client.exchange([message.raw for message in feeds[application]])
        answered[application] = [ack.code for ack in acks]

    with LiveMllpServer(receiver) as server:
        threads = [threading.Thread(target=send, args=(name,)) for name in feeds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    assert {name: codes.count("AA") for name, codes in answered.items()} == dict.fromkeys(feeds, 30)


def test_broken_framing_closes_that_connection_only(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    good, other = fixture_bytes("a01_missing_evn"), fixture_bytes("a03_discharge_snf")
    with LiveMllpServer(receiver) as server, mllp_client(server.port) as healthy:
        with mllp_client(server.port) as broken:
            # A good frame, bytes outside any frame, then a frame that would be good.
            broken.send_raw(frame(good) + b"stray bytes" + frame(other))
            (ack,) = broken.acks(1)
            assert (ack.code, ack.control_id) == ("AA", "Q2301122205T0001")
            assert broken.is_closed_by_server()
        (ack,) = healthy.exchange([other])

    assert (ack.code, ack.control_id) == ("AA", "NG-77810422")


def test_an_oversized_frame_closes_its_connection(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    limits = MllpLimits(max_frame_bytes=4096)
    with LiveMllpServer(receiver, limits) as server:
        with mllp_client(server.port) as client:
            client.send([fixture_bytes("a01_missing_evn") + b"ZXX|" + b"x" * 10_000])
            assert client.acks(1) == []
        with mllp_client(server.port) as client:
            (ack,) = client.exchange([fixture_bytes("a01_missing_evn")])

    assert ack.code == "AA"


def test_an_idle_connection_is_closed(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    with (
        LiveMllpServer(receiver, MllpLimits(idle_timeout=0.3)) as server,
        mllp_client(server.port) as client,
    ):
        (ack,) = client.exchange([fixture_bytes("a01_missing_evn")])
        began = time.monotonic()
        assert client.is_closed_by_server()
        waited = time.monotonic() - began

    assert ack.code == "AA"
    assert 0.2 < waited < 5


def test_connections_beyond_the_limit_are_refused(receiver_on: OpenReceiver) -> None:
    receiver = receiver_on("memory://")
    with (
        LiveMllpServer(receiver, MllpLimits(max_connections=2)) as server,
        mllp_client(server.port) as one,
        mllp_client(server.port) as two,
    ):
        one.exchange([fixture_bytes("a01_missing_evn")])
        two.exchange([fixture_bytes("a03_discharge_snf")])
        with mllp_client(server.port) as third:
            assert third.is_closed_by_server()
        (ack,) = one.exchange([fixture_bytes("a03_discharge_home")])

    assert ack.code == "AA"


def test_when_the_store_fails_nothing_is_acknowledged_and_a_resend_is_applied_once(
    receiver_on: OpenReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = receiver_on("memory://")
    message = fixture_bytes("epic_a01_admit_inpatient")
    apply = receiver.service.apply

    def unavailable(*_: object) -> object:
        raise OperationalError("connection to the event store lost")

    with LiveMllpServer(receiver) as server:
        monkeypatch.setattr(receiver.service, "apply", unavailable)
        with mllp_client(server.port) as client:
            client.send([message])
            assert client.acks(1) == []
        monkeypatch.setattr(receiver.service, "apply", apply)
        with mllp_client(server.port) as client:
            (ack,) = client.exchange([message])

    assert ack.code == "AA"
    assert Counter(names(stored_events(receiver.service.app)))["AdtMessageAccepted"] == 1
    assert archived_outcomes(receiver) == {"received": 1, "applied": 1}, (
        "the failed attempt is on record, unanswered"
    )
