"""The Salesforce emulator's recycle bin, delete log, merge and undelete (notes-2 §2).

A deleted record keeps its row with ``IsDeleted = true`` (``query`` hides it, ``queryAll`` shows
it) for :data:`RECYCLE_BIN_DAYS`; :meth:`RecycleBin.empty_recycle_bin` removes rows for good, as
the bin's expiry or an admin would. Every delete is also written to the delete log that
``GET sobjects/{type}/deleted/?start=&end=`` (getDeleted) reads. It answers for no more than
:data:`DELETE_LOG_DAYS` before the call, never before a purge of the log
(:meth:`RecycleBin.purge_delete_log`), and refuses windows of a minute or less, all with
``INVALID_REPLICATION_DATE``; more than 600,000 ids is ``EXCEEDED_ID_LIMIT``.

Merge has no REST resource (SOAP ``merge()`` only), so :meth:`RecycleBin.merge` is the
sandbox's admin hook for it: up to two losers into one master; the losers are deleted with
``MasterRecordId`` set to the master, whose stamps move. Undelete is SOAP-only as well.
Mixed into :class:`~connector.sandbox.salesforce_org.SalesforceOrg` (uses its lock, rows and
clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.sandbox.salesforce_sessions import APIError
from connector.sandbox.soql import format_datetime

RECYCLE_BIN_DAYS = 15
DELETE_LOG_DAYS = 15  # getDeleted's look-back (the 30 days some guides quote are getUpdated's)
MAX_DELETED_IDS = 600_000
MAX_MERGE_LOSERS = 2  # three records per merge request, the master included


def _parse_moment(raw: str | None, name: str) -> datetime:
    if not raw:
        raise APIError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise APIError(400, "INVALID_REPLICATION_DATE",
                       f"Invalid {name} date: {raw}; use ISO 8601 with a time zone") from None
    if moment.tzinfo is None:
        raise APIError(400, "INVALID_REPLICATION_DATE", f"{name} must carry a time zone offset")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)  # the API ignores seconds


class RecycleBin:
    """Recycle bin, delete log, merge and undelete of the emulated org."""

    _purged_rows: dict[str, str]  # physically deleted id -> deletedDate (the delete log)
    _log_purged: dict[str, datetime]  # sObject -> delete log purged before this moment

    def _log_state(self) -> tuple[dict[str, str], dict[str, datetime]]:
        return self._purged_rows, self._log_purged

    # -- getDeleted ----------------------------------------------------------------------------

    def get_deleted(self, sobject: str, start_raw: str | None, end_raw: str | None) -> dict:
        """The getDeleted answer for ``sobject`` between ``start`` and ``end``."""
        obj = self.sobject(sobject)
        start, end = _parse_moment(start_raw, "start"), _parse_moment(end_raw, "end")
        now = self.clock_now()
        purged, log_purged = self._log_state()
        if end - start <= timedelta(minutes=1):
            raise APIError(400, "INVALID_REPLICATION_DATE",
                           "startDate must chronologically precede endDate by more than one "
                           "minute")
        horizon = now - timedelta(days=DELETE_LOG_DAYS)
        purged_before = log_purged.get(obj.name)
        if start < horizon or (purged_before is not None and start < purged_before):
            raise APIError(400, "INVALID_REPLICATION_DATE",
                           f"startDate {format_datetime(start)} is before the earliest date "
                           "available for replication; replicate the whole object again")
        with self.lock:
            log = {row["Id"]: row["SystemModstamp"] for row in obj.rows.values()
                   if row.get("IsDeleted")}
            log.update({i: at for i, at in purged.items() if i.startswith(obj.key_prefix)})
        found = [{"id": i, "deletedDate": at} for i, at in sorted(log.items(), key=lambda x: x[1])
                 if start <= _stamp(at) < end]
        if len(found) > MAX_DELETED_IDS:
            raise APIError(400, "EXCEEDED_ID_LIMIT", "record limit reached. choose start and end "
                           "dates that are closer together")
        earliest = purged_before or min((_stamp(at) for at in log.values()), default=now)
        return {"deletedRecords": found, "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": format_datetime(min(end, now))}

    # -- admin hooks (SOAP-only operations in a real org) -----------------------------------------

    def merge(self, master_id: str, loser_ids: list[str], sobject: str = "Lead") -> None:
        """Merge up to two ``loser_ids`` into ``master_id``: losers go to the recycle bin with
        ``MasterRecordId`` set, the master's stamps move (its values stay its own)."""
        obj = self.sobject(sobject)
        if not 1 <= len(loser_ids) <= MAX_MERGE_LOSERS or master_id in loser_ids:
            raise APIError(400, "INVALID_OPERATION", "a merge takes the master and one or two "
                           "other records")
        with self.lock:
            master = self._existing(obj, master_id, single=True)
            losers = [self._existing(obj, i, single=True) for i in loser_ids]
            if any(row.get("IsDeleted") for row in (master, *losers)):
                raise APIError(400, "ENTITY_IS_DELETED", "entity is deleted")
            now = self.now()
            stamps = {"LastModifiedDate": now, "LastModifiedById": self.user_id,
                      "SystemModstamp": now}
            self._commit(obj, [{**master, **stamps}])
            self._commit(obj, [{**row, **stamps, "IsDeleted": True,
                                "MasterRecordId": master["Id"]} for row in losers])

    def undelete(self, record_ids: list[str], sobject: str = "Lead") -> None:
        """Restore records from the recycle bin; their stamps move and ``MasterRecordId`` is
        cleared."""
        obj = self.sobject(sobject)
        with self.lock:
            rows = [self._existing(obj, i, single=True) for i in record_ids]
            now = self.now()
            self._commit(obj, [{**row, "IsDeleted": False, "MasterRecordId": None,
                                "LastModifiedDate": now, "SystemModstamp": now} for row in rows])

    def expire_recycle_bin(self, obj) -> None:
        """Remove for good the rows deleted more than :data:`RECYCLE_BIN_DAYS` ago (run before
        ``queryAll`` reads the bin; the delete log keeps them)."""
        horizon = self.clock_now() - timedelta(days=RECYCLE_BIN_DAYS)
        with self.lock:
            for row in [r for r in obj.rows.values()
                        if r.get("IsDeleted") and _stamp(r["SystemModstamp"]) < horizon]:
                self._purged_rows[row["Id"]] = row["SystemModstamp"]
                del obj.rows[row["Id"]]

    def empty_recycle_bin(self, sobject: str = "Lead") -> int:
        """Remove every deleted row for good (the delete log keeps them); how many."""
        obj = self.sobject(sobject)
        purged, _ = self._log_state()
        with self.lock:
            gone = [row for row in obj.rows.values() if row.get("IsDeleted")]
            for row in gone:
                purged[row["Id"]] = row["SystemModstamp"]
                del obj.rows[row["Id"]]
        return len(gone)

    def purge_delete_log(self, before: datetime, sobject: str = "Lead") -> None:
        """Drop delete-log entries older than ``before``: getDeleted then refuses windows
        starting earlier, as after Salesforce's background purge."""
        obj = self.sobject(sobject)
        purged, log_purged = self._log_state()
        with self.lock:
            log_purged[obj.name] = before.astimezone(UTC)
            for record_id, at in list(purged.items()):
                if _stamp(at) < before:
                    del purged[record_id]


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00"))
