"""Fixtures for the CRM adapter tests: a fresh sandbox per test, admin helpers, a sleep recorder.

Every test talks real HTTP to its own emulator (a fresh one starts in ~0.3 s), so tests never
see each other's records, stamps or rate buckets. Setup goes through the public APIs with the
unmodified SDKs, as an admin or another integration would (:class:`SalesforceAdmin`,
:class:`HubSpotAdmin`); the adapter under test is only ever reached through its CRM interface.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
)
from simple_salesforce import Salesforce

from connector.config import ConnectionConfig
from connector.crm import open_crm
from connector.crm.transport import RetryPolicy
from connector.records import FieldSpec
from connector.sandbox import Sandbox

OUTPUTS = (("score", "number", None, (3, 0)), ("tier", "string", 20, None),
           ("reason", "text", 1000, None), ("probability", "number", None, (5, 4)),
           ("model_version", "string", 40, None), ("scored_at", "datetime", None, None))
"""The fields leadscore writes: (role, kind, length, (precision, scale))."""


def output_specs(crm: str) -> list[FieldSpec]:
    """:data:`OUTPUTS` named the way ``crm`` names custom fields (the sync engine builds the
    same from a mapping)."""
    specs = []
    for role, kind, length, digits in OUTPUTS:
        name = f"LS_{role.title()}__c" if crm == "salesforce" else f"ls_{role}"
        precision, scale = digits or (None, None)
        specs.append(FieldSpec(name, f"Lead {role.replace('_', ' ')}", kind, length=length,
                               precision=precision, scale=scale))
    return specs


@dataclass
class SleepRecorder:
    """A stand-in for ``time.sleep`` that records each requested delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# -- connections to a sandbox ------------------------------------------------------------------


def salesforce_connection(sandbox: Sandbox, **overrides: Any) -> ConnectionConfig:
    """A connection config reaching ``sandbox``'s Salesforce (password flow unless ``auth``)."""
    info = sandbox.info["salesforce"]
    options = {"auth": "password", "token_url": info["token_url"], "ca_file": info["ca_file"],
               "api_version": info["api_version"], **overrides}
    return ConnectionConfig(name="sf-test", crm="salesforce", mapping=Path("unused.yaml"),
                            **options)


def salesforce_environ(sandbox: Sandbox) -> dict[str, str]:
    """The variables every Salesforce flow reads, with the sandbox's credentials."""
    info = sandbox.info["salesforce"]
    return {f"SALESFORCE_{role.upper()}": info[key] for role, key in (
        ("consumer_key", "consumer_key"), ("consumer_secret", "consumer_secret"),
        ("username", "username"), ("password", "password"),
        ("security_token", "security_token"), ("private_key_file", "jwt_private_key_file"))}


def hubspot_connection(sandbox: Sandbox, **overrides: Any) -> ConnectionConfig:
    """A connection config reaching ``sandbox``'s HubSpot (trusting its CA when it speaks TLS)."""
    info = sandbox.info["hubspot"]
    options = {"base_url": info["base_url"], "ca_file": info["ca_file"], **overrides}
    return ConnectionConfig(name="hs-test", crm="hubspot", mapping=Path("unused.yaml"),
                            auth="private_app", **options)


def hubspot_environ(sandbox: Sandbox) -> dict[str, str]:
    """``HUBSPOT_ACCESS_TOKEN`` holding the sandbox's token."""
    return {"HUBSPOT_ACCESS_TOKEN": sandbox.info["hubspot"]["access_token"]}


# -- admin helpers (setup and verification through the public APIs) -----------------------------


