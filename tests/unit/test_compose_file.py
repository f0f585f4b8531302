"""docker-compose.yml, checked without a Docker engine: the services a site runs, their images and
healthchecks, and caretrail settings that really exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from caretrail.cli import cli
from services.ingestion import IngestSettings
from services.settings import Settings

ROOT = Path(__file__).parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
CARETRAIL_PROCESSES = ("api", "mllp", "relay", "consumers", "scheduler")
# Every settings class that reads CARETRAIL_* variables.
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (Settings, IngestSettings, ApiSettings)


def variables(service: str) -> dict[str, str]:
    return {name: str(value) for name, value in SERVICES[service].get("environment", {}).items()}


def test_a_site_runs_postgresql_kafka_and_every_caretrail_process() -> None:
    assert set(SERVICES) == {"postgres", "kafka", *CARETRAIL_PROCESSES}
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")


def test_kafka_runs_in_kraft_mode_as_one_node_and_creates_no_topic_by_itself() -> None:
    kafka = variables("kafka")
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert not any("ZOOKEEPER" in name for name in kafka)
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_a_healthcheck(service: str) -> None:
    healthcheck = SERVICES[service]["healthcheck"]
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")
    assert len(healthcheck["test"]) > 1


@pytest.mark.parametrize("service", CARETRAIL_PROCESSES)
def test_caretrail_processes_run_a_real_command_of_the_built_image(service: str) -> None:
    definition = SERVICES[service]
    assert definition["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert cli.get_command(click.Context(cli), definition["command"][0]) is not None
    assert definition["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", CARETRAIL_PROCESSES)
def test_caretrail_variables_are_settings_that_exist(service: str) -> None:
    known = {
        f"CARETRAIL_{name.upper()}": settings_class
        for settings_class in SETTINGS_CLASSES
        for name in settings_class.model_fields
    }
    caretrail_variables = {
        name: value for name, value in variables(service).items() if name.startswith("CARETRAIL_")
    }
    assert sorted(set(caretrail_variables) - set(known)) == []
    # Literal values (not ${...} taken from the host) must also be valid for their setting.
    for settings_class in SETTINGS_CLASSES:
        literal = {
            name.removeprefix("CARETRAIL_").lower(): value
            for name, value in caretrail_variables.items()
            if known[name] is settings_class and "${" not in value
        }
        settings_class.model_validate(literal)


@pytest.mark.parametrize("service", CARETRAIL_PROCESSES)
def test_processes_use_postgresql_and_the_broker_not_the_embedded_defaults(service: str) -> None:
    environment = variables(service)
    assert environment["CARETRAIL_DATABASE_URL"].startswith("postgresql://")
    assert environment["CARETRAIL_KAFKA_BOOTSTRAP"] == "kafka:9092"


@pytest.mark.parametrize("service", ["relay", "consumers"])
def test_pipeline_healthchecks_read_the_heartbeat_file_the_processes_touch(service: str) -> None:
    assert "CARETRAIL_HEARTBEAT_FILE" in " ".join(SERVICES[service]["healthcheck"]["test"])
    assert variables(service)["CARETRAIL_HEARTBEAT_FILE"].startswith("/")
