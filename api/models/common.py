"""Field types and envelopes every API model shares."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from domain.users import USERNAME_PATTERN

# NUL cannot be stored in PostgreSQL text columns that read models use downstream.
_NO_NUL = r"^[^\x00]*$"
_NO_NUL_NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"


def _encodable(text: str) -> str:
    # JSON lets a client send a lone surrogate, which no event store can encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return text


def _iso_text(value: object) -> object:
    # Pydantic would read a JSON number as a Unix timestamp; the schema promises ISO 8601 text.
    if not isinstance(value, str | date):
        raise ValueError("expected an ISO 8601 date or time")
    return value


def _in_utc_range(moment: datetime) -> datetime:
    # An offset can push year 1 or 9999 out of range once compared with stored UTC times.
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    return moment


Text = Annotated[str, Field(max_length=4000, pattern=_NO_NUL), AfterValidator(_encodable)]
Statement = Annotated[
    str,
    Field(min_length=1, max_length=4000, pattern=_NO_NUL_NOT_BLANK),
    AfterValidator(_encodable),
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=_NO_NUL_NOT_BLANK),
    AfterValidator(_encodable),
]
Reference = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="An id chosen by the caller")
]
Username = Annotated[str, Field(pattern=USERNAME_PATTERN, examples=["cm.rivera"])]
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc_range)]
Day = Annotated[date, BeforeValidator(_iso_text)]


class Command(BaseModel):
    """A request that changes something; unknown fields are refused, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="How many there are in all")
    limit: int
    offset: int


class CaseVersion(BaseModel):
    """Where a case stands after a change; also sent as the ETag for the next If-Match."""

    case_id: UUID
    version: int


PageLimit = Annotated[int, Query(ge=1, le=200, description="At most this many items")]
PageOffset = Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many items")]


def paginate(items: Sequence[T], limit: int, offset: int) -> Page[T]:
    return Page(
        items=list(items[offset : offset + limit]), total=len(items), limit=limit, offset=offset
    )
