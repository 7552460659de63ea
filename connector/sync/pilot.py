"""The control group of a pilot: which leads are scored but never written, and their release.

A lead belongs to the control group when :func:`in_control` says so: the first 8 bytes of
``sha256(salt + ":" + record id)`` read as a big-endian unsigned integer, divided by 2**64,
are below the share. Nothing but the id and the salt goes in, so the answer is the same on every
run, machine and Python version, and never changes while the salt stays.

Control leads are scored like every other lead and their scores kept in the state store
(``pilot_leads``), but nothing is written to the CRM for them and they get no callback task.
When the group is switched off (or its share lowered), :meth:`ControlGroup.release_pages` feeds
the leads that left it back through the sync, which writes their scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from connector.config import ControlGroup as ControlSettings
from connector.crm.base import CRM
from connector.mapping import Mapping
from connector.records import Cursor, Page
from connector.state import StateStore
from connector.state.pilot import PilotRow

CONTROL, SCORED = "control", "scored"


def in_control(record_id: str, salt: str, share: float) -> bool:
    """Whether ``record_id`` is in the control group of ``salt`` at ``share`` (see module)."""
    digest = hashlib.sha256(f"{salt}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


class ControlGroup:
    """The control group of one connection during one run (a no-op when none is configured)."""

    def __init__(self, settings: ControlSettings | None, state: StateStore, connection: str,
                 mapping: Mapping) -> None:
        self.settings, self.state, self.name, self.mapping = settings, state, connection, mapping
        self.active = settings is not None and settings.share > 0
        self.releasing: set[str] = set()

    def holds_back(self, record_id: str) -> bool:
        """Whether nothing may be written to the CRM for ``record_id`` (a control lead)."""
        return self.active and in_control(record_id, self.settings.salt, self.settings.share)

    def save(self, scored: Sequence[tuple[str, int | None, str | None]],
             model_version: str) -> None:
        """Keep ``(record id, score, tier)`` of the leads just scored (before any write), while
        a control group is on; the first scoring's values stay as the would-be tier."""
        if not self.active:
            return
        self.state.pilot.save_scores(self.name, [
            PilotRow(record_id, CONTROL if self.holds_back(record_id) else SCORED, score, tier,
                     model_version) for record_id, score, tier in scored])

    def released(self, recorded: set[str]) -> None:
        """Note that the scores of the released control leads in ``recorded`` are written."""
        done = sorted(self.releasing & recorded)
        if done:
            self.state.pilot.mark_released(self.name, done)
            self.releasing -= set(done)

    def release_pages(self, crm: CRM, fields: Sequence[str], cursor: Cursor | None
                      ) -> Iterator[Page]:
        """Pages of the control leads whose scores may now be written (the group is off, or
        they fell outside a lowered share), read by id; each carries ``cursor`` unchanged.
        Closed or deleted ones have nothing to write and are marked released at once."""
        waiting = [i for i in self.state.pilot.unreleased_control(self.name)
                   if not self.holds_back(i)]
        for start in range(0, len(waiting), crm.write_batch_size):
            ids = waiting[start:start + crm.write_batch_size]
            records = crm.read(ids, fields)
            open_ids = {r.id for r in records if self.mapping.outcome_of(dict(r.values)) is None}
            self.state.pilot.mark_released(self.name, [i for i in ids if i not in open_ids])
            self.releasing |= open_ids
            yield Page(tuple(r for r in records if r.id in open_ids), cursor or Cursor())
