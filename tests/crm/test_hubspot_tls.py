"""The HubSpot adapter over HTTPS: the sandbox's HubSpot served with TLS from its throwaway CA
(``Sandbox(hubspot_tls=True)``), reached with the connection's ``ca_file``, as a portal behind a
private CA or a TLS-inspecting proxy would be."""

from __future__ import annotations

import pytest

from connector.crm import open_crm
from connector.crm.transport import RetryPolicy
from connector.errors import ConfigError
from connector.records import RecordWrite


@pytest.fixture
def tls_case(start_case):
    """A HubSpot-only case whose emulator speaks TLS."""
    return start_case("hubspot", hubspot_tls=True)


def test_the_adapter_authenticates_pulls_and_writes_over_tls(tls_case):
    info = tls_case.sandbox.info["hubspot"]
    assert info["base_url"].startswith("https://127.0.0.1:") and info["ca_file"]
    connection = tls_case.connection()
    assert str(connection.ca_file) == info["ca_file"] and connection.base_url == info["base_url"]
    ids = tls_case.admin.create(30)

    crm = tls_case.connect()  # authenticates: the first describe call goes over TLS
    tls_case.provision(crm)
    score = tls_case.outputs["score"]
    pulled = [r.id for page in crm.pull_changed(None, [score]) for r in page.records]
    results = crm.write([RecordWrite(i, {score: n}) for n, i in enumerate(ids)])

    assert sorted(pulled) == sorted(ids)
    assert [r.record_id for r in results] == ids and all(r.ok for r in results)
    stored = tls_case.admin.read(ids, [score])
    assert [float(stored[i][score]) for i in ids] == list(range(len(ids)))


def test_without_the_ca_file_the_certificate_is_refused_in_one_line(tls_case):
    tls_case.admin.create(1)
    before = tls_case.admin.stats()["api_calls"]
    with pytest.raises(ConfigError) as raised:
        open_crm(tls_case.connection(ca_file=None), environ=tls_case.environ,
                 policy=RetryPolicy(sleep=tls_case.sleeps))
    message = str(raised.value)
    assert "TLS verification failed" in message and tls_case.sandbox.info["hubspot"]["base_url"] \
        in message
    assert "CERTIFICATE_VERIFY_FAILED" in message and "\n" not in message
    assert "ca_file" in raised.value.hint
    assert tls_case.sleeps.delays == []  # a refused certificate is not retried
    assert tls_case.admin.stats()["api_calls"] == before  # no request reached the API
