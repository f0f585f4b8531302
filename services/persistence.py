"""Turns CARETRAIL_DATABASE_URL into the eventsourcing persistence environment."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from services.errors import MalformedInput, StoreUnavailable


class DatabaseUrlError(MalformedInput):
    """CARETRAIL_DATABASE_URL cannot be used; the message says why and what would work."""


class StoreNotFound(StoreUnavailable):
    """An SQLite store that is not there, where opening it would create it empty."""


SUPPORTED = "sqlite:///path/to/file.db, postgresql://user[:password]@host[:port]/db, memory://"


def persistence_env(database_url: str) -> dict[str, str]:
    """The environment of the store at `database_url`; an SQLite file's folder is created."""
    env = _environment(database_url)
    kept_in = _sqlite_file(env)
    if kept_in is not None:
        kept_in.parent.mkdir(parents=True, exist_ok=True)
    return env


def check_database_url(database_url: str) -> str:
    """`database_url`, once it is known to name a store caretrail can keep; creates nothing."""
    _environment(database_url)
    return database_url


def stored_at(database_url: str) -> Path | None:
    """The SQLite file `database_url` names (it may not exist yet); None for other stores."""
    return _sqlite_file(_environment(database_url))


def _environment(database_url: str) -> dict[str, str]:
    scheme = database_url.split("://", 1)[0] if "://" in database_url else ""
    if scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if scheme == "sqlite":
        return _sqlite_env(database_url)
    if scheme in ("postgresql", "postgres"):
        return _postgres_env(database_url)
    raise DatabaseUrlError(f"unsupported database URL '{database_url}'; use one of: {SUPPORTED}")


def _sqlite_file(env: Mapping[str, str]) -> Path | None:
    name = env.get("SQLITE_DBNAME")
    return None if name is None or name == ":memory:" else Path(name)


def _sqlite_env(database_url: str) -> dict[str, str]:
    path = database_url.removeprefix("sqlite://").removeprefix("/")
    if not path:
        raise DatabaseUrlError("a sqlite URL needs a file path, e.g. sqlite:///.caretrail/db")
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}


def _postgres_env(database_url: str) -> dict[str, str]:
    url = urlsplit(database_url)
    dbname = url.path.lstrip("/")
    if not dbname:
        raise DatabaseUrlError(f"the PostgreSQL URL '{database_url}' names no database")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(dbname),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
    }
    schema = parse_qs(url.query).get("schema")
    if schema:
        env["POSTGRES_SCHEMA"] = schema[0]
    return env
