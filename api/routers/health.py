"""Liveness for load balancers and compose healthchecks; tells nothing about data."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/health", summary="Is the API up")
def health() -> Health:
    return Health()
