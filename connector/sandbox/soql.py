"""A pure SOQL subset: parse a query, check it against an object's fields, run it over rows.

Supported: ``SELECT f, ... | COUNT() FROM Object [WHERE ...] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``; conditions with AND / OR / NOT and parentheses,
``= != <> < <= > >= LIKE IN NOT IN``; string, number, boolean, null, date, dateTime literals and
the date literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n (today and the n days before it)
and NEXT_N_DAYS:n, in whole UTC days (the emulated org's time zone).

Rows are plain dicts keyed by the fields' canonical names. Values use the wire forms, which
sort correctly as strings: dateTime ``2024-05-01T10:00:00.000+0000`` (always UTC), date
``2024-05-01``. Errors are :class:`SOQLError` carrying Salesforce's error code and a message laid
out as the real API lays it out (the query line, a caret, ``ERROR at Row:r:Column:c``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from connector.sandbox.soql_parser import Comparison, Logical, Not, Query, SOQLError, Token, parse

__all__ = ["SOQLError", "Query", "Plan", "parse", "plan", "format_datetime", "FieldInfo", "case_safe_id"]

TEXT_TYPES = frozenset({"string", "picklist", "email", "phone", "textarea", "url", "combobox",
                        "multipicklist", "encryptedstring"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "int", "currency", "percent", "long"})
SOAP_NAMES = {"double": "double", "int": "int", "currency": "double", "percent": "double",
              "boolean": "boolean", "date": "date", "datetime": "dateTime", "id": "id",
              "reference": "id", "long": "long"}
INVALID_FIELD_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' "
                      "after the custom field name. Please reference your WSDL or the describe "
                      "call for the appropriate names.")
MAX_OFFSET = 2000
ANY_TYPE = "anyType"


@dataclass(frozen=True)
class FieldInfo:
    """What the planner needs to know about one field: its canonical name and describe type."""

    name: str
    type: str


def format_datetime(moment: datetime) -> str:
    """A datetime in Salesforce's wire form: UTC, milliseconds, offset without a colon."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def case_safe_id(value: str) -> str:
    """Extend a 15-character id with its case-safe suffix (other strings pass unchanged)."""
    if len(value) != 15 or not value.isalnum():
        return value
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(value[chunk * 5:chunk * 5 + 5]) if ch.isupper())
        suffix += alphabet[bits]
    return value + suffix


@dataclass(frozen=True)
class Plan:
    """A checked query ready to run: the object, output fields, a row filter and an ordering."""

    sobject: str
    fields: tuple[str, ...]  # canonical names, in SELECT order; empty for COUNT()
    count_only: bool
    where: object  # callable(row) -> bool, or None
    order: tuple[tuple[str, str, bool, bool], ...]  # (name, type, descending, nulls_last)
    limit: int | None
    offset: int

    def run(self, rows) -> list[dict]:
        """The matching rows (not copies), filtered, ordered, offset and limited."""
        matches = [row for row in rows if self.where(row)] if self.where else list(rows)
        for name, ftype, descending, nulls_last in reversed(self.order):
            text = ftype in TEXT_TYPES
            # anyType (history OldValue/NewValue) mixes numbers and strings: sort by the text.
            anything = ftype == ANY_TYPE
            # Null rank first so nulls never meet values; reverse=True flips the rank too.
            null_rank = 0 if nulls_last == descending else 2

            def key(row, name=name, text=text, anything=anything, null_rank=null_rank):
                value = row.get(name)
                if value is None:
                    return (null_rank, "")
                if anything:
                    return (1, str(value).casefold())
                return (1, value.casefold() if text else value)
            matches.sort(key=key, reverse=descending)
        end = None if self.limit is None else self.offset + self.limit
        return matches[self.offset:end]


