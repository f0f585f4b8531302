"""Embedded mode's moving parts in one loop: the read models follow the event store, the
scheduler turns due deadlines into alert events, the audit chain is sealed.

`caretrail serve` runs it beside the API on a small site (no broker), so a discharge posted to
`/adt` reaches the case manager's worklist with no other process running. With a broker, the
relay, consumers and `caretrail scheduler` run as processes of their own instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from consumers.embedded import EventStoreFeed
from projections.deadlines import AlertWorkQuery, Deadlines
from projections.store import ProjectionStore
from services.alerting import SUPERVISOR, AlertService
from services.application import CareTrail
from services.audit_chain import AuditChain
from services.read_models import read_models
from services.scheduler import Scheduler

log = logging.getLogger(__name__)

# How often the read models look for new events between scheduler ticks.
FOLLOW_SECONDS = 0.5


def scheduler_for(
    app: CareTrail,
    store: ProjectionStore,
    *,
    embedded: bool,
    supervisor: str = SUPERVISOR,
    chain: AuditChain | None = None,
) -> Scheduler:
    """The scheduler over a projection store: `embedded` feeds its deadline projection from the
    event store before each tick; `chain` is sealed every tick."""
    followers: list[Callable[[], object]] = []
    if embedded:
        deadlines = [p for p in read_models() if isinstance(p, Deadlines)]
        followers.append(EventStoreFeed(app, store, deadlines, section_size=5000).catch_up)
    if chain is not None:
        followers.append(chain.seal)
    return Scheduler(AlertService(app, supervisor), AlertWorkQuery(store), app.clock, followers)


class EmbeddedPipeline:
    """Every read model and the scheduler, on one store, turned by one thread."""

    def __init__(
        self,
        app: CareTrail,
        store: ProjectionStore,
        chain: AuditChain,
        tick_seconds: float,
        supervisor: str,
    ) -> None:
        self.feed = EventStoreFeed(app, store, read_models(), section_size=5000)
        self.scheduler = scheduler_for(
            app, store, embedded=False, supervisor=supervisor, chain=chain
        )
        self.tick_seconds = tick_seconds

    def turn(self) -> None:
        """Read models current, one scheduler tick, and its alert events into the read models."""
        self.feed.catch_up()
        if sum(self.scheduler.tick().values()):
            self.feed.catch_up()

    def run(self, stop: threading.Event) -> None:
        """Turn until `stop`; the read models follow every FOLLOW_SECONDS, the scheduler ticks
        every `tick_seconds`. A failed turn is logged and retried: the dashboard keeps serving
        what the read models hold."""
        next_tick = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_tick:
                    self.turn()
                    next_tick = time.monotonic() + self.tick_seconds
                else:
                    self.feed.catch_up()
            except Exception:
                log.exception("embedded pipeline turn failed; retrying")
            stop.wait(FOLLOW_SECONDS)

    def start(self) -> Callable[[], None]:
        """Run in a daemon thread; returns the function that stops it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="embedded pipeline")
        thread.daemon = True
        thread.start()

        def stop_pipeline() -> None:
            stop.set()
            thread.join(timeout=30)

        return stop_pipeline
