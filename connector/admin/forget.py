"""``leadscore forget``: erase everything leadscore holds about one person, on request.

What a person leaves in leadscore, and where it goes:

* **state store** - the record's state, audit rows, failures and staged changes (and any other
  table keyed by record id, :data:`~connector.state.lifecycle.ID_TABLES`), in one transaction,
  under the connection's lock; one ``forgotten`` row keeps a salted hash of the id, so the sync
  never scores that record again and the erasure itself is on record;
* **dry-run previews** - rows of the connection's ``dry-run-*.csv`` files holding the id are
  dropped (the files are rewritten in place);
* **reports and the models folder** - they hold aggregates, not people; they are searched for
  the id and the address all the same, a report holding one is deleted (run ``leadscore report``
  again), and a model file holding one is named as a problem (retrain: it cannot be edited);
* **the CRM** (``--clear-crm``) - the leadscore output fields of the record are emptied.

``--email`` finds the ids through the CRM (:meth:`~connector.crm.base.CRM.ids_for_email`).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.config import Config
from connector.crm.base import CRM
from connector.mapping import load_mapping
from connector.records import RecordWrite
from connector.state import StateStore

PREVIEW_GLOB = "dry-run-{connection}-*.csv"
REPORT_GLOB = "*.html"


@dataclass
class ForgetReport:
    """What one ``forget`` removed, per place; ``problems`` are traces it could not erase."""

    connection: str
    records: int = 0
    state: dict[str, int] = field(default_factory=dict)
    previews: dict[str, int] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)
    crm_cleared: int | None = None
    crm_refused: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the ids and the address themselves are never echoed)."""
        return {"connection": self.connection, "records": self.records, "state": self.state,
                "previews": self.previews, "reports_deleted": self.reports,
                "crm_cleared": self.crm_cleared, "crm_refused": len(self.crm_refused),
                "problems": self.problems}

    def lines(self) -> list[str]:
        """What was removed, one line per place."""
        state = ", ".join(f"{table} {n}" for table, n in self.state.items())
        previews = (", ".join(f"{n} row(s) from {path}" for path, n in self.previews.items())
                    or "none held")
        lines = [f"forget {self.connection}: {self.records} record id(s)",
                 f"  state store: {state or 'nothing held'}",
                 f"  dry-run previews: {previews}",
                 "  reports: " + (", ".join(f"deleted {p}" for p in self.reports)
                                  or "none held")]
        if self.crm_cleared is not None:
            lines.append(f"  CRM: cleared the leadscore fields on {self.crm_cleared} record(s)"
                         + (f", {len(self.crm_refused)} refused" if self.crm_refused else ""))
        return lines + [f"  still held: {problem}" for problem in self.problems]


def _matcher(ids: Sequence[str], email: str | None) -> Callable[[str], bool]:
    """Whether a text holds one of ``ids`` as a whole token (``1001`` is not in ``10012`` or
    ``0.1001``), or ``email`` anywhere, without case."""
    tokens = [re.escape(i) for i in ids]
    pattern = re.compile(rf"(?<![\w.])(?:{'|'.join(tokens)})(?![\w.])") if tokens else None
    address = email.lower() if email else None
    return lambda text: bool((pattern and pattern.search(text))
                             or (address and address in text.lower()))


def _scrub_csv(path: Path, holds: Callable[[str], bool]) -> int:
    """Drop the rows of ``path`` with a cell holding the person; how many were dropped."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    kept = [row for row in rows if not any(holds(cell) for cell in row)]
    if len(kept) != len(rows):
        temporary = path.with_suffix(".csv.tmp")
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(kept)
        temporary.replace(path)
    return len(rows) - len(kept)


def _file_holds(path: Path, holds: Callable[[str], bool]) -> bool:
    """Whether ``path`` holds the person: in a JSON file only its strings count (ids are text;
    a count that happens to equal a numeric HubSpot id is not a trace)."""
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return False
    if path.suffix == ".json":
        try:
            return any(holds(value) for value in _strings(json.loads(text)))
        except ValueError:
            pass
    return holds(text)


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


def erase_files(report: ForgetReport, holds: Callable[[str], bool], *, previews: Path,
                reports: Path, models: Path) -> None:
    """Scrub previews, delete reports holding a trace, and name model files holding one."""
    pattern = PREVIEW_GLOB.format(connection=report.connection)
    for path in sorted(previews.glob(pattern)) if previews.is_dir() else ():
        dropped = _scrub_csv(path, holds)
        if dropped:
            report.previews[str(path)] = dropped
    for path in sorted(reports.glob(REPORT_GLOB)) if reports.is_dir() else ():
        if _file_holds(path, holds):
            path.unlink()
            report.reports.append(str(path))
    for path in sorted(models.rglob("*")) if models.is_dir() else ():
        if path.is_file() and _file_holds(path, holds):
            report.problems.append(f"{path} (a model file: retrain, then delete this version)")


def clear_in_crm(report: ForgetReport, crm: CRM, ids: Sequence[str], fields: Sequence[str]
                 ) -> None:
    """Empty the leadscore output ``fields`` of ``ids`` in the CRM."""
    writes = [RecordWrite(record_id, dict.fromkeys(fields)) for record_id in ids]
    report.crm_cleared = 0
    size = crm.write_batch_size
    for start in range(0, len(writes), size):
        for result in crm.write(writes[start:start + size]):
            if result.ok:
                report.crm_cleared += 1
            else:
                report.crm_refused[result.record_id] = f"{result.code}: {result.reason}"


def forget(config: Config, name: str, state: StateStore, *, ids: Sequence[str] = (),
           email: str | None = None, clear_crm: bool = False, previews: Path = Path("out"),
           reports: Path | None = None, open_crm: Callable[[], CRM] | None = None
           ) -> ForgetReport:
    """Erase what leadscore holds about the person with ``ids`` (or ``email``) on connection
    ``name``; see the module docstring. ``open_crm`` is needed for ``email`` and
    ``clear_crm``. Raises :class:`~connector.errors.ConnectionLockedError` while a sync runs."""
    connection = config.connection(name)
    report = ForgetReport(name)
    crm = open_crm() if (email or clear_crm) and open_crm is not None else None
    try:
        found = list(dict.fromkeys([*ids, *(crm.ids_for_email(email) if email else ())]))
        report.records = len(found)
        with state.lock(name):
            report.state = state.forget(name, found) if found else {}
        erase_files(report, _matcher(found, email), previews=previews,
                    reports=reports or config.path.parent, models=config.model_dir_for(name))
        if clear_crm and found:
            outputs = load_mapping(connection.mapping).output_fields()
            clear_in_crm(report, crm, found, outputs)
    finally:
        if crm is not None:
            crm.close()
    return report
