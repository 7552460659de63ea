"""The HubSpot CRM v3 emulator's HTTP layer: routes, auth, rate limits, faults, error bodies.

:func:`build_app` serves the subset of ``https://api.hubapi.com`` the connector uses (objects
list/get/create/update/search, batch read/create/update, archive, merge and GDPR delete
(:mod:`connector.sandbox.hubspot_recycle`), properties and property groups) for
any object type the portal knows, over plain HTTP (or TLS, ``Sandbox(hubspot_tls=True)``) so
the unmodified ``hubspot.HubSpot`` client works with ``host=<base_url>`` (plus ``ssl_ca_cert``
over TLS). Every call needs ``Authorization: Bearer <token>`` (else the real
401), passes the portal's rate limiter (10-second bucket, or the search bucket) and carries the
``X-HubSpot-RateLimit-*`` headers. Admin routes under ``/__sandbox/`` (``stats``, ``outcomes``,
``reset``, ``close``: the time route of :mod:`connector.sandbox.timeline`) need no token and never
meet faults.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.sandbox.faults import ErrorResponse, FaultMiddleware, FaultPlan
from connector.sandbox.hubspot_errors import (
    BATCH_LIMIT_MESSAGE, HISTORY_LIMIT_MESSAGE, HubSpotError, correlation_id, invalid_json,
    iso_ms, unauthorized, validation_error)
from connector.sandbox.hubspot_portal import HubSpotPortal
from connector.sandbox.hubspot_ratelimit import rate_limit_body

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/json;charset=utf-8"
BATCH_LIMIT, HISTORY_BATCH_LIMIT, LIST_LIMIT = 100, 50, 100
# The sandbox's own per-record transient refusal (the ``record`` fault); HubSpot documents no
# such per-record error, its lock answer is the whole-request 423 below.
TRANSIENT_MESSAGE = ("The record is locked by another write in progress; wait at least "
                     "2 seconds and retry.")
# 423 Locked: HubSpot's documented answer to a large volume of writes in a short time; the lock
# lasts 2 seconds (developers.hubspot.com/docs/api-reference/error-handling). The body's category
# and wording are not documented.
LOCKED = ("LOCKED", ("Too many writes in a short time: the records are locked for 2 seconds. "
                     "Wait at least 2 seconds between requests."))
# 500: HubSpot's JSON carries no category (status, message "internal error", correlationId), so
# it departs from the specs' Error schema the way 429 bodies do. 502: the edge's HTML page.
INTERNAL_ERROR_MESSAGE = "internal error"
BAD_GATEWAY_HTML = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                    "</body>\r\n</html>\r\n")
SERVER_ERRORS = {500: (None, INTERNAL_ERROR_MESSAGE),
                 503: ("INTERNAL_ERROR", "Service temporarily unavailable, please retry")}
_ROUTES = (  # (method or None, pattern, route name) in match order
    ("POST", r"/crm/v3/objects/[^/]+/search", "hubspot.search"),
    ("POST", r"/crm/v3/objects/[^/]+/batch/read", "hubspot.batch_read"),
    ("POST", r"/crm/v3/objects/[^/]+/batch/update", "hubspot.batch_update"),
    ("POST", r"/crm/v3/objects/[^/]+/batch/create", "hubspot.batch_create"),
    ("POST", r"/crm/v3/objects/[^/]+/batch/archive", "hubspot.archive"),
    ("POST", r"/crm/v3/objects/[^/]+/merge", "hubspot.merge"),
    ("POST", r"/crm/v3/objects/[^/]+/gdpr-delete", "hubspot.gdpr_delete"),
    ("DELETE", r"/crm/v3/objects/[^/]+/[^/]+", "hubspot.archive"),
    ("GET", r"/crm/v3/objects/[^/]+", "hubspot.list"),
    ("POST", r"/crm/v3/objects/[^/]+", "hubspot.create"),
    ("GET", r"/crm/v3/objects/[^/]+/[^/]+", "hubspot.get"),
    ("PATCH", r"/crm/v3/objects/[^/]+/[^/]+", "hubspot.update"),
    ("POST", r"/crm/v4/associations/[^/]+/[^/]+/batch/read", "hubspot.associations"),
    ("GET", r"/crm/v4/objects/[^/]+/[^/]+/associations/[^/]+", "hubspot.associations"),
    (None, r"/crm/v3/properties/[^/]+/groups(/[^/]+)?", "hubspot.properties.groups"),
    (None, r"/crm/v3/properties/.*", "hubspot.properties"),
)


def route_of(method: str, path: str) -> str | None:
    """The fault-plan route name of a call (``hubspot.search`` ...); None for admin routes."""
    if path.startswith("/__sandbox"):
        return None
    path = path.rstrip("/")
    for want, pattern, name in _ROUTES:
        if (want is None or want == method) and re.fullmatch(pattern, path):
            return name
    return "hubspot.other"


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    if status == 204:
        return Response(status_code=204, headers=headers)
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _error_response(error: HubSpotError, headers: dict[str, str] | None = None) -> Response:
    merged = {**(headers or {}), **error.headers,
              "X-HubSpot-Correlation-Id": error.correlation_id}
    return _json(error.status, error.body(), merged)


# -- request parsing ---------------------------------------------------------------------------


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise invalid_json("No content to map due to end-of-input")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise invalid_json(f"Unexpected character: {getattr(exc, 'msg', exc)}", line, column) \
            from None


def _names(request: Request, param: str) -> list[str] | None:
    """A repeated and/or comma-separated list parameter (the SDK repeats it), or None."""
    raw = request.query_params.getlist(param)
    if not raw:
        return None
    return [name.strip() for item in raw for name in item.split(",") if name.strip()]


def _archived(request: Request) -> bool:
    raw = request.query_params.get("archived", "false")
    if raw.lower() not in ("true", "false"):  # the SDK sends Python's True/False
        raise validation_error(f"Unable to parse archived={raw!r}: expected true or false",
                               context={"archived": [raw]})
    return raw.lower() == "true"


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not re.fullmatch(r"\d{1,18}", raw):
        raise validation_error(f"Unable to parse {name}={raw!r}: expected a non-negative integer",
                               context={name: [raw]})
    return int(raw)


def _string_list(value: object, field: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_json(f"Cannot deserialize value of type `ArrayList<String>` ({field})")
    return value


def _inputs(body: object, limit: int = BATCH_LIMIT) -> list[dict]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise invalid_json("Cannot deserialize value of type `BatchInput`: `inputs` must be "
                           "an array")
    inputs = body["inputs"]
    if len(inputs) > limit:
        message = (HISTORY_LIMIT_MESSAGE if limit == HISTORY_BATCH_LIMIT
                   else BATCH_LIMIT_MESSAGE).format(limit=limit)
        raise validation_error(message)
    if not all(isinstance(item, dict) for item in inputs):
        raise invalid_json("Cannot deserialize value of type `BatchInput`: every input must be "
                           "an object")
    return inputs


def _input_id(item: dict) -> str:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise validation_error("Some required fields were not set: [id]")
    return str(value)


def _id_property(holder: dict) -> str | None:
    value = holder.get("idProperty")
    if value is not None and not isinstance(value, str):
        raise invalid_json("Cannot deserialize value of type `String` (idProperty)")
    return value


def _batch_answer(status: int, started: datetime, results: list, errors: list,
                  now: datetime) -> tuple[int, dict]:
    body: dict = {"status": "COMPLETE", "results": results,
                  "startedAt": iso_ms(started), "completedAt": iso_ms(now)}
    if errors:
        body.update(numErrors=len(errors), errors=errors)
        return 207, body
    return status, body


def _standard_error(category: str, message: str, context: dict[str, list[str]]) -> dict:
    return {"status": "error", "category": category, "message": message, "context": context,
            "links": {}, "errors": []}


def _not_found_error(singular: str, ids: list[str]) -> dict:
    return _standard_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {singular} objects, they may be deleted or not exist.",
        {"ids": ids})


# -- the app -------------------------------------------------------------------------------------


class HubSpotApp:
    """The route handlers, bound to one portal and the fault plan in force."""

    def __init__(self, portal: HubSpotPortal, plan_of) -> None:
        self.portal, self.plan_of = portal, plan_of

    def endpoint(self, handler, *, search: bool = False):
        """Wrap ``handler(request, otype)`` with auth, rate limiting, stats and error bodies."""
        async def run(request: Request) -> Response:
            portal = self.portal
            if request.headers.get("authorization", "") != f"Bearer {portal.access_token}":
                return _error_response(unauthorized())
            admission = portal.limiter.admit(search=search)
            if admission.body is not None:
                portal.note("http_429")
                return _json(429, admission.body, admission.headers)
            portal.note("api_calls")
            try:
                otype = portal.object_type(request.path_params["otype"])
                status, body = await handler(request, otype)
            except HubSpotError as error:
                return _error_response(error, admission.headers)
            except Exception:  # a bug: answer like HubSpot's own 500, never with a traceback
                log.exception("HubSpot sandbox failed on %s %s", request.method, request.url.path)
                portal.note("internal_errors")
                error = HubSpotError(500, None, INTERNAL_ERROR_MESSAGE)
                return _error_response(error, admission.headers)
            return _json(status, body, admission.headers)
        return run

    # -- objects -------------------------------------------------------------------------------

    async def list_objects(self, request: Request, otype) -> tuple[int, dict]:
        limit = _int_param(request, "limit", 10)
        history = _names(request, "propertiesWithHistory")
        # History lowers the page cap (the spec says so; 50 is what clients use: notes-2 6).
        cap = HISTORY_BATCH_LIMIT if history else LIST_LIMIT
        if not 1 <= limit <= cap:
            raise validation_error(
                f"limit must be between 1 and {cap}{' with propertiesWithHistory' if history else ''}"
                f" (got {limit})", context={"limit": [str(limit)]})
        after = _int_param(request, "after", 0)
        if _archived(request):
            page, next_id = self.portal.archived_page(otype, limit=limit, after=after,
                                                      names=_names(request, "properties"))
        else:
            page, next_id = self.portal.list_page(otype, limit=limit, after=after,
                                                  names=_names(request, "properties"),
                                                  history=history)
        body: dict = {"results": page}
        if next_id is not None:
            link = request.url.include_query_params(after=str(next_id))
            body["paging"] = {"next": {"after": str(next_id), "link": str(link)}}
        return 200, body

    async def get_object(self, request: Request, otype) -> tuple[int, dict]:
        record_id = request.path_params["oid"]
        if _archived(request):
            return 200, self.portal.archived_record(otype, record_id,
                                                    _names(request, "properties"))
        return 200, self.portal.get(otype, record_id, _names(request, "properties"),
                                    request.query_params.get("idProperty"),
                                    history=_names(request, "propertiesWithHistory"))

    async def create_object(self, request: Request, otype) -> tuple[int, dict]:
        return 201, self.portal.create(otype, await _body(request))

    async def update_object(self, request: Request, otype) -> tuple[int, dict]:
        return 200, self.portal.update(otype, request.path_params["oid"], await _body(request))

    async def archive_object(self, request: Request, otype) -> tuple[int, None]:
        self.portal.archive(otype, [request.path_params["oid"]])
        return 204, None

    async def batch_archive(self, request: Request, otype) -> tuple[int, None]:
        self.portal.archive(otype, [_input_id(item) for item in _inputs(await _body(request))])
        return 204, None

    async def merge(self, request: Request, otype) -> tuple[int, dict]:
        return 200, self.portal.merge(otype, await _body(request))

    async def gdpr_delete(self, request: Request, otype) -> tuple[int, None]:
        self.portal.gdpr_delete(otype, await _body(request))
        return 204, None

    async def search(self, request: Request, otype) -> tuple[int, dict]:
        return 200, self.portal.search(otype, await _body(request))

    # -- batches -------------------------------------------------------------------------------

    async def batch_read(self, request: Request, otype) -> tuple[int, dict]:
        started, body = self.portal.now(), await _body(request)
        history = _string_list(body.get("propertiesWithHistory") if isinstance(body, dict)
                               else None, "propertiesWithHistory")
        inputs = _inputs(body, HISTORY_BATCH_LIMIT if history else BATCH_LIMIT)
        names = _string_list(body.get("properties"), "properties")
        id_property = _id_property(body)
        keys = [_input_id(item) for item in inputs]
        if _archived(request):
            results, missing = [], list(dict.fromkeys(keys))
        else:
            results, missing = self.portal.batch_read(otype, keys, names, history, id_property)
        errors = [_not_found_error(otype.singular, missing)] if missing else []
        return _batch_answer(200, started, results, errors, self.portal.now())

    def _rejector(self, route: str):
        plan: FaultPlan = self.plan_of()
        return lambda _key: plan.reject_record("hubspot", route)

    async def batch_update(self, request: Request, otype) -> tuple[int, dict]:
        started, inputs = self.portal.now(), _inputs(await _body(request))
        for item in inputs:
            item["id"] = _input_id(item)
            if not isinstance(item.get("properties"), dict):
                raise validation_error("Some required fields were not set: [properties]")
        duplicates = sorted(k for k, n in Counter(i["id"] for i in inputs).items() if n > 1)
        if duplicates:
            raise validation_error(f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]."
                                   f" IDs must be unique", context={"ids": duplicates})
        id_properties = {_id_property(item) for item in inputs}
        if len(id_properties) > 1:
            raise validation_error("All inputs of a batch must use the same idProperty.")
        results, missing, refused = self.portal.batch_update(
            otype, inputs, self._rejector("hubspot.batch_update"),
            next(iter(id_properties), None))
        errors = [_not_found_error(otype.singular, missing)] if missing else []
        if refused:
            errors.append(_standard_error("CONFLICT", TRANSIENT_MESSAGE, {"ids": refused}))
        return _batch_answer(200, started, results, errors, self.portal.now())

    async def batch_create(self, request: Request, otype) -> tuple[int, dict]:
        started, inputs = self.portal.now(), _inputs(await _body(request))
        results, refused = self.portal.batch_create(otype, inputs,
                                                    self._rejector("hubspot.batch_create"))
        traces = [item.get("objectWriteTraceId") for item in inputs]
        created = [i for i in range(len(inputs)) if i not in refused]
        for index, result in zip(created, results):
            if traces[index] is not None:
                result["objectWriteTraceId"] = str(traces[index])
        errors = []
        if refused:
            context = {"objectWriteTraceId": [str(traces[i]) for i in refused
                                              if traces[i] is not None]}
            errors.append(_standard_error("CONFLICT", TRANSIENT_MESSAGE,
                                          context if context["objectWriteTraceId"] else {}))
        return _batch_answer(201, started, results, errors, self.portal.now())

    # -- v4 associations -------------------------------------------------------------------------

    async def association_batch_read(self, request: Request, otype) -> tuple[int, dict]:
        started, body = self.portal.now(), await _body(request)
        results, errors = self.portal.association_batch_read(
            otype, request.path_params["to"], body)
        return _batch_answer(200, started, results, errors, self.portal.now())

    async def associations_of(self, request: Request, otype) -> tuple[int, dict]:
        return 200, {"results": self.portal.associations_of(
            otype, request.path_params["oid"], request.path_params["to"])}

    # -- properties ------------------------------------------------------------------------------

    async def all_properties(self, request: Request, otype) -> tuple[int, dict]:
        if request.method == "POST":
            return 201, self.portal.create_property(otype, await _body(request))
        if _archived(request):
            return 200, {"results": []}
        return 200, {"results": self.portal.list_properties(otype)}

    async def one_property(self, request: Request, otype) -> tuple[int, dict]:
        return 200, self.portal.get_property(otype, request.path_params["name"])

    async def all_groups(self, request: Request, otype) -> tuple[int, dict]:
        if request.method == "POST":
            return 201, self.portal.create_group(otype, await _body(request))
        return 200, {"results": self.portal.list_groups(otype)}

    async def one_group(self, request: Request, otype) -> tuple[int, dict]:
        return 200, self.portal.get_group(otype, request.path_params["name"])

    # -- admin and injected faults ---------------------------------------------------------------

    async def admin(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action == "stats":
            return _json(200, self.portal.stats())
        if action == "outcomes":
            return _json(200, self.portal.hidden_outcomes())
        if action == "close" and request.method == "POST":
            try:
                return _json(200, self.portal.close(json.loads(await request.body() or b"null")))
            except ValueError as error:  # bad JSON, or a CloseRequestError
                return _json(400, {"status": "error", "message": f"close: {error}",
                                   "correlationId": correlation_id(),
                                   "category": "VALIDATION_ERROR"})
        if action == "reset" and request.method == "POST":
            self.portal.reset_stats()
            self.portal.reset_rate_limits()
            return _json(200, {"reset": True})
        return _json(404, {"status": "error", "message": "resource not found",
                           "correlationId": correlation_id(), "category": "OBJECT_NOT_FOUND"})

    def render(self, status: int, plan: FaultPlan, route: str) -> ErrorResponse:
        """An injected fault in HubSpot's own format (429 with ``Retry-After``, 423, or 5xx)."""
        search = route == "hubspot.search"
        headers = dict(self.portal.limiter.headers(search=search))
        if status == 502:
            # Answered by the edge, not by HubSpot's API: no JSON, no rate-limit headers.
            return ErrorResponse(502, BAD_GATEWAY_HTML.encode(), content_type="text/html")
        if status == 429:
            self.portal.note("http_429")
            body = rate_limit_body("SECONDLY" if search else "TEN_SECONDLY_ROLLING")
            retry_after = plan.setting("retryafter", route, 1.0)
            headers["Retry-After"] = f"{retry_after:g}"
        else:
            category, message = LOCKED if status == 423 else SERVER_ERRORS.get(
                status, SERVER_ERRORS[500])
            error = HubSpotError(status, category, message)
            headers["X-HubSpot-Correlation-Id"] = error.correlation_id
            body = error.body()
        encoded = json.dumps(body, separators=(",", ":")).encode()
        return ErrorResponse(status, encoded, tuple(headers.items()),
                             content_type=MEDIA_TYPE)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and methods answer in HubSpot's JSON shape, never Starlette's text."""
    message = "resource not found" if exc.status_code == 404 else "Method not allowed"
    return _json(exc.status_code, {"status": "error", "message": message,
                                   "correlationId": correlation_id(),
                                   "category": "OBJECT_NOT_FOUND" if exc.status_code == 404
                                   else "VALIDATION_ERROR"})


def build_app(portal: HubSpotPortal, *, plan_of):
    """The ASGI app serving ``portal``, wrapped in the fault and latency middleware."""
    app = HubSpotApp(portal, plan_of)
    wrap = app.endpoint
    objects, props = "/crm/v3/objects/{otype}", "/crm/v3/properties/{otype}"
    routes = [
        Route("/__sandbox/{action}", app.admin, methods=["GET", "POST"]),
        Route(objects, wrap(app.list_objects), methods=["GET"]),
        Route(objects, wrap(app.create_object), methods=["POST"]),
        Route(f"{objects}/search", wrap(app.search, search=True), methods=["POST"]),
        Route(f"{objects}/batch/read", wrap(app.batch_read), methods=["POST"]),
        Route(f"{objects}/batch/update", wrap(app.batch_update), methods=["POST"]),
        Route(f"{objects}/batch/create", wrap(app.batch_create), methods=["POST"]),
        Route(f"{objects}/batch/archive", wrap(app.batch_archive), methods=["POST"]),
        Route(f"{objects}/merge", wrap(app.merge), methods=["POST"]),
        Route(f"{objects}/gdpr-delete", wrap(app.gdpr_delete), methods=["POST"]),
        Route(objects + "/{oid}", wrap(app.archive_object), methods=["DELETE"]),
        Route(objects + "/{oid}", wrap(app.get_object), methods=["GET"]),
        Route(objects + "/{oid}", wrap(app.update_object), methods=["PATCH"]),
        Route("/crm/v4/associations/{otype}/{to}/batch/read", wrap(app.association_batch_read),
              methods=["POST"]),
        Route("/crm/v4/objects/{otype}/{oid}/associations/{to}", wrap(app.associations_of),
              methods=["GET"]),
        Route(f"{props}/groups", wrap(app.all_groups), methods=["GET", "POST"]),
        Route(props + "/groups/{name}", wrap(app.one_group), methods=["GET"]),
        Route(props, wrap(app.all_properties), methods=["GET", "POST"]),
        Route(props + "/{name}", wrap(app.one_property), methods=["GET"]),
    ]
    starlette = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
    return FaultMiddleware(starlette, crm="hubspot", plan_of=plan_of, route_of=route_of,
                           render=app.render)
