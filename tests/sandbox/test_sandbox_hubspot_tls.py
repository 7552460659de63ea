"""``Sandbox(hubspot_tls=True)``: the HubSpot emulator over TLS from the Salesforce side's CA.

The unmodified hubspot-api-client reaches it with ``ssl_ca_cert``; without it the certificate
is refused. The default stays plain HTTP with no CA file.
"""

from __future__ import annotations

import pytest
import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from connector.sandbox import Sandbox

NO_RETRY = Retry(total=0, respect_retry_after_header=False)


def test_default_hubspot_is_plain_http_without_a_ca_file():
    with Sandbox(crms=("hubspot",)) as sandbox:
        info = sandbox.info["hubspot"]
        assert info["base_url"].startswith("http://127.0.0.1:") and info["ca_file"] is None


def test_hubspot_over_tls_shares_the_salesforce_ca():
    with Sandbox(hubspot_tls=True) as sandbox:
        hubspot, salesforce = sandbox.info["hubspot"], sandbox.info["salesforce"]
        assert hubspot["base_url"].startswith("https://127.0.0.1:")
        assert hubspot["admin_url"] == f"{hubspot['base_url']}/__sandbox"
        assert hubspot["ca_file"] == salesforce["ca_file"]
        trusted = HubSpot(access_token=hubspot["access_token"], host=hubspot["base_url"],
                          ssl_ca_cert=hubspot["ca_file"], client_side_validation=True,
                          retry=NO_RETRY)
        assert trusted.crm.contacts.basic_api.get_page(limit=1).results is not None
        stranger = HubSpot(access_token=hubspot["access_token"], host=hubspot["base_url"],
                           retry=NO_RETRY)
        with pytest.raises(urllib3.exceptions.MaxRetryError) as refused:
            stranger.crm.contacts.basic_api.get_page(limit=1)
        assert isinstance(refused.value.reason, urllib3.exceptions.SSLError)
        assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value.reason)
