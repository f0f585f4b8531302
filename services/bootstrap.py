"""The composition root: settings in, a wired caretrail application out."""

from __future__ import annotations

from services.application import CareTrail, Clock, utc_now
from services.persistence import persistence_env
from services.settings import Settings


def bootstrap(settings: Settings | None = None, clock: Clock = utc_now) -> CareTrail:
    settings = settings or Settings()
    env = persistence_env(settings.database_url) | {"CREATE_TABLE": "y"}
    return CareTrail(env=env, clock=clock)
