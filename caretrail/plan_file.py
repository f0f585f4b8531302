"""A plan of care written as a JSON file by a case manager, checked before it reaches the domain."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.case import LEAST_URGENT, MOST_URGENT, Goal, Intervention


class GoalInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal_id: str = Field(min_length=1)
    description: str = Field(min_length=1)
    measure: str = Field(min_length=1, description="how progress is measured")
    priority: int = Field(ge=MOST_URGENT, le=LEAST_URGENT, description="1 is the most urgent")
    target_date: date


class InterventionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intervention_id: str = Field(min_length=1)
    goal_id: str = Field(min_length=1)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    due_date: date


class PlanInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goals: list[GoalInput] = Field(min_length=1)
    interventions: list[InterventionInput] = []


# Dated from today: an example with dates in the past would be refused as written.
_TARGET, _DUE = date.today() + timedelta(days=90), date.today() + timedelta(days=30)
EXAMPLE = f"""{{"goals": [{{"goal_id": "g1", "description": "Walk to the mailbox daily",
  "measure": "days walked per week", "priority": 1, "target_date": "{_TARGET}"}}],
 "interventions": [{{"intervention_id": "i1", "goal_id": "g1", "description": "Home PT",
  "owner": "pt.team", "due_date": "{_DUE}"}}]}}"""


def read_plan(path: Path) -> tuple[list[Goal], list[Intervention]]:
    try:
        text = click.open_file(str(path)).read()
        plan = PlanInput.model_validate(json.loads(text))
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise click.BadParameter(
            f"{path} is not JSON: {error.msg} at line {error.lineno}"
        ) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise click.BadParameter(f"{path}: {where}: {first['msg']}") from None
    goals = [Goal(**goal.model_dump()) for goal in plan.goals]
    interventions = [Intervention(**item.model_dump()) for item in plan.interventions]
    return goals, interventions
