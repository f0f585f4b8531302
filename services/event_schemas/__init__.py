"""The published JSON Schemas of caretrail's Kafka envelope: `envelope.json`, and one file per
event type named after the type. Generated from the event classes; after changing an event, run
`python -m services.event_schemas` and commit the files it writes."""

from pathlib import Path

SCHEMA_DIR = Path(__file__).parent
ENVELOPE_SCHEMA = "envelope.json"


def schema_file(event_type: str) -> Path:
    return SCHEMA_DIR / f"{event_type}.json"
