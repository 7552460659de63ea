"""Record lifecycle in the sync: removed records, failures that end, and the retry rewind.

A sync of the change stream first asks the CRM what left since the last look
(:meth:`~connector.crm.base.CRM.removed_since`: deleted, merged, archived) and drops those
records from the state, keeping one erasure-safe row each; a merge survivor's fingerprint is
cleared so it is rescored once when the pull brings it (a merge moves its stamp). Removed ids
never reach scoring or writing, even if a pull still returned them; nor do records forgotten on
request (``leadscore forget``), known by the salted hash of their id.

A failure (a record whose write was refused) ends, instead of being retried, when:

* its record is seen closed (closed leads keep the score they had while open),
* its record left the CRM (above), or
* the CRM gave a final answer: :data:`FINAL_CODES`. Of these, :data:`GONE_CODES` mean the
  record no longer exists (deleted, merged away, or a HubSpot GDPR delete, which no listing
  shows): it is removed like the others.

The pull starts no later than the oldest failure still worth retrying, so it comes back; each
such rewind counts one attempt of every failure it serves (at most one per run), and a failure
with :data:`MAX_RETRY_ATTEMPTS` no longer rewinds the cursor: it is retried when its record
changes, and ``leadscore status`` counts it as exhausted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime

from connector.crm.base import CRM
from connector.mapping import Mapping
from connector.records import Cursor, Record
from connector.state import Failure, StateStore

MAX_RETRY_ATTEMPTS = 5
FINAL_CODES = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY",
                         "CANNOT_UPDATE_CONVERTED_LEAD", "OBJECT_NOT_FOUND"})
"""Per-record write answers that no retry can change (Salesforce status codes; HubSpot's 404
category on a batch update)."""
GONE_CODES = FINAL_CODES - {"CANNOT_UPDATE_CONVERTED_LEAD"}
"""Final answers meaning the record itself is gone (a converted lead still exists, closed)."""
REMOVALS_STREAM = "removed"
"""The cursor (in the state store's ``cursors``) of the last look for removed records."""


@dataclasses.dataclass
class Lifecycle:
    """The lifecycle side of one run of one connection (see the module docstring)."""

    state: StateStore
    name: str
    run_id: int
    mapping: Mapping
    removed: frozenset[str] = frozenset()
    forgotten: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.forgotten = self.state.forgotten_hashes(self.name)

    def apply_removals(self, crm: CRM, started: datetime) -> None:
        """Ask ``crm`` what left since the last look, drop it from the state, clear the
        survivors' fingerprints, and move the look's cursor.

        A first sync (no look yet, nothing held of any record) skips the look: nothing known
        can have left, and the look would only date itself (on HubSpot a page of the recycle
        bin and a search before the first record is read). It is dated at the run's
        ``started`` instead, whatever becomes of the run: every record the state comes to
        hold is read after that, and the next look starts an overlap earlier (which also
        covers a local clock somewhat ahead of the CRM's, as every look's end does)."""
        stored = self.state.get_cursor(self.name, REMOVALS_STREAM)
        if stored is None and not self.state.holds_any(self.name):
            self.state.set_cursor(self.name, REMOVALS_STREAM, started.isoformat())
            return
        found = crm.removed_since(datetime.fromisoformat(stored) if stored else None)
        pairs = [(r.record_id, r.kind) for r in found.removals]
        self.state.remove_records(self.name, pairs, run_id=self.run_id)
        survivors = {r.survivor for r in found.removals if r.survivor}
        self.state.clear_fingerprints(self.name, survivors - {i for i, _ in pairs})
        self.removed = frozenset(i for i, _ in pairs)
        self.state.set_cursor(self.name, REMOVALS_STREAM, found.reached.isoformat())

    def rewind(self, cursor: Cursor | None, *, count: bool) -> Cursor | None:
        """``cursor`` moved back to the oldest failure still worth retrying (no ``seen``: the
        failed versions must come back); with ``count`` each such failure gets an attempt.

        A cursor without a stamp (reading from the beginning) or inside an unfinished sweep is
        kept as it is: a sweep may go by id rather than stamp (HubSpot), so records it has not
        read yet can be older than any failure, and starting over at a failure would skip them.
        The failures come back once the sweep completes and the cursor has a stamp again."""
        if cursor is None or cursor.stamp is None or cursor.resume is not None:
            return cursor
        retry = [f for f in self.state.failures(self.name)
                 if f.stamp is not None and f.attempts < MAX_RETRY_ATTEMPTS
                 and f.stamp < cursor.stamp]
        if not retry:
            return cursor
        if count:
            self.state.count_retries(self.name, self.run_id, [f.record_id for f in retry])
        return Cursor(stamp=min(f.stamp for f in retry))

    def screen(self, records: Iterable[Record], failed: set[str]
               ) -> tuple[tuple[Record, ...], list[str]]:
        """The records to process (removed and forgotten ones left out), and the failures that
        end because their record is now closed."""
        kept = tuple(r for r in records if r.id not in self.removed and not (
            self.forgotten and self.state.record_hash(self.name, r.id) in self.forgotten))
        ended = [r.id for r in kept
                 if r.id in failed and self.mapping.outcome_of(dict(r.values)) is not None]
        return kept, ended

    def scrub(self, cursor: Cursor) -> Cursor:
        """``cursor`` without the forgotten records among the versions it remembers (their
        ids must not be stored again; a version delivered twice is screened out anyway)."""
        if not self.forgotten:
            return cursor
        seen = frozenset(pair for pair in cursor.seen
                         if self.state.record_hash(self.name, pair[0]) not in self.forgotten)
        return dataclasses.replace(cursor, seen=seen)

    @staticmethod
    def settle(failures: Sequence[Failure]) -> tuple[list[Failure], list[str], list[str]]:
        """``(to retry, ended, gone)``: failures with a final code end instead of being
        retried; those whose code says the record no longer exists are also ``gone``."""
        retry = [f for f in failures if f.code not in FINAL_CODES]
        ended = [f.record_id for f in failures if f.code in FINAL_CODES]
        gone = [f.record_id for f in failures if f.code in GONE_CODES]
        return retry, ended, gone

    def forget_gone(self, ids: Sequence[str]) -> None:
        """Remove records a write found gone (after their page is recorded)."""
        if ids:
            self.state.remove_records(self.name, [(i, "gone") for i in ids], run_id=self.run_id)
