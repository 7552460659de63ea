"""Turning a CSV (the bundled bank-marketing data or any other) into sandbox leads.

The result is CRM-neutral: one :class:`SeedColumn` per CSV column (with the field name it gets in
each CRM) and one :class:`SeedRow` per line, with its creation time, whether it is still open and
its true outcome. Each emulator loads it through the same store functions its API handlers use,
so seeded records behave exactly like records created over HTTP. The outcome of open rows stays
out of the CRM; emulators keep it aside for benchmarks (the "hidden outcomes").

Post-outcome columns (:func:`with_post_outcome_columns`) are the ones a real CRM only gets once
the sales process has run, such as the bank data's call ``duration``: emulators leave them
empty on open leads (keeping the values aside until the time route closes the lead, see
:mod:`connector.sandbox.timeline`) and record them in field history as filled at the close
(:func:`close_time`) on closed ones.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

BANK_START = datetime(2008, 5, 1, 9, 0, tzinfo=UTC)
BANK_END = datetime(2010, 11, 30, 17, 0, tzinfo=UTC)


class SeedError(ValueError):
    """A seed CSV that cannot be loaded; the message names the file and what is wrong."""


@dataclass(frozen=True)
class SeedColumn:
    """One CSV column and the field it becomes in each CRM."""

    name: str
    kind: str  # "int", "float" or "text"
    sf_field: str
    hs_property: str
    label: str


@dataclass(frozen=True)
class SeedRow:
    """One lead to create: its CSV values, creation time, open/closed state and true outcome."""

    index: int
    created_at: datetime
    values: dict[str, int | float | str | None]
    is_open: bool
    outcome: bool


@dataclass(frozen=True)
class SeedData:
    """Everything an emulator needs to load a data set as leads."""

    source: str
    columns: tuple[SeedColumn, ...]
    rows: tuple[SeedRow, ...]
    post_outcome: tuple[str, ...] = ()  # column names filled only when the lead closes


def sf_field_name(column: str) -> str:
    """Salesforce custom field for a CSV column: ``emp.var.rate`` -> ``Emp_Var_Rate__c``."""
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", column) if part]
    return "_".join(part[:1].upper() + part[1:] for part in parts) + "__c"


def hs_property_name(column: str) -> str:
    """HubSpot contact property for a CSV column: ``emp.var.rate`` -> ``bank_emp_var_rate``."""
    return "bank_" + "_".join(p for p in re.split(r"[^0-9a-z]+", column.lower()) if p)


def _kind_of(values: list[str]) -> str:
    filled = [v for v in values if v != ""]
    for kind, parse in (("int", int), ("float", float)):
        try:
            for value in filled:
                parse(value)
        except ValueError:
            continue
        return kind
    return "text"


def _typed(value: str, kind: str) -> int | float | str | None:
    if value == "":
        return None
    return int(value) if kind == "int" else float(value) if kind == "float" else value


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SeedError(f"{path}: cannot read seed file ({exc.strerror})") from exc
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def load_csv(path: Path, *, outcome_column: str = "y", positive: str = "yes",
             open_share: float = 0.2, start: datetime = BANK_START,
             end: datetime = BANK_END) -> SeedData:
    """Read ``path`` (CSV, optionally gzipped, ``;`` or ``,`` separated) as time-ordered leads.

    Rows keep file order as time order: creation times are spread evenly from ``start`` to
    ``end``; the newest ``open_share`` of rows are open, the rest closed with their outcome
    (``outcome_column == positive``).
    """
    text = _read_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header or outcome_column not in header:
        raise SeedError(f"{path}: no column {outcome_column!r} to read outcomes from "
                        f"(columns: {', '.join(header or [])}); pass the outcome column's name")
    lines = [row for row in reader if row]
    if not lines:
        raise SeedError(f"{path}: no data rows")
    width = len(header)
    for number, row in enumerate(lines, start=2):
        if len(row) != width:
            raise SeedError(f"{path}:{number}: {len(row)} values where the header has {width}")
    target = header.index(outcome_column)
    kept = [i for i in range(width) if i != target]
    columns = tuple(
        SeedColumn(header[i], _kind_of([row[i] for row in lines]), sf_field_name(header[i]),
                   hs_property_name(header[i]),
                   header[i].replace(".", " ").replace("_", " ").capitalize())
        for i in kept)
    count = len(lines)
    first_open = count - round(count * open_share)
    # Whole milliseconds: the CRMs keep timestamps to the millisecond.
    span_ms = (end - start) // timedelta(milliseconds=1)
    steps = max(count - 1, 1)
    rows = tuple(
        SeedRow(index=i, created_at=start + timedelta(milliseconds=span_ms * i // steps),
                values={col.name: _typed(row[i], col.kind) for i, col in zip(kept, columns)},
                is_open=i >= first_open, outcome=row[target] == positive)
        for i, row in enumerate(lines))
    return SeedData(source=str(path), columns=columns, rows=rows)


def bank_csv_path() -> Path:
    """Path of the bundled UCI Bank Marketing CSV (CC BY 4.0; see demo/ATTRIBUTION.md)."""
    return Path(str(resources.files("connector.sandbox") / "demo" / "bank-additional-full.csv.gz"))


def load_bank() -> SeedData:
    """The bundled demo data: 41,188 calls, May 2008 - Nov 2010, newest 20% open."""
    return load_csv(bank_csv_path())


def with_post_outcome_columns(data: SeedData, names) -> SeedData:
    """``data`` with the columns ``names`` (CSV column names) marked as filled at the close."""
    wanted = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    known = [column.name for column in data.columns]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SeedError(f"{data.source}: no column {', '.join(map(repr, unknown))} to leave "
                        f"empty until the close (columns: {', '.join(known)})")
    return dataclasses.replace(data, post_outcome=wanted)


def close_time(row: SeedRow) -> datetime:
    """When a seeded closed lead got its outcome: 3 to 7 days after its creation."""
    return row.created_at + timedelta(days=3 + row.index % 5)
