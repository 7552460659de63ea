"""The Salesforce REST emulator as an ASGI app: routing, auth, usage counting and error bodies.

Layers, outermost first: trailing slashes are dropped (simple-salesforce sends both forms);
:class:`FaultMiddleware` adds latency and injected faults; every response gets the
``Sforce-Limit-Info`` header; the dispatcher matches the route, checks the session and the
daily allowance, runs the handler and renders errors as Salesforce's JSON lists. Any
unexpected exception is logged and answered ``500 UNKNOWN_EXCEPTION`` in the same shape,
never as a traceback.
"""

from __future__ import annotations

import json
import logging
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

from connector.sandbox.faults import ErrorResponse, FaultMiddleware, FaultPlan
from connector.sandbox.salesforce_bulk_api import BulkHandlers, bulk_routes
from connector.sandbox.salesforce_handlers import LATEST_VERSION, Handlers
from connector.sandbox.salesforce_org import NOT_FOUND, APIError, SalesforceOrg

log = logging.getLogger(__name__)
JSON_TYPE = "application/json;charset=UTF-8"
_V = r"/services/data/v(?P<version>\d+\.0)"
ADMIN_PREFIX = "/__sandbox"


def _routes(h: Handlers, bulk: BulkHandlers) -> list[tuple[re.Pattern, dict, dict]]:
    """(path regex, {method: (route name, handler, authenticated)}, fixed params) per resource."""
    data = [
        (r"/services/data", {"GET": ("salesforce.versions", h.versions, False)}, {}),
        (r"/services/oauth2/token", {"POST": ("salesforce.token", h.token, False)}, {}),
        (r"/services/Soap/u/(?P<version>\d+\.0)", {"POST": ("salesforce.token", h.soap, False)}, {}),
        (_V, {"GET": ("salesforce.versions", h.resources, True)}, {}),
        (_V + r"/limits", {"GET": ("salesforce.limits", h.limits, True)}, {}),
        (_V + r"/query", {"GET": ("salesforce.query", h.query, True)}, {}),
        (_V + r"/queryAll", {"GET": ("salesforce.query", h.query, True)}, {"all": True}),
        (_V + r"/(?:query|queryAll)/(?P<locator>[^/]+)",
         {"GET": ("salesforce.query.more", h.query_more, True)}, {}),
        (_V + r"/sobjects", {"GET": ("salesforce.describe", h.describe_global, True)}, {}),
        (_V + r"/sobjects/(?P<sobject>\w+)", {"GET": ("salesforce.describe", h.sobject_info, True),
                                               "POST": ("salesforce.sobject", h.create, True)}, {}),
        (_V + r"/sobjects/(?P<sobject>\w+)/describe", {"GET": ("salesforce.describe", h.describe, True)}, {}),
        (_V + r"/sobjects/(?P<sobject>\w+)/deleted", {"GET": ("salesforce.deleted", h.deleted, True)}, {}),
        (_V + r"/sobjects/(?P<sobject>\w+)/(?P<id>[^/]+)", {
            "GET": ("salesforce.sobject", h.record, True), "PATCH": ("salesforce.sobject", h.update, True),
            "DELETE": ("salesforce.sobject", h.delete, True)}, {}),
        (_V + r"/composite/sobjects", {"POST": ("salesforce.composite", h.collection, True),
                                       "PATCH": ("salesforce.composite", h.collection, True)}, {}),
        (_V + r"/composite/sobjects/(?P<sobject>\w+)", {
            "GET": ("salesforce.composite.read", h.retrieve, True),
            "POST": ("salesforce.composite.read", h.retrieve, True)}, {}),
        (_V + r"/tooling/query", {"GET": ("salesforce.tooling", h.query, True)}, {"tooling": True}),
        (_V + r"/tooling/query/(?P<locator>[^/]+)", {"GET": ("salesforce.tooling", h.query_more, True)}, {}),
        (_V + r"/tooling/sobjects/(?P<sobject>\w+)",
         {"POST": ("salesforce.tooling", h.tooling_create, True)}, {}),
        (_V + r"/tooling/sobjects/(?P<sobject>\w+)/describe",
         {"GET": ("salesforce.tooling", h.describe, True)}, {"tooling": True}),
        (_V + r"/tooling/sobjects/(?P<sobject>\w+)/(?P<id>[^/]+)",
         {"GET": ("salesforce.tooling", h.record, True)}, {"tooling": True}),
        *bulk_routes(bulk),
    ]
    return [(re.compile(pattern + "$"), methods, fixed) for pattern, methods, fixed in data]


def json_response(status: int, body, headers: dict | None = None) -> Response:
    """A compact JSON answer with Salesforce's content type (204 has no body)."""
    if status == 204:
        return Response(status_code=204, headers=headers)
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(payload, status_code=status, media_type=JSON_TYPE, headers=headers)


def _error_body(code: str, message: str) -> bytes:
    return json.dumps([{"message": message, "errorCode": code}]).encode()


