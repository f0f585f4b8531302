"""The one thread that applies a server's ADT messages, in batches across all its connections.

A commit costs the same for one message as for fifty, so messages that queue up while a batch is
being applied (pipelined by one sender, or sent by many at once) go into the next batch together.
An idle feed still gets each message applied at once: there is no waiting to fill a batch.
Callers (the MLLP server's event loop, HTTP handlers) get a Future and never block on the store.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from ingest.archive import Arrival
from ingest.receiver import AdtReceiver, Reply

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 200


@dataclass
class _Job:
    arrival: Arrival
    reply: Future[Reply] = field(default_factory=Future)


class IngestionWorker:
    def __init__(self, receiver: AdtReceiver, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.receiver = receiver
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="adt-ingestion", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Apply what is queued, then end the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def submit(self, arrival: Arrival) -> Future[Reply]:
        job = _Job(arrival)
        self._jobs.put(job)
        return job.reply

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._apply(batch)

    def _next_batch(self) -> list[_Job] | None:
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _apply(self, batch: list[_Job]) -> None:
        try:
            replies = self.receiver.receive([job.arrival for job in batch])
        except Exception as error:  # the store failed: no message of the batch may be ACKed
            log.error("a batch of %d ADT messages could not be stored: %s", len(batch), error)
            for job in batch:
                job.reply.set_exception(error)
            return
        for job, reply in zip(batch, replies, strict=True):
            job.reply.set_result(reply)
