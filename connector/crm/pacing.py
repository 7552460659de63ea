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
    With ``until_answer`` (HubSpot search) a call's window is measured from its answer instead
    (see :meth:`acquire`), which needs no guess about latency at all.
    """

    def __init__(self, limit: int, window: float, *, headroom: float = 0.9, slack: float = 0.05,
                 until_answer: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.headroom, self.slack, self.clock, self.sleep = headroom, slack, clock, sleep
        self.until_answer = until_answer
        self._sent: deque[list] = deque()  # slots: [stamp, answered]
        self._lock = threading.Lock()
        self.waited = 0.0
        self.set_limit(limit, window)

    def set_limit(self, limit: int, window: float) -> None:
        """Adopt the limit the CRM announced (``X-HubSpot-RateLimit-Max`` / ``-Interval``)."""
        with self._lock:  # another thread may be pacing: switch between two of its calls
            self.limit, self.window = limit, window
            self._allowed = max(1, math.floor(limit * self.headroom))
            self._span = window * (1 + self.slack)

    def acquire(self) -> list:
        """Wait until one more call fits in the window, then count it as sent now; returns
        the call's slot for :meth:`release`.

        With ``until_answer`` a call occupies the window from when it is sent until
        :meth:`release` (its answer) plus the window: the CRM counts the call when it arrives,
        somewhere between the two, so measuring from the answer is safe whatever the latency
        and its jitter (HubSpot search: no call reaches the portal within a second of the one
        five before it).
        """
        with self._lock:
            while True:
                now = self.clock()
                horizon = now - self._span + 1e-9  # float rounding must not keep a slot
                self._sent = deque(slot for slot in self._sent
                                   if self._stamp(slot, now) > horizon)
                if len(self._sent) < self._allowed:
                    break
                stamps = sorted(self._stamp(slot, now) for slot in self._sent)
                pause = stamps[len(stamps) - self._allowed] + self._span - now
                self.sleep(pause)
                self.waited += pause
            slot = [now, not self.until_answer]
            self._sent.append(slot)
            return slot

    def release(self, slot: list) -> None:
        """The call of ``slot`` was answered (or failed): with ``until_answer`` its window
        starts now. Lock-free, so a call can be released while another thread waits."""
        if self.until_answer and not slot[1]:
            slot[0] = self.clock()
            slot[1] = True  # after the stamp: a reader seeing it answered sees the new stamp

    @staticmethod
    def _stamp(slot: list, now: float) -> float:
        """A slot's time in the window: its send (or answer) time; a call still in flight
        could arrive any moment, so it counts as sent now."""
        return slot[0] if slot[1] else now


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
