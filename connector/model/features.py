"""Records (CRM field dicts) -> a numeric matrix with named columns, as the mapping describes.

Pure and deterministic: ``FeatureEncoder.fit`` learns the vocabulary (category levels, medians)
from training records; ``transform`` never looks at anything but the record and what was learned,
so the same lead gives the same row at training and scoring time. The column set is fixed at fit:
missing values, unseen levels and garbage (wrong types, "N/A", huge strings) land in each field's
own ``(missing)``/``(other)`` columns and can never shift another field's columns.

Values arrive CRM-typed: Salesforce sends JSON bools, numbers, strings and None; HubSpot sends
every value as a string ("42", "true", "2024-09-11T13:27:39.356Z", epoch milliseconds).
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import repeat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from connector.mapping import Feature, canonical, to_number

MISSING, OTHER = "(missing)", "(other)"
_NULL_TOKENS = {"", "n/a", "na", "null", "none", "nan", "-", "--", "?"}
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_TEXT = 200  # longer picklist values are cut before comparing; garbage stays cheap
_PLAIN = {str, int, float, bool, type(None)}  # equal values of one of these types read alike
_NUMBERS = {int, float, bool}  # ... but 1 == 1.0 == True across them (and 0.0 == -0.0)


def parse_time(value: Any) -> float | None:
    """Epoch seconds (UTC) from an ISO date/datetime or epoch milliseconds; None if unreadable."""
    if isinstance(value, str) and 0 < len(value) <= 40:
        text = value.strip()
        if text.isascii() and text.isdigit():  # str.isdigit() also takes '²', which int() refuses
            return parse_time(int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        # CRMs hand out epoch milliseconds; anything past year 5000 in ms is garbage.
        return float(value) / 1000.0 if 0 < value < 1e14 else None
    return None


def _clean_text(feature: Feature, value: Any, aliases: dict[str, str]) -> str | None:
    if value is None or isinstance(value, (list, dict, set, tuple, bytes)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an integer code sent as 2.0 is the level "2"
    text = canonical(value) if isinstance(value, bool) else str(value)[:_MAX_TEXT]
    text = text.strip() if feature.trim else text
    key = text.casefold() if feature.case_fold else text
    if key.casefold() in _NULL_TOKENS:
        return None
    return aliases.get(key, key)


def _alias_table(feature: Feature) -> dict[str, str]:
    fold = str.casefold if feature.case_fold else str
    table = {}
    for name, spellings in feature.aliases.items():
        for spelling in (name, *spellings):
            table[fold(spelling.strip() if feature.trim else spelling)] = fold(name)
    return table


def anchored(feature: Feature) -> bool:
    """Whether ``feature`` counts days from the record's own time-field value (its anchor)."""
    return feature.kind == "date" and feature.derive in (None, "days_after_created")


def cleaner(feature: Feature) -> Callable[[Any], Any]:
    """A function raw CRM value -> the cleaned value of ``feature``: a str level, a float, or
    None for missing. For an :func:`anchored` date it is the moment (epoch seconds), which
    :func:`days_after` turns into days once the record's anchor is known."""
    sentinels = {canonical(v) for v in feature.missing_values}
    aliases = _alias_table(feature)

    def clean(raw: Any) -> Any:
        if sentinels and raw is not None and canonical(raw) in sentinels:
            return None
        if feature.kind == "category":
            return _clean_text(feature, raw, aliases)
        if feature.kind == "number":
            return to_number(raw)
        if feature.kind == "boolean":
            key = canonical(raw) if isinstance(raw, (bool, int, float, str)) else None
            return 1.0 if key in _TRUE else 0.0 if key in _FALSE else None
        if feature.kind == "text_present":
            return 0.0 if _clean_text(feature, raw, aliases) is None else 1.0
        moment = parse_time(raw)
        return moment if anchored(feature) else _calendar(feature, moment)

    return clean


