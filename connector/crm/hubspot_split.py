"""HubSpot full loads at the documented limits: the list API and search, side by side.

A first sync or a full rescan reads every record. The list API (``GET /crm/v3/objects/{type}``,
100 a page, the 10-second bucket: 190 calls at Professional) and search (200 a call, its own
bucket of 5 a second) draw on *different* rate buckets, so the fastest plan uses both at once:

* the **list sweep** pages up from the lowest id (``after`` is opaque: it is only ever handed
  back, so its pages are one chain, one call in flight);
* the **search sweep** pages down from the highest id: sorted by ``hs_object_id`` descending,
  each call asking for ids below the lowest it has delivered and above the highest the list
  sweep has delivered.

Each sweep runs in its own thread and never waits for the consumer (the sync engine scoring and
writing) unless :data:`BUFFER_PAGES` pages are waiting: a page being written back must not
leave either bucket idle. They meet in the middle. Every id is delivered once (a shared set;
ids the other sweep already delivered are dropped). The list sweep stops as soon as a page
reaches ids the search sweep has covered, which relies on list pages coming in id order:
HubSpot's do in practice (crm-api-notes-2 section 8, unverified), and the sweep checks it as it
goes: pages out of order switch the early stop off and the list runs to its end (slower, still
complete). Incremental pulls keep the keyset search of :mod:`connector.crm.hubspot_pull`.

Pages come out in the order they arrive from either sweep, each with a cursor whose ``resume``
holds both sweeps' positions as *handed to the consumer* so far (``mode: "split"``), so a crash
resumes both; the sweep ends at the server's time when it started, as every pull does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from connector.records import Page, Record, SeenWindow

if TYPE_CHECKING:
    from connector.crm.hubspot import HubSpotCRM

LIST_PAGE, SEARCH_PAGE = 100, 200
ID_PROPERTY = "hs_object_id"
BUFFER_PAGES = 48
"""Pages read ahead of the consumer, both sweeps together (at most 9,600 records). While the
engine writes back a page of open leads (about two round trips), the sweeps keep reading: the
buffer covers a few seconds of both buckets at full speed."""
JOIN_S = 30.0
_END = object()


class _Meeting:
    """What both sweeps share: ids delivered, the list's highest id, the search's lowest, and
    the sweep's start on the server's clock."""

    def __init__(self, resume: dict) -> None:
        self.lock = threading.Lock()
        self.delivered: set[str] = set()
        self.list_high = int(resume.get("list_high", 0))
        low = resume.get("search_low")
        self.search_low: int | None = int(low) if low else None
        self.ordered = resume.get("ordered", True)
        self.list_done = resume.get("list_done", False)
        self.search_done = resume.get("search_done", False)
        self.started = datetime.fromisoformat(resume["started"]) if "started" in resume else None

    def keep(self, records: list[Record]) -> list[Record]:
        """The records not delivered yet (call under :attr:`lock`)."""
        fresh = [r for r in records if r.id not in self.delivered]
        self.delivered.update(r.id for r in fresh)
        return fresh

    def answered(self, crm: HubSpotCRM) -> None:
        """Date the sweep by the first answer either sweep got (call under :attr:`lock`)."""
        self.started = self.started or crm.answer_time() - timedelta(seconds=1)


def split_sweep(crm: HubSpotCRM, stamp_property: str, names: list[str], fields: list[str],
                window: SeenWindow, resume: dict) -> Iterator[Page]:
    """Every record, read by both sweeps at once (see the module docstring)."""
    from connector.crm.hubspot_pull import page_records

    meeting = _Meeting(resume)
    out: queue.Queue = queue.Queue(maxsize=BUFFER_PAGES)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def listing() -> tuple[list[Record], dict]:
        """One list page; the list sweep's position after it."""
        data = crm.request(partial(crm.basic_api.get_page_with_http_info, crm.object_name,
                                   limit=LIST_PAGE, after=position["after"],
                                   properties=names, archived=False), raw=True)
        records = page_records(data, stamp_property, fields)
        after = ((data.get("paging") or {}).get("next") or {}).get("after")
        with meeting.lock:
            meeting.answered(crm)
            ids = [int(r.id) for r in records]
            if ids != sorted(ids) or (ids and ids[0] <= meeting.list_high):
                meeting.ordered = False
            fresh = meeting.keep(records)
            if ids:
                meeting.list_high = max(meeting.list_high, ids[-1] if meeting.ordered
                                        else max(ids))
            met = (meeting.ordered and meeting.search_low is not None and ids
                   and ids[-1] >= meeting.search_low)
            ended = after is None or bool(met)
            meeting.list_done = meeting.list_done or ended
            # Either way every id is covered now: the search sweep sends no further call.
            meeting.search_done = meeting.search_done or ended
            position["after"] = after
            return fresh, {"after": after, "list_high": meeting.list_high, "list_done": ended,
                           "ordered": meeting.ordered}

    def search_now(**options):
        """The next search, its range read from the list sweep's progress as it is sent (after
        the pacer's wait, during which the list sweep read on)."""
        with meeting.lock:
            filters = [Filter(property_name=ID_PROPERTY, operator="GT",
                              value=str(meeting.list_high))]
            if meeting.search_low is not None:
                filters.append(Filter(property_name=ID_PROPERTY, operator="LT",
                                      value=str(meeting.search_low)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)], properties=names,
            limit=SEARCH_PAGE, sorts=[{"propertyName": ID_PROPERTY, "direction": "DESCENDING"}])
        return crm.search_api.do_search_with_http_info(crm.object_name, request, **options)

    def searching() -> tuple[list[Record], dict]:
        """One search page (none once the list sweep has covered the rest); the search sweep's
        position after it."""
        data = crm.request(search_now, search=True, raw=True,
                           wanted=lambda: not meeting.search_done)
        records = page_records(data or {}, stamp_property, fields)
        with meeting.lock:
            if data is not None:
                meeting.answered(crm)
            fresh = meeting.keep(records)
            if records:
                low = int(records[-1].id)
                meeting.search_low = min(low, meeting.search_low or low)
            # Everything between the list sweep's position when asked and the search's lowest
            # came back (``total`` counts what the range held): every id is covered, and the
            # list sweep's next pages would only repeat them, so it stops too. (Its resume
            # position stays its own: pages it read before this one may not be delivered yet,
            # and a resumed list sweep still reads up to the search's lowest.)
            covered = data is not None and (len(records) < SEARCH_PAGE
                                            or data.get("total", SEARCH_PAGE + 1) <= len(records))
            meeting.list_done = meeting.list_done or (covered and meeting.ordered)
            meeting.search_done = meeting.search_done or covered or data is None
            return fresh, {"search_low": meeting.search_low, "search_done": meeting.search_done}

    def sweep(step: Callable[[], tuple[list[Record], dict]], done: Callable[[], bool]) -> None:
        try:
            while not done() and not stop.is_set():
                if not put(step()):
                    return
        except BaseException as error:  # handed to the consuming thread
            put(("error", error))
        finally:
            put(_END)

    position = {"after": resume.get("after")}
    threads = [threading.Thread(target=sweep, args=args, name=name, daemon=True) for name, args in (
        ("leadscore-hubspot-list", (listing, lambda: meeting.list_done)),
        ("leadscore-hubspot-search", (searching, lambda: meeting.search_done)))]
    for thread in threads:
        thread.start()
    delivered = {"after": position["after"], "list_high": meeting.list_high,
                 "search_low": meeting.search_low, "list_done": meeting.list_done,
                 "search_done": meeting.search_done, "ordered": meeting.ordered}
    try:
        running = len(threads)
        while running:
            item = out.get()
            if item is _END:
                running -= 1
                continue
            if item[0] == "error":
                raise item[1]
            fresh, reached = item
            delivered.update(reached)
            yield _page(fresh, window, delivered, meeting.started)
        started = meeting.started or crm.answer_time() - timedelta(seconds=1)
        yield Page((), window.cursor(started))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=JOIN_S)


def _page(records: list[Record], window: SeenWindow, delivered: dict,
          started: datetime | None) -> Page:
    fresh = tuple(r for r in records if window.first_time(r))
    resume = {"mode": "split", **{k: v for k, v in delivered.items() if v is not None},
              **({"started": started.isoformat()} if started else {})}
    return Page(fresh, window.cursor(None, resume, keep_from=started))
