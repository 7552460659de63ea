"""Unmodified SDK clients for a running sandbox, for benchmarks that act as a CRM user would
(creating leads, reading a field back). Cached per sandbox."""

from __future__ import annotations

from functools import cache

import requests
from hubspot import HubSpot
from simple_salesforce import Salesforce


@cache
def _salesforce(token_url: str, ca_file: str, username: str, password: str, token: str,
                key: str, secret: str) -> Salesforce:
    session = requests.Session()
    session.verify, session.trust_env = ca_file, False
    answer = session.post(token_url, data={
        "grant_type": "password", "client_id": key, "client_secret": secret,
        "username": username, "password": password + token}, timeout=30).json()
    return Salesforce(instance_url=answer["instance_url"], session_id=answer["access_token"],
                      session=session)


def salesforce_client(sandbox) -> Salesforce:
    """simple-salesforce in direct mode against ``sandbox`` (crm-api-notes 3.1)."""
    info = sandbox.info["salesforce"]
    return _salesforce(info["token_url"], info["ca_file"], info["username"], info["password"],
                       info["security_token"], info["consumer_key"], info["consumer_secret"])


@cache
def _hubspot(base_url: str, token: str) -> HubSpot:
    return HubSpot(access_token=token, host=base_url)


def hubspot_client(sandbox) -> HubSpot:
    """The HubSpot SDK against ``sandbox``."""
    info = sandbox.info["hubspot"]
    return _hubspot(info["base_url"], info["access_token"])
