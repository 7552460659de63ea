"""Staying inside a CRM's limits instead of hitting them.

* :class:`Pacer` - a client-side rolling window (HubSpot: N calls per 10 seconds, search 5 per
  second) so a healthy run never sees a 429.
* :class:`ApiBudget` - Salesforce's daily allowance, shared with every other integration of the
  org: the run stops cleanly before it eats into the configured reserve.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from connector.errors import ApiBudgetError

_USAGE = re.compile(r"(?<![-\w])api-usage=(\d+)/(\d+)")  # not per-app-api-usage


class Pacer:
    """At most ``limit`` calls in any ``window`` seconds, keeping ``headroom`` spare.

    The CRM counts arrivals, we count departures; latency jitter can squeeze calls sent just
    over a window apart into one server window, so only ``headroom`` of the limit is used and
    the window is stretched by ``slack``. ``clock`` and ``sleep`` are injectable for tests.
    Thread-safe: callers queue for slots (the waiting one holds the lock while it sleeps).
    """

    def __init__(self, limit: int, window: float, *, headroom: float = 0.9, slack: float = 0.05,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.headroom, self.slack, self.clock, self.sleep = headroom, slack, clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0
        self.set_limit(limit, window)

    def set_limit(self, limit: int, window: float) -> None:
        """Adopt the limit the CRM announced (``X-HubSpot-RateLimit-Max`` / ``-Interval``)."""
        self.limit, self.window = limit, window
        self._allowed = max(1, math.floor(limit * self.headroom))
        self._span = window * (1 + self.slack)

    def acquire(self) -> None:
        """Wait until one more call fits in the window, then count it as sent now."""
        with self._lock:
            now = self.clock()
            self._forget(now)
            if len(self._sent) >= self._allowed:
                pause = self._sent[len(self._sent) - self._allowed] + self._span - now
                if pause > 0:
                    self.sleep(pause)
                    self.waited += pause
                now = self.clock()
                self._forget(now)
            self._sent.append(now)

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self._span:
            self._sent.popleft()


@dataclass
class ApiBudget:
    """A daily API allowance and the share of it kept for other integrations.

    Fed by ``Sforce-Limit-Info`` on every answer and by ``/limits`` at connect. :meth:`check`
    runs before every call and raises :class:`ApiBudgetError` once the calls left are at or
    below ``reserve`` of the allowance, so the run stops before touching the reserve.
    """

    crm: str
    reserve: float
    used: int | None = None
    limit: int | None = None

    @property
    def remaining(self) -> int | None:
        """Calls left today as last reported, or None before the first report."""
        return None if self.used is None or self.limit is None else self.limit - self.used

    def observe(self, used: int, limit: int) -> None:
        """Record the CRM's latest count of calls used today and its daily maximum."""
        self.used, self.limit = used, limit

    def observe_header(self, value: str | None) -> None:
        """Read ``Sforce-Limit-Info: api-usage=USED/MAX`` (other entries are ignored)."""
        match = _USAGE.search(value or "")
        if match:
            self.observe(int(match.group(1)), int(match.group(2)))

    def check(self) -> None:
        """Raise :class:`ApiBudgetError` if one more call would dip into the reserve."""
        remaining = self.remaining
        if remaining is None or self.limit is None:
            return
        floor = math.ceil(self.reserve * self.limit)
        if remaining <= floor:
            raise ApiBudgetError(
                f"{self.crm} daily API allowance: {remaining:,} of {self.limit:,} calls left, "
                f"at or below the {self.reserve:.0%} reserve ({floor:,}) kept for other "
                f"integrations; stopping this run before its next call")
