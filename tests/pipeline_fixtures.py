"""Fixtures of the relay and consumer tests: `pytest_plugins = ["tests.pipeline_fixtures"]`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from projections.store import ProjectionStore
from services.settings import Settings
from tests.kafka_broker import unique_topic_name
from tests.pipeline import CaretrailProcesses


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic name of the test's own; the relay and consumers create the topic."""
    return unique_topic_name(request.node.name)


@pytest.fixture
def second_postgres_url(postgres_database: str) -> Iterator[str]:
    """One more fresh schema, for a projection built a second way to compare with."""
    schema = f"t_{uuid4().hex[:12]}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"{postgres_database}?schema={schema}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def projection_store(postgres_url: str) -> Iterator[ProjectionStore]:
    """The read models beside the test's PostgreSQL event store (same schema)."""
    store = ProjectionStore.open(postgres_url)
    store.create_tables()
    yield store
    store.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[Settings], CaretrailProcesses]]:
    """Starts `python -m caretrail ...` with given settings; kills what still runs at the end."""
    opened: list[CaretrailProcesses] = []

    def open_for(settings: Settings) -> CaretrailProcesses:
        opened.append(CaretrailProcesses(tmp_path, settings))
        return opened[-1]

    yield open_for
    for group in opened:
        group.kill_all()
