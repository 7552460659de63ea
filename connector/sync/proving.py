"""What a sync run does to prove the scores' value, as the small hooks the engine calls:
the control group (:mod:`connector.sync.pilot`), the callback tasks
(:mod:`connector.sync.callbacks`) and their webhook (:mod:`connector.sync.webhook`).

The engine calls, in order: :meth:`Proving.start` (under the connection's lock, before the
pull), :meth:`holds_back` / :meth:`must_rescore` per record, :meth:`before_write` per page
before anything is sent, :meth:`after_record` once the page is recorded, and :meth:`finish`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.config import ConnectionConfig, environment
from connector.crm.base import CRM
from connector.mapping import Mapping as FieldMapping
from connector.records import Cursor, Page, Record
from connector.state import RecordState, StateStore
from connector.sync.callbacks import CallbackTasks
from connector.sync.pilot import ControlGroup
from connector.sync.webhook import WebhookSender


class Proving:
    """The control group, callback tasks and webhook of one run (each off unless configured)."""

    def __init__(self, connection: str | ConnectionConfig, mapping: FieldMapping, crm: CRM,
                 state: StateStore, run_id: int, clock: Callable[[], datetime], *,
                 dry_run: bool = False, environ: Mapping[str, str] | None = None) -> None:
        config = connection if isinstance(connection, ConnectionConfig) else None
        self.name = connection if config is None else config.name
        self.mapping, self.crm, self.dry_run = mapping, crm, dry_run
        self.control = ControlGroup(config.control if config else None, state, self.name,
                                    mapping)
        settings = mapping.callbacks
        self.webhook = None
        if config is not None and config.webhook is not None and not dry_run:
            self.webhook = WebhookSender(config.webhook, state, self.name, mapping.crm,
                                         environ if environ is not None else environment(),
                                         clock)
        self.callbacks = None
        if settings is not None and settings.enabled and not dry_run:
            self.callbacks = CallbackTasks(
                settings, mapping, crm, state, self.name, run_id, clock,
                on_created=self.webhook.queue if self.webhook else lambda created: None)
        self.model_version = ""

    def extra_fields(self) -> list[str]:
        """Fields the pull must add: the owner, when tasks are made."""
        return [self.mapping.callbacks.owner(self.mapping.crm)] if self.callbacks else []

    def start(self, model_version: str) -> None:
        """Before the pull: finish the callbacks a crash left open."""
        self.model_version = model_version
        if self.callbacks is not None:
            self.callbacks.sweep()

    def pages(self, pull: Iterator[Page], fields: Sequence[str], cursor: Cursor | None, *,
              releases: bool) -> Iterator[Page]:
        """``pull``, preceded (``releases``: in the sync, not the new-leads job) by the
        control leads whose scores may now be written."""
        if releases and not self.dry_run:
            yield from self.control.release_pages(self.crm, fields, cursor)
        yield from pull

    def holds_back(self, record_id: str) -> bool:
        """Whether nothing may be written for ``record_id`` (a control lead)."""
        return self.control.holds_back(record_id)

    def must_rescore(self, record_id: str) -> bool:
        """Whether ``record_id`` must be scored even if unchanged (a released control lead)."""
        return record_id in self.control.releasing

    def before_write(self, scored: Sequence[tuple[Record, RecordState | None, dict[str, Any]]]
                     ) -> None:
        """Before a page's writes: keep the pilot's scores and stage the callbacks."""
        score, tier = self.mapping.outputs.score.field, self.mapping.outputs.tier.field
        self.control.save([(r.id, new.get(score), new.get(tier)) for r, _, new in scored],
                          self.model_version)
        if self.callbacks is not None:
            self.callbacks.stage(scored, self.holds_back)

    def after_record(self, recorded: set[str]) -> None:
        """Once a page is recorded: released leads, callback tasks, webhook posts."""
        self.control.released(recorded)
        if self.callbacks is not None:
            self.callbacks.send_recorded(recorded)
        if self.webhook is not None:
            self.webhook.deliver()

    def finish(self) -> None:
        """At the end of the run: retry due webhook posts; release the HTTP pool."""
        if self.webhook is not None:
            try:
                self.webhook.deliver()
            finally:
                self.webhook.close()
