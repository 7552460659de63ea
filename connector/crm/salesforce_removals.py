"""Records that left a Salesforce object: getDeleted and merge losers (crm-api-notes-2 §2).

Two calls per look, whatever the org's size:

1. ``GET sobjects/{type}/deleted/?start=&end=`` (getDeleted) lists the ids deleted in the window,
   recycle bin emptied or not. It answers for no more than 15 days back and needs a window of
   more than a minute; it ignores seconds. ``latestDateCovered`` is where the next look starts.
2. ``queryAll`` of the recycle bin's rows deleted since the start names the survivor of each
   merge (the losers of a merge are deleted rows whose ``MasterRecordId`` is their master).

When the window reaches past what the delete log keeps (``INVALID_REPLICATION_DATE``: more than
15 days since the last look, or a purge of the log), the recycle bin's own rows (``queryAll``
``IsDeleted = true``) are all there is, and the result says it is incomplete: records
deleted and purged in the gap are found later by a reconciliation (:meth:`CRM.read` misses them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.errors import ReplicationWindowError
from connector.records import Removal, Removals, parse_stamp

LOOKBACK = timedelta(days=15)
SHORTEST_WINDOW = timedelta(minutes=2)  # the API wants more than one minute; seconds are dropped


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def soql_time(moment: datetime) -> str:
    """A SOQL datetime literal (UTC, to the second)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def removed_since(call: Callable[[Callable[[Any], Any]], Any], object_name: str,
                  since: datetime | None, now: datetime) -> Removals:
    """See :meth:`connector.crm.base.CRM.removed_since`; ``call`` runs an action on the SDK
    client (translating errors), ``since`` already includes the connection's overlap."""
    end = _minute(now) + timedelta(minutes=1)  # seconds are dropped: cover the current minute
    horizon = end - LOOKBACK + timedelta(minutes=1)
    complete = since is not None and since >= horizon
    start = _minute(max(since, horizon)) if since is not None else horizon
    start = min(start, end - SHORTEST_WINDOW)
    deleted: dict[str, datetime] = {}
    reached = end
    try:
        body = call(lambda sf: sf.restful(f"sobjects/{object_name}/deleted/", params={
            "start": start.isoformat(), "end": end.isoformat()}))
        deleted = {row["id"]: parse_stamp(row["deletedDate"]) for row in body["deletedRecords"]}
        if body.get("latestDateCovered"):
            reached = min(end, parse_stamp(body["latestDateCovered"]))
    except ReplicationWindowError:
        complete = False  # only the recycle bin's rows below are left to go by
    soql = (f"SELECT Id, MasterRecordId, SystemModstamp FROM {object_name} "
            f"WHERE IsDeleted = true AND SystemModstamp >= {soql_time(start)}")
    rows = call(lambda sf: sf.query_all(soql, include_deleted=True))["records"]
    masters = {row["Id"]: (row["MasterRecordId"], parse_stamp(row["SystemModstamp"]))
               for row in rows}
    removals = [Removal(record_id, "merged", at, masters[record_id][0])
                if masters.get(record_id, (None,))[0] else Removal(record_id, "deleted", at)
                for record_id, at in deleted.items()]
    removals += [Removal(record_id, "merged" if master else "deleted", at, master)
                 for record_id, (master, at) in masters.items() if record_id not in deleted]
    return Removals(tuple(removals), reached, complete)
