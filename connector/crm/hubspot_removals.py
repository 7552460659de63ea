"""Records that left a HubSpot object: archived ones and merges (crm-api-notes-2 §7).

* **Archived**: ``GET /crm/v3/objects/{type}?archived=true`` (100 a call, id order) lists the
  recycle bin with each record's ``archivedAt``; the listing has no date filter, so every look
  pages through the whole bin (HubSpot keeps archived records 90 days) and keeps those archived
  since ``since``.
* **Merges**: one keyset search for records with ``hs_merged_object_ids`` modified since
  ``since``. A merge may create a new record with a new id; each id it absorbed (the old
  primary's too) is a ``merged`` removal whose survivor is the new record.
* Both looks run at once (the listing in the calling thread, the search beside it).
* A GDPR delete leaves no trace in either: the record simply stops being found by
  :meth:`~connector.crm.hubspot.HubSpotCRM.read` (and a write to it answers
  ``OBJECT_NOT_FOUND``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from connector.crm.hubspot_pull import ID_PROPERTY, LIST_PAGE, SEARCH_PAGE
from connector.records import Removal, Removals

if TYPE_CHECKING:
    from connector.crm.hubspot import HubSpotCRM

MERGED_IDS = "hs_merged_object_ids"


def removed_since(crm: HubSpotCRM, since: datetime | None) -> Removals:
    """See :meth:`connector.crm.base.CRM.removed_since`; ``since`` includes the overlap.

    The merge search runs beside the archived listing (their buckets differ, and every sync
    waits for both before it reads anything)."""
    removals: dict[str, Removal] = {}
    after = None
    reached: datetime | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadscore-hubspot-merges") as pool:
        merging = pool.submit(_merges, crm, since)
        while True:
            data = crm.request(partial(crm.basic_api.get_page_with_http_info, crm.object_name,
                                       limit=LIST_PAGE, after=after, properties=[ID_PROPERTY],
                                       archived=True))
            reached = reached or crm.answer_time() - timedelta(seconds=1)
            for obj in data.results:
                at = obj.archived_at
                if since is None or at is None or at >= since:
                    removals[obj.id] = Removal(obj.id, "archived", at)
            after = data.paging.next.after if data.paging and data.paging.next else None
            if after is None:
                break
        for removal in merging.result():  # the search's own error, if any, is raised here
            removals.setdefault(removal.record_id, removal)
    return Removals(tuple(removals.values()), reached, complete=True)


def _merges(crm: HubSpotCRM, since: datetime | None) -> list[Removal]:
    """``merged`` removals from the survivors modified since ``since``."""
    found, last_id = [], 0
    while True:
        filters = [Filter(property_name=MERGED_IDS, operator="HAS_PROPERTY")]
        if since is not None:
            filters.append(Filter(property_name=crm.modified_property, operator="GTE",
                                  value=str(int(since.timestamp() * 1000))))
        if last_id:
            filters.append(Filter(property_name=ID_PROPERTY, operator="GT", value=str(last_id)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)], properties=[MERGED_IDS],
            limit=SEARCH_PAGE, sorts=[{"propertyName": ID_PROPERTY, "direction": "ASCENDING"}])
        data = crm.request(partial(crm.search_api.do_search_with_http_info, crm.object_name,
                                   request), search=True)
        for obj in data.results:
            absorbed = ((obj.properties or {}).get(MERGED_IDS) or "").split(";")
            found += [Removal(old.strip(), "merged", obj.updated_at, obj.id)
                      for old in absorbed if old.strip() and old.strip() != obj.id]
        if len(data.results) < SEARCH_PAGE:
            return found
        last_id = int(data.results[-1].id)
