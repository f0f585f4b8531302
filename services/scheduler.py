"""`caretrail scheduler`: turns due and overdue deadlines into alert events.

Each tick first runs the followers (in embedded mode: catch the projections up with the event
store, seal the audit chain), then asks the deadline projection what the rules require at the
clock's `now` and carries it out through the alert service. Immediate rules (discharge AMA, home
without follow-up, admission with an open case, readmission, high utilizer) fall due at the
clinical time of their transition, so they are raised on the first tick after the event arrives.

Running a tick twice at the same clock records nothing new: after the first, the alert events
have reached the projection and the rules and alerts agree. Even when the projection lags (a
Kafka consumer behind), every step is idempotent on the alert itself.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from domain.alert import AlertWork
from services.alerting import AlertService
from services.application import Clock
from services.errors import VersionConflict

log = logging.getLogger(__name__)


class AlertWorkSource(Protocol):
    """Where the rules' wishes come from (the deadline projection)."""

    def alert_work(self, now: datetime) -> list[AlertWork]: ...


class Scheduler:
    def __init__(
        self,
        alerting: AlertService,
        work: AlertWorkSource,
        clock: Clock,
        followers: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.alerting = alerting
        self.work = work
        self.clock = clock
        self.followers = followers

    def tick(self) -> Counter[str]:
        """One pass; returns how many steps of each kind were carried out."""
        for follow in self.followers:
            follow()
        done: Counter[str] = Counter()
        for work in self.work.alert_work(self.clock()):
            try:
                self.alerting.carry_out(work)
            except VersionConflict as conflict:
                # Someone changed the alert meanwhile; the next tick sees the new state.
                log.warning("alert %s left for the next tick: %s", work.alert_id, conflict)
                continue
            done[work.step.value] += 1
        return done

    def run(self, stop: threading.Event, interval_seconds: float) -> None:
        while not stop.is_set():
            self.tick()
            stop.wait(interval_seconds)
