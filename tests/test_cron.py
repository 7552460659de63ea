"""Crontab expressions read as cron reads them (weekday 0 = Sunday), in the configured zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connector.cron import cron_weekdays, crontab_trigger, next_fire, shortest_gap

MONDAY_EVENING = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("field, days", [
    ("0", {0}), ("7", {0}), ("sun", {0}), ("1-5", {1, 2, 3, 4, 5}), ("mon-fri", {1, 2, 3, 4, 5}),
    ("5-7", {5, 6, 0}), ("sat,sun", {6, 0}), ("*/2", {0, 2, 4, 6}), ("1-5/2", {1, 3, 5}),
    ("1/3", {1, 4}), ("*", set(range(7))), ("0-7", set(range(7))),
])
def test_weekday_fields_mean_what_they_mean_in_cron(field, days):
    assert cron_weekdays(field) == days


def test_sunday_is_zero_as_in_cron_not_monday_as_in_apscheduler_3():
    assert crontab_trigger("0 3 * * 0").get_next_fire_time(None, MONDAY_EVENING) == datetime(
        2026, 11, 29, 3, 0, tzinfo=timezone.utc)
    assert next_fire("30 8 * * 1", "UTC", MONDAY_EVENING) == datetime(
        2026, 11, 30, 8, 30, tzinfo=timezone.utc)


def test_the_zone_decides_the_wall_clock_hour():
    paris = ZoneInfo("Europe/Paris")
    assert next_fire("0 9 * * *", "Europe/Paris", MONDAY_EVENING) == datetime(
        2026, 11, 24, 9, 0, tzinfo=paris)


def test_shortest_gap_between_fires():
    assert shortest_gap("15 * * * *", "UTC", MONDAY_EVENING) == timedelta(hours=1)
    assert shortest_gap("0,10 * * * *", "UTC", MONDAY_EVENING) == timedelta(minutes=10)
    assert shortest_gap("0 3 * * sun", "UTC", MONDAY_EVENING) == timedelta(days=7)


@pytest.mark.parametrize("expression, zone, reason", [
    ("* * *", "UTC", "has 3 fields; it needs 5"),
    ("61 * * * *", "UTC", "higher than the maximum"),
    ("0 3 * * 8", "UTC", "'8' in day-of-week '8' is not a weekday"),
    ("0 3 * * 5-1", "UTC", "runs backwards"),
    ("0 3 * * */0", "UTC", "is not a positive number"),
    ("0 3 * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
])
def test_mistakes_say_what_is_wrong(expression, zone, reason):
    with pytest.raises(ValueError, match=reason):
        crontab_trigger(expression, zone)
