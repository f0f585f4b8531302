"""What every CLI command shares: settings, the application (opened on first use), the user."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import click

from caretrail.timeparse import parse_time
from services.application import CareTrail, Provenance
from services.bootstrap import bootstrap
from services.persistence import StoreNotFound, stored_at
from services.settings import Settings

# The commands that may start a store: they record its first events, or run beside it before it
# has any. Any other command refuses an SQLite file that is not there, rather than create it empty
# at what is most likely a mistyped path.
STARTS_A_STORE = frozenset(
    {"patient register", "ingest", "mllp", "adt-inbound", "serve", "run", "relay", "consume",
     "scheduler", "users"}
)  # fmt: skip


@dataclass
class CliContext:
    configured: Settings
    actor: str = field(default_factory=lambda: os.environ.get("CARETRAIL_USER") or _login())

    @cached_property
    def settings(self) -> Settings:
        """The settings, for the command running. Every store a command opens is found through
        them, so this is where a store that is not there is refused (see STARTS_A_STORE)."""
        _refuse_a_missing_store(self.configured.database_url, click.get_current_context())
        return self.configured

    @cached_property
    def app(self) -> CareTrail:
        return bootstrap(self.settings)

    @cached_property
    def zone(self) -> ZoneInfo:
        # Not through `settings`: reading a time typed on the command line needs no store.
        return ZoneInfo(self.configured.timezone)

    def time(self, text: str) -> datetime:
        return parse_time(text, self.zone)

    def provenance(self, occurred_at: str | None) -> Provenance:
        when = (
            parse_time(occurred_at, self.zone, date_means_end_of_day=False) if occurred_at else None
        )
        return Provenance(self.actor, when)


def _refuse_a_missing_store(database_url: str, running: click.Context) -> None:
    path = stored_at(database_url)
    if path is None or path.exists() or _may_start_a_store(running):
        return
    raise StoreNotFound(f"no store at {path}: check --database or CARETRAIL_DATABASE_URL")


def _may_start_a_store(running: click.Context) -> bool:
    command = running.command_path.removeprefix(running.find_root().command_path).strip()
    return any(command == name or command.startswith(f"{name} ") for name in STARTS_A_STORE)


def _login() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "unknown-terminal-user"
