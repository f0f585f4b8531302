"""projections layer of caretrail."""
