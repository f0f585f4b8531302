"""MLLP ingestion benchmark on PostgreSQL: messages/s and ACK latency, beside the raw event-store
write rate measured in the same run.

    .venv/bin/python bench/mllp.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Starts `caretrail mllp` as a process of its own on a fresh schema (dropped at the end) and feeds
it realistic synthetic ADT traffic (admissions, transfers, updates, leaves, discharges, cancels):

- saturated, pipelined, over 1 connection and over 8 (one sending system each);
- paced at a steady rate over 1 connection, for the ACK latency a live feed sees.

Targets (issue 5): at least 300 messages/s over one connection with batched commits, and p99 ACK
latency under 100 ms at 50 messages/s.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
from psycopg import sql

from domain.events import Action
from domain.patient import Demographics, Identifier, Patient
from ingest.ack import parse_ack
from ingest.hl7v2 import Rejection
from ingest.mllp import FrameError, MllpDecoder, frame
from ingest.synthetic import SyntheticFeed
from services.bootstrap import bootstrap
from services.settings import Settings

CARETRAIL = Path(sys.executable).with_name("caretrail")
LISTENING = re.compile(r"listening for MLLP on [0-9.]+:(\d+)")
WINDOW = 500  # frames in flight per connection when saturating


@dataclass(frozen=True)
class Run:
    label: str
    messages: int
    seconds: float
    latencies: list[float]  # seconds from send to ACK, per message

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.messages:>6} msgs {self.rate:>8.0f} msg/s"
            f"   p50 {self.percentile(0.50):>7.1f} ms   p99 {self.percentile(0.99):>7.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "CARETRAIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="A PostgreSQL database where a throwaway schema may be created",
    )
    parser.add_argument("--messages", type=int, default=3000, help="per saturated run")
    parser.add_argument("--rate", type=float, default=50.0, help="of the paced run, msg/s")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    options = parser.parse_args()

    with throwaway_schema(options.admin_url) as store_url:
        raw = raw_write_rates(store_url)
    with throwaway_schema(options.admin_url) as store_url, mllp_server(store_url) as port:
        runs = [
            saturated(port, "saturated, 1 connection", 1, options.messages, first=0),
            saturated(port, "saturated, 8 connections", 8, options.messages // 8, first=1),
            paced(port, f"paced {options.rate:.0f} msg/s, 1 connection", options, first=9),
        ]
    report(raw, runs)


def report(raw: dict[str, float], runs: Sequence[Run]) -> None:
    print(f"\nevent store, raw (same database, same run), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for label, rate in raw.items():
        print(f"  {label:<32} {rate:>8.0f} events/s")
    print("\nMLLP ingestion (caretrail mllp process, ACK after commit)")
    for run in runs:
        print(f"  {run.line()}")
    single = runs[0].rate
    print(
        f"\n  1 connection: {single:.0f} msg/s = {single / raw['1 event per save']:.2f}x the "
        f"one-event-per-save rate (each message is one receipt plus its events; commits are "
        f"batched across messages)"
    )
    print(
        f"  targets: >= 300 msg/s over 1 connection: {'met' if single >= 300 else 'NOT met'};"
        f" p99 ACK < 100 ms at 50 msg/s: "
        f"{'met' if runs[-1].percentile(0.99) < 100 else 'NOT met'}"
    )


# --- the raw event store ------------------------------------------------------------------------


def raw_write_rates(store_url: str, saves: int = 400) -> dict[str, float]:
    app = bootstrap(Settings(database_url=store_url))
    now = datetime.now(UTC)
    action = Action("bench", now, now)

    def patient(n: int) -> Patient:
        return Patient.register(
            uuid4(), [Identifier(str(n), "BENCH")], Demographics("A", "B"), action
        )

    try:
        one = _timed(lambda: [app.save(patient(n)) for n in range(saves)])
        ten = _timed(
            lambda: [app.save(*(patient(n) for n in range(10))) for _ in range(saves // 10)]
        )
    finally:
        app.close()
    return {"1 event per save": saves / one, "10 events per save": saves / ten}


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


# --- the server and its clients -----------------------------------------------------------------


@contextmanager
def throwaway_schema(admin_url: str) -> Iterator[str]:
    schema = f"bench_{uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(query=f"schema={schema}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def mllp_server(store_url: str) -> Iterator[int]:
    env = os.environ | {
        "CARETRAIL_DATABASE_URL": store_url,
        "CARETRAIL_IDENTITY_KEY": uuid4().hex,
        "CARETRAIL_TIMEZONE": "UTC",
    }
    process = subprocess.Popen(
        [str(CARETRAIL), "mllp", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        match = LISTENING.search(process.stdout.readline())
        if match is None:
            raise SystemExit("caretrail mllp did not start")
        yield int(match.group(1))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


class Connection:
    """One sending system: frames out as fast as a window allows (or on a schedule), ACKs in."""

    def __init__(self, port: int, feed: Sequence[bytes], window: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.feed = feed
        self.sent_at: list[float] = []
        self.latencies: list[float] = []
        self.in_flight = threading.Semaphore(window)

    def send(self, schedule: Callable[[int], float] | None = None) -> None:
        for index, payload in enumerate(self.feed):
            if schedule is not None:
                time.sleep(max(0.0, schedule(index) - time.perf_counter()))
            self.in_flight.acquire()
            self.sent_at.append(time.perf_counter())
            self.socket.sendall(frame(payload))

    def receive(self) -> None:
        decoder = MllpDecoder()
        while len(self.latencies) < len(self.feed):
            data = self.socket.recv(65536)
            if not data:
                raise SystemExit("the server closed a connection")
            for item in decoder.feed(data):
                now = time.perf_counter()
                if isinstance(item, FrameError):
                    raise SystemExit(f"unreadable answer: {item.reason}")
                ack = parse_ack(item)
                if isinstance(ack, Rejection) or ack.code != "AA":
                    raise SystemExit(f"not accepted: {ack}")
                self.latencies.append(now - self.sent_at[len(self.latencies)])
                self.in_flight.release()

    def close(self) -> None:
        self.socket.close()


def feeds(connections: int, messages: int, first: int) -> list[list[bytes]]:
    """Traffic of sending systems `first`, `first + 1`...: each run gets systems of its own."""
    return [
        [
            m.raw
            for m in SyntheticFeed(
                seed=n, sending_application=f"APP{n}", sending_facility=f"HOSP{n}", patients=800
            ).messages(messages)
        ]
        for n in range(first, first + connections)
    ]


def drive(
    port: int, label: str, traffic: list[list[bytes]], schedule: Callable[[int], float] | None
) -> Run:
    window = WINDOW if schedule is None else len(traffic[0])
    connections = [Connection(port, feed, window) for feed in traffic]
    threads = [threading.Thread(target=c.receive) for c in connections]
    threads += [threading.Thread(target=c.send, args=(schedule,)) for c in connections]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for connection in connections:
        connection.close()
    latencies = [latency for c in connections for latency in c.latencies]
    return Run(label, len(latencies), seconds, latencies)


def saturated(port: int, label: str, connections: int, messages: int, first: int) -> Run:
    return drive(port, label, feeds(connections, messages, first), None)


def paced(port: int, label: str, options: argparse.Namespace, first: int) -> Run:
    traffic = feeds(1, int(options.rate * options.paced_seconds), first)
    start = time.perf_counter() + 0.1
    return drive(port, label, traffic, lambda index: start + index / options.rate)


if __name__ == "__main__":
    main()
