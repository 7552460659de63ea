"""Archive, merge and GDPR delete in the HubSpot emulator (notes-2 §7).

* **Archive** (``DELETE /objects/{type}/{id}``, ``POST .../batch/archive``): the record leaves
  list, read, search and batch read, and shows under ``?archived=true`` with ``archived: true``
  and ``archivedAt``; a read with ``?archived=true`` finds it. 204 either way (an unknown id
  too: archiving is idempotent).
* **Merge** (``POST /objects/{type}/merge``): by default the result is a *new* record with a new
  id (HubSpot's current behaviour for contacts and companies); ``merge_keeps_primary_id`` gives
  the old behaviour (the primary keeps its id). The primary's values win, the other's fill its
  blanks; ``hs_merged_object_ids`` lists the absorbed ids, ``;``-separated. Reading a merged-away
  id (``GET``, batch read) answers with the survivor, whose ``id`` differs; writing to one is
  ``OBJECT_NOT_FOUND`` (unverified; the notes mark it so). Merged-away ids are not archived.
* **GDPR delete** (``POST /objects/contacts/gdpr-delete``): the record is gone for good, absent
  even with ``archived=true``; with ``idProperty: email`` an unknown address is accepted (204).

Mixed into :class:`~connector.sandbox.hubspot_portal.HubSpotPortal` (its lock, store, clock).
"""

from __future__ import annotations

from datetime import datetime

from connector.sandbox.hubspot_errors import iso_ms, not_found, validation_error
from connector.sandbox.hubspot_records import Record
from connector.sandbox.hubspot_schema import ObjectType

MERGED_IDS = "hs_merged_object_ids"


class Recycle:
    """Archived records, merge redirects and GDPR deletes of one portal."""

    merge_keeps_primary_id = False
    """True: a merge keeps the primary's id (HubSpot's behaviour before the 2024 change)."""

    _archived: dict[str, dict[str, tuple[Record, str]]]  # type -> id -> (record, archivedAt)
    _merged_into: dict[str, dict[str, str]]  # type -> merged-away id -> survivor id

    def resolve(self, otype: ObjectType, record_id: str) -> str:
        """The id ``record_id`` reads as now: a merged-away id leads to its survivor."""
        redirects = self._merged_into.setdefault(otype.name, {})
        seen = set()
        while record_id in redirects and record_id not in seen:
            seen.add(record_id)
            record_id = redirects[record_id]
        return record_id

    def archive(self, otype: ObjectType, record_ids: list[str]) -> None:
        """Move live records to the recycle bin (ids not live are ignored)."""
        with self._lock:
            at = iso_ms(self.now())
            for record_id in record_ids:
                record = self.store.remove(otype, record_id)
                if record is not None:
                    self._archived.setdefault(otype.name, {})[record_id] = (record, at)
            self._stats["write_requests"] += 1

    def archived_page(self, otype: ObjectType, *, limit: int, after: int,
                      names: list[str] | None) -> tuple[list[dict], int | None]:
        """One page of ``GET /objects/{type}?archived=true`` in id order, and the next after."""
        with self._lock:
            table = self._archived.get(otype.name, {})
            ids = sorted(int(i) for i in table if int(i) >= after)[:limit + 1]
            page = [self._archived_json(otype, str(i), names) for i in ids[:limit]]
            return page, (ids[limit] if len(ids) > limit else None)

    def archived_record(self, otype: ObjectType, record_id: str,
                        names: list[str] | None) -> dict:
        """``GET /objects/{type}/{id}?archived=true``: the archived record, else 404."""
        with self._lock:
            if record_id not in self._archived.get(otype.name, {}):
                raise not_found("resource not found", context={"id": [record_id]})
            return self._archived_json(otype, record_id, names)

    def _archived_json(self, otype: ObjectType, record_id: str, names: list[str] | None) -> dict:
        record, at = self._archived[otype.name][record_id]
        return {**self.store.to_json(otype, record, names), "archived": True, "archivedAt": at}

    def merge(self, otype: ObjectType, body: object) -> dict:
        """``POST /objects/{type}/merge``: the merged record (200)."""
        if not isinstance(body, dict) or not all(
                isinstance(body.get(k), str) for k in ("primaryObjectId", "objectIdToMerge")):
            raise validation_error("Some required fields were not set: "
                                   "[primaryObjectId, objectIdToMerge]")
        primary_id, other_id = body["primaryObjectId"], body["objectIdToMerge"]
        with self._lock:
            primary, other = (self.store.record(otype, i) for i in (primary_id, other_id))
            missing = [i for i, r in ((primary_id, primary), (other_id, other)) if r is None]
            if missing:
                raise not_found(f"resource not found: {', '.join(missing)}",
                                context={"id": missing})
            if primary_id == other_id:
                raise validation_error("Cannot merge an object with itself")
            survivor = self._merged(otype, primary, other, self.now())
            self._stats["write_requests"] += 1
            return self.store.to_json(otype, survivor, None)

    def _merged(self, otype: ObjectType, primary: Record, other: Record, at: datetime) -> Record:
        absorbed = [*_ids(primary), *_ids(other), other.id]
        values = {k: v for k, v in other.values.items() if v is not None}
        values.update({k: v for k, v in primary.values.items() if v is not None})
        system = {"hs_object_id", MERGED_IDS, *otype.modified}
        clean = {k: v for k, v in values.items() if k not in system}
        self.store.remove(otype, other.id)
        if self.merge_keeps_primary_id:
            survivor = primary
        else:
            absorbed.append(primary.id)
            self.store.remove(otype, primary.id)
            survivor = self.store.create(otype, clean, at=at)
        redirects = self._merged_into.setdefault(otype.name, {})
        for old in absorbed:
            if old != survivor.id:
                redirects[old] = survivor.id
        merged = ";".join(dict.fromkeys(i for i in absorbed if i != survivor.id))
        self.store.apply(otype, survivor, {**clean, MERGED_IDS: merged}, at, bump_always=True)
        return survivor

    def gdpr_delete(self, otype: ObjectType, body: object) -> None:
        """``POST /objects/contacts/gdpr-delete``: remove the record for good (204)."""
        if not isinstance(body, dict) or not isinstance(body.get("objectId"), str):
            raise validation_error("Some required fields were not set: [objectId]")
        key, id_property = body["objectId"], body.get("idProperty")
        with self._lock:
            found = self.store.find(otype, [key], id_property, reading=True)
            if key not in found:
                if id_property == "email":
                    return  # an unknown address is accepted (and blocked from re-creation)
                raise not_found("resource not found", context={"id": [key]})
            record_id = found[key].id
            self.store.remove(otype, record_id)
            self._archived.get(otype.name, {}).pop(record_id, None)
            self._stats["write_requests"] += 1


def _ids(record: Record) -> list[str]:
    return [i for i in (record.values.get(MERGED_IDS) or "").split(";") if i]
