"""Endpoint handlers of the Salesforce emulator, one method per resource.

Each handler gets the Starlette request and the path parameters and returns ``(status, body)``
(``body`` is JSON-able, or None for 204) or raises ``APIError`` / ``FieldError``; the dispatcher
in :mod:`connector.sandbox.salesforce_api` authenticates, counts and renders.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import parse_qsl

from starlette.requests import Request

from connector.sandbox.salesforce_auth import OAuthError, soap_login, token_response
from connector.sandbox.salesforce_fields import FieldError
from connector.sandbox.salesforce_objects import SObjectType
from connector.sandbox.salesforce_org import NOT_FOUND, APIError, SalesforceOrg
from connector.sandbox.salesforce_query import batch_size

MAX_COLLECTION = 200
MAX_RETRIEVE = 2000  # ids per sObject Collections read (POST; a GET's URL holds about 800)
COLLECTIONS_SINCE = 42.0  # sObject Collections exist from API 42.0
LATEST_VERSION = 62
_DECODER = json.JSONDecoder()


def _json_error(text: str, exc: json.JSONDecodeError) -> APIError:
    shown = text[exc.pos] if exc.pos < len(text) else "<EOF>"
    return APIError(400, "JSON_PARSER_ERROR", f"Unexpected character ('{shown}' (code {ord(shown[0])})): "
                    f"expected a valid value at [line:{exc.lineno}, column:{exc.colno}]")


async def read_json_text(request: Request) -> tuple[str, object]:
    """The request body as text and parsed as JSON, or 400 JSON_PARSER_ERROR as Salesforce words it."""
    raw = await request.body()
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise APIError(400, "JSON_PARSER_ERROR", "No content to map due to end-of-input at [line:1, column:0]")
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(text, exc) from None


def _location(text: str, key: str, occurrence: int) -> str:
    """``[line:L, column:C]`` just past the value of the ``occurrence``-th ``"key":`` in ``text``
    (where Salesforce's JSON reader stops), or the body's start when it cannot be found."""
    found = list(re.finditer(r'"' + re.escape(key) + r'"\s*:\s*', text))
    end = 0
    if occurrence < len(found):
        end = start = found[occurrence].end()
        try:
            end = _DECODER.raw_decode(text, start)[1]
        except ValueError:
            pass
    line, line_start = text.count("\n", 0, end) + 1, text.rfind("\n", 0, end) + 1
    return f"[line:{line}, column:{end - line_start + 1}]"


def check_deserializable(text: str, records: list[tuple[SObjectType | None, dict]]) -> None:
    """Raise the whole-request 400 JSON_PARSER_ERROR Salesforce sends when a value in the body
    cannot be read as its field's type (``records``: each record's object and values, in body
    order; an unknown object is None and is left to the per-record checks)."""
    seen: Counter[str] = Counter()
    for obj, values in records:
        for key, value in values.items():
            occurrence = seen[key]
            seen[key] += 1
            definition = obj.field(key) if obj is not None and key != "attributes" else None
            problem = definition.deserialize_error(value) if definition is not None else None
            if problem:
                raise APIError(400, "JSON_PARSER_ERROR",
                               f"{problem} at {_location(text, key, occurrence)}")


def save_error(error: FieldError) -> APIError:
    """A single-record write's per-record error, answered as a whole-request 400."""
    return APIError(400, error.code, error.message, error.fields)


