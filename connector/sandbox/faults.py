"""Seeded, deterministic fault and latency injection for the sandbox emulators.

A fault spec is a comma list of ``kind:value`` items, optionally prefixed by a route selector
(``route:kind:value``) that limits the item to routes whose name starts with it, for example
``hubspot.search:429:0.5`` or ``salesforce:503:0.2``.

| kind               | value                      | effect                                                   |
|--------------------|----------------------------|----------------------------------------------------------|
| ``429``            | share of calls             | answered 429 with ``Retry-After`` (the CRM's own body)    |
| ``500/502/503``    | share of calls             | answered with that status (the CRM's own body)            |
| ``423``            | share of calls             | HubSpot only: 423 Locked, its record-lock answer          |
| ``slow``           | share of calls             | answered after ``slowms`` milliseconds                     |
| ``drop``           | share of calls             | the connection is cut before any answer                   |
| ``cut``            | share of calls             | the connection is cut halfway through the answer's body   |
| ``expire``         | N calls                    | Salesforce sessions expire after every N authenticated calls |
| ``record``         | share of records           | batch-write records rejected with a transient error        |
| ``jobfail``        | share of jobs              | Salesforce Bulk API 2.0 jobs that end ``Failed``           |
| ``retryafter``     | seconds (default 1)        | the ``Retry-After`` value sent with injected 429s          |
| ``slowms``         | milliseconds (default 3000)| delay of ``slow`` answers                                  |
| ``seed``           | integer (default 0)        | seed of every random draw                                  |

Decisions are drawn from one seeded generator per CRM, so a client that makes the same calls in
the same order meets the same faults on every run.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field

STATUS_FAULTS = ("429", "500", "502", "503", "423")
CALL_FAULTS = (*STATUS_FAULTS, "slow", "drop", "cut")
HUBSPOT_ONLY = frozenset({"423"})
"""Salesforce has no 423: its lock contention is the per-record UNABLE_TO_LOCK_ROW (``record``)."""
SETTINGS = ("expire", "record", "jobfail", "retryafter", "slowms", "seed")


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message names the bad item."""


@dataclass(frozen=True)
class FaultRule:
    """One ``[route:]kind:value`` item of a fault spec."""

    kind: str
    value: float
    route: str = ""

    def applies_to(self, route: str) -> bool:
        """True when this rule's route selector is empty or a prefix of ``route``."""
        return not self.route or route.startswith(self.route)


def _parse_item(item: str) -> FaultRule:
    parts = item.split(":")
    if len(parts) == 2:
        route, (kind, raw) = "", parts
    elif len(parts) == 3:
        route, kind, raw = parts
    else:
        raise FaultSpecError(f"fault item {item!r}: expected kind:value or route:kind:value")
    kind = kind.strip().lower()
    if kind not in CALL_FAULTS + SETTINGS:
        known = ", ".join(CALL_FAULTS + SETTINGS)
        raise FaultSpecError(f"fault item {item!r}: unknown kind {kind!r} (known: {known})")
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(f"fault item {item!r}: {raw!r} is not a number") from None
    if kind in CALL_FAULTS + ("record", "jobfail") and not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"fault item {item!r}: a share must lie between 0 and 1")
    if value < 0:
        raise FaultSpecError(f"fault item {item!r}: must not be negative")
    return FaultRule(kind=kind, value=value, route=route.strip())


