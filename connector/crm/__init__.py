"""CRM adapters behind one interface, found by name through the ``leadscore.crms`` entry points.

    crm = open_crm(config.connection("sf-prod"))
    for page in crm.pull_changed(cursor, ["Email", "Age__c"]):
        ...

A new CRM is one module implementing :class:`CRM` plus one entry-point line in pyproject.toml.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import entry_points

from connector.config import ConnectionConfig
from connector.crm.base import CRM, write_all
from connector.crm.transport import RetryPolicy
from connector.errors import ConfigError

GROUP = "leadscore.crms"

__all__ = ["CRM", "GROUP", "available_crms", "get_crm", "open_crm", "write_all"]


def available_crms() -> list[str]:
    """The names of every installed CRM adapter, sorted."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


@functools.cache
def get_crm(name: str) -> type[CRM]:
    """The adapter class registered as ``name``; :class:`ConfigError` lists the known ones.
    Looked up once per process (reading the installed packages' entry points takes tens of
    milliseconds, and a fleet worker opens a client per connection)."""
    found = entry_points(group=GROUP, name=name)
    if not found:
        raise ConfigError(f"no CRM adapter called {name!r} (installed: "
                          f"{', '.join(available_crms()) or 'none'})")
    return next(iter(found)).load()


def open_crm(connection: ConnectionConfig, *, environ: Mapping[str, str] | None = None,
             policy: RetryPolicy | None = None) -> CRM:
    """Authenticate to ``connection``'s CRM and return its client (see :meth:`CRM.connect`)."""
    return get_crm(connection.crm).connect(connection, environ=environ, policy=policy)
