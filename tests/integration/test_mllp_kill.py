"""kill -9 of an MLLP server process (PostgreSQL store) while a client streams messages: after a
restart and the client's resends, every message is stored exactly once, and every message that
was ACKed before the kill is among them (no AA for anything that was not committed)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ingest.ack import AckSummary
from ingest.synthetic import SyntheticFeed, SyntheticMessage
from services.bootstrap import bootstrap
from services.settings import Settings
from tests.adt_support import (
    SITE_KEY,
    MllpClient,
    events_by_source,
    expected_events,
    mllp_client,
)

MESSAGES = 600
KILL_AFTER_ACKS = 150
CARETRAIL = Path(sys.executable).with_name("caretrail")
LISTENING = re.compile(r"listening for MLLP on [0-9.]+:(\d+)")


@contextmanager
def mllp_process(database_url: str, log: IO[bytes]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    key = SITE_KEY.identity_key
    assert key is not None
    env = {
        **os.environ,
        "CARETRAIL_DATABASE_URL": database_url,
        "CARETRAIL_IDENTITY_KEY": key.get_secret_value(),
        "CARETRAIL_TIMEZONE": "UTC",
    }
    process = subprocess.Popen(
        [str(CARETRAIL), "mllp", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = LISTENING.search(banner)
        assert match, f"the server did not start: {banner!r}"
        yield process, int(match.group(1))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def stream_until_killed(
    port: int, feed: Sequence[SyntheticMessage], process: subprocess.Popen[str]
) -> list[AckSummary]:
    """Send everything pipelined; kill the server once enough ACKs came back mid-stream."""
    with mllp_client(port, timeout=30) as client:
        sender = threading.Thread(target=_send_all, args=(client, feed), daemon=True)
        sender.start()
        acks = client.acks(KILL_AFTER_ACKS)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        acks += client.acks(len(feed))  # whatever was already on its way before the kill
        sender.join(30)
    return acks


def _send_all(client: MllpClient, feed: Sequence[SyntheticMessage]) -> None:
    try:
        for start in range(0, len(feed), 20):
            client.send([message.raw for message in feed[start : start + 20]])
    except OSError:
        pass  # the server was killed under us: the resends come after the restart


def test_a_killed_server_loses_nothing_acknowledged_and_doubles_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    feed = list(SyntheticFeed(seed=5, patients=80).messages(MESSAGES))
    with (tmp_path / "server.log").open("wb") as log:
        with mllp_process(postgres_url, log) as (process, port):
            before_kill = stream_until_killed(port, feed, process)
        acked = {ack.control_id for ack in before_kill if ack.code == "AA"}
        assert KILL_AFTER_ACKS <= len(acked) < MESSAGES, "the kill came mid-stream"

        unacked = [message for message in feed if message.control_id not in acked]
        with mllp_process(postgres_url, log) as (_, port), mllp_client(port, 60) as client:
            resent = client.exchange([message.raw for message in unacked])

    assert [ack.code for ack in resent] == ["AA"] * len(unacked)
    assert [ack.control_id for ack in before_kill] == [m.control_id for m in feed][
        : len(before_kill)
    ]
    app = bootstrap(Settings(database_url=postgres_url))
    try:
        made = events_by_source(app)
    finally:
        app.close()
    for message in feed:
        source = f"EPIC|UMCMAIN|{message.control_id}"
        assert made.get(source) == expected_events(message), (message.control_id, message.trigger)
    assert len(made) == MESSAGES, "no events from anywhere else"