class Handlers:
    """The resources of one org; ``plan_of`` gives the fault plan for the ``record`` fault."""

    def __init__(self, org: SalesforceOrg, plan_of) -> None:
        self.org, self.plan_of = org, plan_of

    # -- unauthenticated -------------------------------------------------------------------------

    async def token(self, request: Request, params: dict) -> tuple[int, object]:
        """``POST /services/oauth2/token`` (form body)."""
        # The body is always urlencoded; parsing it here avoids a python-multipart dependency.
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        try:
            return 200, token_response(self.org, form, request.headers.get("authorization"))
        except OAuthError as exc:
            return exc.status, exc.body()

    async def soap(self, request: Request, params: dict) -> tuple[int, str]:
        """``POST /services/Soap/u/{version}`` (SOAP ``login``); the body is XML."""
        return soap_login(self.org, await request.body(), params["version"])

    async def versions(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET /services/data``: the API versions this emulator speaks."""
        return 200, [{"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                     for v in range(42, LATEST_VERSION + 1)]

    # -- data API ------------------------------------------------------------------------------

    async def resources(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET /services/data/vNN.0``: the resource directory."""
        base = f"/services/data/v{params['version']}"
        names = ("sobjects", "query", "queryAll", "limits", "tooling", "composite")
        return 200, {name: f"{base}/{name}" for name in names}

    async def limits(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET limits``."""
        return 200, self.org.limits()

    async def query(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET query?q=`` / ``queryAll?q=`` / ``tooling/query?q=``."""
        text = request.query_params.get("q")
        if text is None:
            raise APIError(400, "MALFORMED_QUERY", "A query string has to be specified")
        tooling = params.get("tooling", False)
        page = self.org.query(text, version=params["version"], tooling=tooling,
                              batch=batch_size(request.headers.get("sforce-query-options")),
                              include_deleted=params.get("all", False))
        if tooling:
            page = {"size": len(page["records"]), **page, "queryLocator": None,
                    "entityTypeName": page["records"][0]["attributes"]["type"] if page["records"] else None}
        return 200, page

    async def query_more(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET query/{locator}-{position}`` (what ``nextRecordsUrl`` points at)."""
        return 200, self.org.query_more(params["locator"], params["version"])

    async def describe_global(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET sobjects``."""
        return 200, self.org.describe_global(params["version"])

    async def sobject_info(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET sobjects/{name}``: basic information."""
        obj = self.org.sobject(params["sobject"])
        return 200, {"objectDescribe": obj.summary(params["version"]), "recentItems": []}

    async def describe(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET sobjects/{name}/describe`` (and the Tooling API's)."""
        obj = self.org.sobject(params["sobject"], tooling=params.get("tooling", False))
        with self.org.lock:
            return 200, obj.describe(params["version"])

    async def create(self, request: Request, params: dict) -> tuple[int, object]:
        """``POST sobjects/{name}``: 201 with the new id."""
        obj = self.org.sobject(params["sobject"])
        text, body = await read_json_text(request)
        if not isinstance(body, dict):
            raise APIError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of "
                           f"{obj.name} from {type(body).__name__} value")
        check_deserializable(text, [(obj, body)])
        self.org.count("write_requests")
        try:
            record_id = self.org.create(obj, body)
        except FieldError as error:
            raise save_error(error) from None
        return 201, {"id": record_id, "success": True, "errors": []}

    async def record(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET sobjects/{name}/{id}[?fields=a,b]``."""
        obj = self.org.sobject(params["sobject"], tooling=params.get("tooling", False))
        fields = request.query_params.get("fields")
        return 200, self.org.get_record(obj, params["id"], fields.split(",") if fields else None,
                                        params["version"])

    async def update(self, request: Request, params: dict) -> tuple[int, object]:
        """``PATCH sobjects/{name}/{id}``: 204."""
        obj = self.org.sobject(params["sobject"])
        text, body = await read_json_text(request)
        if not isinstance(body, dict):
            raise APIError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {obj.name}")
        check_deserializable(text, [(obj, body)])
        self.org.count("write_requests")
        try:
            self.org.update(obj, params["id"], body)
        except FieldError as error:
            raise save_error(error) from None
        return 204, None

    async def deleted(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET sobjects/{name}/deleted/?start=&end=`` (getDeleted)."""
        query = request.query_params
        return 200, self.org.get_deleted(params["sobject"], query.get("start"), query.get("end"))

    async def delete(self, request: Request, params: dict) -> tuple[int, object]:
        """``DELETE sobjects/{name}/{id}``: 204."""
        obj = self.org.sobject(params["sobject"])
        self.org.count("write_requests")
        try:
            self.org.delete(obj, params["id"])
        except FieldError as error:
            raise APIError(404 if error.code == "ENTITY_IS_DELETED" else 400, error.code,
                           error.message, error.fields) from None
        return 204, None

    async def collection(self, request: Request, params: dict) -> tuple[int, object]:
        """``POST`` / ``PATCH composite/sobjects``: up to 200 records, SaveResults in order.

        The body is read as a whole first: a value of the wrong JSON type in any record fails
        the request (400 JSON_PARSER_ERROR), not just that record."""
        if float(params["version"]) < COLLECTIONS_SINCE:
            raise APIError(404, "NOT_FOUND", NOT_FOUND)
        text, body = await read_json_text(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise APIError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request: 'records' "
                           "must be a list of sObjects")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise APIError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from "
                           f"value {json.dumps(all_or_none)} (allOrNone)")
        check_deserializable(text, [(self._record_type(r), r) for r in records if isinstance(r, dict)])
        if len(records) > MAX_COLLECTION:
            raise APIError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                           f"than {MAX_COLLECTION} records into this call")
        plan, route = self.plan_of(), params["route"]
        return 200, self.org.save_collection(
            request.method, records, all_or_none=all_or_none,
            reject=lambda: plan.reject_record("salesforce", route))

    async def retrieve(self, request: Request, params: dict) -> tuple[int, object]:
        """``POST composite/sobjects/{name}`` with ``{"ids": [...], "fields": [...]}`` (up to
        2,000 ids) or ``GET ...?ids=a,b&fields=x,y``: one entry per id, in the order given,
        null for an id that names no live record of the object."""
        if float(params["version"]) < COLLECTIONS_SINCE:
            raise APIError(404, "NOT_FOUND", NOT_FOUND)
        obj = self.org.sobject(params["sobject"])
        if request.method == "GET":
            ids, fields = (request.query_params.get(key, "").split(",") for key in ("ids", "fields"))
        else:
            _, body = await read_json_text(request)
            body = body if isinstance(body, dict) else {}
            ids, fields = body.get("ids"), body.get("fields")
        for key, value in (("ids", ids), ("fields", fields)):
            if not isinstance(value, list) or not value or not all(
                    isinstance(item, str) and item for item in value):
                # (U) the code and wording Salesforce uses for a missing list.
                raise APIError(400, "MISSING_ARGUMENT", f"{key}: a non-empty list is required")
        if len(ids) > MAX_RETRIEVE:
            # (U) the wording; the limit is the documented one.
            raise APIError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                           f"than {MAX_RETRIEVE} records into this call")
        return 200, self.org.retrieve(obj, ids, fields, params["version"])

    def _record_type(self, values: dict) -> SObjectType | None:
        attributes = values.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        return self.org.objects.get(name) if isinstance(name, str) else None

    # -- Tooling API -----------------------------------------------------------------------------

    async def tooling_create(self, request: Request, params: dict) -> tuple[int, object]:
        """``POST tooling/sobjects/CustomField``: 201 with the field's id."""
        if params["sobject"].lower() != "customfield":
            raise APIError(404, "NOT_FOUND", NOT_FOUND)
        text, body = await read_json_text(request)
        try:
            field_id = self.org.create_custom_field(body)
        except FieldError as error:
            if error.code == "JSON_PARSER_ERROR" and error.fields == ["type"]:
                # An unknown Metadata.type is not a FieldType value: the body fails to deserialize.
                raise APIError(400, error.code, f"{error.message} at {_location(text, 'type', 0)}") \
                    from None
            raise save_error(error) from None
        return 201, {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}
