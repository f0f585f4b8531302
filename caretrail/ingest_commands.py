"""`caretrail mllp`, `caretrail ingest`, `caretrail adt-inbound` and `caretrail quarantine`: ADT
messages in, and the messages that could not be applied."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from tqdm import tqdm

from caretrail.context import CliContext
from ingest.archive import ArchivedMessage, Arrival, MessageArchive
from ingest.files import FilePart, NoHl7Message, split_messages
from ingest.hl7v2 import AckCode
from ingest.inbound_kafka import INBOUND_TOPIC, InboundAdtFeed
from ingest.mllp import DEFAULT_MAX_FRAME_BYTES
from ingest.mllp_server import MllpLimits, MllpServer
from ingest.receiver import AdtReceiver, open_receiver
from ingest.worker import DEFAULT_MAX_BATCH, IngestionWorker

_REASON_WIDTH = 70


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=2575, show_default=True)
@click.option(
    "--max-frame-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_FRAME_BYTES,
    show_default=True, help="Larger frames close their connection.",
)  # fmt: skip
@click.option(
    "--idle-timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True,
    help="Seconds a connection may stay silent with no ACK owed before it is closed.",
)  # fmt: skip
@click.option("--max-connections", type=click.IntRange(min=1), default=256, show_default=True)
@click.option(
    "--max-batch", type=click.IntRange(min=1), default=DEFAULT_MAX_BATCH, show_default=True,
    help="Most messages applied in one event-store transaction.",
)  # fmt: skip
@click.pass_obj
def mllp(
    context: CliContext,
    host: str,
    port: int,
    max_frame_bytes: int,
    idle_timeout: float,
    max_connections: int,
    max_batch: int,
) -> None:
    """Receive HL7 v2 ADT over MLLP; each message is ACKed once it is stored. Runs until
    SIGTERM or SIGINT."""
    _log_to_stderr()
    limits = MllpLimits(max_frame_bytes, idle_timeout, max_connections)
    receiver = open_receiver(context.settings)
    try:
        asyncio.run(_listen(receiver, host, port, limits, max_batch))
    finally:
        receiver.close()


async def _listen(
    receiver: AdtReceiver, host: str, port: int, limits: MllpLimits, max_batch: int
) -> None:
    worker = IngestionWorker(receiver, max_batch)
    worker.start()
    server = MllpServer(worker, limits)
    await server.start(host, port)
    listening_host, listening_port = server.address
    click.echo(f"caretrail: listening for MLLP on {listening_host}:{listening_port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()
    worker.stop()


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.pass_obj
def ingest(context: CliContext, files: tuple[Path, ...], batch_size: int) -> None:
    """Feed files of HL7 ADT messages (one or many per file, MLLP-framed or not), as a backfill.
    A frame cut short, or text outside the frames of a framed file, is quarantined as a message.

    Prints a count by outcome; exits 1 when any message was quarantined, 2 (storing nothing) when
    a file holds no HL7 message at all."""
    messages = [(path, part) for path in files for part in _parts(path)]
    receiver = open_receiver(context.settings)
    outcomes: Counter[str] = Counter()
    quarantined = 0
    try:
        with tqdm(total=len(messages), unit="msg", desc="ingest") as progress:
            for start in range(0, len(messages), batch_size):
                chunk = messages[start : start + batch_size]
                now = datetime.now(UTC)
                replies = receiver.receive([_arrival(path, part, now) for path, part in chunk])
                outcomes.update(reply.outcome for reply in replies)
                quarantined += sum(reply.code is not AckCode.AA for reply in replies)
                progress.update(len(chunk))
    finally:
        receiver.close()
    summary = ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items()))
    click.echo(f"{len(messages)} messages: {summary or 'none'}")
    if quarantined:
        click.echo(f"{quarantined} quarantined; see: caretrail quarantine list", err=True)
        raise SystemExit(1)


def _parts(path: Path) -> list[FilePart]:
    try:
        return split_messages(path.read_bytes())
    except NoHl7Message as error:
        raise click.UsageError(f"{path} holds no HL7 message: {error}") from None


def _arrival(path: Path, part: FilePart, now: datetime) -> Arrival:
    return Arrival(part.raw, "file", str(path), now, part.framing_fault)


@click.command("adt-inbound")
@click.option("--topic", default=INBOUND_TOPIC, show_default=True)
@click.pass_obj
def adt_inbound(context: CliContext, topic: str) -> None:
    """Receive raw HL7 ADT messages from a Kafka topic; offsets move only once stored.
    Runs until SIGTERM or SIGINT."""
    _log_to_stderr()
    if not context.settings.kafka_bootstrap:
        raise click.UsageError("set CARETRAIL_KAFKA_BOOTSTRAP to the Kafka bootstrap servers")
    receiver = open_receiver(context.settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        InboundAdtFeed(context.settings, receiver, topic).run(stop)
    finally:
        receiver.close()


@click.group()
def quarantine() -> None:
    """ADT messages that were not applied: list them, show one, apply them again after a fix."""


@quarantine.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.pass_obj
def list_quarantine(context: CliContext, limit: int) -> None:
    """Quarantined messages, oldest first: id, received, channel, sender, control id, reason."""
    archive = _archive(context)
    try:
        held = archive.quarantined(limit)
    finally:
        archive.close()
    for message in held:
        click.echo(_summary_line(message))
    if not held:
        click.echo("the quarantine is empty")


@quarantine.command("show")
@click.argument("archive_id", type=int)
@click.pass_obj
def show_quarantined(context: CliContext, archive_id: int) -> None:
    """One archived message: where it came from, what became of it, and its text."""
    archive = _archive(context)
    try:
        message = archive.message(archive_id)
    finally:
        archive.close()
    if message is None:
        raise click.ClickException(f"no archived message {archive_id}")
    for line in _details(message):
        click.echo(line)


@quarantine.command("retry")
@click.argument("archive_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Every quarantined message.")
@click.pass_obj
def retry_quarantined(context: CliContext, archive_ids: tuple[int, ...], retry_all: bool) -> None:
    """Apply quarantined messages again, oldest first; exits 1 when any is still refused."""
    receiver = open_receiver(context.settings)
    try:
        ids = _retry_ids(receiver.archive, archive_ids, retry_all)
        replies = receiver.retry(ids)
    finally:
        receiver.close()
    for reply in replies:
        click.echo(f"{reply.archive_id:>8}  {reply.code}  {reply.outcome}  {reply.reason or ''}")
    if any(reply.code is not AckCode.AA for reply in replies):
        raise SystemExit(1)


def _archive(context: CliContext) -> MessageArchive:
    # The archive lives in the event store's database; opening it through the application has a
    # file that is not a store refused as such, not failing on the archive's first query.
    return MessageArchive.open(context.app.env)


def _retry_ids(archive: MessageArchive, given: Sequence[int], retry_all: bool) -> list[int]:
    if retry_all == bool(given):
        raise click.UsageError("name archive ids, or give --all")
    if retry_all:
        return [message.id for message in archive.quarantined()]
    missing = [archive_id for archive_id in given if archive.message(archive_id) is None]
    if missing:
        raise click.ClickException(f"no archived message {', '.join(map(str, missing))}")
    return sorted(given)


def _summary_line(message: ArchivedMessage) -> str:
    sender = f"{message.sending_application or '?'}@{message.sending_facility or '?'}"
    reason = (message.reason or "").replace("\n", " ")
    if len(reason) > _REASON_WIDTH:
        reason = reason[: _REASON_WIDTH - 1] + "…"
    return (
        f"{message.id:>8}  {message.received_at:%Y-%m-%d %H:%M:%S}  {message.channel:<5}  "
        f"{sender}  {message.control_id or '-'}  {message.trigger or '-'}  "
        f"{message.ack_code or '-'}  {reason}"
    )


def _details(message: ArchivedMessage) -> Iterator[str]:
    yield f"archive id   {message.id}"
    yield f"received     {message.received_at.isoformat()} over {message.channel}"
    yield f"from         {message.peer}"
    yield f"sender       {message.sending_application or '?'} at {message.sending_facility or '?'}"
    yield f"control id   {message.control_id or '-'}   trigger {message.trigger or '-'}"
    yield f"outcome      {message.outcome} ({message.ack_code or 'not answered'})"
    yield f"attempts     {message.attempts}"
    yield f"quarantined  {'yes' if message.quarantined else 'no'}"
    yield f"reason       {message.reason or '-'}"
    yield "message:"
    text = message.raw.decode("utf-8", errors="replace")
    yield from (
        f"  {segment}"
        for segment in text.replace("\r\n", "\r").replace("\n", "\r").split("\r")
        if segment
    )


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
