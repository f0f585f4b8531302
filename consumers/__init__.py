"""consumers layer of caretrail."""