def days_after(moment: float | None, anchor: float | None) -> float | None:
    """Days from ``anchor`` to ``moment`` (None when either is unknown)."""
    return None if moment is None or anchor is None else (moment - anchor) / 86400.0


def reader(feature: Feature) -> Callable[[dict[str, Any], float | None], Any]:
    """A function (record, anchor) -> the cleaned value of ``feature`` (see :func:`cleaner`).
    ``anchor`` is the record's own time-field value, so "days after created" means the same
    thing at training and at scoring time."""
    clean = cleaner(feature)
    if anchored(feature):
        return lambda record, anchor: days_after(clean(record.get(feature.field)), anchor)
    return lambda record, anchor: clean(record.get(feature.field))


def _calendar(feature: Feature, moment: float | None) -> Any:
    if moment is None:
        return None
    when = datetime.fromtimestamp(moment, tz=timezone.utc)
    if feature.derive == "month":
        return _MONTHS[when.month - 1]
    return _WEEKDAYS[when.weekday()] if feature.derive == "weekday" else float(when.hour)


def once_per_value(function: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """``[function(v) for v in values]``, calling ``function`` once per distinct value: a batch
    of leads holds few distinct picklist values, numbers and dates. Values Python holds equal
    but a CRM reader tells apart (``True``, ``1`` and ``1.0``; ``0.0`` and ``-0.0``) stay
    apart; values of any other type (lists, decimals...) are each passed on."""
    kinds = set(map(type, values))
    if not kinds <= _PLAIN:
        return [function(v) for v in values]
    if len(kinds & _NUMBERS) > 1:  # True, 1 and 1.0 are one dict key: key by type as well
        keys: Sequence[Any] = list(zip(map(type, values), values))
        distinct = {key: function(key[1]) for key in dict.fromkeys(keys)}
    else:
        keys = values
        distinct = {value: function(value) for value in dict.fromkeys(values)}
    out = list(map(distinct.__getitem__, keys))
    if float in kinds and 0.0 in values:
        # 0.0 and -0.0 are one key too, yet canonical() reads "-0.0" apart from "0.0".
        signed = {1.0: function(0.0), -1.0: function(-0.0)}
        out = [signed[math.copysign(1.0, v)] if type(v) is float and v == 0 else o
               for v, o in zip(values, out)]
    return out


def is_categorical(feature: Feature) -> bool:
    """Whether the feature becomes one-hot level columns (else value + missing columns)."""
    return feature.kind == "category" or (feature.kind == "date"
                                          and feature.derive in ("month", "weekday"))


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows of features. ``fields[j]`` is the CRM field column ``j`` came from, and
    ``roles[j]`` is one of level / value / missing / flag."""

    values: np.ndarray
    columns: tuple[str, ...]
    fields: tuple[str, ...]
    roles: tuple[str, ...]


class FeatureEncoder:
    """Learns each feature's vocabulary and fills values, then turns records into rows."""

    def __init__(self, features: Sequence[Feature], time_field: str) -> None:
        self.features = list(features)
        self.time_field = time_field

    def fit(self, records: Sequence[dict[str, Any]]) -> FeatureEncoder:
        """Learn levels (the ``max_levels`` most frequent seen at least ``min_count`` times)
        and medians used to fill missing numbers. Returns self."""
        cleaned = self.read(records)
        self.levels_: dict[str, list[str]] = {}
        self.medians_: dict[str, float] = {}
        for feature, values in zip(self.features, cleaned):
            if is_categorical(feature):
                counts = Counter(v for v in values if v is not None)
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                self.levels_[feature.field] = [level for level, n in ranked[:feature.max_levels]
                                               if n >= feature.min_count]
            elif feature.kind != "text_present":
                present = [v for v in values if v is not None]
                self.medians_[feature.field] = float(np.median(present)) if present else 0.0
        self.columns_, self.fields_, self.roles_ = self._layout()
        return self

    def _layout(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        columns, fields, roles = [], [], []
        for feature in self.features:
            name = feature.field
            if is_categorical(feature):
                levels = [*self.levels_[name], OTHER, MISSING]
                parts = [(f"{name}={level}", "level") for level in levels]
            elif feature.kind == "text_present":
                parts = [(f"{name}:present", "flag")]
            else:
                parts = [(name, "value"), (f"{name}:missing", "missing")]
            for column, role in parts:
                columns.append(column), fields.append(name), roles.append(role)
        return tuple(columns), tuple(fields), tuple(roles)

    def raw_columns(self, records: Sequence[dict[str, Any]]) -> list[list[Any]]:
        """Each feature's raw CRM values of ``records`` (dicts), one list per feature."""
        fields = [f.field for f in self.features]  # a pydantic attribute costs more than a get
        return [[r.get(field) for r in records] for field in fields]

    def read(self, records: Iterable[dict[str, Any]],
             raws: Sequence[list[Any]] | None = None) -> list[list[Any]]:
        """Each feature's cleaned values of ``records`` (non-dicts count as empty), one list per
        feature in mapping order: what :meth:`matrix` encodes and what reasons show. Each
        distinct raw value of a field is cleaned once. ``raws``: the records'
        :meth:`raw_columns`, when the caller has them already."""
        rows = [r if isinstance(r, dict) else {} for r in records]
        anchors = None
        if any(anchored(f) for f in self.features):
            time_field = self.time_field
            anchors = once_per_value(parse_time, [r.get(time_field) for r in rows])
        columns = []
        for feature, raw in zip(self.features, raws or self.raw_columns(rows)):
            values = once_per_value(cleaner(feature), raw)
            if anchored(feature):
                values = [days_after(m, a) for m, a in zip(values, anchors)]
            columns.append(values)
        return columns

    def matrix(self, columns: Sequence[list[Any]], rows: int) -> FeatureMatrix:
        """The feature matrix of ``rows`` records' cleaned ``columns`` (as :meth:`read` gives)."""
        out = np.zeros((rows, len(self.columns_)), dtype=np.float64)
        start = 0
        for feature, values in zip(self.features, columns):
            start = self._fill(feature, values, out, start)
        return FeatureMatrix(out, self.columns_, self.fields_, self.roles_)

    def transform(self, records: Iterable[dict[str, Any]]) -> FeatureMatrix:
        """The feature matrix of ``records`` (any iterable of dicts; non-dicts count as empty)."""
        records = list(records)
        return self.matrix(self.read(records), len(records))

    def _fill(self, feature: Feature, values: list[Any], out: np.ndarray, start: int) -> int:
        rows = np.arange(len(values))
        if is_categorical(feature):
            levels = self.levels_[feature.field]
            index = {level: i for i, level in enumerate(levels)}
            other, index[None] = len(levels), len(levels) + 1  # then (other), (missing)
            which = np.fromiter(map(index.get, values, repeat(other)), np.int64, len(values))
            out[rows, start + which] = 1.0
            return start + len(levels) + 2
        if feature.kind == "text_present":
            out[:, start] = values
            return start + 1
        # Cleaned numbers are finite (to_number, parse_time), so NaN here marks a None.
        column = np.array(values, dtype=np.float64)
        absent = np.isnan(column)
        column[absent] = self.medians_[feature.field]
        out[:, start], out[:, start + 1] = column, absent
        return start + 2

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state (specs + learned vocabulary)."""
        return {"time_field": self.time_field,
                "features": [f.model_dump(mode="json") for f in self.features],
                "levels": self.levels_, "medians": self.medians_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureEncoder:
        """Rebuild a fitted encoder from :meth:`to_dict` output."""
        encoder = cls([Feature.model_validate(f) for f in state["features"]], state["time_field"])
        encoder.levels_ = {k: list(v) for k, v in state["levels"].items()}
        encoder.medians_ = {k: float(v) for k, v in state["medians"].items()}
        encoder.columns_, encoder.fields_, encoder.roles_ = encoder._layout()
        return encoder
