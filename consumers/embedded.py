"""Embedded mode: projections follow the event store's notification log directly, no broker."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from projections.store import (
    EVENT_STORE_FEED,
    Delivered,
    FeedPosition,
    Projection,
    ProjectionStore,
)
from services.application import CareTrail, LoggedEvent


class EventStoreFeed:
    """Feeds each projection from where it stopped in the notification log."""

    def __init__(
        self,
        app: CareTrail,
        store: ProjectionStore,
        projections: Sequence[Projection],
        section_size: int = 1000,
    ) -> None:
        self.app = app
        self.store = store
        self.projections = projections
        self.section_size = section_size

    def catch_up(self) -> int:
        """Apply everything not yet applied; returns how many events were new to projections.

        The log is read and decoded once, from the projection furthest behind; each projection
        is given the part of every section past its own position."""
        reached = {p.name: self.store.position(p.name) or 0 for p in self.projections}
        start = min(reached.values(), default=0) + 1
        applied = 0
        for section in self.app.event_log_sections(start, self.section_size):
            batch = log_batch(section)
            for projection in self.projections:
                behind = reached[projection.name]
                fresh = [(event, at) for event, at in batch if at.position > behind]
                applied += self.store.apply(projection, fresh)
        return applied

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Keep the projections current until `stop` is set."""
        while not stop.is_set():
            if not self.catch_up():
                stop.wait(poll_seconds)


def log_batch(section: Sequence[LoggedEvent]) -> list[Delivered]:
    """Logged events as a batch for the projection store, positioned in the event store feed."""
    return [
        (logged.event, FeedPosition(EVENT_STORE_FEED, logged.position, logged.position))
        for logged in section
    ]