@dataclass
class FaultPlan:
    """The parsed fault spec plus the seeded generators that turn it into decisions."""

    rules: tuple[FaultRule, ...] = ()
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    _rngs: dict[str, random.Random] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, spec: str | None, *, latency_ms: float = 0.0, jitter_ms: float = 0.0) -> FaultPlan:
        """Build a plan from a ``--faults`` spec (empty or None means no faults)."""
        items = [item.strip() for item in (spec or "").split(",") if item.strip()]
        return cls(rules=tuple(_parse_item(item) for item in items),
                   latency_ms=latency_ms, jitter_ms=jitter_ms)

    def setting(self, kind: str, route: str = "", default: float = 0.0) -> float:
        """The value of a setting kind (``expire``, ``record``...) for ``route``; last one wins."""
        value = default
        for rule in self.rules:
            if rule.kind == kind and rule.applies_to(route):
                value = rule.value
        return value

    def _rng(self, crm: str) -> random.Random:
        rng = self._rngs.get(crm)
        if rng is None:
            seed = int(self.setting("seed"))
            rng = self._rngs[crm] = random.Random(f"{seed}:{crm}")
        return rng

    def draw_call_fault(self, crm: str, route: str) -> str | None:
        """Decide the fault (one of ``CALL_FAULTS``) for one call of ``route``, or None."""
        shares = [(kind, 0.0 if crm != "hubspot" and kind in HUBSPOT_ONLY
                   else self.setting(kind, route)) for kind in CALL_FAULTS]
        if not any(share for _, share in shares):
            return None
        with self._lock:
            draw = self._rng(crm).random()
        for kind, share in shares:
            if draw < share:
                return kind
            draw -= share
        return None

    def reject_record(self, crm: str, route: str) -> bool:
        """Decide whether one record of a batch write is rejected with a transient error."""
        share = self.setting("record", route)
        if not share:
            return False
        with self._lock:
            return self._rng(crm).random() < share

    def reject_share(self, crm: str, share: float) -> bool:
        """One seeded draw: True with probability ``share`` (e.g. a Bulk job that fails)."""
        with self._lock:
            return self._rng(crm).random() < share

    def latency_s(self, crm: str) -> float:
        """The delay, in seconds, added to one call: fixed latency plus seeded jitter."""
        if not self.jitter_ms:
            return self.latency_ms / 1000.0
        with self._lock:
            jitter = self._rng(f"{crm}:jitter").uniform(0, self.jitter_ms)
        return (self.latency_ms + jitter) / 1000.0


async def _cut_connection(send) -> None:
    """Close the client's connection without sending a byte, as a failing network would.

    ASGI has no "drop" message, so reach the server's transport through the bound ``send``
    (uvicorn's request cycle). Waiting a few loop turns lets uvicorn see the disconnect, so it
    does not try to answer 500 on the closed socket.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("this ASGI server does not expose its transport; cannot drop")
    transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)


def _cut_mid_body(send):
    """``send`` that sends half of the first body chunk and then cuts the connection (a
    network failing mid-download); whatever the app sends after that goes nowhere."""
    cut = False

    async def cutting(message) -> None:
        nonlocal cut
        if cut:
            return
        if message["type"] != "http.response.body":
            return await send(message)
        body = message.get("body", b"")
        await send({"type": "http.response.body", "body": body[:len(body) // 2],
                    "more_body": True})
        cut = True
        return await _cut_connection(send)
    return cutting


@dataclass(frozen=True)
class ErrorResponse:
    """An error answer in a CRM's own format, as rendered by that emulator."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json;charset=UTF-8"


class FaultMiddleware:
    """ASGI middleware adding latency and injected faults to one emulator's calls.

    ``route_of(method, path)`` names the route (``None`` exempts the call, e.g. admin routes);
    ``render(status, plan, route)`` builds the CRM's own error answer for an injected status.
    ``plan_of()`` returns the plan in force, so tests can swap it while the server runs.
    """

    def __init__(self, app, *, crm: str, plan_of, route_of, render) -> None:
        self.app, self.crm = app, crm
        self.plan_of, self.route_of, self.render = plan_of, route_of, render

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = self.route_of(scope["method"], scope["path"])
        if route is None:
            return await self.app(scope, receive, send)
        plan: FaultPlan = self.plan_of()
        delay = plan.latency_s(self.crm)
        fault = plan.draw_call_fault(self.crm, route)
        if fault == "slow":
            delay += plan.setting("slowms", route, 3000.0) / 1000.0
        if delay:
            await asyncio.sleep(delay)
        if fault == "drop":
            return await _cut_connection(send)
        if fault == "cut":
            return await self.app(scope, receive, _cut_mid_body(send))
        if fault in STATUS_FAULTS:
            answer = self.render(int(fault), plan, route)
            await send({"type": "http.response.start", "status": answer.status, "headers": [
                (b"content-type", answer.content_type.encode()),
                (b"content-length", str(len(answer.body)).encode()),
                *[(k.lower().encode(), v.encode()) for k, v in answer.headers]]})
            await send({"type": "http.response.body", "body": answer.body})
            return None
        return await self.app(scope, receive, send)
