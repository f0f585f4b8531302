"""Business and calendar day arithmetic for transition deadlines.

Convention (every deadline in caretrail follows it):

* A window is counted on the organization's *local dates*: the day of the event is day 0, and the
  deadline is the end of the n-th (business) day after it. "Contact within 2 business days after a
  discharge on Friday 23:50" is due at the end of Tuesday; "within 7 days" is due at the end of
  discharge date + 7.
* The end of a local day is represented by the first instant of the following local day, an
  exclusive bound: an action is on time when it happens strictly before ``due_at``, and a deadline
  is overdue once ``now >= due_at``. Half-open bounds need no 23:59:59.999999 rounding, and since
  the bound is built from a local date (never by adding 24-hour steps), it lands on local midnight
  whether the day had 23, 24 or 25 hours.
* Moments must be timezone-aware; naive datetimes are rejected because their local date, and so
  every deadline derived from them, would be a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

ORGANIZATION_HOLIDAY = "Organization holiday"
_ONE_DAY = timedelta(days=1)


def utc_instant(moment: datetime) -> datetime:
    """The moment in UTC, for comparing and subtracting.

    Python compares two datetimes that share a tzinfo by wall clock, which is wrong in the repeated
    hour of a DST fall-back; UTC instants have no such trap.
    """
    if moment.tzinfo is UTC:
        return moment  # most moments already are; the check below costs more than this one
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; clinical times must be aware")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days of an organization: public holidays of a country (or subdivision) adjusted by
    the organization's own closures (``extra_holidays``) and worked holidays (``removed_holidays``).

    Weekends come from the country's calendar (Saturday and Sunday for the US, Friday and Saturday
    for Israel, ...). ``country="US"`` without a subdivision is the US federal calendar, including
    observed days (July 4, 2026 is a Saturday, so Friday July 3 is closed).
    """

    timezone: ZoneInfo
    country: str = "US"
    subdivision: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    removed_holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = sorted(self.extra_holidays & self.removed_holidays)
        if both:
            listed = ", ".join(day.isoformat() for day in both)
            raise ValueError(f"dates both added and removed as holidays: {listed}")
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, years=())
        except NotImplementedError as error:
            raise ValueError(f"no holiday calendar for {self.country!r}: {error}") from error

    def is_business_day(self, day: date) -> bool:
        closed = _closed_days(
            self.country, self.subdivision, self.extra_holidays, self.removed_holidays, day.year
        )
        return day not in closed

    def local_date(self, moment: datetime) -> date:
        return utc_instant(moment).astimezone(self.timezone).date()

    def end_of_day(self, day: date) -> datetime:
        """The exclusive end of a local date: the first instant of the next local day."""
        next_midnight = datetime.combine(day + _ONE_DAY, time(), tzinfo=self.timezone)
        # Where DST starts at midnight (e.g. America/Santiago) 00:00 does not exist; the UTC
        # round trip moves it to the first local instant that does (01:00).
        return next_midnight.astimezone(UTC).astimezone(self.timezone)

    def add_business_days(self, start: datetime, n: int) -> datetime:
        """End of the n-th business day after the local date of ``start``.

        The day of ``start`` never counts, even when it is a business day: a discharge on Friday
        (any hour) with n=2 is due at the end of Tuesday, or Wednesday if Monday is a holiday.
        n=0 is the end of the local day of ``start``.
        """
        day = self.local_date(start)
        for _ in range(_non_negative(n)):
            day = self.next_business_day(day)
        return self.end_of_day(day)

    def add_calendar_days(self, start: datetime, n: int) -> datetime:
        """End of local date of ``start`` + n days ("within 7 days" of a discharge)."""
        return self.end_of_day(self.local_date(start) + _non_negative(n) * _ONE_DAY)

    def next_business_day(self, day: date) -> date:
        following = day + _ONE_DAY
        while not self.is_business_day(following):
            following += _ONE_DAY
        return following


def _non_negative(n: int) -> int:
    if n < 0:
        raise ValueError(f"a window counts forward; got {n} days")
    return n


@lru_cache(maxsize=256)
def _closed_days(
    country: str,
    subdivision: str | None,
    extra: frozenset[date],
    removed: frozenset[date],
    year: int,
) -> frozenset[date]:
    """Weekend days and holidays of one year, built when a date of that year is first asked about
    (holiday rules are per year, and deadlines only ever touch a few years)."""
    public = holidays.country_holidays(country, subdiv=subdivision, years=year)
    for day in removed:
        if day.year == year:
            public.pop(day, None)
    public.update({day: ORGANIZATION_HOLIDAY for day in extra if day.year == year})
    first = date(year, 1, 1)
    year_days = (first + offset * _ONE_DAY for offset in range((date(year + 1, 1, 1) - first).days))
    return frozenset(day for day in year_days if not public.is_working_day(day))
