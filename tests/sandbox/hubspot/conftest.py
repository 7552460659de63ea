"""One HubSpot sandbox (seeded with the bank data) for the whole session, and SDK clients for it.

Every test starts from the same conditions: no faults, no latency, empty rate-limit buckets at
the real Professional limits, modification stamps moving only on changed values.
"""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot
from urllib3.util.retry import Retry

from connector.sandbox import Sandbox
from connector.sandbox.hubspot_ratelimit import RateLimits

# Notes 3.2: no retries of our own, so a 429 surfaces at once as ApiException.
NO_RETRY = dict(total=2, connect=2, read=0, status=0, respect_retry_after_header=False)
RELAXED = RateLimits(ten_secondly=100_000, search_secondly=10_000, daily=10_000_000)


@pytest.fixture(scope="session")
def sandbox():
    """The running sandbox (HubSpot only, bank data seeded)."""
    with Sandbox(crms=("hubspot",), seed="bank") as running:
        yield running


@pytest.fixture(scope="session")
def portal(sandbox):
    """The sandbox's in-memory portal, to inspect what the API did."""
    return sandbox.hubspot


@pytest.fixture(scope="session")
def base_url(sandbox) -> str:
    """Where the emulator listens, e.g. ``http://127.0.0.1:40123``."""
    return sandbox.info["hubspot"]["base_url"]


@pytest.fixture(scope="session")
def token(sandbox) -> str:
    """The private-app token the emulator accepts."""
    return sandbox.info["hubspot"]["access_token"]


@pytest.fixture(scope="session")
def client(base_url, token) -> HubSpot:
    """The unmodified SDK client, validating responses client-side."""
    return HubSpot(access_token=token, host=base_url, client_side_validation=True,
                   retry=Retry(**NO_RETRY))


@pytest.fixture(scope="session")
def http(token) -> requests.Session:
    """A plain requests session with the bearer token, for raw wire checks."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.fixture(autouse=True)
def fresh_conditions(sandbox, portal):
    """Undo what any test changed on the shared sandbox."""
    sandbox.set_faults("", latency_ms=0, jitter_ms=0)
    portal.reset_rate_limits("professional")
    portal.bump_on_every_write = False
    yield
    sandbox.set_faults("", latency_ms=0, jitter_ms=0)
    portal.reset_rate_limits("professional")


@pytest.fixture
def relaxed(portal):
    """Lift the rate limits for a test that makes many calls on purpose."""
    portal.reset_rate_limits(RELAXED)
