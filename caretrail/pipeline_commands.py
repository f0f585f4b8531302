"""`caretrail relay`, `caretrail consume` and `caretrail run`: the processes that carry events from
the event store to the read models.

Each runs until SIGTERM or SIGINT, finishes the batch in hand and exits 0; it exits 1 when one of
its loops failed, for its supervisor to start it again. With CARETRAIL_HEARTBEAT_FILE set, the file
is touched every second while every loop in the process keeps turning, for container healthchecks.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType

import click

from caretrail.context import CliContext
from consumers.embedded import EventStoreFeed
from consumers.kafka_feed import KafkaFeed
from projections.store import Projection, ProjectionStore
from services.read_models import read_models
from services.relay import Beat, Relay
from services.settings import Settings

log = logging.getLogger(__name__)

Worker = Callable[[threading.Event, Beat], None]
SUPERVISION_SECONDS = 1.0
# A loop that has not turned for this long is stuck, and the heartbeat file goes stale. Longer
# than a publish may wait for the broker (CARETRAIL_KAFKA_DELIVERY_TIMEOUT_MS, 30 s by default).
STUCK_AFTER_SECONDS = 120.0
EMBEDDED_POLL_SECONDS = 0.5


@click.command()
@click.option(
    "--replay-from",
    type=click.IntRange(min=1),
    metavar="POSITION",
    help="Publish again from this event-store position; 1 after the events topic was lost.",
)
@click.pass_obj
def relay(context: CliContext, replay_from: int | None) -> None:
    """Publish every stored event to Kafka. One relay per store is active; others wait."""
    settings = _with_broker(context.settings)
    publishing = partial(Relay.open(context.app, settings).run, replay_from=replay_from)
    run_workers({"relay": publishing}, settings.heartbeat_file)


@click.command()
@click.option(
    "--projection",
    "names",
    multiple=True,
    metavar="NAME",
    help="Feed only this projection (repeat for more); default: every projection.",
)
@click.pass_obj
def consume(context: CliContext, names: tuple[str, ...]) -> None:
    """Feed projections from the events topic, each as a consumer group of its own."""
    settings = _with_broker(context.settings)
    chosen = _chosen(read_models(), names)
    store = _projection_store(settings)
    try:
        run_workers(_kafka_feeds(settings, store, chosen), settings.heartbeat_file)
    finally:
        store.close()


@click.command()
@click.pass_obj
def run(context: CliContext) -> None:
    """Relay and every projection in one process, for small sites.

    Without CARETRAIL_KAFKA_BOOTSTRAP the projections follow the event store directly.
    """
    settings = context.settings
    store = _projection_store(settings)
    projections = read_models()
    workers: dict[str, Worker]
    if settings.kafka_bootstrap is None:
        feed = EventStoreFeed(context.app, store, projections)
        workers = {"projections (embedded)": partial(_follow_event_store, feed)}
    else:
        workers = {"relay": Relay.open(context.app, settings).run}
        workers |= _kafka_feeds(settings, store, projections)
    try:
        run_workers(workers, settings.heartbeat_file)
    finally:
        store.close()


def run_workers(workers: dict[str, Worker], heartbeat_file: Path | None) -> None:
    """Run each worker in a thread until a signal, or until any of them ends; then stop all."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signal_number: int, _: FrameType | None) -> None:
        log.info("%s: stopping after the batch in hand", signal.Signals(signal_number).name)
        stop.set()

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, request_stop)
    last_turn = dict.fromkeys(workers, time.monotonic())
    failures: dict[str, Exception] = {}
    threads = [
        threading.Thread(
            target=_supervised, args=(name, worker, stop, last_turn, failures), name=name
        )
        for name, worker in workers.items()
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(SUPERVISION_SECONDS):
        if heartbeat_file is not None and _all_turning(last_turn):
            heartbeat_file.touch()
    for thread in threads:
        thread.join()
    if failures:
        raise click.ClickException(
            "; ".join(f"{name} failed: {error}" for name, error in failures.items())
        )


def _supervised(
    name: str,
    worker: Worker,
    stop: threading.Event,
    last_turn: dict[str, float],
    failures: dict[str, Exception],
) -> None:
    def beat() -> None:
        last_turn[name] = time.monotonic()

    try:
        worker(stop, beat)
    except Exception as error:
        log.exception("%s failed", name)
        failures[name] = error
    finally:
        stop.set()  # the process serves all its parts or none, so its supervisor restarts it


def _all_turning(last_turn: dict[str, float]) -> bool:
    now = time.monotonic()
    return all(now - turned < STUCK_AFTER_SECONDS for turned in last_turn.values())


def _follow_event_store(feed: EventStoreFeed, stop: threading.Event, beat: Beat) -> None:
    while not stop.is_set():
        beat()
        if not feed.catch_up():
            stop.wait(EMBEDDED_POLL_SECONDS)


def _kafka_feeds(
    settings: Settings, store: ProjectionStore, projections: list[Projection]
) -> dict[str, Worker]:
    return {
        f"consumer {projection.name}": KafkaFeed(settings, store, projection).run
        for projection in projections
    }


def _chosen(projections: list[Projection], names: tuple[str, ...]) -> list[Projection]:
    known = {projection.name: projection for projection in projections}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise click.BadParameter(
            f"no projection {', '.join(unknown)}; there are {', '.join(known)}",
            param_hint="--projection",
        )
    return [known[name] for name in names] if names else projections


def _projection_store(settings: Settings) -> ProjectionStore:
    store = ProjectionStore.open(settings.database_url)
    store.create_tables()
    return store


def _with_broker(settings: Settings) -> Settings:
    if settings.kafka_bootstrap is None:
        raise click.ClickException(
            "no broker configured: set CARETRAIL_KAFKA_BOOTSTRAP (or use `caretrail run`, "
            "which runs the projections without one)"
        )
    return settings
