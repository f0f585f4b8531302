"""Writes the envelope schema and one schema per event type, and removes schemas of no type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.envelope import envelope_schema, event_schema, published_event_classes
from services.event_schemas import ENVELOPE_SCHEMA, SCHEMA_DIR, schema_file


def schemas() -> dict[Path, dict[str, Any]]:
    """Every schema file that should exist, with its content."""
    return {SCHEMA_DIR / ENVELOPE_SCHEMA: envelope_schema()} | {
        schema_file(event_class.TOPIC): event_schema(event_class)
        for event_class in published_event_classes()
    }


def as_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    wanted = schemas()
    for stale in set(SCHEMA_DIR.glob("*.json")) - set(wanted):
        stale.unlink()
        print(f"removed {stale.name}")
    for path, schema in wanted.items():
        path.write_text(as_text(schema))
    print(f"wrote {len(wanted)} schemas to {SCHEMA_DIR}")


if __name__ == "__main__":
    main()
