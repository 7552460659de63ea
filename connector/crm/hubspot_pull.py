"""Pulling HubSpot records page by page: incremental keyset searches, and full loads.

**Incremental pulls** (a cursor) are ``POST .../search`` sorted by ``hs_object_id``, 200
records a call, filtered on ``stamp >= cursor - overlap`` and continued with ``hs_object_id >
last id`` instead of the ``after`` offset. **Full loads** (no cursor: a first sync, ``--full``,
a rescoring after a promotion) read with the list API and search side by side, on their two
separate rate buckets (:mod:`connector.crm.hubspot_split`): the fastest plan the documented
limits allow. Search's index lags writes by "a few moments" (crm-api-notes 2.3); a record
created just before a sweep and missed by it is read by the next pull, which starts
``overlap`` minutes before the sweep began.

Why keyset paging rather than the usual ascending-timestamp sort with offsets, restarted before
the 10,000th result: offsets count positions in a live result set, and the sync engine writes
each page back before reading the next. Every record it writes jumps to the end of a
timestamp-sorted result, shifting everything after it down, so the next offset skips as many
unread records. Keyset paging on the id never skips, never comes near the 10,000-result cap
(every query starts at offset 0), and needs no boundary tie-breaking.

Sweeps end at the server's time when they started (the ``Date`` header of their first answer,
minus a second for its rounding): whatever changed after that is read by the next pull.
Mid-sweep pages carry a cursor with ``resume`` so a crash resumes where it stopped. Cursors
left mid-way by earlier versions are finished the way they started: a list-API load
(``resume.mode == "list"``, :func:`_list_sweep`) or a keyset search load (``"search"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from connector.crm.hubspot_split import split_sweep
from connector.records import Cursor, Page, Record, SeenWindow, parse_stamp

if TYPE_CHECKING:
    from connector.crm.hubspot import HubSpotCRM

LIST_PAGE, SEARCH_PAGE = 100, 200
ID_PROPERTY = "hs_object_id"


def record_of(obj: Any, stamp_property: str, fields: list[str]) -> Record:
    """A :class:`Record` from an SDK object, stamped by ``stamp_property`` (else updatedAt)."""
    props = obj.properties or {}
    raw = props.get(stamp_property)
    return Record(obj.id, {name: props.get(name) for name in fields},
                  parse_stamp(raw) if raw else obj.updated_at)


def page_records(data: dict, stamp_property: str, fields: list[str]) -> list[Record]:
    """The :class:`Record` of each object of a list or search answer read as plain JSON
    (``HubSpotCRM.request(..., raw=True)``), as :func:`record_of` makes them of SDK objects."""
    records = []
    for obj in data.get("results") or ():
        props = obj.get("properties") or {}
        records.append(Record(str(obj["id"]), {name: props.get(name) for name in fields},
                              parse_stamp(props.get(stamp_property) or obj["updatedAt"])))
    return records


def _started(crm: HubSpotCRM) -> datetime:
    return crm.answer_time() - timedelta(seconds=1)


def pull(crm: HubSpotCRM, stamp_property: str, cursor: Cursor | None, fields: list[str]
         ) -> Iterator[Page]:
    """Pages of ``crm``'s records following ``stamp_property`` from ``cursor`` (see module)."""
    cursor = cursor or Cursor()
    resume = dict(cursor.resume or {})
    window = SeenWindow(crm.overlap, set(cursor.seen), pinned=cursor.seen)
    names = list(dict.fromkeys([stamp_property, *fields]))
    if cursor.stamp is None and resume.get("mode") == "list":
        return _list_sweep(crm, stamp_property, names, fields, window, resume)
    if cursor.stamp is None and resume.get("mode") in (None, "split"):
        return split_sweep(crm, stamp_property, names, fields, window, resume)
    return _search_sweep(crm, stamp_property, names, fields, cursor, window, resume)


def _list_sweep(crm: HubSpotCRM, stamp_property: str, names: list[str], fields: list[str],
                window: SeenWindow, resume: dict) -> Iterator[Page]:
    """Finish a list-API full load (``GET /crm/v3/objects/{type}``, 100 at a time, id order)
    that an earlier version started and a crash interrupted (see the module docstring)."""
    after = resume.get("after")
    started = datetime.fromisoformat(resume["started"]) if "started" in resume else None
    while True:
        data = crm.request(partial(crm.basic_api.get_page_with_http_info, crm.object_name,
                                   limit=LIST_PAGE, after=after, properties=names, archived=False),
                           raw=True)
        started = started or _started(crm)
        fresh = tuple(r for r in page_records(data, stamp_property, fields)
                      if window.first_time(r))
        after = ((data.get("paging") or {}).get("next") or {}).get("after")
        if after is None:
            yield Page(fresh, window.cursor(started))
            return
        yield Page(fresh, window.cursor(None, {"mode": "list", "after": after,
                                               "started": started.isoformat()}, keep_from=started))


def _search_sweep(crm: HubSpotCRM, stamp_property: str, names: list[str], fields: list[str],
                  cursor: Cursor, window: SeenWindow, resume: dict) -> Iterator[Page]:
    since = cursor.since(crm.overlap)  # None: a full load, every record
    last_id = int(resume.get("after_id", 0))
    started = datetime.fromisoformat(resume["started"]) if "started" in resume else None
    while True:
        filters = []
        if since is not None:
            filters.append(Filter(property_name=stamp_property, operator="GTE",
                                  value=str(int(since.timestamp() * 1000))))
        if last_id:
            filters.append(Filter(property_name=ID_PROPERTY, operator="GT", value=str(last_id)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)] if filters else [], properties=names,
            limit=SEARCH_PAGE, sorts=[{"propertyName": ID_PROPERTY, "direction": "ASCENDING"}])
        data = crm.request(partial(crm.search_api.do_search_with_http_info, crm.object_name,
                                   request),
                           search=True, raw=True)
        started = started or _started(crm)
        records = page_records(data, stamp_property, fields)
        fresh = tuple(r for r in records if window.first_time(r))
        if len(records) < SEARCH_PAGE:
            end = started if cursor.stamp is None else max(started, cursor.stamp)
            yield Page(fresh, window.cursor(end))
            return
        last_id = int(records[-1].id)
        yield Page(fresh, window.cursor(cursor.stamp, {"mode": "search", "after_id": str(last_id),
                                                       "started": started.isoformat()},
                                        keep_from=started))
