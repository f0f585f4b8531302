"""Settings from the environment (prefix CARETRAIL_), with safe defaults for a first run."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///.caretrail/caretrail.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARETRAIL_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///path (embedded default), postgresql://user@host:port/db"
        "[?schema=name], or memory:// (nothing kept; for tests and trials)",
    )
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers; unset means embedded mode with no broker",
    )
    timezone: str = Field(
        default="America/New_York",
        description="The organization's time zone: local days for deadlines, times shown",
    )
