"""Living through time in the sandbox: outcomes arrive for open leads when a test asks.

A seeded org keeps each open lead's true outcome aside (the "hidden outcomes") and, with
post-outcome columns, the values the sales process would fill in. ``POST /__sandbox/close`` on
either emulator's admin surface (never the CRM API) closes a chosen set of open leads at one
moment: converted or lost by their hidden outcome, their post-outcome fields filled, the change
recorded in field history like any other update, and their modification stamps moved so an
incremental sync sees them. A test or benchmark can so run: sync (the feature log fills) ->
outcomes arrive -> retrain on logged inputs -> score.

Request body, a JSON object with exactly one selector::

    {"share": 0.5, "seed": 7}                      # a random share of the open leads
    {"created_before": "2010-06-01T00:00:00Z"}     # the open leads created before a moment
    {"ids": ["00Q...", "..."]}                     # exactly these open leads

and optionally ``"task_effect"``: points of conversion added for leads that got a callback
task (``0.1``: +10 points, a seeded draw from ``seed``; the uplift a pilot should find, or none
without it), and ``"at"``: when the outcomes arrive (ISO 8601 with an offset; default the
emulator's clock; it may not precede a chosen lead's creation). The answer::

    {"closed": 412, "converted": 48, "at": "2026-12-06T01:02:03.000Z", "ids": [...]}

The pipeline is :meth:`CloseRequest.parse` -> :func:`choose` -> :func:`decide_outcomes` ->
the emulator's ``apply_close``; :func:`close` runs it under the emulator's lock. A new way of
deciding outcomes belongs in :func:`decide_outcomes` (and a new request key in
:class:`CloseRequest`), so both emulators get it at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

SELECTORS = ("share", "created_before", "ids")


class CloseRequestError(ValueError):
    """A close request that cannot be run; the message says which key is wrong and why."""


def parse_moment(value: object, key: str) -> datetime:
    """An ISO 8601 timestamp with an offset (``Z`` allowed), or :class:`CloseRequestError`."""
    if not isinstance(value, str):
        raise CloseRequestError(f"{key}: expected an ISO 8601 timestamp string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CloseRequestError(f"{key}: {value!r} is not an ISO 8601 timestamp, e.g. "
                                "2010-06-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise CloseRequestError(f"{key}: {value!r} has no UTC offset; add Z or +00:00")
    return moment


@dataclass(frozen=True)
class CloseRequest:
    """Which open leads get their outcome, and when (see the module docstring for the JSON)."""

    share: float | None = None
    seed: int = 0
    created_before: datetime | None = None
    ids: tuple[str, ...] | None = None
    at: datetime | None = None
    task_effect: float = 0.0

    @classmethod
    def parse(cls, body: object) -> CloseRequest:
        """The request from a decoded JSON body, or :class:`CloseRequestError`."""
        if not isinstance(body, dict):
            raise CloseRequestError("the body must be a JSON object, e.g. {\"share\": 0.5}")
        unknown = sorted(set(body) - {*SELECTORS, "seed", "at", "task_effect"})
        if unknown:
            raise CloseRequestError(f"unknown key(s) {', '.join(unknown)}; use one of "
                                    f"{', '.join(SELECTORS)}, plus seed, task_effect and at")
        given = [key for key in SELECTORS if body.get(key) is not None]
        if len(given) != 1:
            raise CloseRequestError(f"give exactly one of {', '.join(SELECTORS)} "
                                    f"(got {', '.join(given) or 'none'})")
        share, seed, ids = body.get("share"), body.get("seed", 0), body.get("ids")
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                                  or not 0 < share <= 1):
            raise CloseRequestError(f"share: expected a number in (0, 1], got {share!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise CloseRequestError(f"seed: expected an integer, got {seed!r}")
        if ids is not None and (not isinstance(ids, list)
                                or not all(isinstance(i, str) for i in ids)):
            raise CloseRequestError("ids: expected a list of record id strings")
        effect = body.get("task_effect", 0.0)
        if isinstance(effect, bool) or not isinstance(effect, (int, float)) or not -1 < effect < 1:
            raise CloseRequestError(f"task_effect: expected a number in (-1, 1), got {effect!r}")
        before = body.get("created_before")
        return cls(task_effect=float(effect), share=None if share is None else float(share), seed=seed,
                   created_before=None if before is None else parse_moment(before, "created_before"),
                   ids=None if ids is None else tuple(dict.fromkeys(ids)),
                   at=None if body.get("at") is None else parse_moment(body["at"], "at"))


class ClosableCRM(Protocol):
    """What an emulator offers the time route."""

    def open_seeded_leads(self) -> dict[str, datetime]:
        """Open leads that still have a hidden outcome: id -> creation time."""

    def hidden_outcomes(self) -> dict[str, bool]:
        """Open lead id -> its true outcome."""

    def clock_now(self) -> datetime:
        """The emulator's current time."""

    def leads_with_tasks(self) -> set[str]:
        """Leads that have at least one task (a callback reps were asked to make)."""

    def apply_close(self, outcomes: dict[str, bool], at: datetime) -> None:
        """Close each lead as converted (True) or lost (False) at ``at``, filling its
        post-outcome fields and recording history."""


