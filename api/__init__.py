"""api layer of caretrail."""
