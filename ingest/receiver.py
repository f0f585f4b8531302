"""The one path every ADT message takes, whatever brought it (MLLP, HTTP, Kafka, a file):
archive it as received, parse, map, apply, record the verdict, answer.

Durability order: the archive rows are committed first, then the events with their receipts (one
event-store transaction per batch), then the verdicts; only then does the caller get the ACKs.
If the store fails, `receive` raises and no message of the batch may be acknowledged: the feed
resends, and receipts make the resend harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from ingest.ack import build_ack
from ingest.archive import Arrival, MessageArchive, Verdict
from ingest.hl7v2 import AckCode, ErrorCondition, ParsedMessage, Rejection, parse_message
from ingest.mapping import rejection, to_adt_message
from services.application import CareTrail, Clock, utc_now
from services.bootstrap import bootstrap
from services.ingestion import (
    AdtMessage,
    Answer,
    IdentityKeys,
    IngestionService,
    IngestSettings,
    Outcome,
    identity_key,
)
from services.settings import Settings

log = logging.getLogger(__name__)

REJECTED = "rejected"  # the outcome of a message turned away before it reached the record


@dataclass(frozen=True)
class Reply:
    archive_id: int
    code: AckCode
    outcome: str
    reason: str | None
    ack: str  # the HL7 ACK message, CR-terminated segments

    @property
    def ack_bytes(self) -> bytes:
        return self.ack.encode()


@dataclass(frozen=True)
class _Reading:
    parsed: ParsedMessage | Rejection
    mapped: AdtMessage | Rejection


class AdtReceiver:
    def __init__(
        self,
        service: IngestionService,
        archive: MessageArchive,
        default_tz: tzinfo,
        clock: Clock = utc_now,
    ) -> None:
        self.service = service
        self.archive = archive
        self.default_tz = default_tz  # the senders' zone, for timestamps without an offset
        self.clock = clock

    def receive(self, arrivals: Sequence[Arrival]) -> list[Reply]:
        """Archive, apply and answer a batch; replies in the order of `arrivals`."""
        archive_ids = self.archive.record_arrivals(arrivals)
        return self._answer(arrivals, archive_ids)

    def retry(self, archive_ids: Sequence[int]) -> list[Reply]:
        """Apply archived messages again (after a fix); each keeps its archive row."""
        messages = [self.archive.message(archive_id) for archive_id in archive_ids]
        found = [message for message in messages if message is not None]
        return self._answer([m.arrival for m in found], [m.id for m in found])

    def close(self) -> None:
        self.service.close()
        self.archive.close()

    def _answer(self, arrivals: Sequence[Arrival], archive_ids: Sequence[int]) -> list[Reply]:
        readings = [self._read(arrival) for arrival in arrivals]
        applicable = [r.mapped for r in readings if isinstance(r.mapped, AdtMessage)]
        answers = iter(self.service.apply(applicable))
        now = self.clock()
        replies: list[Reply] = []
        verdicts: list[Verdict] = []
        for archive_id, reading in zip(archive_ids, readings, strict=True):
            answer = next(answers) if isinstance(reading.mapped, AdtMessage) else None
            reply = _reply(archive_id, reading, answer, now)
            replies.append(reply)
            verdicts.append(_verdict(reply, reading, now))
        self.archive.record_verdicts(verdicts, wait_for_disk=_verdicts_need_the_disk(replies))
        return replies

    def _read(self, arrival: Arrival) -> _Reading:
        # Parsed even when its framing is broken, so the quarantine names its sender and control
        # id: what the sender needs to be asked to resend.
        parsed = parse_message(arrival.raw, default_tz=self.default_tz)
        if arrival.framing_fault is not None:
            return _Reading(parsed, _framing_rejection(parsed, arrival.framing_fault))
        if isinstance(parsed, Rejection):
            return _Reading(parsed, parsed)
        try:
            return _Reading(parsed, to_adt_message(parsed))
        except Exception as error:  # a mapping bug must still produce an answer for the sender
            log.exception("ADT message %s could not be mapped", "|".join(parsed.dedup_key))
            return _Reading(
                parsed,
                rejection(
                    parsed,
                    f"internal error while mapping: {type(error).__name__}; kept for retry",
                    AckCode.AE,
                    ErrorCondition.APPLICATION_INTERNAL_ERROR,
                ),
            )


def _framing_rejection(parsed: ParsedMessage | Rejection, fault: str) -> Rejection:
    code, condition = AckCode.AR, ErrorCondition.SEGMENT_SEQUENCE_ERROR
    if isinstance(parsed, Rejection):
        return replace(parsed, reason=fault, code=code, condition=condition)
    return rejection(parsed, fault, code, condition)


def _verdicts_need_the_disk(replies: Sequence[Reply]) -> bool:
    """Verdicts can be rebuilt from receipts only when every message of the batch was accepted
    and the batch committed receipts (whose commit flushed the arrival rows too)."""
    all_accepted = all(reply.code is AckCode.AA for reply in replies)
    committed = any(reply.outcome in _COMMITTED for reply in replies)
    return not (all_accepted and committed)


_COMMITTED = frozenset({Outcome.APPLIED, Outcome.ALREADY_RECORDED, Outcome.ARRIVED_LATE})


def _reply(archive_id: int, reading: _Reading, answer: Answer | None, now: datetime) -> Reply:
    ack_id = f"CT{archive_id}"
    if answer is None:
        refused = reading.mapped
        assert isinstance(refused, Rejection)
        ack = build_ack(refused, refused.code, refused.reason, now=now, control_id=ack_id)
        return Reply(archive_id, refused.code, REJECTED, refused.reason, ack)
    code = AckCode.AA if answer.accepted else AckCode.AE
    ack = build_ack(reading.parsed, code, answer.note, now=now, control_id=ack_id)
    return Reply(archive_id, code, answer.outcome.value, answer.note, ack)


def _verdict(reply: Reply, reading: _Reading, now: datetime) -> Verdict:
    received = reading.parsed
    key = (received.sending_application, received.sending_facility, received.control_id)
    return Verdict(
        archive_id=reply.archive_id,
        dedup_key=key,
        trigger=received.trigger or None,
        outcome=reply.outcome,
        ack_code=reply.code.value,
        reason=reply.reason,
        quarantined=reply.code is not AckCode.AA,
        answered_at=now,
    )


def open_receiver(settings: Settings | None = None, clock: Clock = utc_now) -> AdtReceiver:
    """The ingestion path on the configured store."""
    settings = settings or Settings()
    return receiver_for(bootstrap(settings, clock), ZoneInfo(settings.timezone))


def receiver_for(
    app: CareTrail, senders_zone: tzinfo, ingest_settings: IngestSettings | None = None
) -> AdtReceiver:
    """The ingestion path on `app`'s store, its archive beside the events."""
    configured = (ingest_settings or IngestSettings()).identity_key
    keys = IdentityKeys(identity_key(app, configured))
    return AdtReceiver(
        IngestionService(app, keys), MessageArchive.open(app.env), senders_zone, app.clock
    )