def choose(request: CloseRequest, open_leads: dict[str, datetime]) -> list[str]:
    """The open leads ``request`` selects, oldest first (ties by id); deterministic per seed."""
    ordered = sorted(open_leads, key=lambda i: (open_leads[i], i))
    if request.ids is not None:
        missing = [i for i in request.ids if i not in open_leads]
        if missing:
            raise CloseRequestError(f"ids: {', '.join(missing[:5])} "
                                    f"{'is' if len(missing) == 1 else 'are'} not an open lead "
                                    "with a hidden outcome")
        chosen = set(request.ids)
        return [i for i in ordered if i in chosen]
    if request.created_before is not None:
        return [i for i in ordered if open_leads[i] < request.created_before]
    count = math.floor(len(ordered) * request.share + 0.5)
    picked = set(random.Random(request.seed).sample(ordered, count))
    return [i for i in ordered if i in picked]


def decide_outcomes(request: CloseRequest, chosen: list[str], hidden: dict[str, bool],
                    with_tasks: set[str] = frozenset()) -> dict[str, bool]:
    """Whether each chosen lead converts: its hidden outcome, moved by ``task_effect`` for the
    leads ``with_tasks``: a seeded share of them flips (lost -> converted for a positive
    effect, converted -> lost for a negative one), sized so that their expected conversion
    rate moves by exactly ``task_effect`` from their hidden rate."""
    outcomes = {record_id: hidden[record_id] for record_id in chosen}
    treated = [i for i in chosen if i in with_tasks]
    effect = request.task_effect
    if not effect or not treated:
        return outcomes
    rate = sum(outcomes[i] for i in treated) / len(treated)
    room = 1 - rate if effect > 0 else rate  # leads that can still flip
    chance = min(abs(effect) / room, 1.0) if room else 0.0
    draw = random.Random(f"task-effect-{request.seed}")
    for record_id in treated:  # every treated lead draws, so the stream never depends on order
        flip = draw.random() < chance
        if flip and outcomes[record_id] != (effect > 0):
            outcomes[record_id] = effect > 0
    return outcomes


def close(crm: ClosableCRM, request: CloseRequest) -> dict:
    """Run ``request`` against ``crm`` (the caller holds the emulator's lock); the JSON answer."""
    open_leads = crm.open_seeded_leads()
    chosen = choose(request, open_leads)
    at = request.at or crm.clock_now()
    early = [i for i in chosen if open_leads[i] > at]
    if early:
        raise CloseRequestError(f"at: {at.isoformat()} precedes the creation of {len(early)} "
                                f"chosen lead(s) (e.g. {early[0]}); close later or choose "
                                "older leads")
    outcomes = decide_outcomes(request, chosen, crm.hidden_outcomes(),
                               crm.leads_with_tasks() if request.task_effect else set())
    crm.apply_close(outcomes, at)
    utc = at.astimezone(UTC)
    stamp = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return {"closed": len(outcomes), "converted": sum(outcomes.values()), "at": stamp,
            "ids": list(outcomes)}
