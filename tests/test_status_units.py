"""`leadscore status` in the admin's units: durations, local times, the cursor lag line."""

from datetime import UTC, datetime

import pytest

from connector.admin.units import cursor_lag, local_time, whole_units


@pytest.mark.parametrize("seconds, said", [
    (0, "0 s"), (45, "45 s"), (180, "3 min"), (5400, "2 h"), (3 * 3600, "3 h"),
    (86_400 * 3, "3 days"), (86_400, "24 h"), (86_400 * 2, "2 days"),
    (86_400 * 90, "3 months"), (504_949_621, "16 years"), (86_400 * 800, "2 years"),
])
def test_durations_read_in_the_largest_sensible_unit(seconds, said):
    assert whole_units(seconds) == said


def test_times_to_the_second_in_the_configured_zone():
    moment = "2026-12-06T00:46:05.123456+00:00"
    assert local_time(moment, "Europe/Paris") == "2026-12-06 01:46:05 CET"
    assert local_time(moment, "UTC") == "2026-12-06 00:46:05 UTC"
    assert local_time(None, "UTC") == "-"


def test_cursor_lag_says_when_the_history_was_imported():
    now = datetime(2026, 12, 6, 0, 46, tzinfo=UTC)
    old_stamp, synced = "2010-11-30T17:00:00+00:00", "2026-12-06T00:43:00+00:00"
    lag = (now - datetime.fromisoformat(old_stamp)).total_seconds()
    said = cursor_lag(lag, old_stamp, synced, now)
    assert said == "16 years (history imported), synced 3 min ago"
    fresh = "2026-12-06T00:40:00+00:00"
    assert cursor_lag(360, fresh, synced, now) == "6 min, synced 3 min ago"
