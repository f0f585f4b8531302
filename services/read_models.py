"""The composition root's other half: every projection, wired with the rule file in force.

Kept apart from services/bootstrap.py so that commands needing only the event store do not
import the read-model stack."""

from __future__ import annotations

from pathlib import Path

from projections.registry import all_projections
from projections.store import Projection
from services.rules_config import load_ruleset


def read_models(rules_file: Path | None = None) -> list[Projection]:
    ruleset, calendar = load_ruleset(rules_file)
    return all_projections(ruleset, calendar)
