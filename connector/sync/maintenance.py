"""The daily maintenance of one connection: retention and the reconciliation of removed records.

* **Retention**: audit rows, runs and erasure-safe removal rows older than the connection's
  ``retention_days`` are deleted (:meth:`~connector.state.StateStore.prune`). The record states
  themselves are not history: they stay as long as their record lives.
* **Reconciliation**: every record the state holds is looked up in the CRM
  (:meth:`~connector.crm.base.CRM.read`, one call per ``write_batch_size`` ids); those it no
  longer finds left without a trace in the removal listings (a HubSpot GDPR delete done by the
  portal, a Salesforce record purged from the recycle bin while the delete log could not be
  read) and are removed as ``gone``. A 100,000-lead org costs 500 calls a day on Salesforce,
  1,000 on HubSpot.

The job holds the connection's lock (it never runs beside a sync of the same connection) and
leaves a run row of kind ``maintenance`` with its API calls and what it did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.crm.base import CRM
from connector.state import StateStore, utcnow

KIND = "maintenance"


@dataclass
class MaintenanceReport:
    """What one maintenance run did."""

    connection: str
    pruned: dict[str, int] = field(default_factory=dict)
    checked: int = 0
    gone: int = 0
    api_calls: int = 0

    def line(self) -> str:
        """The run as one log line."""
        pruned = " ".join(f"{k}={v}" for k, v in self.pruned.items()) or "nothing (no retention)"
        return (f"maintenance {self.connection}: pruned {pruned}; checked {self.checked} "
                f"records, {self.gone} gone; api_calls={self.api_calls}")


def reconcile(crm: CRM, state: StateStore, name: str, *, run_id: int | None = None
              ) -> tuple[int, int]:
    """Remove the records the state holds that ``crm`` no longer finds; ``(checked, gone)``."""
    ids = state.record_ids(name)
    size = crm.write_batch_size
    gone: list[str] = []
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        found = {record.id for record in crm.read(chunk, [])}
        gone += [record_id for record_id in chunk if record_id not in found]
    state.remove_records(name, [(record_id, "gone") for record_id in gone], run_id=run_id)
    return len(ids), len(gone)


def run_maintenance(name: str, crm: CRM, state: StateStore, *, retention_days: int | None,
                    clock: Callable[[], datetime] = utcnow) -> MaintenanceReport:
    """Prune and reconcile connection ``name`` under its lock; see the module docstring.

    Raises :class:`~connector.errors.ConnectionLockedError` when a sync holds the connection;
    a CRM error ends the run (recorded as ``failed``) and propagates.
    """
    report = MaintenanceReport(name)
    base = crm.usage().calls
    with state.lock(name):
        run_id = state.start_run(name, KIND)
        outcome, message = "failed", None
        try:
            if retention_days:
                report.pruned = state.prune(name, clock() - timedelta(days=retention_days))
            report.checked, report.gone = reconcile(crm, state, name, run_id=run_id)
            outcome = "ok"
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            raise
        finally:
            report.api_calls = crm.usage().calls - base
            state.finish_run(run_id, outcome, message=message or report.line(),
                             api_calls=report.api_calls)
    return report
