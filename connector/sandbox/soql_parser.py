"""Tokenizer and recursive-descent parser for the SOQL subset in :mod:`connector.sandbox.soql`.

The parser knows nothing about objects or fields; it only builds the tree. Syntax errors are
``MALFORMED_QUERY`` with the position and offending token, as Salesforce reports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY",
                      "ASC", "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE",
                      "NULL", "COUNT"})
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
DATE_LITERALS_N = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
OPERATORS = ("=", "!=", "<>", "<", "<=", ">", ">=")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "%": "\\%", "_": "\\_"}  # LIKE wildcards keep their backslash for the LIKE matcher


class SOQLError(ValueError):
    """A query Salesforce would refuse: ``code`` (MALFORMED_QUERY, INVALID_FIELD...) and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    @classmethod
    def at(cls, code: str, text: str, token: Token, message: str) -> SOQLError:
        """An error pointing at ``token`` the way Salesforce does: line, caret, row and column."""
        before = text[:token.pos]
        row = before.count("\n") + 1
        line_start = before.rfind("\n") + 1
        line_end = text.find("\n", token.pos)
        line = text[line_start:line_end if line_end >= 0 else len(text)]
        column = token.pos - line_start + 1
        # Salesforce shows a window of the line, not all of it, when the line is long.
        start = max(0, column - 1 - 60)
        caret = " " * (column - 1 - start) + "^"
        return cls(code, f"\n{line[start:start + 120]}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}")


@dataclass(frozen=True)
class Token:
    """One lexical token; ``value`` is the parsed literal for literal kinds."""

    kind: str
    text: str
    pos: int
    value: object = None

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Comparison:
    """``field op value`` (``values`` holds one token, or several for IN / NOT IN)."""

    field: Token
    op: str
    values: tuple[Token, ...]


@dataclass(frozen=True)
class Logical:
    """AND / OR over two or more conditions."""

    op: str
    children: tuple


@dataclass(frozen=True)
class Not:
    """NOT over one condition."""

    child: object


@dataclass(frozen=True)
class Query:
    """A parsed query, with tokens kept so later checks can point at the right column."""

    text: str
    fields: tuple[Token, ...]
    count_only: bool
    sobject: str
    sobject_token: Token
    where: object = None
    order: tuple[tuple[Token, bool, bool | None], ...] = ()
    limit: int | None = None
    offset: int = 0


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _parse_datetime(text: str) -> datetime:
    base = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", base):
        base = base[:-2] + ":" + base[-2:]
    return datetime.fromisoformat(base)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token; MALFORMED_QUERY on junk."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            bad = Token("junk", text[pos], pos)
            raise SOQLError.at("MALFORMED_QUERY", text, bad, f"unexpected token: '{text[pos]}'")
        kind, raw = match.lastgroup, match.group()
        token = Token(kind, raw, pos)
        try:
            token = _literal(token)
        except ValueError:
            raise SOQLError.at("MALFORMED_QUERY", text, token,
                               f"line 1:{pos} no viable alternative at character '{raw}'") from None
        if kind != "space":
            tokens.append(token)
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def _literal(token: Token) -> Token:
    kind, raw = token.kind, token.text
    if kind == "string":
        return Token(kind, raw, token.pos, _unescape(raw[1:-1]))
    if kind == "number":
        return Token(kind, raw, token.pos, float(raw))
    if kind == "date":
        return Token(kind, raw, token.pos, date.fromisoformat(raw))
    if kind == "datetime":
        return Token(kind, raw, token.pos, _parse_datetime(raw))
    return token


