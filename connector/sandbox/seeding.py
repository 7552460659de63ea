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
SF_NAME_MAX = 40  # Salesforce's limit on a custom field's name, "__c" not counted
TEXT_MAX = 255  # the seeded text fields hold what a Salesforce Text(255) field holds
# Contact properties the seed writes itself: a CSV column of that name gets a prefix.
HS_RESERVED = frozenset({"firstname", "lastname", "email", "createdate", "lifecyclestage",
                         "hs_lead_status"})


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
    notes: tuple[str, ...] = ()  # what the loader changed: columns skipped or renamed


def sf_field_name(column: str, taken: frozenset[str] | set[str] = frozenset()) -> str:
    """Salesforce custom field for a CSV column: ``emp.var.rate`` -> ``Emp_Var_Rate__c``.

    As Salesforce's own field-name suggestion does: a name starting with a digit gets an ``X``,
    a name past 40 characters is cut there, and a name already in ``taken`` (lower case, with
    ``__c``) ends in ``_2``, ``_3``...
    """
    base = _sf_base(column)
    name, number = base[:SF_NAME_MAX].rstrip("_"), 1
    while f"{name}__c".lower() in taken:
        number += 1
        suffix = f"_{number}"
        name = base[:SF_NAME_MAX - len(suffix)].rstrip("_") + suffix
    return name + "__c"


def _sf_base(column: str) -> str:
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", column) if part] or ["Column"]
    base = "_".join(part[:1].upper() + part[1:] for part in parts)
    return base if base[0].isalpha() else "X" + base


def hs_property_name(column: str, prefix: str = "") -> str:
    """HubSpot contact property for a CSV column: ``emp.var.rate`` -> ``emp_var_rate``.

    The bundled demo data uses ``prefix="bank_"``; a column named like a property the seed
    writes itself (``email``...) becomes ``csv_email``, one starting with a digit ``x2nd``.
    """
    name = prefix + "_".join(p for p in re.split(r"[^0-9a-z]+", column.lower()) if p)
    if not name:
        return "csv_column"
    if name in HS_RESERVED or name.startswith("hs_"):
        return "csv_" + name
    return name if name[0].isalpha() else "x" + name


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
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise SeedError(f"{path}: cannot read seed file "
                        f"({getattr(exc, 'strerror', None) or exc})") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        header = raw[:raw.find(b"\n")].decode("utf-8", "replace")
        delimiter = max(";,\t", key=header.count)
        column = raw[line_start:exc.start].count(delimiter.encode())
        names = header.lstrip("\ufeff").split(delimiter)
        name = names[column].strip('"\r') if column < len(names) else f"#{column + 1}"
        raise SeedError(f"{path}: line {line}, column {name!r}: not UTF-8 (byte "
                        f"0x{raw[exc.start]:02x}); save the file as UTF-8") from None


def _read_rows(path: Path, text: str, delimiter: str) -> tuple[list[str], list[tuple[int, list]]]:
    """The header and the non-empty rows, each with the file line it starts on."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    # csv refuses fields past 128 KiB with no word of where; take any length here and say
    # which row and column is too long afterwards (see _check_lengths).
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    try:
        header = next(reader, None) or []
        rows, line = [], reader.line_num + 1
        for row in reader:
            if row:
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise SeedError(f"{path}: line {reader.line_num}: {exc}") from None
    finally:
        csv.field_size_limit(limit)
    return header, rows


def _check_lengths(path: Path, header: list[str], kept: list[int],
                   lines: list[tuple[int, list]]) -> None:
    for line, row in lines:
        for i in kept:
            if len(row[i]) > TEXT_MAX:
                raise SeedError(f"{path}: line {line}, column {header[i]!r}: a value of "
                                f"{len(row[i]):,} characters; a seeded field holds at most "
                                f"{TEXT_MAX} (shorten the values or drop the column)")


def _named_columns(header: list[str], kept: list[int], hs_prefix: str) -> tuple[list, list[str]]:
    """(index, column name, Salesforce field, HubSpot property) per kept column, and the
    notes on the names that had to change."""
    named, notes, taken_sf, taken_hs = [], [], set(), set()
    for i in kept:
        sf_name = sf_field_name(header[i], taken_sf)
        hs_name = base_hs = hs_property_name(header[i], hs_prefix)
        while hs_name in taken_hs:
            hs_name = f"{base_hs}_{len(taken_hs) + 1}"
        taken_sf.add(sf_name.lower())
        taken_hs.add(hs_name)
        if sf_name != _sf_base(header[i]) + "__c":
            notes.append(f"column {header[i]!r} is Salesforce field {sf_name} (field names stop "
                         f"at {SF_NAME_MAX} characters and are unique)")
        named.append((i, header[i], sf_name, hs_name))
    return named, notes


def load_csv(path: Path, *, outcome_column: str = "y", positive: str = "yes",
             open_share: float = 0.2, start: datetime = BANK_START,
             end: datetime = BANK_END, hs_prefix: str = "") -> SeedData:
    """Read ``path`` (CSV, optionally gzipped, ``;`` or ``,`` separated) as time-ordered leads.

    Rows are taken as created in file order: creation times are spread evenly from ``start``
    to ``end``; the newest ``open_share`` of rows are open, the rest closed with their outcome
    (``outcome_column == positive``). Columns without a name are skipped; field names are
    made valid for each CRM (``notes`` says which changed). ``hs_prefix`` starts every HubSpot
    property name (the bundled demo data uses ``bank_``).
    """
    text = _read_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    header, numbered = _read_rows(path, text, delimiter)
    if not header or outcome_column not in header:
        shown = ", ".join(name[:60] for name in header[:30])
        raise SeedError(f"{path}: no column {outcome_column!r} to read outcomes from "
                        f"(columns: {shown}); pass the outcome column's name")
    if not numbered:
        raise SeedError(f"{path}: no data rows")
    width = len(header)
    for number, row in numbered:
        if len(row) != width:
            raise SeedError(f"{path}:{number}: {len(row)} values where the header has {width}")
    target = header.index(outcome_column)
    kept = [i for i in range(width) if i != target and header[i].strip()]
    notes = [f"column {i + 1} has no name: skipped" for i in range(width)
             if i != target and not header[i].strip()]
    _check_lengths(path, header, kept, numbered)
    lines = [row for _, row in numbered]
    named, renamed = _named_columns(header, kept, hs_prefix)
    columns = tuple(
        SeedColumn(name, _kind_of([row[i] for row in lines]), sf_name, hs_name,
                   name.replace(".", " ").replace("_", " ").strip().capitalize()[:SF_NAME_MAX])
        for i, name, sf_name, hs_name in named)
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
    return SeedData(source=str(path), columns=columns, rows=rows, notes=tuple(notes + renamed))


def bank_csv_path() -> Path:
    """Path of the bundled UCI Bank Marketing CSV (CC BY 4.0; see demo/ATTRIBUTION.md)."""
    return Path(str(resources.files("connector.sandbox") / "demo" / "bank-additional-full.csv.gz"))


def load_bank() -> SeedData:
    """The bundled demo data: 41,188 calls, May 2008 - Nov 2010, newest 20% open."""
    return load_csv(bank_csv_path(), hs_prefix="bank_")


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
