"""A live Salesforce sandbox for the whole session and clients built the way the connector builds them.

Clients follow crm-api-notes 3.1: a token from ``token_url`` with requests, then the unmodified
``simple_salesforce.Salesforce`` in direct mode over TLS, trusting the sandbox CA explicitly.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce

from connector.sandbox import Sandbox
from connector.sandbox.seeding import SeedColumn, SeedData, SeedRow

ROWS = 2500  # more than one 2,000-record query page


def small_seed() -> SeedData:
    """2,500 deterministic leads with an int, a float and a text column; the last 500 open."""
    columns = (SeedColumn("age", "int", "Age__c", "bank_age", "Age"),
               SeedColumn("score", "float", "Score__c", "bank_score", "Score"),
               SeedColumn("job", "text", "Job__c", "bank_job", "Job"))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = tuple(
        SeedRow(index=i, created_at=start + timedelta(minutes=i),
                values={"age": 20 + i % 50, "score": round(i / 7, 3),
                        "job": ("admin", "technician", None)[i % 3]},
                is_open=i >= ROWS - 500, outcome=i % 4 == 0)
        for i in range(ROWS))
    return SeedData(source="tests", columns=columns, rows=rows)


@pytest.fixture(scope="session")
def sandbox():
    with Sandbox(crms=("salesforce",), seed=small_seed(), daily_api_limit=1_000_000) as running:
        yield running


@pytest.fixture(scope="session")
def info(sandbox) -> dict:
    return sandbox.info["salesforce"]


@pytest.fixture(scope="session")
def org(sandbox):
    return sandbox.salesforce


@pytest.fixture
def http(info):
    """A requests session that trusts the sandbox CA (and nothing from the environment)."""
    session = requests.Session()
    session.verify, session.trust_env = info["ca_file"], False
    yield session
    # Closing matters: an idle TLS keep-alive connection stalls the server's shutdown (~10 s).
    # Responses kept alive by a caught exception's traceback still hold their connection after
    # close(), so collect them too.
    session.close()
    gc.collect()


def password_token(http, info) -> dict:
    """The token endpoint's answer to the password grant with the sandbox credentials."""
    response = http.post(info["token_url"], data={
        "grant_type": "password", "client_id": info["consumer_key"],
        "client_secret": info["consumer_secret"], "username": info["username"],
        "password": info["password"] + info["security_token"]}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def new_token(http, info):
    """Call to get a fresh password-grant token answer."""
    return lambda: password_token(http, info)


@pytest.fixture
def make_client(http, info):
    """Build a direct-mode simple-salesforce client with a fresh token (notes 3.1 recipe)."""
    def build(version: str | None = None) -> Salesforce:
        token = password_token(http, info)
        kwargs = {"version": version} if version else {}
        return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                          session=http, **kwargs)
    return build


@pytest.fixture
def sf(make_client) -> Salesforce:
    return make_client()


@pytest.fixture(autouse=True)
def no_faults(sandbox):
    """Every test starts and ends with no faults and a full API allowance."""
    sandbox.set_faults("")
    yield
    sandbox.set_faults("")
    sandbox.salesforce.set_remaining_api_calls(sandbox.salesforce.daily_api_limit)
