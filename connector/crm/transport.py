"""Everything between the CRM adapters and the network, in one place.

* :class:`RetryPolicy` - tenacity with exponential backoff and jitter on 429, 5xx, timeouts and
  dropped connections, honouring ``Retry-After``; the sleep is injectable so tests assert delays.
* :class:`ErrorTable` - a CRM's status and error codes to our error classes, read once.
* :class:`RetryingAdapter` / :func:`make_session` - the ``requests.Session`` handed to
  simple-salesforce: timeouts, CA bundle, ``trust_env=False``, retries, call counting, and hooks
  for the API budget.
* :class:`CallCounter` - every HTTP request a client sends.

Pacing and budgets (HubSpot's rate buckets, Salesforce's daily allowance) are in
:mod:`connector.crm.pacing`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
import tenacity
from requests.adapters import HTTPAdapter

from connector.errors import (
    ConfigError,
    CRMRateLimitedError,
    CRMRequestError,
    CRMUnavailableError,
    LeadscoreError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUSES = frozenset({423, 429, 500, 502, 503, 504})
"""Answers worth repeating: locked, rate limited, or the CRM (or a proxy in front of it) busy."""
LOCKED_WAIT_S = 2.0
"""HubSpot answers 423 Locked to bursts of writes and documents the lock as lasting 2 seconds;
without a ``Retry-After`` the retry waits that long (plus jitter) instead of backing off."""
POOL_SIZE = 8
"""Kept-alive connections per host: the sync engine's write batches in flight plus its
prefetching pull (and a spare)."""


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)
                        ) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - now()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


# -- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorTable:
    """Which of our errors a CRM answer becomes: ``(status, code)`` first, then ``(status, None)``,
    then the status family (423/429 slow down, 5xx unavailable, other 4xx a request we got wrong).
    """

    crm: str
    entries: Mapping[tuple[int, str | None], type[LeadscoreError]]

    def error(self, status: int, code: str | None, message: str, *,
              retry_after: float | None = None) -> LeadscoreError:
        """The error to raise for one answer, its message naming the CRM, status and code."""
        cls = (self.entries.get((status, code)) or self.entries.get((status, None))
               or (CRMRateLimitedError if status in (423, 429) else
                   CRMUnavailableError if status >= 500 else CRMRequestError))
        text = f"{self.crm} answered {status}{f' {code}' if code else ''}: {message}"
        if issubclass(cls, CRMRateLimitedError):
            if retry_after is None and status == 423:
                retry_after = LOCKED_WAIT_S
            return cls(text, retry_after=retry_after)
        return cls(text)


# -- retries ------------------------------------------------------------------------------------


class wait_retry_after(tenacity.wait.wait_base):  # noqa: N801 (tenacity's naming)
    """Wait what the CRM's ``Retry-After`` asked, plus up to ``share`` of it more (so clients
    told the same moment do not all return at once); without one, wait as ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base, share: float) -> None:
        self.fallback, self.share = fallback, share

    def __call__(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, CRMRateLimitedError) and error.retry_after is not None:
            return error.retry_after * (1 + random.uniform(0, self.share))
        return self.fallback(state)


def _retriable(error: BaseException, longest_wait: float) -> bool:
    if isinstance(error, CRMRateLimitedError):
        return error.retry_after is None or error.retry_after <= longest_wait
    return isinstance(error, CRMUnavailableError)


@dataclass
class RetryPolicy:
    """How transient failures are repeated; one value shared by every call of a client.

    Waits: the CRM's ``Retry-After`` plus up to ``after_jitter`` of it more, otherwise exponential
    from ``initial`` seconds, doubling to ``maximum``, plus up to ``jitter`` seconds. A
    ``Retry-After`` longer than ``longest_wait`` is not waited for: the error goes to the caller.
    ``sleep`` does the waiting; tests pass a recorder.
    """

    attempts: int = 10
    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.5
    after_jitter: float = 0.1
    longest_wait: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    @staticmethod
    def _log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("retrying in %.1fs (attempt %d): %s", state.upcoming_sleep,
                    state.attempt_number, error)

    def call(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, raises a non-transient error, or attempts run out
        (then its last error is raised)."""
        backoff = tenacity.wait_exponential_jitter(multiplier=self.initial, max=self.maximum,
                                                   jitter=self.jitter)
        retrying = tenacity.Retrying(
            sleep=self.sleep, stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait_retry_after(backoff, self.after_jitter),
            retry=tenacity.retry_if_exception(lambda e: _retriable(e, self.longest_wait)),
            before_sleep=self._log, reraise=True)
        return retrying(attempt)


@dataclass
class CallCounter:
    """HTTP requests sent by one client (every attempt counts, as the CRM counts them).
    Thread-safe: the sync engine pulls and writes from several threads."""

    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self) -> None:
        """Count one request."""
        with self._lock:
            self.calls += 1


# -- the requests session for simple-salesforce -------------------------------------------------


class RetryingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that repeats transient failures under a :class:`RetryPolicy`.

    Every attempt first calls ``before_send(request)`` (budget checks; may raise) and counts one
    call; every answer that is not retried goes through ``after_response(response)``. A
    retriable answer still failing at the end raises the error ``table`` makes of it, so the SDK
    never sees it. ``timeout`` applies when the caller passes none (simple-salesforce passes
    none for most calls).
    """

    def __init__(self, *, policy: RetryPolicy, table: ErrorTable, counter: CallCounter,
                 timeout: tuple[float, float],
                 code_of: Callable[[requests.Response], tuple[str | None, str]],
                 before_send: Callable[[requests.PreparedRequest], None] = lambda r: None,
                 after_response: Callable[[requests.Response], None] = lambda r: None) -> None:
        # Room for the engine's concurrent writes plus its prefetching pull.
        super().__init__(pool_maxsize=POOL_SIZE, max_retries=0)
        self.policy, self.table, self.counter, self.timeout = policy, table, counter, timeout
        self.code_of, self.before_send, self.after_response = code_of, before_send, after_response

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request``, repeating it on transient failures; see the class docstring."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return self.policy.call(lambda: self._attempt(request, **kwargs))

    def _attempt(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.before_send(request)
        self.counter.add()
        try:
            response = super().send(request, **kwargs)
            if not kwargs.get("stream"):
                _ = response.content  # read the body here, so a cut mid-body is retried too
        except requests.exceptions.SSLError as exc:
            raise ConfigError(f"{self.table.crm}: TLS verification failed for {request.url}: {exc}",
                              hint="Set ca_file for this connection to the CA that signed the "
                                   "server's certificate.") from exc
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            raise CRMUnavailableError(f"{self.table.crm}: {type(exc).__name__} on "
                                      f"{request.method} {request.path_url}: {exc}") from exc
        if response.status_code in RETRY_STATUSES:
            code, message = self.code_of(response)
            response.close()
            raise self.table.error(response.status_code, code, message, retry_after=
                                   retry_after_seconds(response.headers.get("Retry-After")))
        self.after_response(response)
        return response


def make_session(adapter: RetryingAdapter, ca_file: str | None) -> requests.Session:
    """A session that verifies against ``ca_file`` (else the system store) and ignores the
    environment: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` would override ``verify``, and proxy
    variables must not reroute the CRM's traffic."""
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_file or True
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
