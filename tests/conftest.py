"""Shared fixtures: real PostgreSQL, stores of every kind, a manual clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from projections.store import ProjectionStore
from services.application import CareTrail
from services.bootstrap import bootstrap
from services.settings import Settings
from tests.clock import ManualClock

pytest_plugins = ["tests.postgres", "tests.kafka_broker"]

STORE_KINDS = ("memory", "sqlite", "postgres")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each service test runs once per persistence module: in-memory, SQLite, PostgreSQL."""
    kind = request.param
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/caretrail.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def open_app(clock: ManualClock) -> Iterator[Callable[[str], CareTrail]]:
    """Opens applications on a store URL and closes them after the test."""
    opened: list[CareTrail] = []

    def open_on(url: str) -> CareTrail:
        app = bootstrap(Settings(database_url=url), clock=clock)
        opened.append(app)
        return app

    yield open_on
    for app in opened:
        app.close()


@pytest.fixture
def app(store_url: str, open_app: Callable[[str], CareTrail]) -> CareTrail:
    return open_app(store_url)


@pytest.fixture
def store(store_url: str) -> Iterator[ProjectionStore]:
    """The read-model store beside the test's event store, its tables created."""
    projections = ProjectionStore.open(store_url)
    projections.create_tables()
    yield projections
    projections.close()
