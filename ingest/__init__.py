"""ingest layer of caretrail."""
