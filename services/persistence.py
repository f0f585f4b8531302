"""Turns CARETRAIL_DATABASE_URL into the eventsourcing persistence environment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class DatabaseUrlError(ValueError):
    """CARETRAIL_DATABASE_URL cannot be used; the message says why and what would work."""


SUPPORTED = "sqlite:///path/to/file.db, postgresql://user[:password]@host[:port]/db, memory://"


def persistence_env(database_url: str) -> dict[str, str]:
    scheme = database_url.split("://", 1)[0] if "://" in database_url else ""
    if scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if scheme == "sqlite":
        return _sqlite_env(database_url)
    if scheme in ("postgresql", "postgres"):
        return _postgres_env(database_url)
    raise DatabaseUrlError(f"unsupported database URL '{database_url}'; use one of: {SUPPORTED}")


def _sqlite_env(database_url: str) -> dict[str, str]:
    path = database_url.removeprefix("sqlite://").removeprefix("/")
    if not path:
        raise DatabaseUrlError("a sqlite URL needs a file path, e.g. sqlite:///.caretrail/db")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
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