class _Parser:
    def __init__(self, text: str):
        self.text, self.tokens, self.i = text, tokenize(text), 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token | None = None) -> SOQLError:
        token = token or self.peek
        return SOQLError.at("MALFORMED_QUERY", self.text, token, f"unexpected token: '{token.text}'")

    def is_word(self, *words: str) -> bool:
        return self.peek.kind == "ident" and self.peek.upper in words

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.fail()
        return self.next()

    def expect_punct(self, char: str) -> Token:
        if self.peek.text != char:
            raise self.fail()
        return self.next()

    def name(self) -> Token:
        token = self.peek
        if token.kind != "ident" or token.upper in KEYWORDS - {"FIRST", "LAST"}:
            raise self.fail()
        return self.next()

    def integer(self) -> int:
        token = self.next()
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail(token)
        return int(token.text)

    def query(self) -> Query:
        self.expect_word("SELECT")
        count_only, fields = False, []
        if self.is_word("COUNT") and self.tokens[self.i + 1].text == "(":
            self.next(), self.next()
            self.expect_punct(")")
            count_only = True
        else:
            fields.append(self.name())
            while self.peek.text == ",":
                self.next()
                fields.append(self.name())
        self.expect_word("FROM")
        sobject = self.name()
        where = order = None
        limit, offset = None, 0
        if self.is_word("WHERE"):
            self.next()
            where = self.condition()
        if self.is_word("ORDER"):
            self.next()
            self.expect_word("BY")
            order = [self.order_item()]
            while self.peek.text == ",":
                self.next()
                order.append(self.order_item())
        if self.is_word("LIMIT"):
            self.next()
            limit = self.integer()
        if self.is_word("OFFSET"):
            self.next()
            offset = self.integer()
        if self.peek.kind != "eof":
            raise self.fail()
        return Query(self.text, tuple(fields), count_only, sobject.text, sobject, where,
                     tuple(order or ()), limit, offset)

    def order_item(self) -> tuple[Token, bool, bool | None]:
        field_token, descending, nulls_last = self.name(), False, None
        if self.is_word("ASC", "DESC"):
            descending = self.next().upper == "DESC"
        if self.is_word("NULLS"):
            self.next()
            if not self.is_word("FIRST", "LAST"):
                raise self.fail()
            nulls_last = self.next().upper == "LAST"
        return field_token, descending, nulls_last

    def condition(self):
        # SOQL refuses AND and OR mixed at one level without parentheses.
        first = self.unary()
        if not self.is_word("AND", "OR"):
            return first
        op, children = self.peek.upper, [first]
        while self.is_word(op):
            self.next()
            children.append(self.unary())
        if self.is_word("AND", "OR"):
            raise self.fail()
        return Logical(op, tuple(children))

    def unary(self):
        if self.is_word("NOT"):
            self.next()
            return Not(self.unary())
        if self.peek.text == "(":
            self.next()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field_token = self.name()
        token = self.peek
        if token.kind == "op":
            self.next()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field_token, op, (self.value(),))
        if self.is_word("LIKE"):
            self.next()
            value = self.value()
            if value.kind != "string":
                raise self.fail(value)
            return Comparison(field_token, "LIKE", (value,))
        negate = False
        if self.is_word("NOT"):
            self.next()
            negate = True
        if not self.is_word("IN"):
            raise self.fail()
        self.next()
        self.expect_punct("(")
        values = [self.value()]
        while self.peek.text == ",":
            self.next()
            values.append(self.value())
        self.expect_punct(")")
        return Comparison(field_token, "NOT IN" if negate else "IN", tuple(values))

    def value(self) -> Token:
        token = self.next()
        if token.kind in ("string", "number", "date", "datetime"):
            return token
        if token.kind == "ident":
            word = token.upper
            if word in ("TRUE", "FALSE"):
                return Token("boolean", token.text, token.pos, word == "TRUE")
            if word == "NULL":
                return Token("null", token.text, token.pos)
            if word in DATE_LITERALS:
                return Token("dateliteral", token.text, token.pos, (word, 0))
            if word in DATE_LITERALS_N:
                self.expect_punct(":")
                return Token("dateliteral", token.text, token.pos, (word, self.integer()))
        raise self.fail(token)


def parse(text: str) -> Query:
    """Parse ``text`` into a :class:`Query`; raises :class:`SOQLError` (MALFORMED_QUERY)."""
    if not text or not text.strip():
        raise SOQLError("MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    return _Parser(text).query()


__all__ = ["SOQLError", "Token", "Comparison", "Logical", "Not", "Query", "parse", "tokenize"]
