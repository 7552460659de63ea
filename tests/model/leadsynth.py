"""Small synthetic CRM histories with a known signal, shaped like Salesforce Lead records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from connector.mapping import Mapping

MAPPING = {
    "crm": "salesforce", "object": "Lead", "time_field": "CreatedDate",
    "outcome": {"converted_when": [{"field": "IsConverted", "equals": True}],
                "lost_when": [{"field": "Status", "equals": "Closed - Not Converted"}]},
    "features": [
        {"field": "LeadSource", "kind": "category", "label": "Came from {value}"},
        {"field": "Visits", "kind": "number", "label": "{value} site visits"},
        {"field": "Phone", "kind": "text_present", "label": "Phone number {value}"},
        {"field": "Region", "kind": "category", "label": "Region: {value}"},
    ],
    "outputs": {"score": "LS_Score__c", "tier": "LS_Tier__c",
                "reason": {"field": "LS_Reason__c", "max_length": 120}},
    "baseline": {"points": [{"field": "LeadSource", "equals": "Webinar", "points": 1}]},
    "training": {"min_closed": 200, "min_converted": 30},
}


def make_mapping(**changes) -> Mapping:
    """The test mapping, with top-level keys replaced by ``changes``."""
    return Mapping.model_validate({**MAPPING, **changes})


def make_leads(n: int, seed: int = 0, open_share: float = 0.0) -> list[dict]:
    """Leads whose conversion depends on source, visits and phone; the newest are left open."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    leads = []
    for i in range(n):
        source = rng.choice(["Webinar", "Web", "Cold Call", "Partner"], p=[.2, .4, .3, .1])
        visits = int(rng.poisson(3))
        phone = rng.random() < 0.6
        logit = (-2.2 + {"Webinar": 1.5, "Web": 0.3, "Cold Call": -0.8, "Partner": 0.8}[source]
                 + 0.25 * visits + (0.7 if phone else -0.5))
        converted = rng.random() < 1 / (1 + np.exp(-logit))
        lead = {"Id": f"00Q{i:06d}", "LeadSource": str(source), "Visits": visits,
                "Phone": "+1 555 0100" if phone else None,
                "Region": str(rng.choice(["EMEA", "AMER", "APAC"])),
                "CreatedDate": (start + timedelta(hours=6 * i)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000+0000")}
        if i >= n * (1 - open_share):
            lead.update(IsConverted=False, Status="Working - Contacted")
        else:
            lead.update(IsConverted=bool(converted),
                        Status="Closed - Converted" if converted else "Closed - Not Converted")
        leads.append(lead)
    return leads


def make_interaction_leads(n: int, seed: int = 0) -> list[dict]:
    """Closed leads whose conversion hinges on an interaction of two fields: a source converts
    well in some regions and badly in others (no additive effect of either field alone), and
    site visits only count when a phone number is given. A linear model cannot see either."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    good = {("Webinar", "EMEA"), ("Web", "AMER"), ("Cold Call", "APAC"), ("Partner", "AMER"),
            ("Webinar", "APAC"), ("Cold Call", "EMEA")}
    leads = []
    for i in range(n):
        source = str(rng.choice(["Webinar", "Web", "Cold Call", "Partner"]))
        region = str(rng.choice(["EMEA", "AMER", "APAC"]))
        visits = int(rng.poisson(3))
        phone = rng.random() < 0.5
        logit = -1.6 + (1.6 if (source, region) in good else -0.8) + (
            0.45 * (visits - 3) if phone else 0.0)
        converted = bool(rng.random() < 1 / (1 + np.exp(-logit)))
        leads.append({"Id": f"00Q{i:06d}", "LeadSource": source, "Visits": visits,
                      "Phone": "+1 555 0100" if phone else None, "Region": region,
                      "CreatedDate": (start + timedelta(hours=3 * i)).strftime(
                          "%Y-%m-%dT%H:%M:%S.000+0000"),
                      "IsConverted": converted,
                      "Status": "Closed - Converted" if converted else "Closed - Not Converted"})
    return leads


def make_changing_leads(n: int, change_at: float = 0.7, seed: int = 0) -> list[dict]:
    """Closed leads whose pattern turns over at ``change_at`` of the history: every field's
    effect reverses sign (what converted now loses), the rate stays about the same."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    effect = {"Webinar": 1.2, "Web": 0.2, "Cold Call": -0.8, "Partner": 0.6}
    leads = []
    for i in range(n):
        source = str(rng.choice(list(effect)))
        visits = int(rng.poisson(3))
        phone = rng.random() < 0.6
        sign = 1.0 if i < n * change_at else -1.0
        logit = -1.5 + sign * (effect[source] + 0.3 * (visits - 3)) + (0.5 if phone else -0.5)
        converted = bool(rng.random() < 1 / (1 + np.exp(-logit)))
        leads.append(_closed(i, start + timedelta(hours=2 * i), converted, LeadSource=source,
                             Visits=visits, Phone="+1 555 0100" if phone else None,
                             Region="EMEA"))
    return leads


def make_drifting_leads(n: int, seed: int = 0) -> list[dict]:
    """Closed leads whose conversion rate climbs from about 4% to about 40% over the history,
    faster at the end, while the fields' effects weaken (as in the bank demo's last months)."""
    rng = np.random.default_rng(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    effect = {"Webinar": 1.2, "Web": 0.2, "Cold Call": -0.8, "Partner": 0.6}
    leads = []
    for i in range(n):
        t = i / n
        source = str(rng.choice(list(effect), p=[.2, .4, .3, .1]))
        visits = int(rng.poisson(3))
        phone = rng.random() < 0.6
        fields = effect[source] + 0.25 * (visits - 3) + (0.6 if phone else -0.4)
        logit = -3.2 + 3.0 * t ** 3 + (1.0 - 0.6 * t) * fields
        converted = bool(rng.random() < 1 / (1 + np.exp(-logit)))
        leads.append(_closed(i, start + timedelta(hours=2 * i), converted, LeadSource=source,
                             Visits=visits, Phone="+1 555 0100" if phone else None,
                             Region=str(rng.choice(["EMEA", "AMER", "APAC"]))))
    return leads


def _closed(i: int, created: datetime, converted: bool, **fields) -> dict:
    return {"Id": f"00Q{i:06d}", **fields,
            "CreatedDate": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "IsConverted": converted,
            "Status": "Closed - Converted" if converted else "Closed - Not Converted"}