def render_fault(org: SalesforceOrg, status: int, plan: FaultPlan, route: str) -> ErrorResponse:
    """Salesforce's answer for an injected status (OAuth shape on the token endpoint)."""
    org.count("http_429" if status == 429 else "http_5xx")
    headers = [("Sforce-Limit-Info", org.usage_header())]
    if status == 429:
        headers.append(("Retry-After", str(int(plan.setting("retryafter", route, 1)))))
    if route == "salesforce.token":
        body = json.dumps({"error": "unknown_error", "error_description": "retry your request"}).encode()
        return ErrorResponse(status, body, tuple(headers))
    ticket = f"{secrets.randbelow(10**10)}-{secrets.randbelow(10**6)} ({-secrets.randbelow(10**10)})"
    body = {
        429: _error_body("TOO_MANY_REQUESTS", "Too many requests in a short period; retry "
                         "after the number of seconds in Retry-After."),
        500: _error_body("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                         f"ErrorId if you contact support: {ticket}"),
        502: _error_body("SERVER_UNAVAILABLE", "Bad Gateway: the server did not answer in time"),
        503: _error_body("SERVER_UNAVAILABLE", "Server temporarily unavailable; try again later"),
    }[status]
    return ErrorResponse(status, body, tuple(headers))


class SalesforceApp:
    """Matches a request to its resource, authenticates it, counts it and renders the answer."""

    def __init__(self, org: SalesforceOrg, plan_of) -> None:
        self.org, self.plan_of = org, plan_of
        self.routes = _routes(Handlers(org, plan_of), BulkHandlers(org.bulk, plan_of))

    def match(self, method: str, path: str):
        """(route name, handler, authenticated, params), or an APIError for 404/405."""
        for pattern, methods, fixed in self.routes:
            found = pattern.match(path)
            if found is None:
                continue
            if method not in methods:
                allowed = ",".join(methods)
                return APIError(405, "METHOD_NOT_ALLOWED",
                                f"HTTP Method '{method}' not allowed. Allowed are {allowed}")
            name, handler, authenticated = methods[method]
            return name, handler, authenticated, {**found.groupdict(), **fixed, "route": name}
        return APIError(404, "NOT_FOUND", NOT_FOUND)

    def route_of(self, method: str, path: str) -> str | None:
        """The fault-plan route name of a call (None exempts admin calls)."""
        if path.startswith(ADMIN_PREFIX):
            return None
        matched = self.match(method, path)
        return "salesforce.unknown" if isinstance(matched, APIError) else matched[0]

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        if scope["path"].startswith(ADMIN_PREFIX):
            response = await self.admin(request)
        else:
            response = await self.dispatch(request)
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        try:
            matched = self.match(request.method, request.url.path)
            if isinstance(matched, APIError):
                raise matched
            name, handler, authenticated, params = matched
            version = params.get("version")
            if version is not None and not 20 <= float(version) <= LATEST_VERSION:
                raise APIError(404, "NOT_FOUND", NOT_FOUND)
            if authenticated:
                expire = int(self.plan_of().setting("expire", name))
                self.org.begin_call(request.headers.get("authorization"), expire_every=expire)
            status, body = await handler(request, params)
        except APIError as error:
            return json_response(error.status, error.body())
        except Exception:
            log.exception("salesforce sandbox: unexpected error on %s %s", request.method, request.url.path)
            return json_response(500, [{"message": "An unexpected error occurred. Please include "
                                        "this ErrorId if you contact support: sandbox-bug",
                                        "errorCode": "UNKNOWN_EXCEPTION"}])
        if isinstance(body, Response):  # Bulk API CSV answers
            return body
        if isinstance(body, str):
            return Response(body, status_code=status, media_type="text/xml;charset=UTF-8")
        return json_response(status, body)

    async def admin(self, request: Request) -> Response:
        """``/__sandbox/stats``, ``/__sandbox/outcomes``, ``POST /__sandbox/reset``,
        ``POST /__sandbox/close`` (the time route, :mod:`connector.sandbox.timeline`) and
        ``POST /__sandbox/merge`` (SOAP's merge(), which has no REST resource); not counted."""
        path = request.url.path
        if path == f"{ADMIN_PREFIX}/close" and request.method == "POST":
            try:
                return json_response(200, self.org.close(json.loads(await request.body() or b"null")))
            except ValueError as error:  # bad JSON, or a CloseRequestError
                return json_response(400, [{"message": f"close: {error}",
                                            "errorCode": "INVALID_CLOSE_REQUEST"}])
        if path == f"{ADMIN_PREFIX}/stats":
            return json_response(200, self.org.stats())
        if path == f"{ADMIN_PREFIX}/outcomes":
            return json_response(200, self.org.hidden_outcomes())
        if path == f"{ADMIN_PREFIX}/reset" and request.method == "POST":
            self.org.reset_stats()
            return json_response(200, self.org.stats())
        if path == f"{ADMIN_PREFIX}/merge" and request.method == "POST":
            body = await request.json()  # {"master": id, "losers": [id, ...]}: SOAP merge()
            try:
                self.org.merge(body["master"], list(body["losers"]))
            except APIError as error:
                return json_response(error.status, error.body())
            return json_response(200, {"merged": True})
        return json_response(404, [{"message": NOT_FOUND, "errorCode": "NOT_FOUND"}])


class _UsageHeader:
    """Adds ``Sforce-Limit-Info`` to every non-admin response the app sends."""

    def __init__(self, app, org: SalesforceOrg) -> None:
        self.app, self.org = app, org

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            return await self.app(scope, receive, send)

        async def send_with_usage(message):
            if message["type"] == "http.response.start":
                header = (b"sforce-limit-info", self.org.usage_header().encode())
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)
        return await self.app(scope, receive, send_with_usage)


class _TrailingSlash:
    """Drops a trailing slash so ``query/`` and ``query`` are one resource. Leaves ``send``
    untouched: the ``drop`` fault needs the server's own bound ``send``."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        return await self.app(scope, receive, send)


def build_app(org: SalesforceOrg, *, plan_of):
    """The emulator's ASGI app for ``org``; ``plan_of()`` returns the fault plan in force."""
    app = SalesforceApp(org, plan_of)
    faulted = FaultMiddleware(
        _UsageHeader(app, org), crm="salesforce", plan_of=plan_of, route_of=app.route_of,
        render=lambda status, plan, route: render_fault(org, status, plan, route))
    return _TrailingSlash(faulted)
