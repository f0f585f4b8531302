"""The composition root: settings in, a wired caretrail application out."""

from __future__ import annotations

import sqlite3

from services.application import CareTrail, Clock, utc_now
from services.errors import StoreUnavailable
from services.persistence import persistence_env
from services.settings import Settings


def bootstrap(settings: Settings | None = None, clock: Clock = utc_now) -> CareTrail:
    settings = settings or Settings()
    env = persistence_env(settings.database_url) | {"CREATE_TABLE": "y"}
    try:
        return CareTrail(env=env, clock=clock)
    except sqlite3.DatabaseError as error:  # eventsourcing lets SQLite's opening errors through
        raise StoreUnavailable(
            f"{env['SQLITE_DBNAME']} cannot be used as a store: {error}"
        ) from error
