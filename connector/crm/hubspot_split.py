"""HubSpot full loads at the documented limits: the list API and search, side by side.

A first sync or a full rescan reads every record. The list API (``GET /crm/v3/objects/{type}``,
100 a page, the 10-second bucket: 190 calls at Professional) and search (200 a call, its own
bucket of 5 a second) draw on *different* rate buckets, so the fastest plan uses both at once:

* the **list sweep** pages up from the lowest id (``after`` is opaque: it is only ever handed
  back), in this thread;
* the **search sweep** pages down from the highest id in a background thread: sorted by
  ``hs_object_id`` descending, each call asking for ids below the lowest it has delivered and
  above the highest the list sweep has delivered.

They meet in the middle. Every id is delivered once (a shared set; ids the other sweep already
delivered are dropped). The list sweep stops as soon as a page reaches ids the search sweep
has covered, which relies on list pages coming in id order: HubSpot's do in practice
(crm-api-notes-2 section 8, unverified), and the sweep checks it as it goes: pages out of order
switch the early stop off and the list runs to its end (slower, still complete). Incremental
pulls keep the keyset search of :mod:`connector.crm.hubspot_pull`.

Pages come out as they arrive from either sweep, each with a cursor whose ``resume`` holds
both sweeps' positions as delivered so far (``mode: "split"``), so a crash resumes both; the
sweep ends at the server's time when it started, as every pull does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from connector.records import Page, Record, SeenWindow

if TYPE_CHECKING:
    from connector.crm.hubspot import HubSpotCRM

LIST_PAGE, SEARCH_PAGE = 100, 200
ID_PROPERTY = "hs_object_id"
_END = object()


class _Meeting:
    """What both sweeps share: ids delivered, the list's highest id, the search's lowest."""

    def __init__(self, resume: dict) -> None:
        self.lock = threading.Lock()
        self.delivered: set[str] = set()
        self.list_high = int(resume.get("list_high", 0))
        low = resume.get("search_low")
        self.search_low: int | None = int(low) if low else None
        self.ordered = resume.get("ordered", True)
        self.list_done = resume.get("list_done", False)
        self.search_done = resume.get("search_done", False)

    def keep(self, records: list[Record]) -> list[Record]:
        """The records not delivered yet (call under :attr:`lock`)."""
        fresh = [r for r in records if r.id not in self.delivered]
        self.delivered.update(r.id for r in fresh)
        return fresh


def split_sweep(crm: HubSpotCRM, stamp_property: str, names: list[str], fields: list[str],
                window: SeenWindow, resume: dict) -> Iterator[Page]:
    """Every record, read by both sweeps at once (see the module docstring)."""
    from connector.crm.hubspot_pull import record_of

    meeting = _Meeting(resume)
    started = datetime.fromisoformat(resume["started"]) if "started" in resume else None
    position = {"after": resume.get("after")}
    out: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def searching() -> None:
        try:
            while not meeting.search_done and not stop.is_set():
                filters = [Filter(property_name=ID_PROPERTY, operator="GT",
                                  value=str(meeting.list_high))]
                if meeting.search_low is not None:
                    filters.append(Filter(property_name=ID_PROPERTY, operator="LT",
                                          value=str(meeting.search_low)))
                request = PublicObjectSearchRequest(
                    filter_groups=[FilterGroup(filters=filters)], properties=names,
                    limit=SEARCH_PAGE, sorts=[{"propertyName": ID_PROPERTY,
                                               "direction": "DESCENDING"}])
                data = crm.request(partial(crm.search_api.do_search_with_http_info,
                                           crm.object_name, request), search=True)
                records = [record_of(o, stamp_property, fields) for o in data.results]
                with meeting.lock:
                    fresh = meeting.keep(records)
                    if records:
                        low = int(records[-1].id)
                        meeting.search_low = min(low, meeting.search_low or low)
                    meeting.search_done = meeting.search_done or len(records) < SEARCH_PAGE
                    state = ("search", meeting.search_low, meeting.search_done)
                if not put((fresh, state)):
                    return
        except BaseException as error:  # handed to the consuming thread
            put(("error", error))
        finally:
            put(_END)

    searcher = threading.Thread(target=searching, name="leadscore-hubspot-search", daemon=True)
    searcher.start()
    delivered = {"after": position["after"], "list_high": meeting.list_high,
                 "search_low": meeting.search_low, "list_done": meeting.list_done,
                 "search_done": meeting.search_done}
    search_running = True
    try:
        while not meeting.list_done:
            data = crm.request(partial(crm.basic_api.get_page_with_http_info, crm.object_name,
                                       limit=LIST_PAGE, after=position["after"],
                                       properties=names, archived=False))
            started = started or crm.answer_time() - timedelta(seconds=1)
            records = [record_of(o, stamp_property, fields) for o in data.results]
            after = data.paging.next.after if data.paging and data.paging.next else None
            with meeting.lock:
                ids = [int(r.id) for r in records]
                if ids != sorted(ids) or (ids and ids[0] <= meeting.list_high):
                    meeting.ordered = False
                fresh = meeting.keep(records)
                if ids:
                    meeting.list_high = max(meeting.list_high, ids[-1] if meeting.ordered
                                            else max(ids))
                met = (meeting.ordered and meeting.search_low is not None and ids
                       and ids[-1] >= meeting.search_low)
                meeting.list_done = after is None or bool(met)
                # Either way every id is covered now: the search sweep sends no further call.
                meeting.search_done = meeting.search_done or meeting.list_done
                position["after"] = after
                delivered.update(after=after, list_high=meeting.list_high,
                                 list_done=meeting.list_done, ordered=meeting.ordered)
            yield _page(fresh, window, delivered, started)
            search_running = yield from _drain(out, window, delivered, started, block=False,
                                               running=search_running)
        while search_running:
            search_running = yield from _drain(out, window, delivered, started, block=True,
                                               running=search_running)
        yield Page((), window.cursor(started or crm.answer_time() - timedelta(seconds=1)))
    finally:
        stop.set()
        searcher.join(timeout=30)


def _drain(out: queue.Queue, window: SeenWindow, delivered: dict, started: datetime | None,
           *, block: bool, running: bool) -> Iterator[Page]:
    """Yield the search pages waiting (one at least when ``block``); returns whether the
    search sweep is still running."""
    while running:
        try:
            item = out.get(timeout=60) if block else out.get_nowait()
        except queue.Empty:
            return running
        if item is _END:
            return False
        if item[0] == "error":
            raise item[1]
        fresh, (_, low, done) = item
        delivered.update(search_low=low, search_done=done)
        yield _page(fresh, window, delivered, started)
        block = False
    return running


def _page(records: list[Record], window: SeenWindow, delivered: dict,
          started: datetime | None) -> Page:
    fresh = tuple(r for r in records if window.first_time(r))
    resume = {"mode": "split", **{k: v for k, v in delivered.items() if v is not None},
              **({"started": started.isoformat()} if started else {})}
    return Page(fresh, window.cursor(None, resume, keep_from=started))
