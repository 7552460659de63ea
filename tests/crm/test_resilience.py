"""A pull-and-write run through injected faults finishes with every record written once, and
the retry delays it asked for are the ones the policy promises (the sleep is recorded, not slept).
Also: the retry policy on its own, with no network."""

from __future__ import annotations

import logging
import zlib

import pytest

from connector.crm import write_all
from connector.crm.transport import RetryPolicy, retry_after_seconds
from connector.errors import CRMRateLimitedError, CRMRequestError, CRMUnavailableError
from connector.records import RecordWrite

# 20% 503s, 10% 429s carrying Retry-After: 2, 5% dropped connections, and Salesforce sessions
# that expire every 10 calls (HubSpot private-app tokens do not expire).
FAULTS = "503:0.2,429:0.1,drop:0.05,expire:10,retryafter:2,seed:1"


def _score(record_id: str) -> int:
    return zlib.crc32(record_id.encode()) % 101


def test_5000_leads_pulled_and_written_through_faults(case, crm, caplog):
    ids = case.admin.create(5_000)
    score = case.outputs["score"]
    before = case.admin.stats()
    case.sandbox.set_faults(FAULTS)
    results = []

    with caplog.at_level(logging.WARNING, logger="connector.crm.transport"):
        for page in crm.pull_changed(None, [score]):
            writes = [RecordWrite(r.id, {score: _score(r.id)}) for r in page.records]
            for batch in write_all(crm, writes):
                results += batch
    case.sandbox.set_faults("")

    stats = case.admin.stats()
    assert sorted(r.record_id for r in results) == sorted(ids) and all(r.ok for r in results)
    assert stats["records_written"] - before["records_written"] == 5_000  # each exactly once
    stored = case.admin.read(ids, [score])
    assert all(float(stored[i][score]) == _score(i) for i in ids)
    if case.name == "salesforce":
        assert stats["http_401"] - before["http_401"] >= 3  # sessions expired and were renewed

    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == len(case.sleeps.delays)
    asked = list(zip(retries, case.sleeps.delays, strict=True))
    rate_limited = [d for m, d in asked if "answered 429" in m]
    unavailable = [(m, d) for m, d in asked if "answered 429" not in m]
    assert rate_limited and unavailable
    assert all(2.0 <= d <= 2.2 for d in rate_limited)  # Retry-After plus at most 10% jitter
    for message, delay in unavailable:  # exponential from 0.5 s, plus up to 0.5 s of jitter
        attempt = int(message.split("(attempt ")[1].split(")")[0])
        floor = min(0.5 * 2 ** (attempt - 1), 30.0)
        assert floor <= delay <= floor + 0.5
    assert any("drop" in m or "Error" in m for m, _ in unavailable)  # dropped connections too


def test_hubspot_record_locks_are_waited_out(hubspot, caplog):
    """HubSpot answers 423 Locked to write bursts and documents a 2-second lock: the retry waits
    that long (no Retry-After is sent) and every record still lands once."""
    crm = hubspot.connect()
    hubspot.provision(crm)
    ids = hubspot.admin.create(500)
    score = hubspot.outputs["score"]
    before = hubspot.admin.stats()["records_written"]
    hubspot.sandbox.set_faults("hubspot.batch_update:423:0.4,seed:4")
    with caplog.at_level(logging.WARNING, logger="connector.crm.transport"):
        results = [r for batch in write_all(crm, [RecordWrite(i, {score: _score(i)}) for i in ids])
                   for r in batch]
    hubspot.sandbox.set_faults("")
    assert all(r.ok for r in results) and len(results) == 500
    assert hubspot.admin.stats()["records_written"] - before == 500
    locked = [d for r, d in zip([r.getMessage() for r in caplog.records
                                 if r.getMessage().startswith("retrying")],
                                hubspot.sleeps.delays, strict=True) if "answered 423" in r]
    assert locked and all(2.0 <= d <= 2.2 for d in locked)


# -- the policy alone --------------------------------------------------------------------------


class Flaky:
    """Fails with the given errors in turn, then answers "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_retry_after_is_honoured_with_a_little_jitter():
    delays: list[float] = []
    policy = RetryPolicy(sleep=delays.append)
    action = Flaky(CRMRateLimitedError("429", retry_after=3.0), CRMUnavailableError("503"))
    assert policy.call(action) == "done" and action.calls == 3
    assert 3.0 <= delays[0] <= 3.3 and 1.0 <= delays[1] <= 1.5  # second attempt: 0.5 * 2


def test_a_request_that_cannot_succeed_is_not_retried():
    delays: list[float] = []
    action = Flaky(CRMRequestError("400 MALFORMED_QUERY"))
    with pytest.raises(CRMRequestError):
        RetryPolicy(sleep=delays.append).call(action)
    assert action.calls == 1 and delays == []


def test_attempts_run_out_and_the_last_error_is_raised():
    delays: list[float] = []
    action = Flaky(*[CRMUnavailableError(f"503 #{n}") for n in range(5)])
    with pytest.raises(CRMUnavailableError, match="#2"):
        RetryPolicy(attempts=3, sleep=delays.append).call(action)
    assert action.calls == 3 and len(delays) == 2 and delays[1] >= 1.0


def test_a_retry_after_longer_than_we_wait_goes_to_the_caller():
    delays: list[float] = []
    action = Flaky(CRMRateLimitedError("429 daily", retry_after=3_600))
    with pytest.raises(CRMRateLimitedError):
        RetryPolicy(sleep=delays.append).call(action)
    assert delays == []


def test_retry_after_reads_seconds_and_http_dates():
    from datetime import UTC, datetime
    now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("Wed, 01 May 2024 10:00:30 GMT", now=lambda: now) == 30.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
