"""A bounded, time-spread sample of a CRM object's records, per-field profiles, and the data
rules ``check`` and ``suggest`` share.

``leadscore check`` and ``leadscore mappings suggest`` both look at data without pulling a whole
org, and must agree: a field ``suggest`` keeps must not be one ``check`` then flags. So both
take the same sample (:func:`sample_records`, deterministic: the same records, and the same
number of them, on every run over the same data) and judge fields with the same rule
(:func:`data_problem`).

Pulls come oldest-modified first, so the first pages alone would describe one month of history
(on the demo data: only May 2008, one value of the month field, 3% conversions). So
:func:`sample_records` reads the first ``size`` records; if the object holds more, it finds the
newest modification stamp (probing forward from the newest stamp seen, then bisecting: one
small query per step, and no dependence on the clock) and takes an equal share of records from
ten disjoint windows spread between the oldest and newest stamps; a window with too few records
passes what it lacks to the next one. Cost: about ``size / page size`` calls plus ~25
(Salesforce: ~30 calls; HubSpot: ~110). When every stamp lies within the pull's overlap (a
freshly imported org) the windows cannot separate history, and one full pull keeps an even
stride of records instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.crm import CRM
from connector.mapping import canonical
from connector.records import Cursor, Record

SAMPLE_SIZE = 5_000
WINDOWS = 10
ROUNDS = 3  # times a spread shares out what its quiet windows could not give
DISTINCT_CAP = 1_000  # counting stops here: past it a field is free text either way
SPARSE = 0.05  # a field filled on fewer records than this gives the model too little to learn


@dataclass(frozen=True)
class Sample:
    """Records' values (plain dicts) and what part of the object they are."""

    records: list[dict]
    complete: bool
    oldest: datetime | None = None
    newest: datetime | None = None
    ids: list[str] = field(default_factory=list)  # the records' ids, in the same order

    def describe(self) -> str:
        """A short phrase for reports: all records, or a sample and its time span."""
        if self.complete:
            return f"all {len(self.records):,} records"
        span = (f" modified {self.oldest:%Y-%m-%d} to {self.newest:%Y-%m-%d}"
                if self.oldest and self.newest else "")
        return f"a sample of {len(self.records):,} of the records{span}"


def _take(pages: Iterable, limit: int) -> list[Record]:
    """Records from ``pages`` until ``limit`` are collected or the pull ends."""
    taken: list[Record] = []
    for page in pages:
        taken.extend(page.records)
        if len(taken) >= limit:
            break
    return taken[:limit]


def _stamps_from(crm: CRM, fields: Sequence[str], moment: datetime) -> list[datetime]:
    """Stamps at or after ``moment`` on the first page of a pull from there (one call). The
    pull starts an overlap before ``moment``: look past the records inside that overlap."""
    page = next(iter(crm.pull_changed(Cursor(stamp=moment), fields)), None)
    return [r.stamp for r in (page.records if page else ()) if r.stamp >= moment]


def _newest_stamp(crm: CRM, fields: Sequence[str], oldest: datetime, known: datetime
                  ) -> datetime:
    """The newest modification stamp (to within 1/2048 of the history, 10 minutes at least):
    probe forward from ``known`` in doubling steps until a probe finds nothing, then bisect
    (one first page per step, ~15 calls whatever the org's size). Every bound comes from the
    data, never from the clock, so the same data always gives the same answer."""
    low, step = known, max(known - oldest, timedelta(days=1))
    while later := _stamps_from(crm, fields, low + step):
        low, step = max(later), step * 2
    high = low + step
    precision = max((high - oldest) / 2048, timedelta(minutes=10))
    while high - low > precision:
        middle = low + (high - low) / 2
        later = _stamps_from(crm, fields, middle)
        if later:
            low = max(low, *later)
        else:  # nothing at or after middle
            high = middle
    return low


def _window(crm: CRM, fields: Sequence[str], start: datetime, end: datetime | None,
            quota: int) -> list[Record]:
    """Up to ``quota`` records modified in ``[start, end)`` (``end`` None: open-ended), the
    oldest first, read from a pull starting at ``start``; stops at the first page past ``end``."""
    taken: list[Record] = []
    for page in crm.pull_changed(Cursor(stamp=start), fields):
        inside = sorted((r for r in page.records
                         if r.stamp >= start and (end is None or r.stamp < end)),
                        key=lambda r: (r.stamp, r.id))
        taken.extend(inside[:quota - len(taken)])
        if len(taken) >= quota or (end is not None and page.records
                                   and min(r.stamp for r in page.records) >= end):
            break
    return taken


