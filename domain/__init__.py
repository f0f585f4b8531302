"""domain layer of caretrail."""
