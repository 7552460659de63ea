"""Throughput of the Salesforce sandbox: seed, pull every lead, write a score to every lead.

Starts ``Sandbox(crms=("salesforce",), seed="bank")``, creates a ``LS_Score__c`` field through the
Tooling API and grants it through FieldPermissions (as the connector does), pulls all leads with
``query_all`` on the incremental query shape, then updates every lead through
``composite/sobjects`` PATCH in batches of 200 with the unmodified simple-salesforce client.
Prints one JSON object. Acceptance: ``startup_s`` < 15 and ``query_all_s`` +
``composite_update_s`` < 60 at zero latency.

    python bench/sandbox_throughput.py [--faults SPEC] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import json
import time

import requests
from simple_salesforce import Salesforce

from connector.sandbox import Sandbox

BATCH = 200
PULL = ("SELECT Id, LastName, Status, IsConverted, Age__c, Job__c, Duration__c, Euribor3m__c, "
        "SystemModstamp FROM Lead WHERE SystemModstamp >= 2000-01-01T00:00:00Z "
        "ORDER BY SystemModstamp, Id")


def client(info: dict) -> Salesforce:
    """simple-salesforce in direct mode, as in crm-api-notes 3.1."""
    session = requests.Session()
    session.verify, session.trust_env = info["ca_file"], False
    token = session.post(info["token_url"], data={
        "grant_type": "password", "client_id": info["consumer_key"],
        "client_secret": info["consumer_secret"], "username": info["username"],
        "password": info["password"] + info["security_token"]}, timeout=30).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                      session=session)


def provision_score_field(sf: Salesforce) -> None:
    """Create LS_Score__c and grant read/edit to the admin profile's permission set."""
    sf.restful("tooling/sobjects/CustomField", method="POST", timeout=30, json={
        "FullName": "Lead.LS_Score__c",
        "Metadata": {"type": "Number", "label": "Lead score", "precision": 3, "scale": 0}})
    parent = sf.query("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true")["records"][0]["Id"]
    sf.restful("sobjects/FieldPermissions", method="POST", timeout=30, json={
        "ParentId": parent, "SobjectType": "Lead", "Field": "Lead.LS_Score__c",
        "PermissionsRead": True, "PermissionsEdit": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    started = time.perf_counter()
    with Sandbox(crms=("salesforce",), seed="bank", faults=args.faults,
                 latency_ms=args.latency_ms) as sandbox:
        startup_s = time.perf_counter() - started
        sf = client(sandbox.info["salesforce"])
        provision_score_field(sf)
        began = time.perf_counter()
        leads = sf.query_all(PULL, timeout=60)["records"]
        query_all_s = time.perf_counter() - began
        began = time.perf_counter()
        ok = failed = 0
        for start in range(0, len(leads), BATCH):
            chunk = leads[start:start + BATCH]
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": "Lead"}, "id": lead["Id"], "LS_Score__c": (start + i) % 100}
                for i, lead in enumerate(chunk)]}
            for result in sf.restful("composite/sobjects", method="PATCH", json=body, timeout=60):
                ok, failed = (ok + 1, failed) if result["success"] else (ok, failed + 1)
        composite_update_s = time.perf_counter() - began
        stats = sandbox.salesforce.stats()
        sf.session.close()  # an idle TLS keep-alive connection would stall the server's shutdown
    print(json.dumps({
        "records": len(leads), "startup_s": round(startup_s, 3), "query_all_s": round(query_all_s, 3),
        "composite_update_s": round(composite_update_s, 3),
        "total_pull_and_update_s": round(query_all_s + composite_update_s, 3),
        "updated": ok, "rejected": failed, "composite_requests": -(-len(leads) // BATCH),
        "records_per_s": round(2 * len(leads) / (query_all_s + composite_update_s), 1),
        "api_calls": stats["api_calls"], "faults": args.faults, "latency_ms": args.latency_ms,
    }))


if __name__ == "__main__":
    main()