def _spread(crm: CRM, fields: Sequence[str], start: datetime, stop: datetime, quota: int, *,
            open_end: bool, depth: int = 2) -> list[Record]:
    """Up to ``quota`` records modified from ``start`` to ``stop`` (past ``stop`` too when
    ``open_end``), spread over time: :data:`WINDOWS` equal windows take an equal share each.
    Windows in quiet periods (or gaps in the history) fall short; the windows not yet
    exhausted then share out the shortfall (up to :data:`ROUNDS` times), and one that must
    take at least twice its share spreads it over its own sub-windows the same way (``depth``
    levels), so a long busy window is not sampled from its start only."""
    bounds: list[datetime | None] = [start + (stop - start) * k / WINDOWS for k in range(WINDOWS)]
    bounds.append(None if open_end else stop)
    wanted = [quota * (k + 1) // WINDOWS - quota * k // WINDOWS for k in range(WINDOWS)]
    share = list(wanted)

    def read(k: int) -> list[Record]:
        last = k == WINDOWS - 1
        if depth > 1 and wanted[k] >= 2 * share[k]:
            return _spread(crm, fields, bounds[k], stop if last else bounds[k + 1], wanted[k],
                           open_end=open_end and last, depth=depth - 1)
        return _window(crm, fields, bounds[k], bounds[k + 1], wanted[k])

    picked = [read(k) for k in range(WINDOWS)]
    for _ in range(ROUNDS):
        short = quota - sum(map(len, picked))
        able = [k for k in range(WINDOWS) if wanted[k] and len(picked[k]) == wanted[k]]
        if not short or not able:
            break
        for i, k in enumerate(able):
            wanted[k] += short // len(able) + (i < short % len(able))
            picked[k] = read(k)
    return [record for window in picked for record in window]


def sample_records(crm: CRM, fields: Sequence[str], *, size: int = SAMPLE_SIZE) -> Sample:
    """Up to ``size`` records with ``fields``: every record if the object holds no more, else
    an even spread over the modification history (see :func:`_spread`). The same data gives
    the same sample, of the same size, on every run and whichever ``fields`` are asked for."""
    fields = list(fields)
    first = _take(crm.pull_changed(None, fields), size + 1)
    if len(first) <= size:
        stamps = [r.stamp for r in first]
        return Sample([dict(r.values) for r in first], True, min(stamps, default=None),
                      max(stamps, default=None), [r.id for r in first])
    # Only stamps are compared: no assumption on the order of records within a page.
    oldest = min(r.stamp for r in first)
    newest = _newest_stamp(crm, fields, oldest, max(r.stamp for r in first))
    chosen = {r.id: r for r in _spread(crm, fields, oldest, newest, size, open_end=True)}
    if len(chosen) < size // 2:
        # Stamps bunched within the pull's overlap (a fresh import): the windows cannot tell
        # history apart. Read everything once instead, keeping an even spread in pull order.
        chosen = {r.id: r for r in _strided(crm.pull_changed(None, fields), size)}
    return Sample([dict(r.values) for r in chosen.values()], False, oldest, newest,
                  list(chosen))


def _strided(pages: Iterable, size: int) -> list[Record]:
    """Every k-th record of ``pages``, k doubling whenever more than ``size`` are kept, so the
    result spreads evenly over the whole pull while memory stays bounded."""
    kept: list[Record] = []
    stride, seen = 1, 0
    for page in pages:
        for record in page.records:
            if seen % stride == 0:
                kept.append(record)
                if len(kept) > size:
                    kept, stride = kept[::2], stride * 2
            seen += 1
    return kept


@dataclass(frozen=True)
class FieldProfile:
    """How one field is filled in a sample: share of records with a value, distinct values
    (capped at :data:`DISTINCT_CAP`) and the most common value's share of the filled ones."""

    field: str
    filled: float
    distinct: int
    top_share: float

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"field": self.field, "filled": round(self.filled, 4), "distinct": self.distinct,
                "top_share": round(self.top_share, 4)}


def profile(records: Sequence[dict], field: str) -> FieldProfile:
    """The :class:`FieldProfile` of ``field`` over ``records`` (values compared as the mapping
    compares them: ``"7"`` and ``7.0`` are one value)."""
    counts: dict[str, int] = {}
    filled = 0
    for record in records:
        value = canonical(record.get(field))
        if value is None:
            continue
        filled += 1
        if value in counts or len(counts) < DISTINCT_CAP:
            counts[value] = counts.get(value, 0) + 1
    total = max(len(records), 1)
    top = max(counts.values(), default=0)
    return FieldProfile(field, filled / total, len(counts), top / filled if filled else 0.0)


def data_problem(prof: FieldProfile, sample: Sample) -> tuple[str, str] | None:
    """Why ``prof``'s field is of no use as a feature on ``sample``, as (what, what to do), or
    None. The one rule behind both ``check``'s data warnings and the fields ``suggest`` leaves
    out, so a field ``suggest`` keeps is never one ``check`` flags on the same sample."""
    if prof.filled < SPARSE:
        return (f"filled on only {prof.filled:.1%} of {sample.describe()} (under {SPARSE:.0%})",
                "leave it in only if it is filled more often on newer leads")
    if prof.distinct <= 1:
        return (f"has the same value on every one of {sample.describe()}",
                "remove it from features: a constant says nothing about a lead")
    return None
