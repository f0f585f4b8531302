"""`POST /adt`: one HL7 v2 ADT message in the body, its ACK in the answer, for feeds that speak
HTTP instead of MLLP. Same path as MLLP: archived, applied in a batch by the ingestion worker, and
answered only once stored. The HTTP status follows MSA-1; the ACK body says why.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.deps import AdtFeed, Services
from ingest.archive import Arrival
from ingest.hl7v2 import AckCode
from ingest.mllp import DEFAULT_MAX_FRAME_BYTES
from ingest.receiver import AdtReceiver, Reply, receiver_for
from ingest.worker import IngestionWorker
from services.ingestion import IdentityKeyMissing, IngestionService, Outcome
from services.settings import Settings

router = APIRouter(tags=["adt"])

HL7_MEDIA_TYPE = "application/hl7-v2"
_ACK_STATUS = {AckCode.AA: 200, AckCode.AR: 400, AckCode.AE: 422}
_worker_lock = threading.Lock()


def adt_worker(request: Request, services: Services) -> IngestionWorker:
    """The application's one ingestion worker, started on the first message it receives."""
    state = request.app.state
    with _worker_lock:
        receiver = _receiver(state, services)
        worker: IngestionWorker | None = getattr(state, "adt_worker", None)
        if worker is None or worker.receiver is not receiver:
            worker = IngestionWorker(receiver)
            worker.start()
            state.adt_worker = worker
    return worker


def ingestion(request: Request, services: Services) -> IngestionService:
    """The ingestion service the worker uses: registrations claim identifiers under its keys."""
    with _worker_lock:
        return _receiver(request.app.state, services).service


def _receiver(state: Any, services: Services) -> AdtReceiver:
    receiver: AdtReceiver | None = getattr(state, "adt_receiver", None)
    if receiver is None or receiver.service.app is not services.caretrail:
        try:
            receiver = receiver_for(services.caretrail, ZoneInfo(Settings().timezone))
        except IdentityKeyMissing as missing:
            raise HTTPException(503, f"ADT ingestion is not configured: {missing}") from None
        state.adt_receiver = receiver
    return receiver


def _hl7(description: str) -> dict[str, Any]:
    return {"description": description, "content": {HL7_MEDIA_TYPE: {}}}


@router.post(
    "/adt",
    summary="Receive one HL7 v2 ADT message; the answer is its ACK",
    response_class=Response,
    responses={
        200: _hl7("AA: stored (or a resend of a message already stored)"),
        400: _hl7("AR: not readable, or a message type or trigger caretrail does not take"),
        409: _hl7("AE: the control id was already used by a different message"),
        413: {"description": f"Larger than {DEFAULT_MAX_FRAME_BYTES} bytes"},
        422: _hl7("AE: readable but not applied; the ACK's ERR says why (quarantined)"),
        503: {"description": "The store is unavailable; nothing was stored, resend later"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {HL7_MEDIA_TYPE: {"schema": {}}}}},
)
async def receive_adt(
    request: Request,
    principal: AdtFeed,
    worker: Annotated[IngestionWorker, Depends(adt_worker)],
) -> Response:
    body = await request.body()
    if len(body) > DEFAULT_MAX_FRAME_BYTES:
        raise HTTPException(413, f"an ADT message is at most {DEFAULT_MAX_FRAME_BYTES} bytes")
    client = request.client
    peer = f"{principal.username}@{client.host}:{client.port}" if client else principal.username
    arrival = Arrival(body, "http", peer, datetime.now(UTC))
    try:
        reply = await asyncio.wrap_future(worker.submit(arrival))
    except Exception as error:
        raise HTTPException(
            503, "the store is unavailable; nothing was stored", headers={"Retry-After": "5"}
        ) from error
    return Response(reply.ack_bytes, status_code=_status(reply), media_type=HL7_MEDIA_TYPE)


def _status(reply: Reply) -> int:
    if reply.outcome == Outcome.KEY_REUSED:
        return 409
    return _ACK_STATUS[reply.code]
