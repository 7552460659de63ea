"""Standard five-field crontab expressions ("minute hour day-of-month month day-of-week") as
APScheduler 3.x triggers, with the weekday numbers admins expect.

APScheduler 3's own ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0, so
``0 3 * * 0`` would run on Mondays instead of Sundays (its issue 286, fixed only in 4.x). Here
the day-of-week field is read as cron reads it (0 or 7 = Sunday, names ``sun``..``sat``,
ranges, lists and steps), expanded to the set of days, and handed over as weekday names,
which both libraries read the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Day names by cron's weekday number (0 = Sunday; 7 is Sunday again)."""


def _day_number(token: str, expression: str) -> int:
    token = token.strip().lower()
    if token in CRON_DAYS:
        return CRON_DAYS.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    raise ValueError(f"{token!r} in day-of-week {expression!r} is not a weekday "
                     "(use 0-7, where 0 and 7 are Sunday, or sun..sat)")


def cron_weekdays(field: str) -> set[int]:
    """The days (0 = Sunday .. 6 = Saturday) a crontab day-of-week field selects."""
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"step {step_text!r} in day-of-week {field!r} is not a "
                                 "positive number")
            step = int(step_text)
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-", 1)
            first = _day_number(low, field)
            # "5-7" ends on Sunday written as 7: keep it after Saturday for the range
            last = 7 if high.strip() == "7" else _day_number(high, field)
            if last < first:
                raise ValueError(f"range {span!r} in day-of-week {field!r} runs backwards")
        else:
            first = _day_number(span, field)
            last = 6 if step_text else first  # "1/2" means from Monday on, every other day
        days.update(day % 7 for day in range(first, last + 1, step))
    return days


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or :class:`ValueError` saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as "
                         "'UTC' or 'Europe/Paris')") from None


def crontab_trigger(expression: str, zone: str = "UTC", *, jitter_s: int | None = None
                    ) -> CronTrigger:
    """A trigger firing when the crontab ``expression`` matches, read in time zone ``zone``.

    Raises :class:`ValueError` with a readable reason when the expression or zone is wrong.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"crontab {expression!r} has {len(fields)} fields; it needs 5: "
                         "minute hour day-of-month month day-of-week (e.g. '15 * * * *')")
    minute, hour, day, month, weekday = fields
    weekdays = None if weekday == "*" else ",".join(CRON_DAYS[d] for d in
                                                    sorted(cron_weekdays(weekday)))
    tz = time_zone(zone)
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays,
                           timezone=tz, jitter=jitter_s)
    except ValueError as error:
        raise ValueError(f"crontab {expression!r}: {error}") from None


def next_fire(expression: str, zone: str, after: datetime) -> datetime:
    """The first time after ``after`` the crontab fires (no jitter)."""
    return crontab_trigger(expression, zone).get_next_fire_time(None, after)


def shortest_gap(expression: str, zone: str, after: datetime, *, fires: int = 50) -> timedelta:
    """The shortest time between two of the crontab's next ``fires`` fire times (no jitter);
    the misfire grace is derived from it."""
    trigger = crontab_trigger(expression, zone)
    times: list[datetime] = []
    previous, moment = None, after
    for _ in range(fires):
        nxt = trigger.get_next_fire_time(previous, moment)
        if nxt is None:
            break
        times.append(nxt)
        previous, moment = nxt, nxt + timedelta(seconds=1)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return min(gaps) if gaps else timedelta(days=1)
