"""Callback tasks: one follow-up task for the owner of each lead that enters the mapping's tier.

Exactly once per lead and tier entry, across crashes and reruns:

1. **Stage** (before the CRM write that puts the lead in the tier): one ``callback_tasks`` row
   keyed by the record and the state it entered from (``after``: the run and moment its previous
   state was recorded, or ``new``). A rerun of the same entry (the page was never recorded)
   computes the same key and finds the row; a later entry has a new ``after``.
2. **Send** once the page holding the lead is recorded: the row becomes ``sending`` *before* the
   CRM call, then ``created`` with the task id. A row found ``sending`` may have a task already
   (the process died between the CRM's answer and our bookkeeping), so it is looked up first
   (:meth:`~connector.crm.base.CRM.find_tasks`, by the ``ref`` written into the task) and only
   created if absent.
3. **Sweep** at the start of each run: rows left open by a crash are sent (or dropped if the
   lead has left the tier since).

Never for control leads: they are not written, so they never enter a tier in the CRM.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.crm.base import CRM
from connector.mapping import Callbacks as CallbackSettings
from connector.mapping import Mapping
from connector.records import Record, TaskRequest, TaskResult
from connector.state import RecordState, StateStore
from connector.state.pilot import Callback

STALE_AFTER = timedelta(days=7)  # an entry whose lead never came back is given up


def task_ref(connection: str, record_id: str, after: str) -> str:
    """The key written into a task's description: stable for one lead and tier entry."""
    return "ls-" + hashlib.sha256(f"{connection}|{record_id}|{after}".encode()).hexdigest()[:16]


def description(reason: str | None, ref: str) -> str:
    """The task's description: the lead's reason, then our reference."""
    return f"{reason or ''}\n\n(leadscore ref {ref})".strip()


