"""Times typed by people: ISO 8601 datetimes or dates, read in the organization's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

import click


def parse_time(text: str, zone: tzinfo, *, date_means_end_of_day: bool = True) -> datetime:
    """A datetime with a zone; a bare date means the end of that local day ("as of March 3rd")."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"'{text}' is not a time; use ISO 8601 such as 2026-03-03 or 2026-03-03T14:30"
        ) from None
    if _is_bare_date(text):
        day = date.fromisoformat(text[:10])
        if date_means_end_of_day:
            return datetime.combine(day + timedelta(days=1), time(), zone) - timedelta(
                microseconds=1
            )
        return datetime.combine(day, time(), zone)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _is_bare_date(text: str) -> bool:
    return len(text.strip()) == 10
