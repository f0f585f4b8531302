"""Times as people read them: in the organization's zone, and deadlines in words."""

from __future__ import annotations

from datetime import datetime

from api.deps import ApiServices


def local_time(moment: datetime | None, services: ApiServices) -> str:
    if moment is None:
        return ""
    return moment.astimezone(services.zone).strftime("%a %b %d, %H:%M")


def relative(moment: datetime | None, now: datetime) -> str:
    """'due in 5 h', 'overdue by 2 days': how far a deadline is, in words."""
    if moment is None:
        return "no deadline"
    seconds = (moment - now).total_seconds()
    span = _span(abs(seconds))
    return f"due in {span}" if seconds >= 0 else f"overdue by {span}"


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"
