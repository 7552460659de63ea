"""Frozen value types shared by the CRM layer and the sync engine.

The CRM adapters speak only these types: a :class:`FieldCatalog` of :class:`FieldInfo` from
describe, :class:`Record` values grouped in :class:`Page` objects that carry the :class:`Cursor`
they reached, :class:`RecordWrite` requests answered by one :class:`WriteResult` each, and
:class:`FieldSpec` for the output fields leadscore creates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Literal

FieldKind = Literal["string", "text", "number", "boolean", "date", "datetime", "picklist",
                    "id", "other"]
"""CRM-neutral field kinds. ``string`` is short text, ``text`` long text (a textarea)."""

TEXT_KINDS = ("string", "text")
_NUMBER_TYPES = {"currency": "Currency", "percent": "Percent"}  # else Number(precision,scale)
_EXACT = Context(prec=400, rounding=ROUND_HALF_UP)  # room for every finite float's digits


def wire_text(value: Any, *, null: str) -> str:
    """A value as the text a CRM's string wire format holds (HubSpot properties, Bulk API CSV):
    booleans as true/false, times in UTC with milliseconds, dates as ISO dates, and None as
    ``null``, the wire's own way of clearing a field."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def parse_stamp(value: str) -> datetime:
    """Parse a CRM timestamp (``...000+0000``, ``...Z`` or epoch milliseconds) as aware UTC."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # Salesforce writes +0000; fromisoformat wants +00:00
    return datetime.fromisoformat(text).astimezone(UTC)


# -- describe -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldInfo:
    """One field of the CRM object as describe reports it.

    ``crm_type`` is the CRM's own type name (``double``, ``enumeration``...), ``kind`` the neutral
    one. ``length`` is the text capacity in characters (None if the CRM states none);
    ``picklist`` the allowed values of a picklist (empty when any value goes). ``precision`` and
    ``scale`` are a number's total digits and digits after the point (None when the CRM states
    none, as HubSpot's numbers): it holds magnitudes below ``10 ** (precision - scale)``, and
    the CRM rounds what it stores to ``scale`` decimals.
    """

    name: str
    label: str
    kind: FieldKind
    crm_type: str
    length: int | None = None
    updateable: bool = True
    picklist: tuple[str, ...] = ()
    custom: bool = False
    precision: int | None = None
    scale: int | None = None

    @property
    def capacity(self) -> str | None:
        """A number field's shape as an admin sees it (``Number(3,0)``), or None without one."""
        if self.precision is None:
            return None
        return f"{_NUMBER_TYPES.get(self.crm_type, 'Number')}({self.precision},{self.scale or 0})"

    @property
    def max_number(self) -> Decimal | None:
        """The largest magnitude this number field stores (``99`` for Number(2,0)), or None."""
        if self.precision is None:
            return None
        scale = self.scale or 0
        return Decimal(10) ** (self.precision - scale) - Decimal(10) ** -scale

    def stored_number(self, value: float) -> Decimal:
        """``value`` rounded to this field's scale, as the CRM stores it (exactly, half up)."""
        exact = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(int(value))
        if self.scale is None:
            return exact
        return exact.quantize(Decimal(1).scaleb(-self.scale), context=_EXACT)

    def problem_with(self, value: Any) -> tuple[str, str] | None:
        """Why ``value`` cannot be written to this field, as ``(code, reason)``; None if it can."""
        if not self.updateable:
            return "NOT_UPDATEABLE", f"field {self.name} is read-only for this user"
        if value is None:
            return None
        if self.kind in TEXT_KINDS or self.kind == "id":
            if not isinstance(value, str):
                return "INVALID_TYPE", f"{self.name} takes text, got {type(value).__name__}"
            if self.length is not None and len(value) > self.length:
                return ("STRING_TOO_LONG",
                        f"{self.name} holds {self.length} characters, value has {len(value)}")
        elif self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    isinstance(value, float) and not math.isfinite(value)):
                return "INVALID_TYPE", f"{self.name} takes a finite number, got {value!r}"
            limit = self.max_number
            if limit is not None and abs(self.stored_number(value)) > limit:
                return ("NUMBER_OUTSIDE_VALID_RANGE",
                        f"{self.name} holds numbers up to {limit} ({self.capacity}); got {value}")
        elif self.kind == "boolean" and not isinstance(value, bool):
            return "INVALID_TYPE", f"{self.name} takes true/false, got {value!r}"
        elif self.kind == "datetime" and not (isinstance(value, datetime) and value.tzinfo):
            return "INVALID_TYPE", f"{self.name} takes a timezone-aware datetime, got {value!r}"
        elif self.kind == "date" and (not isinstance(value, date) or isinstance(value, datetime)):
            return "INVALID_TYPE", f"{self.name} takes a date, got {value!r}"
        elif self.kind == "picklist" and self.picklist and value not in self.picklist:
            return ("INVALID_PICKLIST",
                    f"{value!r} is not an option of {self.name} ({', '.join(self.picklist)})")
        return None

    def fit(self, text: str) -> str:
        """``text`` cut to this field's length (ending in an ellipsis when cut)."""
        if self.length is None or len(text) <= self.length:
            return text
        return text[: max(self.length - 1, 0)] + "…"


