"""The CRM search request of the HubSpot emulator: validation, filters, sort, paging limits.

:func:`compile_search` checks a ``POST /crm/v3/objects/{type}/search`` body against HubSpot's
limits (crm-api-notes 2.3: at most 5 filterGroups of 6 filters, 18 in all, one sort, ``limit``
<= 200, nothing past the 10,000th result) and turns it into a :class:`SearchPlan`: a predicate
over a record's stored values plus its sort. Comparisons follow each property's type: numbers
as numbers, dates and datetimes as epoch milliseconds (values given as epoch-ms or ISO),
enumerations case-sensitively and other strings case-insensitively.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from connector.sandbox.hubspot_errors import HubSpotError, epoch_ms, invalid_json, validation_error
from connector.sandbox.hubspot_schema import ObjectType, Property, parse_datetime

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, RESULT_CAP, DEFAULT_LIMIT = 200, 10_000, 10
ID_PROPERTY = "hs_object_id"
RANGE_OPERATORS = ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN")
OPERATORS = ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
Values = dict[str, str | None]


@lru_cache(maxsize=200_000)
def _moment_key(text: str) -> int:
    moment = parse_datetime(text)
    return epoch_ms(moment) if moment else 0


def key_of(prop: Property) -> Callable[[str], object]:
    """How stored values of ``prop`` compare: the sort/filter key of one stored string."""
    if prop.type == "number":
        return float
    if prop.type in ("datetime", "date"):
        return _moment_key
    if prop.type in ("enumeration", "bool"):
        return str
    return str.lower


def _filter_value(prop: Property, raw: object, field: str) -> object:
    """A filter's ``value`` converted to the property's comparison key, or a 400."""
    if raw is None:
        raise invalid_json(f"Cannot construct instance of `Filter`, problem: operator requires "
                           f"a {field} for property {prop.name}")
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    try:
        if prop.type == "number":
            return float(text)
        if prop.type in ("datetime", "date"):
            moment = parse_datetime(text)
            if moment is None:
                raise ValueError(text)
            return epoch_ms(moment)
    except ValueError:
        raise validation_error(f"{text} is not a valid {prop.type} value for property "
                               f"{prop.name}") from None
    return text if prop.type in ("enumeration", "bool") else text.lower()


def _tokens(text: str) -> set[str]:
    lowered = text.lower()
    return {lowered, *[t for t in re.split(r"[^0-9a-z]+", lowered) if t]}


def _contains_token(pattern: str) -> Callable[[str], bool]:
    pattern = pattern.lower()
    if "*" in pattern:
        return lambda stored: any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(stored))
    return lambda stored: pattern in _tokens(stored)


def _compile_filter(raw: object, props: dict[str, Property]) -> Callable[[Values], bool]:
    if not isinstance(raw, dict):
        raise invalid_json("Cannot deserialize value of type `Filter` from a non-object")
    name, operator = raw.get("propertyName"), raw.get("operator")
    if operator not in OPERATORS:
        raise invalid_json(f"Cannot deserialize value of type `FilterOperatorEnum` from String "
                           f"{json.dumps(operator)}: not one of the values accepted for Enum "
                           f"class: [{', '.join(OPERATORS)}]")
    prop = props.get(name) if isinstance(name, str) else None
    if prop is None:
        raise validation_error(f"There was a problem with the request: property {name!r} "
                               f"does not exist", context={"propertyName": [str(name)]})
    key = key_of(prop)
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        want = operator == "HAS_PROPERTY"
        return lambda v: (v.get(name) is not None) == want
    if operator in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise invalid_json(f"Cannot construct instance of `Filter`, problem: operator "
                               f"{operator} requires values")
        # HubSpot matches string IN values against lowercased data: uppercase values never match.
        wanted = {str(x) if prop.type not in ("number", "datetime", "date")
                  else _filter_value(prop, x, "value") for x in values}
        inside = operator == "IN"
        return lambda v: (v.get(name) is not None and key(v[name]) in wanted) == inside
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        test = _contains_token(str(_filter_value(prop, raw.get("value"), "value")))
        inside = operator == "CONTAINS_TOKEN"
        return lambda v: (v.get(name) is not None and test(v[name])) == inside
    low = _filter_value(prop, raw.get("value"), "value")
    if operator == "BETWEEN":
        high = _filter_value(prop, raw.get("highValue"), "highValue")
        return lambda v: v.get(name) is not None and low <= key(v[name]) <= high
    compare = {"EQ": lambda a: a == low, "NEQ": lambda a: a != low, "LT": lambda a: a < low,
               "LTE": lambda a: a <= low, "GT": lambda a: a > low, "GTE": lambda a: a >= low}
    test = compare[operator]
    if operator == "NEQ":
        return lambda v: v.get(name) is None or test(key(v[name]))
    return lambda v: v.get(name) is not None and test(key(v[name]))


def _compile_groups(raw: object, props: dict[str, Property]) -> list[list[Callable]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        raise invalid_json("Cannot deserialize value of type `ArrayList<FilterGroup>`")
    if len(raw) > MAX_GROUPS:
        raise validation_error(f"Too many filterGroups: {len(raw)} were sent and the maximum "
                               f"is {MAX_GROUPS}.")
    groups, total = [], 0
    for group in raw:
        filters = group.get("filters") or []
        if not isinstance(filters, list):
            raise invalid_json("Cannot deserialize value of type `ArrayList<Filter>`")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(f"Too many filters in a filterGroup: {len(filters)} were sent "
                                   f"and the maximum is {MAX_FILTERS_PER_GROUP}.")
        total += len(filters)
        groups.append([_compile_filter(f, props) for f in filters])
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters: {total} were sent across all filterGroups "
                               f"and the maximum is {MAX_FILTERS}.")
    return groups


def _parse_sort(raw: object, props: dict[str, Property]) -> tuple[str, bool] | None:
    """The one sort as (property, descending); HubSpot allows a single sort."""
    if not raw:
        return None
    if not isinstance(raw, list):
        raise invalid_json("Cannot deserialize value of type `ArrayList<Sort>`")
    if len(raw) > 1:
        raise validation_error(f"Too many sorts: {len(raw)} were sent and only one is supported.")
    sort = raw[0]
    if isinstance(sort, str):  # the SDK's typed form: "prop" or "-prop"
        name, descending = sort.lstrip("-"), sort.startswith("-")
    elif isinstance(sort, dict):
        name, direction = sort.get("propertyName"), sort.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise invalid_json(f"Cannot deserialize value of type `Direction` from String "
                               f"{json.dumps(direction)}: not one of [ASCENDING, DESCENDING]")
        descending = direction == "DESCENDING"
    else:
        raise invalid_json("Cannot deserialize value of type `Sort`")
    if name not in props:
        raise validation_error(f"There was a problem with the request: cannot sort on property "
                               f"{name!r}, it does not exist", context={"propertyName": [str(name)]})
    return name, descending


def _bounded_int(raw: object, field: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid_json(f"Cannot deserialize value of type `int` from String "
                           f"{json.dumps(raw)}: not a valid Integer value ({field})") from None
    if value < 0:
        raise validation_error(f"{field} must not be negative (got {value}).")
    return value


@dataclass(frozen=True)
class SearchPlan:
    """A validated search: which records match, in which order, and which page to return."""

    cache_key: str
    groups: list[list[Callable[[Values], bool]]]
    sort: tuple[str, bool] | None
    sort_key: Callable[[str], object] | None
    query: str
    properties: list[str] | None
    limit: int
    after: int

    id_range: tuple[float, float] | None = None
    """Inclusive bounds of ``hs_object_id`` when the whole search is "records whose id lies in
    a range, sorted by id" (one filter group of id comparisons, no free text): then the portal
    answers from its id index (:meth:`page_of_range`) instead of testing every record, with the
    same results. The sweeps of a full load ask exactly this."""

    def page_of_range(self, order: list[int]) -> tuple[int, list[str]]:
        """``(total, ids of the requested page)`` of an :attr:`id_range` search over ``order``
        (every live id, ascending)."""
        low, high = self.id_range
        start, end = bisect.bisect_left(order, low), bisect.bisect_right(order, high)
        total = max(end - start, 0)
        first, last = self.after, min(self.after + self.limit, total)
        if self.sort[1]:  # descending: the page counts down from the highest id
            picked = [order[end - 1 - i] for i in range(first, last)]
        else:
            picked = [order[start + i] for i in range(first, last)]
        return total, [str(i) for i in picked]

    def matches(self, values: Values, searchable: tuple[str, ...]) -> bool:
        """True when the record's values satisfy any filter group and the free-text query."""
        if self.groups and not any(all(f(values) for f in group) for group in self.groups):
            return False
        if self.query:
            return any(self.query in (values.get(p) or "").lower() for p in searchable)
        return True

    def order(self, records: list, created: str) -> list:
        """``records`` (objects with ``id`` and ``values``) in the search's order.

        Default: creation order. A sort puts records without a value last, and breaks ties by
        id ascending whatever the direction.
        """
        by_id = sorted(records, key=lambda r: int(r.id))
        name, descending = self.sort or (created, False)
        key = self.sort_key or _moment_key
        present = [r for r in by_id if r.values.get(name) is not None]
        missing = [r for r in by_id if r.values.get(name) is None]
        present.sort(key=lambda r: key(r.values[name]), reverse=descending)
        return present + missing


