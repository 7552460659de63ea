"""Query result pages and query locators (server-side cursors) for the Salesforce emulator.

A query runs once: its ordered rows are kept under a locator and later pages are slices of that
list, so paging through 41k rows costs one filter-and-sort, not one per page. Rows are the
stored dicts as they were at query time (writes replace dicts, never mutate them), which gives
the cursor a snapshot. Locators expire after 15 idle minutes and at most 10 stay open per user
(the oldest is dropped), as in Salesforce.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_BATCH = 2000
MIN_BATCH, MAX_BATCH = 200, 2000
LOCATOR_IDLE_S = 15 * 60
MAX_OPEN_LOCATORS = 10


class LocatorError(LookupError):
    """A ``nextRecordsUrl`` whose cursor expired, was dropped, or never existed."""


def batch_size(header: str | None) -> int:
    """The page size asked for in ``Sforce-Query-Options: batchSize=N`` (clamped to 200..2000)."""
    for part in (header or "").split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(MAX_BATCH, int(value.strip())))
    return DEFAULT_BATCH


@dataclass
class _Cursor:
    sobject: str
    fields: tuple[str, ...]
    rows: list[dict]
    batch: int
    endpoint: str  # "query" or "queryAll", echoed in nextRecordsUrl
    tooling: bool
    touched: float


class QueryCursors:
    """Open query locators and the rendering of result pages."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._open: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def first_page(self, *, sobject: str, fields: tuple[str, ...], rows: list[dict], batch: int,
                   endpoint: str, tooling: bool, version: str) -> dict:
        """The first page of a result; opens a locator when more rows remain."""
        cursor = _Cursor(sobject, fields, rows, batch, endpoint, tooling, self._clock())
        locator = None
        if len(rows) > batch:
            locator = "01g" + secrets.token_hex(8)[:15].upper()
            with self._lock:
                self._expire()
                self._open[locator] = cursor
                while len(self._open) > MAX_OPEN_LOCATORS:
                    self._open.popitem(last=False)
        return self._page(cursor, locator, 0, version)

    def next_page(self, locator: str, position: int, version: str) -> dict:
        """The page starting at ``position`` of an open cursor; closes it after the last page."""
        with self._lock:
            self._expire()
            cursor = self._open.get(locator)
            if cursor is None or position < 0 or position >= len(cursor.rows):
                raise LocatorError(locator)
            cursor.touched = self._clock()
            self._open.move_to_end(locator)
            if position + cursor.batch >= len(cursor.rows):
                del self._open[locator]
        return self._page(cursor, locator, position, version)

    def _expire(self) -> None:
        deadline = self._clock() - LOCATOR_IDLE_S
        for locator in [key for key, cursor in self._open.items() if cursor.touched < deadline]:
            del self._open[locator]

    def _page(self, cursor: _Cursor, locator: str | None, start: int, version: str) -> dict:
        end = start + cursor.batch
        done = end >= len(cursor.rows)
        prefix = f"/services/data/v{version}/{'tooling/' if cursor.tooling else ''}"
        record_base = f"{prefix}sobjects/{cursor.sobject}/"
        fields = cursor.fields
        records = [
            {"attributes": {"type": cursor.sobject, "url": record_base + row["Id"]},
             **{name: row.get(name) for name in fields}}
            for row in cursor.rows[start:end]]
        page = {"totalSize": len(cursor.rows), "done": done}
        if not done:
            page["nextRecordsUrl"] = f"{prefix}{cursor.endpoint}/{locator}-{end}"
        page["records"] = records
        return page


def parse_locator(token: str) -> tuple[str, int]:
    """``01gXXXX-2000`` -> (``01gXXXX``, 2000); LocatorError when it is not that shape."""
    locator, _, position = token.rpartition("-")
    if not locator.startswith("01g") or not position.isdigit():
        raise LocatorError(token)
    return locator, int(position)
