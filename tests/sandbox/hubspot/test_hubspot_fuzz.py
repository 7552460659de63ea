"""Whatever a client sends, the emulator answers in HubSpot's shape and never with a 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers(-5, 20_000) | st.text(max_size=8) | \
    st.sampled_from(["EQ", "IN", "BETWEEN", "email", "bank_age", "createdate", "1001", "-email"])
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["inputs", "id", "properties", "filterGroups", "filters", "propertyName",
                     "operator", "value", "values", "highValue", "sorts", "limit", "after",
                     "query", "idProperty", "propertiesWithHistory", "name", "label", "type",
                     "fieldType", "groupName", "options", "associations", "direction"]),
    inner, max_size=5), max_leaves=12)
paths = st.sampled_from([
    "/crm/v3/objects/contacts/search", "/crm/v3/objects/contacts/batch/read",
    "/crm/v3/objects/contacts/batch/update", "/crm/v3/objects/companies/batch/create",
    "/crm/v3/objects/leads", "/crm/v3/properties/companies", "/crm/v3/properties/leads/groups"])
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(path=paths, body=json_values)
def test_any_json_body(http, base_url, relaxed, path, body):
    answer = http.post(base_url + path, json=body)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        error = answer.json()
        assert error["status"] == "error" and error["correlationId"] and error["category"]


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["limit", "after", "archived", "properties",
                                              "idProperty", "propertiesWithHistory"]),
                             st.text(max_size=6), max_size=4),
       record=st.sampled_from(["", "/1001", "/abc", "/999999999"]))
def test_any_query_string(http, base_url, relaxed, query, record):
    answer = http.get(f"{base_url}/crm/v3/objects/contacts{record}", params=query)
    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 400, 404), answer.text

