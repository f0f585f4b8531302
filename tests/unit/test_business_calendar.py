"""Business-day arithmetic: deadlines end at the local midnight after the n-th (business) day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import BusinessCalendar

NEW_YORK = ZoneInfo("America/New_York")
US = BusinessCalendar(timezone=NEW_YORK)


def local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def midnight_after(year: int, month: int, day: int, zone: ZoneInfo = NEW_YORK) -> datetime:
    """Expected due instant: the end of the given local day."""
    return datetime(year, month, day, tzinfo=zone) + timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 20), True),  # Friday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 11, 22), False),  # Sunday
        (date(2026, 1, 1), False),  # New Year's Day
        (date(2026, 1, 19), False),  # Martin Luther King Jr. Day
        (date(2026, 6, 19), False),  # Juneteenth, a Friday
        (date(2026, 7, 3), False),  # July 4 is a Saturday: observed Friday
        (date(2026, 9, 7), False),  # Labor Day, a Monday
        (date(2026, 10, 12), False),  # Columbus Day
        (date(2026, 11, 11), False),  # Veterans Day, a Wednesday
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), True),  # day after Thanksgiving is not federal
        (date(2026, 12, 25), False),  # Christmas, a Friday
        (date(2027, 1, 1), False),  # New Year's Day 2027
        (date(2027, 12, 31), False),  # New Year 2028 is a Saturday: observed the Friday before
    ],
)
def test_us_federal_business_days(day: date, expected: bool) -> None:
    assert US.is_business_day(day) is expected


@pytest.mark.parametrize(
    ("discharge", "due"),
    [
        pytest.param(local(2026, 11, 18, 9), midnight_after(2026, 11, 20), id="wednesday"),
        pytest.param(local(2026, 11, 20, 23, 50), midnight_after(2026, 11, 24), id="friday-23:50"),
        pytest.param(local(2026, 11, 21, 0, 5), midnight_after(2026, 11, 24), id="saturday"),
        pytest.param(local(2026, 9, 4, 17), midnight_after(2026, 9, 9), id="before-labor-day"),
        pytest.param(local(2026, 9, 7, 10), midnight_after(2026, 9, 9), id="on-labor-day"),
        pytest.param(local(2026, 11, 25, 15), midnight_after(2026, 11, 30), id="thanksgiving-eve"),
        pytest.param(local(2026, 11, 26, 15), midnight_after(2026, 11, 30), id="on-thanksgiving"),
        pytest.param(local(2026, 12, 24, 8), midnight_after(2026, 12, 29), id="christmas-eve"),
        pytest.param(local(2026, 12, 31, 22), midnight_after(2027, 1, 5), id="new-year-eve"),
        pytest.param(local(2026, 6, 18, 12), midnight_after(2026, 6, 23), id="before-juneteenth"),
        pytest.param(local(2026, 7, 2, 12), midnight_after(2026, 7, 7), id="before-july-3rd"),
    ],
)
def test_two_business_days_after_discharge(discharge: datetime, due: datetime) -> None:
    assert US.add_business_days(discharge, 2) == due


def test_local_date_decides_not_the_utc_date() -> None:
    friday_night = datetime(2026, 11, 21, 4, 50, tzinfo=UTC)  # Fri 23:50 in New York

    assert US.add_business_days(friday_night, 2) == midnight_after(2026, 11, 24)


def test_due_instant_is_the_first_instant_that_is_late() -> None:
    due = US.add_business_days(local(2026, 11, 20, 23, 50), 2)

    assert (due.astimezone(NEW_YORK).date(), due.astimezone(NEW_YORK).time().hour) == (
        date(2026, 11, 25),
        0,
    )
    assert US.local_date(due - timedelta(microseconds=1)) == date(2026, 11, 24)


def test_zero_days_is_the_end_of_the_event_day() -> None:
    assert US.add_business_days(local(2026, 11, 21), 0) == midnight_after(2026, 11, 21)
    assert US.add_calendar_days(local(2026, 11, 21), 0) == midnight_after(2026, 11, 21)


def test_calendar_days_count_weekends_and_holidays() -> None:
    assert US.add_calendar_days(local(2026, 11, 20, 23, 50), 7) == midnight_after(2026, 11, 27)
    assert US.add_calendar_days(local(2026, 12, 20), 30) == midnight_after(2027, 1, 19)


def test_negative_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="counts forward"):
        US.add_calendar_days(local(2026, 11, 20), -1)


def test_naive_clinical_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        US.add_business_days(datetime(2026, 11, 20, 12), 2)


class TestDaylightSavingTime:
    """US DST 2026 starts Sunday March 8 and ends Sunday November 1 in America/New_York."""

    def test_deadline_after_spring_forward_is_local_midnight_in_daylight_time(self) -> None:
        due = US.add_business_days(local(2026, 3, 5, 10), 2)  # Thu, EST -> due end of Mon 3/9

        assert due == datetime(2026, 3, 10, tzinfo=NEW_YORK)
        assert due.utcoffset() == timedelta(hours=-4)
        assert due.astimezone(UTC) == datetime(2026, 3, 10, 4, tzinfo=UTC)

    def test_deadline_after_fall_back_is_local_midnight_in_standard_time(self) -> None:
        due = US.add_business_days(local(2026, 10, 29, 10), 2)  # Thu, EDT -> due end of Mon 11/2

        assert due == datetime(2026, 11, 3, tzinfo=NEW_YORK)
        assert due.utcoffset() == timedelta(hours=-5)
        assert due.astimezone(UTC) == datetime(2026, 11, 3, 5, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("day_before", "changeover_day", "hours"),
        [
            pytest.param(date(2026, 3, 7), date(2026, 3, 8), 23, id="spring-forward"),
            pytest.param(date(2026, 10, 31), date(2026, 11, 1), 25, id="fall-back"),
        ],
    )
    def test_end_of_changeover_day_differs_by_its_length(
        self, day_before: date, changeover_day: date, hours: int
    ) -> None:
        end_before = US.end_of_day(day_before).astimezone(UTC)
        end_of_changeover = US.end_of_day(changeover_day).astimezone(UTC)

        assert end_of_changeover - end_before == timedelta(hours=hours)

    def test_seven_days_spanning_spring_forward(self) -> None:
        due = US.add_calendar_days(local(2026, 3, 2, 9), 7)

        assert due.astimezone(UTC) == datetime(2026, 3, 10, 4, tzinfo=UTC)

    def test_midnight_that_does_not_exist_becomes_first_real_instant(self) -> None:
        # Chile starts DST at 24:00 on Saturday 2026-09-05: Sunday begins at 01:00.
        santiago = ZoneInfo("America/Santiago")
        chile = BusinessCalendar(timezone=santiago, country="CL")

        end = chile.end_of_day(date(2026, 9, 5))

        assert end.astimezone(UTC) == datetime(2026, 9, 6, 4, tzinfo=UTC)
        assert end.astimezone(santiago).hour == 1


class TestOrganizationCalendar:
    def test_extra_holiday_closes_a_business_day(self) -> None:
        closed_friday = BusinessCalendar(
            timezone=NEW_YORK, extra_holidays=frozenset({date(2026, 11, 27)})
        )
        wednesday = local(2026, 11, 25, 15)

        assert US.add_business_days(wednesday, 2) == midnight_after(2026, 11, 30)
        assert closed_friday.add_business_days(wednesday, 2) == midnight_after(2026, 12, 1)

    def test_removed_holiday_is_worked(self) -> None:
        works_columbus_day = BusinessCalendar(
            timezone=NEW_YORK, removed_holidays=frozenset({date(2026, 10, 12)})
        )

        assert not US.is_business_day(date(2026, 10, 12))
        assert works_columbus_day.is_business_day(date(2026, 10, 12))

    def test_removed_holiday_on_a_weekend_stays_closed(self) -> None:
        calendar = BusinessCalendar(
            timezone=NEW_YORK, removed_holidays=frozenset({date(2026, 7, 4)})
        )

        assert not calendar.is_business_day(date(2026, 7, 4))

    def test_state_subdivision_adds_state_holidays(self) -> None:
        massachusetts = BusinessCalendar(timezone=NEW_YORK, subdivision="MA")

        assert US.is_business_day(date(2026, 4, 20))
        assert not massachusetts.is_business_day(date(2026, 4, 20))  # Patriots' Day

    def test_date_both_added_and_removed_is_rejected(self) -> None:
        both = frozenset({date(2026, 11, 27)})

        with pytest.raises(ValueError, match="2026-11-27"):
            BusinessCalendar(timezone=NEW_YORK, extra_holidays=both, removed_holidays=both)

    @pytest.mark.parametrize(
        ("country", "subdivision"), [("XX", None), ("US", "ZZ")], ids=["country", "subdivision"]
    )
    def test_unknown_holiday_calendar_is_rejected(
        self, country: str, subdivision: str | None
    ) -> None:
        with pytest.raises(ValueError, match="no holiday calendar"):
            BusinessCalendar(timezone=NEW_YORK, country=country, subdivision=subdivision)


class TestNonUsCalendars:
    def test_england_boxing_day_substitute(self) -> None:
        london = ZoneInfo("Europe/London")
        england = BusinessCalendar(timezone=london, country="GB", subdivision="ENG")

        due = england.add_business_days(datetime(2026, 12, 24, 16, tzinfo=london), 2)

        assert not england.is_business_day(date(2026, 12, 28))  # Boxing Day (substitute)
        assert due == midnight_after(2026, 12, 30, london)

    def test_israel_weekend_is_friday_and_saturday(self) -> None:
        jerusalem = ZoneInfo("Asia/Jerusalem")
        israel = BusinessCalendar(timezone=jerusalem, country="IL")

        due = israel.add_business_days(datetime(2026, 6, 4, 10, tzinfo=jerusalem), 2)  # Thursday

        assert israel.is_business_day(date(2026, 6, 7))  # Sunday
        assert due == midnight_after(2026, 6, 8, jerusalem)


@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2028, 12, 31),
        timezones=st.just(UTC),
    ),
    n=st.integers(min_value=1, max_value=15),
)
def test_business_deadline_ends_the_nth_business_day_after_start(start: datetime, n: int) -> None:
    due = US.add_business_days(start, n)
    local_due = due.astimezone(NEW_YORK)
    last_day = US.local_date(due - timedelta(microseconds=1))
    first_day = US.local_date(start)
    days_between = [
        first_day + timedelta(days=k) for k in range(1, (last_day - first_day).days + 1)
    ]

    assert local_due.time().isoformat() == "00:00:00"
    assert US.is_business_day(last_day)
    assert sum(US.is_business_day(day) for day in days_between) == n