class SalesforceAdmin:
    """An org admin using simple-salesforce directly: create leads, read them, grant FLS."""

    def __init__(self, sandbox: Sandbox) -> None:
        info = sandbox.info["salesforce"]
        session = requests.Session()
        session.trust_env = False  # keep REQUESTS_CA_BUNDLE from overriding the CA
        session.verify = info["ca_file"]
        token = session.post(info["token_url"], data={
            "grant_type": "password", "client_id": info["consumer_key"],
            "client_secret": info["consumer_secret"], "username": info["username"],
            "password": info["password"] + info["security_token"]}, timeout=10).json()
        self.sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                             session=session, version=info["api_version"])
        self.store = sandbox.salesforce

    def create(self, count: int, **values: Any) -> list[str]:
        """Create ``count`` leads (200 per composite call); their ids in creation order."""
        ids: list[str] = []
        for start in range(0, count, 200):
            records = [{"attributes": {"type": "Lead"}, "LastName": f"Lead {n}",
                        "Company": "Acme", **values} for n in range(start, min(count, start + 200))]
            saves = self.sf.restful("composite/sobjects", method="POST",
                                    json={"allOrNone": True, "records": records})
            ids += [save["id"] for save in saves]
        return ids

    def read(self, ids: list[str], fields: list[str]) -> dict[str, dict]:
        """``{id: {field: value}}`` for ``ids``, read back with SOQL."""
        found: dict[str, dict] = {}
        for start in range(0, len(ids), 200):
            quoted = ", ".join(f"'{i}'" for i in ids[start:start + 200])
            soql = f"SELECT Id, {', '.join(fields)} FROM Lead WHERE Id IN ({quoted})"
            for row in self.sf.query_all_iter(soql):
                found[row["Id"]] = {name: row[name] for name in fields}
        return found

    def grant(self, fields: list[str]) -> None:
        """Grant read and edit on ``Lead.<field>`` to the admin profile's permission set."""
        parent = self.sf.query("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true")
        for name in fields:
            self.sf.restful("sobjects/FieldPermissions", method="POST", json={
                "ParentId": parent["records"][0]["Id"], "SobjectType": "Lead",
                "Field": f"Lead.{name}", "PermissionsRead": True, "PermissionsEdit": True})

    def delete(self, record_id: str) -> None:
        """Delete one lead."""
        self.sf.restful(f"sobjects/Lead/{record_id}", method="DELETE")

    def merge(self, primary: str, other: str) -> str:
        """Merge ``other`` into ``primary`` (SOAP merge() in a real org: the sandbox's admin
        hook here); the survivor's id."""
        self.store.merge(primary, [other])
        return primary

    def close(self) -> None:
        """Close the admin's connections."""
        self.sf.session.close()

    def stats(self) -> dict:
        """The emulator's counters."""
        return self.store.stats()


class HubSpotAdmin:
    """Another integration of the portal using hubspot-api-client directly."""

    _emails = itertools.count(1)

    def __init__(self, sandbox: Sandbox) -> None:
        info = sandbox.info["hubspot"]
        self.client = HubSpot(access_token=info["access_token"], host=info["base_url"],
                              client_side_validation=True, ssl_ca_cert=info["ca_file"])
        self.base_url = info["base_url"]
        self.store = sandbox.hubspot

    def create(self, count: int, **values: Any) -> list[str]:
        """Create ``count`` contacts (100 per batch call); ids in creation order. Empties the
        rate buckets as it goes, so the test's own calls start from a quiet portal."""
        ids: list[str] = []
        for start in range(0, count, 100):
            inputs = [SimplePublicObjectBatchInputForCreate(
                properties={"email": f"contact{next(self._emails)}@example.com",
                            "firstname": f"Contact {n}", **values}, associations=[])
                for n in range(start, min(count, start + 100))]
            answer = self.client.crm.objects.batch_api.create(
                "contacts", BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
            ids += [record.id for record in answer.results]
            self.store.reset_rate_limits()  # setup is not what these tests measure
        return ids

    def read(self, ids: list[str], fields: list[str]) -> dict[str, dict]:
        """``{id: {property: value}}`` for ``ids`` through batch read."""
        found: dict[str, dict] = {}
        for start in range(0, len(ids), 100):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in ids[start:start + 100]],
                properties=fields, properties_with_history=[])
            for record in self.client.crm.objects.batch_api.read("contacts", body).results:
                found[record.id] = {name: record.properties.get(name) for name in fields}
        self.store.reset_rate_limits()
        return found

    def stats(self) -> dict:
        """The emulator's counters."""
        return self.store.stats()

    def delete(self, record_id: str) -> None:
        """Archive one contact."""
        self.client.crm.objects.basic_api.archive("contacts", record_id)

    def merge(self, primary: str, other: str) -> str:
        """Merge ``other`` into ``primary`` with ``POST .../merge`` (the SDK's generic
        request: 12.0 has no merge helper); the survivor's id, a new one."""
        answer = self.client.api_request({
            "method": "POST", "path": "/crm/v3/objects/contacts/merge", "base_url": self.base_url,
            "body": {"primaryObjectId": primary, "objectIdToMerge": other}})
        answer.raise_for_status()
        return answer.json()["id"]

    def close(self) -> None:
        """Nothing to close: the SDK's pools are released with the client."""


