"""Real responses of the emulator, success and error, validated against HubSpot's OpenAPI specs.

The specs live in ``../shared/specs/hubspot`` (read through ``tests.shared_data``, skipped when
absent). Known differences (specs README, notes 2.7): 429 bodies carry ``errorType`` and
``policyName`` instead of ``category``, and HubSpot's 500 body has no ``category`` either, so
those two are checked against what HubSpot sends instead. The
specs declare error bodies as ``*/*``; the test reads them as the JSON HubSpot sends.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from tests.shared_data import shared_path

SPECS = {"contacts": "crm-contacts-v3.openapi.json", "objects": "crm-objects-v3.openapi.json",
         "properties": "crm-properties-v3.openapi.json"}
BATCH_READ = {"inputs": [{"id": "1001"}], "properties": ["email"], "propertiesWithHistory": []}
C, O, P = "/crm/v3/objects/contacts", "/crm/v3/objects/leads", "/crm/v3/properties/contacts"


def email() -> dict:
    """Properties of a contact no other call uses."""
    return {"email": f"spec-{time.time_ns()}@example.org", "bank_age": "40"}


# (specs that describe the route, method, path, JSON body or None, expected status)
CASES = [
    (("contacts", "objects"), "GET", f"{C}?limit=2&properties=email&archived=false", None, 200),
    (("contacts", "objects"), "GET", f"{C}?limit=101", None, 400),
    (("contacts", "objects"), "GET", f"{C}/1001?properties=bank_age", None, 200),
    (("contacts", "objects"), "GET", f"{C}/999999999", None, 404),
    (("contacts", "objects"), "POST", C, lambda: {"properties": email(), "associations": []}, 201),
    (("contacts", "objects"), "POST", C, {"properties": {"bank_age": "x"}, "associations": []},
     400),
    (("contacts", "objects"), "PATCH", f"{C}/1002", {"properties": {"jobtitle": "Spec"}}, 200),
    (("contacts", "objects"), "POST", f"{C}/search", {
        "filterGroups": [{"filters": [{"propertyName": "bank_age", "operator": "GT",
                                       "value": "60"}]}],
        "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
        "properties": ["email"], "limit": 5, "after": "5"}, 200),
    (("contacts", "objects"), "POST", f"{C}/search", {"limit": 500}, 400),
    (("contacts", "objects"), "POST", f"{C}/batch/read?archived=false", BATCH_READ, 200),
    (("contacts", "objects"), "POST", f"{C}/batch/read", {**BATCH_READ, "inputs": [
        {"id": "1001"}, {"id": "999999999"}], "propertiesWithHistory": ["email"]}, 207),
    (("contacts", "objects"), "POST", f"{C}/batch/read", {**BATCH_READ, "inputs": [
        {"id": str(1001 + i)} for i in range(51)], "propertiesWithHistory": ["email"]}, 400),
    (("contacts", "objects"), "GET",
     f"{C}/1002?properties=jobtitle&propertiesWithHistory=jobtitle,bank_age", None, 200),
    (("contacts", "objects"), "GET", f"{C}?limit=50&propertiesWithHistory=bank_age", None, 200),
    (("contacts", "objects"), "GET", f"{C}?limit=51&propertiesWithHistory=bank_age", None, 400),
    (("contacts", "objects"), "POST", f"{C}/batch/update", {"inputs": [
        {"id": "1003", "properties": {"jobtitle": "Spec"}}]}, 200),
    (("contacts", "objects"), "POST", f"{C}/batch/update", {"inputs": [
        {"id": "1003", "properties": {"jobtitle": "Spec"}},
        {"id": "999999999", "properties": {"jobtitle": "Spec"}}]}, 207),
    (("contacts", "objects"), "POST", f"{C}/batch/update", {"inputs": [
        {"id": "1003", "properties": {"nope": "1"}}]}, 400),
    (("contacts", "objects"), "POST", f"{C}/batch/create",
     lambda: {"inputs": [{"properties": email(), "associations": []}]}, 201),
    (("contacts", "objects"), "DELETE", f"{C}/42170", None, 204),
    (("contacts", "objects"), "POST", f"{C}/batch/archive", {"inputs": [{"id": "42171"}]}, 204),
    (("contacts", "objects"), "GET", f"{C}?archived=true&limit=5&properties=email", None, 200),
    (("contacts", "objects"), "GET", f"{C}/42170?archived=true", None, 200),
    (("contacts", "objects"), "GET", f"{C}/42172?archived=true", None, 404),
    (("contacts",), "POST", f"{C}/merge", {"primaryObjectId": "42173",
                                             "objectIdToMerge": "42174"}, 200),
    (("contacts",), "POST", f"{C}/merge", {"primaryObjectId": "42175",
                                             "objectIdToMerge": "999999999"}, 404),
    (("contacts", "objects"), "GET", f"{C}/42174?properties=hs_merged_object_ids", None, 200),
    (("contacts",), "POST", f"{C}/gdpr-delete", {"objectId": "42176"}, 204),
    (("contacts",), "POST", f"{C}/gdpr-delete", {"objectId": "nobody@example.org",
                                                   "idProperty": "email"}, 204),
    (("contacts",), "POST", f"{C}/gdpr-delete", {"objectId": "999999999"}, 404),
    (("objects",), "GET", f"{O}?limit=1", None, 200),
    (("objects",), "POST", f"{O}/search", {"limit": 1}, 200),
    (("properties",), "GET", P, None, 200),
    (("properties",), "GET", f"{P}/lifecyclestage", None, 200),
    (("properties",), "GET", f"{P}/nope_nothing", None, 404),
    (("properties",), "POST", P, lambda: {
        "name": f"spec_{time.time_ns()}", "label": "Spec", "type": "enumeration",
        "fieldType": "select", "groupName": "bank_marketing",
        "options": [{"label": "One", "value": "one", "hidden": False}]}, 201),
    (("properties",), "POST", P, {"name": "email", "label": "Email", "type": "string",
                                   "fieldType": "text", "groupName": "contactinformation"}, 409),
    (("properties",), "GET", f"{P}/groups", None, 200),
    (("properties",), "GET", f"{P}/groups/bank_marketing", None, 200),
    (("properties",), "POST", f"{P}/groups", lambda: {
        "name": f"spec_{time.time_ns()}", "label": "Spec group"}, 201),
]


def _declares_204(api: str, method: str, path: str) -> bool:
    spec = json.loads(shared_path("specs", "hubspot", SPECS[api]).read_text())
    route = path.split("?")[0]
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, route) and method.lower() in operations:
            return "204" in operations[method.lower()]["responses"]
    return False


@pytest.fixture(scope="module")
def specs(base_url) -> dict[str, OpenAPI]:
    """The vendor specs with their ``servers`` pointed at the sandbox."""
    loaded = {}
    for key, name in SPECS.items():
        spec = json.loads(shared_path("specs", "hubspot", name).read_text())
        spec["servers"] = [{"url": base_url}]
        # The specs type error bodies as `*/*`, which openapi-core leaves as raw bytes; HubSpot
        # sends them as JSON, so validate them as JSON against the same schema.
        error = spec["components"]["responses"]["Error"]["content"]
        error["application/json"] = error.pop("*/*")
        loaded[key] = OpenAPI.from_dict(spec)
    return loaded


@pytest.mark.parametrize("apis, method, path, body, status", CASES,
                         ids=[f"{c[1]} {c[2].split('?')[0]} {c[4]}" for c in CASES])
def test_responses_match_the_vendor_specs(specs, http, base_url, apis, method, path, body,
                                          status, relaxed):
    payload = body() if callable(body) else body
    answer = http.request(method, base_url + path, json=payload)
    assert answer.status_code == status, answer.text
    if status == 204:
        # openapi-core wants a body wherever `content` is a key, even the specs' empty `{}`:
        # check the route declares 204 and that nothing came back.
        assert answer.content == b"" and "content-type" not in answer.headers
        for api in apis:
            assert _declares_204(api, method, path)
        return
    for api in apis:
        specs[api].validate_response(RequestsOpenAPIRequest(answer.request),
                                     RequestsOpenAPIResponse(answer))


def test_401_matches_the_error_schema(specs, base_url):
    import requests
    answer = requests.get(f"{base_url}{C}", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    specs["contacts"].validate_response(RequestsOpenAPIRequest(answer.request),
                                        RequestsOpenAPIResponse(answer))


def test_record_fault_207_matches_the_spec(sandbox, specs, http, base_url):
    sandbox.set_faults("hubspot.batch_update:record:1")
    answer = http.post(f"{base_url}{C}/batch/update", json={"inputs": [
        {"id": "1004", "properties": {"jobtitle": "Spec"}}]})
    assert answer.status_code == 207
    specs["contacts"].validate_response(RequestsOpenAPIRequest(answer.request),
                                        RequestsOpenAPIResponse(answer))


@pytest.mark.parametrize("status", [423, 503])
def test_injected_lock_and_unavailable_bodies_match_the_spec(sandbox, specs, http, base_url,
                                                             status):
    sandbox.set_faults(f"hubspot.batch_update:{status}:1")
    answer = http.post(f"{base_url}{C}/batch/update", json={"inputs": [
        {"id": "1004", "properties": {"jobtitle": "Spec"}}]})
    assert answer.status_code == status
    specs["contacts"].validate_response(RequestsOpenAPIRequest(answer.request),
                                        RequestsOpenAPIResponse(answer))


def test_500_bodies_follow_hubspot_not_the_error_schema(sandbox, http, base_url):
    """Like 429s, HubSpot's 500 departs from the Error schema: no ``category``."""
    sandbox.set_faults("hubspot.batch_update:500:1")
    answer = http.post(f"{base_url}{C}/batch/update", json={"inputs": [
        {"id": "1004", "properties": {"jobtitle": "Spec"}}]})
    assert answer.status_code == 500
    assert set(answer.json()) == {"status", "message", "correlationId"}


def test_429_bodies_follow_the_notes_not_the_error_schema(portal, http, base_url):
    from connector.sandbox.hubspot_ratelimit import RateLimits
    portal.reset_rate_limits(RateLimits(ten_secondly=1, search_secondly=1, daily=100))
    http.get(f"{base_url}{C}?limit=1")
    body = http.get(f"{base_url}{C}?limit=1").json()
    assert set(body) == {"status", "message", "errorType", "correlationId", "policyName",
                         "groupName"}
