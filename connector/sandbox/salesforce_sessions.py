"""Sessions, the daily API allowance and ``/limits`` for the emulated org.

Every authenticated call passes :meth:`SessionsAndUsage.begin_call`: the token must name a live
session (else the real 401 list body), the day's allowance must not be spent (else the real 403),
and then the call is counted. Mixed into ``SalesforceOrg``, whose lock guards this state too.

Session expiry is an *inactivity* timeout, as in Salesforce (Setup > Session Settings "Timeout
Value", or the connected app's own value): a session ends ``session_lifetime_s`` after its last
recorded activity, not after it was issued. Salesforce records activity only once at least half
the timeout has passed since the last record, so a call in the first half of the window does not
push the expiry out; the emulator does the same.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass


class APIError(Exception):
    """A whole-request error: HTTP status plus Salesforce's ``errorCode`` and message."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields

    def body(self) -> list[dict]:
        """The JSON list Salesforce answers with."""
        entry = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


@dataclass
class Session:
    """One access token: when it was issued, its last recorded activity and its call count."""

    issued_at: float
    last_active: float
    calls: int = 0

    def expired(self, now: float, timeout_s: float) -> bool:
        """True when ``timeout_s`` seconds have passed since the last recorded activity."""
        return now - self.last_active > timeout_s

    def touch(self, now: float, timeout_s: float) -> None:
        """Record activity, as Salesforce does: only once half the timeout has gone by."""
        if now - self.last_active >= timeout_s / 2:
            self.last_active = now


class SessionsAndUsage:
    """Access tokens, the ``expire`` fault, API usage counting and the ``/limits`` answer."""

    def open_session(self) -> str:
        """A new access token for the API user, shaped like Salesforce's (org id, '!', opaque)."""
        token = f"{self.org_id[:15]}!AR{secrets.token_urlsafe(72).replace('-', '.')}"
        with self.lock:
            now = self.clock()
            self.sessions[token] = Session(issued_at=now, last_active=now)
        return token

    def begin_call(self, authorization: str | None, *, expire_every: int = 0) -> None:
        """Authenticate and count one API call, or raise 401 INVALID_SESSION_ID / 403 REQUEST_LIMIT_EXCEEDED.

        Sessions time out after ``session_lifetime_s`` of inactivity (see the module docstring);
        every authenticated call, counted or refused for the allowance, is activity.
        ``expire_every`` (the ``expire:N`` fault) ends a session after N successful calls.
        """
        token = (authorization or "").removeprefix("Bearer ").removeprefix("OAuth ").strip()
        with self.lock:
            now = self.clock()
            session = self.sessions.get(token)
            if session is not None and (
                    session.expired(now, self.session_lifetime_s)
                    or (expire_every and session.calls >= expire_every)):
                del self.sessions[token]
                session = None
            if session is None:
                self._stats["http_401"] += 1
                raise APIError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            session.touch(now, self.session_lifetime_s)
            if self.api_used >= self.daily_api_limit:
                self._stats["http_403"] += 1
                raise APIError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            session.calls += 1
            self.api_used += 1
            self._stats["api_calls"] += 1

    def expire_sessions(self) -> None:
        """End every open session now (tests of re-authentication)."""
        with self.lock:
            self.sessions.clear()

    def usage_header(self) -> str:
        """The ``Sforce-Limit-Info`` header value."""
        return f"api-usage={self.api_used}/{self.daily_api_limit}"

    def set_remaining_api_calls(self, remaining: int) -> None:
        """Pretend the day's allowance is down to ``remaining`` calls."""
        with self.lock:
            self.api_used = max(0, self.daily_api_limit - remaining)

    def limits(self) -> dict:
        """The ``/limits`` answer: every entry ``{Max, Remaining}``."""
        remaining = max(0, self.daily_api_limit - self.api_used)
        return {
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "DailyApiRequests": {"Max": self.daily_api_limit, "Remaining": remaining},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            **self.bulk.limits(),
            "DataStorageMB": {"Max": 5, "Remaining": 5},
            "FileStorageMB": {"Max": 20, "Remaining": 20},
            "SingleEmail": {"Max": 15, "Remaining": 15},
        }