# -- the parametrized case ---------------------------------------------------------------------


@dataclass
class Case:
    """One CRM under test: its sandbox, an admin, and the fields the user stories write."""

    name: str
    sandbox: Sandbox
    admin: SalesforceAdmin | HubSpotAdmin
    environ: dict[str, str]
    sleeps: SleepRecorder
    picklist: tuple[str, str]  # (field, an allowed value)
    outputs: dict[str, str] = field(default_factory=dict)  # role -> field name
    clients: list = field(default_factory=list)

    def connection(self, **overrides: Any) -> ConnectionConfig:
        """A connection to this case's sandbox."""
        if self.name == "salesforce":
            return salesforce_connection(self.sandbox, **overrides)
        return hubspot_connection(self.sandbox, **overrides)

    def connect(self, **overrides: Any):
        """A CRM client for this case, retrying with the recording sleep."""
        client = open_crm(self.connection(**overrides), environ=self.environ,
                          policy=RetryPolicy(sleep=self.sleeps))
        self.clients.append(client)
        return client

    def close(self) -> None:
        """Close every connection to the sandbox, so it stops at once (an open keep-alive
        connection holds the server's shutdown for its 10-second grace period)."""
        for client in self.clients:
            client.close()
        self.admin.close()

    def specs(self) -> list[FieldSpec]:
        """Every output field for this CRM (score, tier, reason first)."""
        return output_specs(self.name)

    def provision(self, crm) -> None:
        """Create the output fields and (Salesforce) grant them, as the admin is told to."""
        specs = self.specs()[:3]
        crm.ensure_fields(specs)
        if isinstance(self.admin, SalesforceAdmin):
            self.admin.grant([spec.name for spec in specs])
        crm.describe(refresh=True)
        roles = ("score", "tier", "reason")
        self.outputs = {role: spec.name for role, spec in zip(roles, specs, strict=True)}


@contextmanager
def running_case(name: str, **sandbox_options: Any) -> Iterator[Case]:
    """Start a fresh sandbox for ``name`` and yield its :class:`Case`; stop it afterwards."""
    with Sandbox(crms=(name,), **sandbox_options) as sandbox:
        if name == "salesforce":
            case = Case(name, sandbox, SalesforceAdmin(sandbox), salesforce_environ(sandbox),
                        SleepRecorder(), picklist=("Status", "Working - Contacted"))
        else:
            case = Case(name, sandbox, HubSpotAdmin(sandbox), hubspot_environ(sandbox),
                        SleepRecorder(), picklist=("hs_lead_status", "IN_PROGRESS"))
        try:
            yield case
        finally:
            case.close()


@pytest.fixture(params=["salesforce", "hubspot"], ids=["salesforce", "hubspot"])
def case(request) -> Iterator[Case]:
    """Each CRM in turn, on its own fresh sandbox."""
    with running_case(request.param) as started:
        yield started


@pytest.fixture
def crm(case: Case):
    """The adapter under test, connected to ``case``'s sandbox, output fields provisioned."""
    client = case.connect()
    case.provision(client)
    return client


@pytest.fixture
def start_case() -> Iterator:
    """``start_case(name, **sandbox_options)``: a :class:`Case` on a sandbox built with those
    options (tier, daily limit...), stopped after the test."""
    with ExitStack() as stack:
        yield lambda name, **options: stack.enter_context(running_case(name, **options))


@pytest.fixture
def salesforce(start_case) -> Case:
    """A Salesforce-only case."""
    return start_case("salesforce")


@pytest.fixture
def hubspot(start_case) -> Case:
    """A HubSpot-only case."""
    return start_case("hubspot")
