"""A CRM user's hand in the lifecycle tests: delete, close, merge and GDPR-delete records
through the real API routes with the unmodified SDKs (Salesforce's merge, SOAP-only in a real
org, through the sandbox's admin hook)."""

from __future__ import annotations

import requests
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput
from simple_salesforce import Salesforce

from connector.sandbox import Sandbox


class User:
    """Someone working in the org or portal, beside leadscore."""

    def __init__(self, sandbox: Sandbox, crm: str) -> None:
        self.crm, self.sandbox = crm, sandbox
        info = sandbox.info[crm]
        if crm == "salesforce":
            session = requests.Session()
            session.trust_env, session.verify = False, info["ca_file"]
            token = session.post(info["token_url"], data={
                "grant_type": "password", "client_id": info["consumer_key"],
                "client_secret": info["consumer_secret"], "username": info["username"],
                "password": info["password"] + info["security_token"]}, timeout=10).json()
            self.sf = Salesforce(instance_url=token["instance_url"],
                                 session_id=token["access_token"], session=session,
                                 version=info["api_version"])
        else:
            self.hs = HubSpot(access_token=info["access_token"], host=info["base_url"],
                              client_side_validation=True)
            self.http = requests.Session()
            self.http.trust_env = False
            self.http.headers["Authorization"] = f"Bearer {info['access_token']}"
            self.base_url = info["base_url"]

    def delete(self, record_id: str) -> None:
        """Delete (Salesforce: to the recycle bin) or archive (HubSpot) one record."""
        if self.crm == "salesforce":
            self.sf.restful(f"sobjects/Lead/{record_id}", method="DELETE")
        else:
            self.hs.crm.objects.basic_api.archive("contacts", record_id)

    def close(self, record_id: str) -> None:
        """Close one lead as lost."""
        if self.crm == "salesforce":
            self.sf.restful(f"sobjects/Lead/{record_id}", method="PATCH",
                            json={"Status": "Closed - Not Converted"})
        else:
            self.hs.crm.objects.basic_api.update("contacts", record_id, SimplePublicObjectInput(
                properties={"hs_lead_status": "UNQUALIFIED"}))

    def merge(self, primary: str, other: str) -> str:
        """Merge ``other`` into ``primary``; the surviving id (HubSpot: a new one)."""
        if self.crm == "salesforce":
            answer = requests.post(self.sandbox.info["salesforce"]["instance_url"]
                                   + "/__sandbox/merge", json={"master": primary,
                                                               "losers": [other]},
                                   verify=self.sandbox.info["salesforce"]["ca_file"], timeout=10)
            answer.raise_for_status()
            return primary
        answer = self.http.post(f"{self.base_url}/crm/v3/objects/contacts/merge", json={
            "primaryObjectId": primary, "objectIdToMerge": other}, timeout=10)
        answer.raise_for_status()
        return answer.json()["id"]

    def gdpr_delete(self, email: str) -> None:
        """HubSpot's GDPR delete of the contact with ``email``."""
        answer = self.http.post(f"{self.base_url}/crm/v3/objects/contacts/gdpr-delete",
                                json={"objectId": email, "idProperty": "email"}, timeout=10)
        assert answer.status_code == 204, answer.text