def compile_search(body: object, otype: ObjectType, props: dict[str, Property]) -> SearchPlan:
    """Validate a search body for ``otype`` and build its plan; raises HubSpot's 400s."""
    if not isinstance(body, dict):
        raise invalid_json("Cannot deserialize value of type `PublicObjectSearchRequest`")
    limit = _bounded_int(body.get("limit"), "limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise validation_error(f"limit must be less than or equal to {MAX_LIMIT} (got {limit}).")
    after = _bounded_int(body.get("after"), "after", 0)
    if after >= RESULT_CAP:
        raise HubSpotError(400, "VALIDATION_ERROR",
                           f"Search results are limited to {RESULT_CAP} per query: paging to "
                           f"after={after} is not possible. Narrow the query with filters.")
    properties = body.get("properties")
    if properties is not None and not (isinstance(properties, list)
                                       and all(isinstance(p, str) for p in properties)):
        raise invalid_json("Cannot deserialize value of type `ArrayList<String>` (properties)")
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise invalid_json("Cannot deserialize value of type `String` (query)")
    groups = _compile_groups(body.get("filterGroups"), props)
    sort = _parse_sort(body.get("sorts"), props)
    cache_key = json.dumps([otype.name, body.get("filterGroups"), body.get("sorts"), query],
                           sort_keys=True, default=str)
    text = (query or "").strip().lower()
    return SearchPlan(cache_key, groups, sort, key_of(props[sort[0]]) if sort else None,
                      text, properties, limit, after,
                      None if text else _id_range(body.get("filterGroups"), sort, props))


def _id_range(raw_groups: object, sort: tuple[str, bool] | None,
              props: dict[str, Property]) -> tuple[float, float] | None:
    """The inclusive id bounds of a search that only compares ``hs_object_id`` and sorts on
    it (see :attr:`SearchPlan.id_range`), else None. ``raw_groups`` is already validated."""
    if sort is None or sort[0] != ID_PROPERTY or ID_PROPERTY not in props:
        return None
    groups = raw_groups or [{}]
    if len(groups) != 1:
        return None
    low, high = -math.inf, math.inf
    prop = props[ID_PROPERTY]
    for raw in groups[0].get("filters") or ():
        operator = raw.get("operator")
        if raw.get("propertyName") != ID_PROPERTY or operator not in RANGE_OPERATORS:
            return None
        value = _filter_value(prop, raw.get("value"), "value")
        if operator in ("GT", "GTE", "EQ", "BETWEEN"):
            low = max(low, math.floor(value) + 1 if operator == "GT" else math.ceil(value))
        if operator in ("LT", "LTE", "EQ"):
            high = min(high, math.ceil(value) - 1 if operator == "LT" else math.floor(value))
        if operator == "BETWEEN":
            high = min(high, math.floor(_filter_value(prop, raw.get("highValue"), "highValue")))
    return low, high