@dataclass(frozen=True)
class FieldCatalog:
    """Every field of one CRM object visible to the integration user, by API name."""

    object_name: str
    fields: Mapping[str, FieldInfo]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __getitem__(self, name: str) -> FieldInfo:
        return self.fields[name]

    def get(self, name: str) -> FieldInfo | None:
        """The field called ``name``, or None."""
        return self.fields.get(name)

    def missing(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """The names in ``names`` that this object does not have (in the order given)."""
        return [name for name in names if name not in self.fields]

    def refusal(self, write: RecordWrite) -> WriteResult | None:
        """Why ``write`` must not be sent (unknown or read-only field, wrong type, text too long,
        number too large, not a picklist option) as an unsent :class:`WriteResult`, or None if
        it may go."""
        for name, value in write.values.items():
            info = self.fields.get(name)
            problem = (("UNKNOWN_FIELD", f"{self.object_name} has no field {name}")
                       if info is None else info.problem_with(value))
            if problem:
                return WriteResult(write.record_id, ok=False, field=name, code=problem[0],
                                   reason=problem[1], sent=False)
        return None


@dataclass(frozen=True)
class FieldSpec:
    """An output field leadscore needs on the CRM object (what ``fields create`` provisions).

    ``kind`` is one of ``number``, ``string``, ``text``, ``picklist``, ``datetime``; ``length``
    applies to text kinds, ``precision``/``scale`` to numbers, ``options`` to picklists.
    """

    name: str
    label: str
    kind: FieldKind
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    options: tuple[str, ...] = ()
    description: str = ""


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One CRM record: its id, the requested values exactly as the API returned them, and the
    stamp the cursor follows (modification: ``SystemModstamp`` / ``lastmodifieddate``; creation
    for ``pull_created``)."""

    id: str
    values: Mapping[str, Any]
    stamp: datetime


def _stamp_key(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _floor(stamp: datetime, overlap: timedelta) -> datetime:
    return (stamp - overlap).astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Cursor:
    """How far a pull got, safe to store once the records before it are dealt with.

    ``stamp``: every record version modified before it was delivered (the next pull starts at
    ``stamp - overlap`` to catch late arrivals). ``seen``: the ``(id, stamp)`` versions already
    delivered inside that overlap, so re-reading them delivers nothing twice. ``resume``: the
    CRM's position inside an unfinished sweep (None once the sweep is complete).
    """

    stamp: datetime | None = None
    seen: frozenset[tuple[str, str]] = frozenset()
    resume: Mapping[str, str] | None = None

    @staticmethod
    def version(record_id: str, stamp: datetime) -> tuple[str, str]:
        """The key of one record version in :attr:`seen`."""
        return record_id, _stamp_key(stamp)

    def since(self, overlap: timedelta) -> datetime | None:
        """Where the next pull starts reading: ``stamp - overlap`` in whole seconds (the
        precision of a SOQL literal), or None to read from the beginning."""
        return None if self.stamp is None else _floor(self.stamp, overlap)

    def to_json(self) -> str:
        """A JSON text for the state store; :meth:`from_json` reads it back."""
        return json.dumps({
            "stamp": _stamp_key(self.stamp) if self.stamp else None,
            "seen": sorted(list(pair) for pair in self.seen),
            "resume": dict(self.resume) if self.resume is not None else None,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        """The cursor :meth:`to_json` wrote."""
        data = json.loads(text)
        stamp = datetime.fromisoformat(data["stamp"]) if data.get("stamp") else None
        return cls(stamp=stamp, seen=frozenset((i, s) for i, s in data.get("seen", ())),
                   resume=data.get("resume"))


@dataclass
class SeenWindow:
    """The mutable companion of :class:`Cursor` while a pull runs: dedupe and prune versions."""

    overlap: timedelta
    seen: set[tuple[str, str]] = field(default_factory=set)
    pinned: frozenset[tuple[str, str]] = frozenset()
    """Versions kept by every mid-sweep cursor whatever their age (the starting cursor's)."""

    def first_time(self, record: Record) -> bool:
        """Remember ``record``'s version; False if it was delivered before."""
        key = Cursor.version(record.id, record.stamp)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def cursor(self, stamp: datetime | None, resume: Mapping[str, str] | None = None, *,
               keep_from: datetime | None = None) -> Cursor:
        """A cursor at ``stamp``, forgetting versions older than where a pull from it would
        start reading (``keep_from`` if given, else ``stamp - overlap``); with ``resume`` the
        :attr:`pinned` versions stay too."""
        start = keep_from or stamp
        if start is not None:
            floor = _stamp_key(_floor(start, self.overlap))
            keep = self.pinned if resume is not None else frozenset()
            self.seen = {pair for pair in self.seen if pair[1] >= floor or pair in keep}
        return Cursor(stamp=stamp, seen=frozenset(self.seen), resume=resume)


@dataclass(frozen=True)
class Page:
    """One page of a pull: its new record versions (possibly none) and the cursor reached."""

    records: tuple[Record, ...]
    cursor: Cursor


RemovalKind = Literal["deleted", "merged", "archived", "gone"]
"""How a record left the CRM: ``deleted`` (Salesforce recycle bin or beyond), ``merged`` into a
``survivor``, ``archived`` (HubSpot's recycle bin), or ``gone`` (no longer found at all, e.g. a
HubSpot GDPR delete, seen when a write or a lookup misses it)."""


@dataclass(frozen=True)
class Removal:
    """One record that left the CRM: its id, how, when (if the CRM says), and for a merge the
    id of the record it now lives on."""

    record_id: str
    kind: RemovalKind
    at: datetime | None = None
    survivor: str | None = None


@dataclass(frozen=True)
class Removals:
    """What :meth:`~connector.crm.base.CRM.removed_since` found: the removals (each id once),
    the moment to pass as ``since`` next time, and whether the CRM could still list everything
    since the ``since`` asked for (False: part of the window was beyond what it keeps, so
    records removed then are only found by a reconciliation)."""

    removals: tuple[Removal, ...]
    reached: datetime
    complete: bool = True


# -- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordWrite:
    """Absolute values to set on one record (so sending it twice is harmless).

    Values are Python values: ``str``, ``int``/``float``, ``bool``, aware ``datetime``, ``date``,
    or None to clear the field.
    """

    record_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class WriteResult:
    """What happened to one :class:`RecordWrite`.

    ``ok`` records were written. Otherwise ``code`` and ``reason`` say why, ``field`` names the
    field at fault when known, ``sent`` is False when our own pre-check stopped it, and
    ``transient`` is True when the same write may succeed on a later run.
    """

    record_id: str
    ok: bool
    field: str | None = None
    code: str | None = None
    reason: str | None = None
    sent: bool = True
    transient: bool = False


@dataclass(frozen=True)
class TaskRequest:
    """A follow-up task to create for one record's owner (see :meth:`CRM.create_tasks`).

    ``ref`` is our own key for the task, unique per lead and tier entry; it is written into the
    task's description so :meth:`CRM.find_tasks` can tell whether a task was already created
    (the crash window between the CRM creating it and us recording it). ``owner_id`` None
    leaves the owner to the CRM (the integration user).
    """

    ref: str
    record_id: str
    owner_id: str | None
    subject: str
    description: str
    due: datetime
    priority: str = "High"


@dataclass(frozen=True)
class TaskResult:
    """What happened to one :class:`TaskRequest`: ``task_id`` when created, else the CRM's
    ``code`` and ``reason``; ``transient`` when the same request may succeed later."""

    ref: str
    task_id: str | None = None
    code: str | None = None
    reason: str | None = None
    transient: bool = False

    @property
    def ok(self) -> bool:
        """Whether the task exists."""
        return self.task_id is not None


@dataclass(frozen=True)
class ApiUsage:
    """API calls this client made, and the CRM's daily allowance where it reports one."""

    calls: int
    daily_used: int | None = None
    daily_max: int | None = None

    @property
    def daily_remaining(self) -> int | None:
        """Calls left today, or None when the CRM does not say."""
        if self.daily_used is None or self.daily_max is None:
            return None
        return self.daily_max - self.daily_used


@dataclass(frozen=True)
class ProvisionReport:
    """What ``ensure_fields`` found and did on one CRM object.

    ``existing`` were already there, ``created`` were made by this call (with ``dry_run`` they
    are what would be made), ``access`` says what was done (or would be) to let the integration
    user read and write them (``--grant``), ``manual_steps`` are what the admin still has to do by
    hand, such as Salesforce field-level security.
    """

    object_name: str
    existing: tuple[str, ...]
    created: tuple[str, ...]
    dry_run: bool = False
    manual_steps: tuple[str, ...] = ()
    access: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report as short lines for the terminal."""
        verb = "would create" if self.dry_run else "created"
        lines = [f"{self.object_name}: {name} already exists" for name in self.existing]
        lines += [f"{self.object_name}: {verb} {name}" for name in self.created]
        if not self.created:
            lines.append(f"{self.object_name}: every output field is present")
        lines += [f"{self.object_name}: {line}" for line in self.access]
        return lines + [f"to do: {step}" for step in self.manual_steps]