class _Planner:
    """Resolves names against ``fields`` and compiles conditions into closures."""

    def __init__(self, query: Query, fields: dict[str, FieldInfo], now: datetime):
        self.query, self.fields, self.now = query, fields, now

    def error(self, code: str, token: Token, message: str) -> SOQLError:
        return SOQLError.at(code, self.query.text, token, message)

    def field(self, token: Token) -> FieldInfo:
        name = token.text
        if "." in name and name.split(".", 1)[0].lower() == self.query.sobject.lower():
            name = name.split(".", 1)[1]  # "Lead.Email" is allowed as "Email"
        info = self.fields.get(name.lower())
        if info is None:
            raise self.error("INVALID_FIELD", token,
                             f"No such column '{name}' on entity '{self.query.sobject}'. "
                             + INVALID_FIELD_HINT)
        return info

    def literal(self, info: FieldInfo, token: Token):
        """The comparable form of a literal for ``info``, or a (low, high) range for date literals."""
        kind, value = token.kind, token.value
        if kind == "null":
            return None
        ftype = info.type
        wrong = SOQLError.at("INVALID_FIELD", self.query.text, token,
                             f"value of filter criterion for field '{info.name}' must be of type "
                             f"{SOAP_NAMES.get(ftype, 'string')} and should not be enclosed in quotes")
        if ftype in TEXT_TYPES:
            if kind != "string":
                raise wrong
            return value.casefold()
        if ftype in ID_TYPES:
            if kind != "string":
                raise wrong
            return case_safe_id(value)
        if ftype in NUMBER_TYPES:
            if kind != "number":
                raise wrong
            return value
        if ftype == "boolean":
            if kind != "boolean":
                raise wrong
            return value
        if ftype in ("date", "datetime"):
            return self.temporal(ftype, token, wrong)
        raise self.error("INVALID_FIELD", token, f"field '{info.name}' can not be filtered in a query call")

    def temporal(self, ftype: str, token: Token, wrong: SOQLError):
        kind, value = token.kind, token.value
        if kind == "datetime" and ftype == "datetime":
            return format_datetime(value)
        if kind == "date" and ftype == "date":
            return value.isoformat()
        if kind != "dateliteral":
            raise wrong
        low, high = self.date_range(value)
        if ftype == "date":
            return (low.isoformat(), high.isoformat())
        midnight = datetime.min.time()
        return (format_datetime(datetime.combine(low, midnight, UTC)),
                format_datetime(datetime.combine(high, midnight, UTC)))

    def date_range(self, literal: tuple[str, int]) -> tuple[date, date]:
        """[low, high) in whole UTC days for a relative date literal (the org's zone is UTC)."""
        name, n = literal
        today = self.now.astimezone(UTC).date()
        day = timedelta(days=1)
        return {
            "TODAY": (today, today + day),
            "YESTERDAY": (today - day, today),
            "TOMORROW": (today + day, today + 2 * day),
            "LAST_N_DAYS": (today - n * day, today + day),
            "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        }[name]

    def condition(self, node):
        if isinstance(node, Logical):
            parts = [self.condition(child) for child in node.children]
            if node.op == "AND":
                return lambda row: all(part(row) for part in parts)
            return lambda row: any(part(row) for part in parts)
        if isinstance(node, Not):
            inner = self.condition(node.child)
            return lambda row: not inner(row)
        return self.comparison(node)

    def comparison(self, node: Comparison):
        info = self.field(node.field)
        if info.type == ANY_TYPE:  # history values can be sorted, not filtered (notes-2 1.4)
            raise self.error("INVALID_FIELD", node.field,
                             f"field '{info.name}' can not be filtered in query call")
        name, text = info.name, info.type in TEXT_TYPES
        if node.op in ("IN", "NOT IN"):
            values = frozenset(self.literal(info, token) for token in node.values)
            if any(isinstance(v, tuple) for v in values):
                raise self.error("MALFORMED_QUERY", node.values[0], "date literals are not allowed in IN")
            negate = node.op == "NOT IN"
            if text:
                return lambda row: ((v := row.get(name)) is not None and v.casefold() in values) != negate
            return lambda row: (row.get(name) in values) != negate
        if node.op == "LIKE":
            if not text and info.type not in ID_TYPES:
                raise self.error("INVALID_FIELD", node.field,
                                 f"invalid operator on field '{info.name}': LIKE")
            pattern = _like_regex(node.values[0].value)
            return lambda row: (v := row.get(name)) is not None and pattern.fullmatch(v) is not None
        literal = self.literal(info, node.values[0])
        return _compare(name, node.op, literal, text)

    def build(self) -> Plan:
        query = self.query
        fields = tuple(dict.fromkeys(self.field(token).name for token in query.fields))
        where = self.condition(query.where) if query.where is not None else None
        order = []
        for token, descending, nulls_last in query.order:
            info = self.field(token)
            order.append((info.name, info.type, descending,
                          descending if nulls_last is None else nulls_last))
        if query.offset > MAX_OFFSET:
            raise SOQLError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        return Plan(query.sobject, fields, query.count_only, where, tuple(order),
                    query.limit, query.offset)


def _like_regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _compare(name: str, op: str, literal, text: bool):
    """A closure for ``name op literal``; a tuple literal is a [low, high) date range."""
    def get(row):
        value = row.get(name)
        return value.casefold() if text and value is not None else value
    if literal is None:
        if op in ("=", "!="):
            return (lambda row: row.get(name) is None) if op == "=" else (lambda row: row.get(name) is not None)
        return lambda row: False
    if isinstance(literal, tuple):
        low, high = literal
        tests = {"=": lambda v: low <= v < high, "!=": lambda v: not low <= v < high,
                 "<": lambda v: v < low, "<=": lambda v: v < high,
                 ">": lambda v: v >= high, ">=": lambda v: v >= low}
    else:
        tests = {"=": lambda v: v == literal, "!=": lambda v: v != literal,
                 "<": lambda v: v < literal, "<=": lambda v: v <= literal,
                 ">": lambda v: v > literal, ">=": lambda v: v >= literal}
    test = tests[op]
    if op == "!=":
        # SOQL keeps rows whose value is null for "!=".
        return lambda row: (v := get(row)) is None or test(v)
    return lambda row: (v := get(row)) is not None and test(v)


def plan(query: Query | str, fields: dict[str, FieldInfo], *, now: datetime | None = None) -> Plan:
    """Check ``query`` against ``fields`` (lower-cased name -> info) and compile it.

    Raises :class:`SOQLError` (INVALID_FIELD for unknown fields or mistyped literals). The
    caller checks the object name, since only it knows which objects exist.
    """
    parsed = parse(query) if isinstance(query, str) else query
    return _Planner(parsed, fields, now or datetime.now(UTC)).build()