class CallbackTasks:
    """The callback tasks of one run (see the module docstring)."""

    def __init__(self, settings: CallbackSettings, mapping: Mapping, crm: CRM, state: StateStore,
                 connection: str, run_id: int, clock: Callable[[], datetime],
                 on_created: Callable[[list[tuple[Callback, str]]], None] = lambda done: None
                 ) -> None:
        self.settings, self.mapping, self.crm, self.state = settings, mapping, crm, state
        self.name, self.run_id, self.clock, self.on_created = connection, run_id, clock, on_created
        self.tier_field = mapping.outputs.tier.field
        self.score_field = mapping.outputs.score.field
        self.reason_field = mapping.outputs.reason.field
        self.owner_field = settings.owner(mapping.crm)
        self._page: dict[str, tuple[str | None, str | None]] = {}  # id -> (tier, reason)

    def stage(self, scored: Sequence[tuple[Record, RecordState | None, dict[str, Any]]],
              held_back: Callable[[str], bool]) -> None:
        """Stage a callback for each lead of ``scored`` (record, previous state, new values)
        that enters the tier; remember the page's new tiers and reasons for :meth:`send`."""
        self._page = {r.id: (new.get(self.tier_field), new.get(self.reason_field))
                      for r, _, new in scored}
        entering = [(record, prev, new) for record, prev, new in scored
                    if not held_back(record.id) and new.get(self.tier_field) == self.settings.tier
                    and (prev is None or prev.written.get(self.tier_field) != self.settings.tier)]
        if not entering:
            return
        tokens = self.state.pilot.entry_tokens(self.name, [r.id for r, p, _ in entering if p])
        now = self.clock()
        staged = []
        for record, prev, new in entering:
            after = tokens.get(record.id, "new") if prev is not None else "new"
            previous = prev.written.get(self.tier_field) if prev is not None else None
            score = new.get(self.score_field)
            owner = record.values.get(self.owner_field)
            staged.append(Callback(
                record.id, after, task_ref(self.name, record.id, after), self.settings.tier,
                previous, None if score is None else int(score),
                None if owner in (None, "") else str(owner),
                self.settings.subject.format(tier=self.settings.tier, score=score,
                                             previous_tier=previous or "new")[:255],
                now + timedelta(hours=self.settings.due_in_hours)))
        self.state.pilot.stage_callbacks(self.name, self.run_id, staged)

    def send_recorded(self, recorded: set[str]) -> None:
        """Send the staged callbacks of the leads just recorded (those still in the tier)."""
        if not recorded:
            return
        waiting = self.state.pilot.callbacks(self.name, ids=sorted(recorded))
        reasons = {i: self._page[i][1] for i in recorded if i in self._page}
        still = [cb for cb in waiting if self._page.get(cb.record_id, (None,))[0] == cb.tier]
        self._drop([cb for cb in waiting if cb not in still])
        self._send(still, reasons)

    def sweep(self) -> None:
        """Finish the callbacks a crash left open: send those whose lead was recorded in the
        tier since, drop those whose lead left it (or never came back within a week)."""
        open_ = self.state.pilot.callbacks(self.name)
        if not open_:
            return
        ids = sorted({cb.record_id for cb in open_})
        states = self.state.record_states(self.name, ids)
        tokens = self.state.pilot.entry_tokens(self.name, ids)
        now = self.clock()
        ready, dropped = [], []
        for cb in open_:
            current = states.get(cb.record_id)
            if current is None or tokens.get(cb.record_id) == cb.after:
                if cb.staged_at is not None and now - cb.staged_at > STALE_AFTER:
                    dropped.append(cb)
                continue  # the entry's page was never recorded: the lead comes back by itself
            (ready if current.written.get(self.tier_field) == cb.tier else dropped).append(cb)
        self._drop(dropped)
        if ready:
            self._send(ready, self._reasons([cb.record_id for cb in ready]))

    def _reasons(self, ids: list[str]) -> dict[str, str | None]:
        """The reason each lead holds in the CRM (the state store keeps only its hash)."""
        found: dict[str, str | None] = {}
        size = self.crm.write_batch_size
        for start in range(0, len(ids), size):
            for record in self.crm.read(ids[start:start + size], [self.reason_field]):
                found[record.id] = record.values.get(self.reason_field)
        return found

    def _drop(self, callbacks: Sequence[Callback]) -> None:
        self.state.pilot.settle([(cb.id, "dropped", {}) for cb in callbacks])

    def _request(self, cb: Callback, reasons: dict[str, str | None]) -> TaskRequest:
        return TaskRequest(cb.ref, cb.record_id, cb.owner_id, cb.subject,
                           description(reasons.get(cb.record_id), cb.ref), cb.due_at,
                           self.settings.priority)

    def _send(self, callbacks: Sequence[Callback], reasons: dict[str, str | None]) -> None:
        size = self.crm.write_batch_size
        for start in range(0, len(callbacks), size):
            batch = callbacks[start:start + size]
            maybe = [cb for cb in batch if cb.status == "sending"]
            found = self.crm.find_tasks([self._request(cb, reasons) for cb in maybe]) \
                if maybe else {}
            fresh = [cb for cb in batch if cb.ref not in found]
            self.state.pilot.mark_sending([cb.id for cb in fresh])
            results = self.crm.create_tasks([self._request(cb, reasons) for cb in fresh]) \
                if fresh else []
            outcomes = [(cb.id, "created", {"task_id": found[cb.ref]})
                        for cb in batch if cb.ref in found]
            outcomes += [self._outcome(cb, result) for cb, result in zip(fresh, results)]
            self.state.pilot.settle(outcomes)
            by_id = {cb.id: cb for cb in batch}
            self.on_created([(by_id[cid], values["task_id"]) for cid, status, values in outcomes
                             if status == "created"])

    @staticmethod
    def _outcome(cb: Callback, result: TaskResult) -> tuple[int, str, dict[str, Any]]:
        if result.ok:
            return cb.id, "created", {"task_id": result.task_id}
        if result.transient:  # stays "sending": the next sweep looks before re-creating
            return cb.id, "sending", {"code": result.code, "reason": result.reason}
        return cb.id, "failed", {"code": result.code, "reason": (result.reason or "")[:1000]}
