"""HubSpot's API rate limits as the emulator enforces them (crm-api-notes 2.7).

Three buckets per portal: a rolling 10-second window for ordinary calls (100 calls on Free and
Starter, 190 on Professional and Enterprise, 250 with the API limit increase), a 5-per-second
window for CRM search, which is exempt from the 10-second one (the published spec marks search
``x-hubspot-rate-limit-exemptions: ten-secondly``), and a daily allowance that resets at
midnight UTC. :meth:`RateLimiter.admit` decides one call and returns the headers to send.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.sandbox.hubspot_errors import correlation_id

WINDOW_S, SEARCH_WINDOW_S = 10.0, 1.0
APP_ID, PORTAL_ID = 4242424, 21212121  # the private app and portal the sandbox pretends to be


@dataclass(frozen=True)
class RateLimits:
    """The allowances of one portal: calls per 10 s, searches per second, calls per day."""

    ten_secondly: int
    search_secondly: int
    daily: int

    @classmethod
    def for_tier(cls, tier: str) -> RateLimits:
        """The published limits of a private app on ``tier`` (free, starter, professional,
        enterprise, api_add_on = Professional with the API limit increase)."""
        table = {"free": (100, 250_000), "starter": (100, 250_000),
                 "professional": (190, 650_000), "enterprise": (190, 1_000_000),
                 "api_add_on": (250, 1_650_000)}
        if tier not in table:
            raise ValueError(f"unknown HubSpot tier {tier!r}; choose from {', '.join(table)}")
        burst, daily = table[tier]
        return cls(ten_secondly=burst, search_secondly=5, daily=daily)


@dataclass(frozen=True)
class Admission:
    """The decision on one call: refused (``body`` is the 429) or admitted, plus headers."""

    headers: dict[str, str]
    body: dict | None = None


def _limit_body(policy: str, message: str, group: str | None) -> dict:
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(), "policyName": policy}
    if group:
        body["groupName"] = group
    return body


def rate_limit_body(policy: str) -> dict:
    """HubSpot's 429 body for ``policy`` (TEN_SECONDLY_ROLLING, SECONDLY or DAILY)."""
    if policy == "SECONDLY":
        return _limit_body(policy, "You have reached your secondly limit.", None)
    if policy == "DAILY":
        return _limit_body(policy, "You have reached your daily limit.",
                           f"publicapi:private_app-api-calls-daily:{APP_ID}:{PORTAL_ID}")
    return _limit_body(policy, "You have reached your ten_secondly_rolling limit.",
                       f"publicapi:private_app-api-calls-ten-secondly:{APP_ID}:{PORTAL_ID}")


class RateLimiter:
    """The three buckets of one portal, safe to call from any thread."""

    def __init__(self, limits: RateLimits, clock) -> None:
        self.limits, self._clock = limits, clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self, limits: RateLimits | None = None) -> None:
        """Empty every bucket (and the daily count); optionally switch to other limits."""
        with self._lock:
            if limits is not None:
                self.limits = limits
            self._calls: deque[float] = deque()
            self._searches: deque[float] = deque()
            self._day, self.daily_used = self._today(), 0

    def _today(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).date().isoformat()

    def _headers(self, search: bool) -> dict[str, str]:
        daily = {"X-HubSpot-RateLimit-Daily": str(self.limits.daily),
                 "X-HubSpot-RateLimit-Daily-Remaining":
                     str(max(self.limits.daily - self.daily_used, 0))}
        if search:  # search is outside the 10-second bucket, so its headers would mislead
            return daily
        return {"X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_S * 1000)),
                "X-HubSpot-RateLimit-Max": str(self.limits.ten_secondly),
                "X-HubSpot-RateLimit-Remaining":
                    str(max(self.limits.ten_secondly - len(self._calls), 0)),
                **daily}

    def admit(self, *, search: bool = False) -> Admission:
        """Count one call if its buckets have room; otherwise refuse it with HubSpot's 429."""
        now = self._clock()
        with self._lock:
            if self._today() != self._day:
                self._day, self.daily_used = self._today(), 0
            window, span, cap, policy = (
                (self._searches, SEARCH_WINDOW_S, self.limits.search_secondly, "SECONDLY")
                if search else
                (self._calls, WINDOW_S, self.limits.ten_secondly, "TEN_SECONDLY_ROLLING"))
            while window and window[0] <= now - span:
                window.popleft()
            if self.daily_used >= self.limits.daily:
                return Admission(self._headers(search), rate_limit_body("DAILY"))
            if len(window) >= cap:
                return Admission(self._headers(search), rate_limit_body(policy))
            window.append(now)
            self.daily_used += 1
            return Admission(self._headers(search))

    def headers(self, *, search: bool = False) -> dict[str, str]:
        """The current headers without counting a call (for injected-fault answers)."""
        with self._lock:
            return self._headers(search)
