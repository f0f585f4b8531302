"""Settings from the environment (prefix CARETRAIL_), with safe defaults for a first run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.errors import MalformedInput
from services.persistence import check_database_url

DEFAULT_DATABASE_URL = "sqlite:///.caretrail/caretrail.db"
ENV_PREFIX = "CARETRAIL_"


class SettingsError(MalformedInput):
    """A setting cannot be used; the message names it as it is set (CARETRAIL_...) and says why."""


def _known_zone(name: str) -> str:
    """`name`, once it is known to be a time zone this machine has."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"no time zone named '{name}'; use an IANA name such as America/New_York"
        ) from None
    return name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: Annotated[str, AfterValidator(check_database_url)] = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path (embedded default), postgresql://user@host:port/db"
        "[?schema=name], or memory:// (nothing kept; for tests and trials)",
    )
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers; unset means embedded mode with no broker",
    )
    timezone: Annotated[str, AfterValidator(_known_zone)] = Field(
        default="America/New_York",
        description="The organization's time zone: local days for deadlines, times shown",
    )
    events_topic: str = Field(
        default="caretrail.events",
        description="Kafka topic the relay publishes every stored event to",
    )
    events_topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of the topics caretrail creates; a patient's events share one",
    )
    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replicas of the topics caretrail creates (3 on a production cluster)",
    )
    dead_letter_suffix: str = Field(
        default=".dlq",
        description="Dead-letter topic of a projection consumer: the events topic plus this",
    )
    kafka_group_prefix: str = Field(
        default="caretrail",
        description="Consumer group of a projection: this prefix, a dot, the projection name",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="Consumer group session timeout: how soon a dead consumer's share moves",
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=3_000,
        ge=1,
        description="Consumer group heartbeat interval (a third of the session timeout or less)",
    )
    kafka_delivery_timeout_ms: int = Field(
        default=30_000,
        ge=1,
        description="How long a publish may wait for the broker before it counts as failed",
    )
    kafka_retry_max_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest back-off between attempts while the broker cannot be reached",
    )
    relay_batch_size: int = Field(
        default=1_000,
        ge=1,
        description="Events the relay publishes per acknowledged batch (its position moves "
        "once per batch)",
    )
    relay_poll_seconds: float = Field(
        default=0.1,
        gt=0,
        description="How long the relay waits for new events once it has caught up",
    )
    consumer_batch_size: int = Field(
        default=500,
        ge=1,
        description="Records a projection consumer applies per database transaction",
    )
    scheduler_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often due deadlines become alert events, when `caretrail serve` runs "
        "the scheduler itself (embedded mode)",
    )
    heartbeat_file: Path | None = Field(
        default=None,
        description="Touched every few seconds while every relay/consumer loop is turning; "
        "container healthchecks read its age",
    )


def load_settings(database_url: str | None = None) -> Settings:
    """The settings from the environment, `database_url` (given on a command line) first."""
    try:
        return Settings() if database_url is None else Settings(database_url=database_url)
    except ValidationError as error:
        raise SettingsError("; ".join(map(_problem, error.errors()))) from None


def _problem(error: ErrorDetails) -> str:
    setting = ENV_PREFIX + "_".join(map(str, error["loc"])).upper()
    # A validator's own ValueError says what is wrong in caretrail's words; keep those.
    reason = error.get("ctx", {}).get("error", error["msg"])
    return f"{setting}: {reason}"
