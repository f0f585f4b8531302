"""What every CLI command shares: settings, the application (opened on first use), the user."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from caretrail.timeparse import parse_time
from services.application import CareTrail, Provenance
from services.bootstrap import bootstrap
from services.settings import Settings


@dataclass
class CliContext:
    settings: Settings
    actor: str = field(default_factory=lambda: os.environ.get("CARETRAIL_USER") or _login())

    @cached_property
    def app(self) -> CareTrail:
        return bootstrap(self.settings)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def time(self, text: str) -> datetime:
        return parse_time(text, self.zone)

    def provenance(self, occurred_at: str | None) -> Provenance:
        when = (
            parse_time(occurred_at, self.zone, date_means_end_of_day=False) if occurred_at else None
        )
        return Provenance(self.actor, when)


def _login() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "unknown-terminal-user"
