"""One connection's working set: its config, mapping, model folder, CRM client and state store.

Commands that act on a connection (train, explain, report, fields, check, demo) start here, so
each resolves the same files the same way as the sync engine and the scheduler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from connector.config import Config, ConnectionConfig, load_config
from connector.crm import CRM, open_crm
from connector.errors import StopRequestedError
from connector.mapping import Mapping, load_mapping
from connector.model.guard import live_fields
from connector.state import StateStore


@dataclass
class Workspace:
    """Lazily opened pieces of one configured connection."""

    config: Config
    name: str

    @cached_property
    def connection(self) -> ConnectionConfig:
        """The connection's validated config (raises ConfigError if unknown)."""
        return self.config.connection(self.name)

    @cached_property
    def mapping(self) -> Mapping:
        """The connection's validated field mapping."""
        return load_mapping(self.connection.mapping)

    @property
    def model_dir(self) -> Path:
        """Where this connection's model versions live."""
        return self.config.model_dir_for(self.name)

    def open_crm(self) -> CRM:
        """Authenticate and return a CRM client; the caller closes it."""
        return open_crm(self.connection)

    def state(self) -> StateStore:
        """The state store (a context manager)."""
        return StateStore(self.config.state_url)


def open_workspace(config_path: str | Path | None, connection: str) -> Workspace:
    """Load the config and check that ``connection`` exists in it."""
    workspace = Workspace(load_config(config_path), connection)
    workspace.connection  # noqa: B018 - fail early, naming the known connections
    return workspace


def live_model_fields(crm: CRM, mapping: Mapping, model_dir: Path | None) -> list[str]:
    """Fields the live model in ``model_dir`` reads that the mapping no longer pulls (and the
    CRM still has): the history pull brings them along, so the promotion guard grades the live
    model on its own fields even after the mapping dropped some."""
    if model_dir is None:
        return []
    pulled = set(mapping.input_fields())
    extra = [f for f in live_fields(model_dir) if f not in pulled]
    return [f for f in extra if f not in crm.describe().missing(extra)] if extra else []


def pull_history(crm: CRM, mapping: Mapping, model_dir: Path | None = None, *,
                 stop: threading.Event | None = None) -> Iterator[dict]:
    """Every record's mapped input values, as plain dicts, page by page (training input),
    plus the live model's fields in ``model_dir`` (see :func:`live_model_fields`).

    With ``stop`` set, raises :class:`StopRequestedError` before asking for the next page.
    """
    pulled = 0
    fields = mapping.input_fields() + live_model_fields(crm, mapping, model_dir)
    for page in crm.pull_changed(None, fields):
        if stop is not None and stop.is_set():
            raise StopRequestedError(f"stop requested: the history pull stopped after "
                                     f"{pulled:,} records")
        pulled += len(page.records)
        for record in page.records:
            yield dict(record.values)
