"""Embedded mode: projections follow the event store's notification log directly, no broker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from projections.store import EVENT_STORE_FEED, FeedPosition, Projection, ProjectionStore
from services.application import CareTrail

Progress = Callable[[str, int], None]


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

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply everything not yet applied; returns how many events were new to projections."""
        return sum(self._catch_up(projection, progress) for projection in self.projections)

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Keep the projections current until `stop` is set."""
        while not stop.is_set():
            if not self.catch_up():
                stop.wait(poll_seconds)

    def _catch_up(self, projection: Projection, progress: Progress | None) -> int:
        start = (self.store.position(projection.name) or 0) + 1
        applied = 0
        for section in self.app.event_log_sections(start, self.section_size):
            batch = [(e.event, FeedPosition(EVENT_STORE_FEED, e.position)) for e in section]
            applied += self.store.apply(projection, batch)
            if progress is not None:
                progress(projection.name, len(section))
        return applied
