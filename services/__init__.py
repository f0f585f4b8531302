"""services layer of caretrail."""
