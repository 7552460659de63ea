"""The bank data as HubSpot contacts: one property per column, closed/open states, outcomes."""

from __future__ import annotations

from collections import Counter

from connector.sandbox.hubspot_portal import HubSpotPortal
from connector.sandbox.seeding import load_bank


def test_every_row_is_a_contact_with_its_columns(client, portal):
    assert portal.stats()["records"]["contacts"] >= 41188
    first = client.crm.contacts.basic_api.get_by_id(
        "1001", properties=["bank_age", "bank_job", "bank_emp_var_rate", "bank_pdays",
                            "lifecyclestage", "hs_lead_status"])
    assert first.properties["bank_age"] == "56" and first.properties["bank_job"] == "housemaid"
    assert first.properties["bank_emp_var_rate"] == "1.1"
    assert first.properties["createdate"] == "2008-05-01T09:00:00.000Z"
    last = client.crm.contacts.basic_api.get_by_id(str(1000 + 41188))
    assert last.properties["createdate"].startswith("2010-11-30T17:00:00")


def test_closed_and_open_rows_map_to_lifecycle_and_lead_status(portal):
    data = load_bank()
    states = Counter()
    for row in data.rows[:: 97]:
        record_id = str(1001 + row.index)
        values = portal.values("contacts", record_id)
        stage, status = values.get("lifecyclestage"), values.get("hs_lead_status")
        if row.is_open:
            assert stage == "lead" and status in ("NEW", "OPEN", "IN_PROGRESS",
                                                  "ATTEMPTED_TO_CONTACT")
            assert portal.hidden_outcomes()[record_id] == row.outcome
        elif row.outcome:
            assert stage == "customer" and status is None
        else:
            assert (stage, status) == ("lead", "UNQUALIFIED")
        states[(row.is_open, row.outcome)] += 1
    assert len(states) == 4


def test_the_true_outcome_of_open_contacts_stays_out_of_the_crm(client, portal):
    names = {p.name for p in client.crm.properties.core_api.get_all("contacts").results}
    assert not any(name in ("bank_y", "y") for name in names)
    outcomes = portal.hidden_outcomes()
    assert len(outcomes) == 8238 and 0.05 < sum(outcomes.values()) / len(outcomes) < 0.5


def test_seeding_is_deterministic_and_goes_through_the_api_validation():
    data = load_bank()
    small = type(data)(data.source, data.columns, data.rows[:50])
    one, two = (HubSpotPortal(access_token="t", clock=lambda: 1.7e9) for _ in range(2))
    one.seed(small)
    two.seed(small)
    assert one.store.tables["contacts"].keys() == two.store.tables["contacts"].keys()
    assert [r.values for r in one.store.tables["contacts"].values()] == \
        [r.values for r in two.store.tables["contacts"].values()]
    assert one.stats()["records_created"] == 0  # seeding is not API traffic
