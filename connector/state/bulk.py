"""Statements over a page's thousands of rows and record ids, as each backend runs them best.

A sync page writes thousands of rows (a 2,000-lead page stages up to 12,000 changes) and looks
up thousands of ids. On PostgreSQL one statement per row (an ``executemany``, which psycopg
pipelines) costs the server an executor start-up and the client a round of protocol work per
row, and every bound parameter costs the client more than the server's work on it: psycopg
parses a query text with more than 50 parameters anew each time. So PostgreSQL gets one array
parameter per column (:func:`upsert_rows`) or per id list (:func:`matching`), and one statement.
SQLite runs in process and has neither cost: it keeps its ``executemany`` and ``IN`` lists.

Every value goes through its column's bind processor (JSON as the driver's JSON value,
timezone-aware timestamps as naive UTC), as SQLAlchemy Core applies it, so rows are stored
exactly as a Core insert stores them; the SQL is written here because Core's per-row parameter
handling cost more than the database itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, String, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine

IN_LIST = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit


def matching(conn: Connection, column: Column, ids: Sequence[str] | Sequence[int]
             ) -> Iterator[ColumnElement[bool]]:
    """Conditions that together select the rows whose ``column`` is one of ``ids``, one per
    statement to run (none without ids): ``column = ANY(array)`` on PostgreSQL (planned for
    the values at hand, it is an index lookup or a hashed probe per row), ``IN`` lists of
    :data:`IN_LIST` ids elsewhere."""
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        yield column == any_(bindparam(None, list(ids), type_=ARRAY(_unsized(column.type))))
        return
    for start in range(0, len(ids), IN_LIST):
        yield column.in_(ids[start:start + IN_LIST])


def upsert_rows(conn: Connection, table: Table, shared: Mapping[str, Any],
                columns: Sequence[str], rows: Sequence[tuple[Any, ...]], *,
                key: Sequence[str], update: Sequence[str] = ()) -> None:
    """Insert ``rows`` (tuples in ``columns`` order, plus the ``shared`` column values every
    row has) into ``table``; a row whose ``key`` already exists has its ``update`` columns set
    from the new row (with no ``update``, it is left as it is).

    Of the rows sharing a key one is written: the last when updating, as one statement per
    row would leave the updated columns (PostgreSQL refuses to update a row twice in one
    statement, so the earlier ones are dropped here), and the first when not.
    """
    if not rows:
        return
    if update:
        positions = [columns.index(name) for name in key if name not in shared]
        rows = list({tuple(row[i] for i in positions): row for row in rows}.values())
    dialect = conn.dialect

    def processor(name: str):
        return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

    fixed = tuple(process(value) if (process := processor(name)) else value
                  for name, value in shared.items())
    processors = [processor(name) for name in columns]
    conflict = (f"DO UPDATE SET {', '.join(f'{name} = excluded.{name}' for name in update)}"
                if update else "DO NOTHING")
    head = f"INSERT INTO {table.name} ({', '.join([*shared, *columns])}) "
    tail = f" ON CONFLICT ({', '.join(key)}) {conflict}"
    if dialect.name == "postgresql":
        # %b: psycopg sends the values in binary form (as text it escapes each array element
        # with regular expressions, several times slower); the casts give each value its
        # column's type without a length, as Core's do (a cast to VARCHAR(n) would cut a
        # longer value silently, where the insert refuses it).
        def cast(name: str, suffix: str = "") -> str:
            return f"CAST(%b AS {_unsized(table.c[name].type).compile(dialect=dialect)}{suffix})"

        arrays = [[process(row[i]) for row in rows] if process else [row[i] for row in rows]
                  for i, process in enumerate(processors)]
        conn.exec_driver_sql(
            f"{head}SELECT {', '.join([*map(cast, shared), 'u.*'])} FROM unnest("
            f"{', '.join(cast(name, '[]') for name in columns)}) AS u{tail}",
            (*fixed, *arrays))
    else:
        marks = ", ".join("?" * (len(shared) + len(columns)))
        conn.exec_driver_sql(f"{head}VALUES ({marks}){tail}", [
            fixed + tuple(process(value) if process else value
                          for process, value in zip(processors, row)) for row in rows])


def _unsized(column_type: TypeEngine) -> TypeEngine:
    """``column_type`` without its length (``VARCHAR(255)`` -> ``VARCHAR``): a cast to a sized
    string cuts longer values silently, so SQLAlchemy leaves the length out of its own casts."""
    return String() if isinstance(column_type, String) and column_type.length else column_type
