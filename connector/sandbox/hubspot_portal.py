"""The in-memory HubSpot portal behind the emulator: records, properties, limits, stats.

Everything the HTTP layer (``hubspot_api``) answers comes from a :class:`HubSpotPortal`; every
method takes the portal's lock, because the test thread inspects the portal while the server
thread serves. Records live in a :class:`~connector.sandbox.hubspot_records.RecordStore`
(contacts, companies, leads); property definitions in a
:class:`~connector.sandbox.hubspot_properties.PropertyRegistry`. Failures are raised as
:class:`~connector.sandbox.hubspot_errors.HubSpotError` with HubSpot's own bodies.

Seeding goes through the same functions as the API (``create_property``, the store's
``clean``/``create``), so seeded records behave exactly like records created over HTTP.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from connector.sandbox.hubspot_associations import Associations, TaskRoutes
from connector.sandbox.hubspot_errors import (
    invalid_json, iso_ms, not_found, property_values_error, validation_error)
from connector.sandbox.hubspot_properties import PropertyRegistry
from connector.sandbox.hubspot_ratelimit import RateLimiter, RateLimits
from connector.sandbox.hubspot_records import RecordStore
from connector.sandbox.hubspot_recycle import Recycle
from connector.sandbox.hubspot_schema import OBJECT_TYPES, OWNERS, ObjectType
from connector.sandbox.hubspot_search import compile_search
from connector.sandbox.seeding import SeedData, SeedRow, close_time
from connector.sandbox.timeline import CloseRequest, close

OPEN_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT")
FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elena", "Filipe", "Gabriela", "Hugo", "Ines",
               "Joao", "Lucia", "Miguel", "Nuno", "Olga", "Pedro", "Rita", "Sergio", "Teresa")
LAST_NAMES = ("Almeida", "Barros", "Costa", "Dias", "Esteves", "Ferreira", "Gomes", "Lopes",
              "Martins", "Nunes", "Oliveira", "Pereira", "Ramos", "Santos", "Teixeira", "Vieira")
STAT_KEYS = ("api_calls", "http_429", "write_requests", "records_written", "records_created",
             "search_calls", "internal_errors")


class HubSpotPortal(TaskRoutes, Recycle):
    """One HubSpot account with a private app: records, property definitions, limits, stats.

    ``tier`` picks the rate limits (see :class:`RateLimits`); ``clock`` returns epoch seconds
    (default ``time.time``). Set ``bump_on_every_write`` to move the modification stamps on every
    write even when no value changed (by default only changed values move them: notes 4).
    """

    def __init__(self, *, tier: str = "professional", access_token: str, clock=None) -> None:
        self.tier, self.access_token = tier, access_token
        self.bump_on_every_write = False
        self._clock = clock or time.time
        self._lock = threading.RLock()
        self.limiter = RateLimiter(RateLimits.for_tier(tier), self._clock)
        self._types = {key: t for t in OBJECT_TYPES for key in (t.name, t.type_id)}
        self.registry = PropertyRegistry(OBJECT_TYPES)
        self.store = RecordStore(OBJECT_TYPES, self.registry)
        self.associations = Associations()
        self._search_cache: tuple[str, int, list[str]] | None = None
        self._archived, self._merged_into = {}, {}
        self._hidden: dict[str, bool] = {}
        self._pending: dict[str, dict] = {}  # open contact id -> post-outcome values, until closed
        self._stats: Counter = Counter()

    def now(self) -> datetime:
        """The portal's current time (UTC)."""
        return datetime.fromtimestamp(self._clock(), UTC)

    def object_type(self, name: str) -> ObjectType:
        """The object type for a path segment (``contacts`` or ``0-1``), or HubSpot's 400."""
        otype = self._types.get(name)
        if otype is None:
            raise validation_error(f"Unable to infer object type from: {name}")
        return otype

    def note(self, stat: str, count: int = 1) -> None:
        """Add ``count`` to one of the counters :meth:`stats` reports."""
        with self._lock:
            self._stats[stat] += count

    def values(self, object_type: str, record_id: str) -> dict[str, str | None] | None:
        """A copy of one record's stored values, or None (for tests and benchmarks)."""
        with self._lock:
            record = self.store.record(self.object_type(object_type), record_id)
            return dict(record.values) if record else None

    def peek(self, ids, fields: list[str]) -> dict[str, dict]:
        """Stored contact values by id, read without an API call (demos and benchmarks grade
        what the CRM holds against the hidden outcomes this way)."""
        contacts = self.object_type("contacts")
        with self._lock:
            found = {i: self.store.record(contacts, i) for i in ids}
            return {i: {f: r.values.get(f) for f in fields} for i, r in found.items() if r}

    # -- single-record writes ------------------------------------------------------------------

    def create(self, otype: ObjectType, body: object) -> dict:
        """``POST /crm/v3/objects/{type}``: one record from ``{"properties", "associations"}``."""
        if not isinstance(body, dict):
            raise invalid_json("Cannot deserialize value of type `SimplePublicObjectInputForCreate`")
        with self._lock:
            clean, failures = self.store.clean(otype, body.get("properties") or {}, creating=True)
            if failures:
                raise property_values_error(failures)
            self.store.check_associations(otype, clean, body.get("associations"))
            links = self._check_create(otype, clean, body.get("associations"))
            self.store.check_unique(otype, [(None, clean)])
            record = self.store.create(otype, clean, at=self.now())
            self.associations.link(otype.name, record.id, links)
            self._stats.update(write_requests=1, records_written=1, records_created=1)
            return self.store.to_json(otype, record, list(clean))

    def update(self, otype: ObjectType, record_id: str, body: object) -> dict:
        """``PATCH /crm/v3/objects/{type}/{id}``: write ``{"properties"}`` to one record."""
        if not isinstance(body, dict):
            raise invalid_json("Cannot deserialize value of type `SimplePublicObjectInput`")
        with self._lock:
            record = self.store.record(otype, record_id)
            if record is None:
                raise not_found(f"resource not found: no {otype.singular} with id {record_id}",
                                context={"id": [record_id]})
            clean, failures = self.store.clean(otype, body.get("properties") or {},
                                               creating=False)
            if failures:
                raise property_values_error(failures)
            self.store.check_unique(otype, [(record, clean)])
            self.store.apply(otype, record, clean, self.now(),
                             bump_always=self.bump_on_every_write)
            self._stats.update(write_requests=1, records_written=1)
            return self.store.to_json(otype, record, list(clean))

    # -- reads ---------------------------------------------------------------------------------

    def get(self, otype: ObjectType, record_id: str, names: list[str] | None,
            id_property: str | None = None, *, history: list[str] | None = None) -> dict:
        """``GET /crm/v3/objects/{type}/{id}``; 404 when no such record."""
        with self._lock:
            if not id_property:
                record_id = self.resolve(otype, record_id)  # a merged-away id reads as its survivor
            found = self.store.find(otype, [record_id], id_property, reading=True)
            if not found:
                message = ("Object not found.  objectId are usually numeric."
                           if not record_id.isdigit() else "resource not found")
                raise not_found(message, context={"id": [record_id]})
            return self.store.to_json(otype, found[record_id], names, history)

    def list_page(self, otype: ObjectType, *, limit: int, after: int, names: list[str] | None,
                  history: list[str] | None = None) -> tuple[list[dict], int | None]:
        """One page of ``GET /crm/v3/objects/{type}`` in id order, and the next ``after``."""
        with self._lock:
            order, table = self.store.order[otype.name], self.store.tables[otype.name]
            start = bisect.bisect_left(order, after)
            ids = order[start:start + limit + 1]
            page = [self.store.to_json(otype, table[str(i)], names, history) for i in ids[:limit]]
            return page, (ids[limit] if len(ids) > limit else None)

    def search(self, otype: ObjectType, body: object) -> dict:
        """``POST /crm/v3/objects/{type}/search``: ``{"total", "results", "paging"?}``.

        The ordered ids of the last query are cached until the next change, so paging through
        a large result costs one scan; a range of ids sorted by id (the keyset pages of a full
        load, :attr:`SearchPlan.id_range`) is read from the id index without a scan.
        """
        with self._lock:
            plan = compile_search(body, otype, self.store.props(otype))
            self._stats["search_calls"] += 1
            table, cached = self.store.tables[otype.name], self._search_cache
            if plan.id_range is not None:  # a range of ids in id order: from the id index
                total, page = plan.page_of_range(self.store.order[otype.name])
            elif cached and cached[0] == plan.cache_key and cached[1] == self.store.version:
                total, page = len(cached[2]), cached[2][plan.after:plan.after + plan.limit]
            else:
                matching = [r for r in table.values() if plan.matches(r.values, otype.searchable)]
                ids = [r.id for r in plan.order(matching, otype.created[0])]
                self._search_cache = (plan.cache_key, self.store.version, ids)
                total, page = len(ids), ids[plan.after:plan.after + plan.limit]
            answer = {"total": total, "results": [
                self.store.to_json(otype, table[i], plan.properties) for i in page]}
            if plan.limit and plan.after + plan.limit < total:
                answer["paging"] = {"next": {"after": str(plan.after + plan.limit)}}
            return answer

    # -- batches ---------------------------------------------------------------------------------

    def batch_read(self, otype: ObjectType, keys: list[str], names: list[str] | None,
                   history: list[str] | None, id_property: str | None
                   ) -> tuple[list[dict], list[str]]:
        """Records for ``keys`` in request order (duplicates once), and the keys not found."""
        with self._lock:
            # a merged-away id reads as its survivor (whose id differs)
            reads = {k: k if id_property else self.resolve(otype, k) for k in keys}
            found = self.store.find(otype, list(reads.values()), id_property, reading=True)
            unique = list(dict.fromkeys(keys))
            results = [self.store.to_json(otype, found[reads[k]], names, history)
                       for k in unique if reads[k] in found]
            return results, [k for k in unique if reads[k] not in found]

    def batch_update(self, otype: ObjectType, inputs: list[dict], reject,
                     id_property: str | None = None) -> tuple[list[dict], list[str], list[str]]:
        """Validate every input (one bad value fails the whole batch), then write.

        ``reject(key)`` says whether an injected transient fault refuses one record. Returns
        the written records, the keys not found and the keys refused by ``reject``.
        """
        with self._lock:
            cleaned, failures = [], []
            for item in inputs:
                clean, bad = self.store.clean(otype, item["properties"], creating=False)
                cleaned.append((item["id"], clean))
                failures.extend(bad)
            if failures:
                raise property_values_error(failures)
            found = self.store.find(otype, [k for k, _ in cleaned], id_property, reading=False)
            self.store.check_unique(otype, [(found[k], c) for k, c in cleaned if k in found])
            at, results, refused = self.now(), [], []
            for key, clean in cleaned:
                if key not in found:
                    continue
                if reject(key):
                    refused.append(key)
                    continue
                self.store.apply(otype, found[key], clean, at,
                                 bump_always=self.bump_on_every_write)
                results.append(self.store.to_json(otype, found[key], list(clean)))
            self._stats.update(write_requests=1, records_written=len(results))
            return results, [k for k, _ in cleaned if k not in found], refused

    def batch_create(self, otype: ObjectType, inputs: list[dict], reject
                     ) -> tuple[list[dict], list[int]]:
        """Validate every input, then create; returns the records and the refused indexes."""
        with self._lock:
            cleaned, failures = [], []
            for item in inputs:
                clean, bad = self.store.clean(otype, item.get("properties") or {}, creating=True)
                failures.extend(bad)
                cleaned.append(clean)
            if failures:
                raise property_values_error(failures)
            links = []
            for item, clean in zip(inputs, cleaned):
                self.store.check_associations(otype, clean, item.get("associations"))
                links.append(self._check_create(otype, clean, item.get("associations")))
            self.store.check_unique(otype, [(None, clean) for clean in cleaned])
            at, results, refused = self.now(), [], []
            for index, clean in enumerate(cleaned):
                if reject(index):
                    refused.append(index)
                    continue
                record = self.store.create(otype, clean, at=at)
                self.associations.link(otype.name, record.id, links[index])
                results.append(self.store.to_json(otype, record, list(clean)))
            self._stats.update(write_requests=1, records_written=len(results),
                               records_created=len(results))
            return results, refused

    # -- properties API --------------------------------------------------------------------------

    def list_properties(self, otype: ObjectType) -> list[dict]:
        """Every property definition of ``otype``."""
        with self._lock:
            return [p.to_json() for p in self.store.props(otype).values()]

    def get_property(self, otype: ObjectType, name: str) -> dict:
        """One property definition, or 404."""
        with self._lock:
            return self.registry.get(otype, name).to_json()

    def create_property(self, otype: ObjectType, body: object) -> dict:
        """Create a property from a properties-API body; 409 when the name exists."""
        with self._lock:
            return self.registry.create(otype, body, self.now()).to_json()

    def list_groups(self, otype: ObjectType) -> list[dict]:
        """Every property group of ``otype``."""
        with self._lock:
            return [g.to_json() for g in self.registry.groups[otype.name].values()]

    def get_group(self, otype: ObjectType, name: str) -> dict:
        """One property group, or 404."""
        with self._lock:
            return self.registry.get_group(otype, name).to_json()

    def create_group(self, otype: ObjectType, body: object) -> dict:
        """Create a property group; 409 when the name exists."""
        with self._lock:
            return self.registry.create_group(otype, body).to_json()

    # -- seeding, outcomes, stats ------------------------------------------------------------------

    def seed(self, data: SeedData) -> None:
        """Load ``data`` as contacts, one number/string property per column (group
        ``bank_marketing``), through the same functions the API uses.

        Closed rows become customers (converted) or unqualified leads; open rows are leads in an
        open status, and their true outcome goes to :meth:`hidden_outcomes`, not the CRM.
        """
        contacts = self._types["contacts"]
        with self._lock:
            if "bank_marketing" not in self.registry.groups["contacts"]:
                self.create_group(contacts, {"name": "bank_marketing", "label": "Bank marketing"})
            for order, col in enumerate(data.columns):
                if col.hs_property not in self.store.props(contacts):
                    kind = "number" if col.kind in ("int", "float") else "string"
                    self.create_property(contacts, {
                        "name": col.hs_property, "label": col.label, "type": kind,
                        "fieldType": "number" if kind == "number" else "text",
                        "groupName": "bank_marketing", "displayOrder": order,
                        "description": f"Column {col.name!r} of {data.source.rsplit('/', 1)[-1]}"})
            late = {c.hs_property for c in data.columns if c.name in data.post_outcome}
            for row in data.rows:
                self._seed_row(contacts, data, row, late)

    def _seed_row(self, contacts: ObjectType, data: SeedData, row: SeedRow,
                  late: set[str]) -> None:
        """One contact; post-outcome properties (``late``) wait for the close: kept aside on
        open rows, set at :func:`close_time` (with the lifecycle change) on closed ones."""
        first, last = FIRST_NAMES[row.index % 18], LAST_NAMES[(row.index // 18) % 16]
        values: dict[str, object] = {
            "firstname": first, "lastname": last,
            "email": f"{first}.{last}.{row.index + 1}@example.com".lower(),
            "createdate": iso_ms(row.created_at)}
        for col in data.columns:
            value = row.values.get(col.name)
            values[col.hs_property] = repr(value) if isinstance(value, float) else value
        waiting = {name: values.pop(name) for name in late}
        outcome = {"lifecyclestage": "customer"} if row.outcome else {
            "lifecyclestage": "lead", "hs_lead_status": "UNQUALIFIED"}
        if row.is_open or late:
            values.update(lifecyclestage="lead", hs_lead_status=OPEN_STATUSES[row.index % 4])
        else:
            values.update(outcome)
        values["hubspot_owner_id"] = OWNERS[row.index % len(OWNERS)][0]
        clean, failures = self.store.clean(contacts, values, creating=True)
        if failures:
            raise ValueError(f"data row {row.index + 1}: {failures}")
        record = self.store.create(contacts, clean, at=row.created_at, source="IMPORT")
        if row.is_open:
            self._hidden[record.id] = row.outcome
            self._pending[record.id] = waiting
        elif late:
            self._close_record(contacts, record, outcome, waiting, close_time(row), "IMPORT")

    def _close_record(self, contacts: ObjectType, record, outcome: dict, filled: dict,
                      at: datetime, source: str) -> None:
        filled = {name: value for name, value in filled.items() if value is not None}
        clean, failures = self.store.clean(contacts, {**filled, **outcome}, creating=False)
        if failures:
            raise ValueError(f"closing contact {record.id}: {failures}")
        self.store.apply(contacts, record, clean, at, source=source)

    # -- the time route (connector.sandbox.timeline) ---------------------------------------------

    def close(self, body: object) -> dict:
        """``POST /__sandbox/close``: outcomes arrive for the open contacts ``body`` selects."""
        with self._lock:
            return close(self, CloseRequest.parse(body))

    def open_seeded_leads(self) -> dict[str, datetime]:
        """Open contacts that still have a hidden outcome: id -> creation time."""
        table = self.store.tables["contacts"]
        return {i: datetime.fromisoformat(table[i].values["createdate"].replace("Z", "+00:00"))
                for i in self._hidden if i in table
                and table[i].values.get("lifecyclestage") not in ("opportunity", "customer")
                and table[i].values.get("hs_lead_status") != "UNQUALIFIED"}

    def clock_now(self) -> datetime:
        """The portal's current time."""
        return self.now()

    def apply_close(self, outcomes: dict[str, bool], at: datetime) -> None:
        """Make each contact a customer or unqualified at ``at``, filling its post-outcome
        properties (the store records their history)."""
        contacts = self._types["contacts"]
        for record_id, converted in outcomes.items():
            outcome = ({"lifecyclestage": "customer"} if converted
                       else {"hs_lead_status": "UNQUALIFIED"})
            self._close_record(contacts, self.store.tables["contacts"][record_id], outcome,
                               self._pending.pop(record_id, {}), at, "CRM_UI")
            self._hidden.pop(record_id, None)

    def hidden_outcomes(self) -> dict[str, bool]:
        """The true outcome of each open seeded contact, by contact id (kept out of the CRM)."""
        with self._lock:
            return dict(self._hidden)

    def stats(self) -> dict:
        """Counters since the last :meth:`reset_stats`, plus the daily count and record totals."""
        with self._lock:
            stats = {key: self._stats[key] for key in STAT_KEYS}
            stats["daily_used"] = self.limiter.daily_used
            stats["records"] = {name: len(t) for name, t in self.store.tables.items()}
            return stats

    def reset_stats(self) -> None:
        """Zero the counters of :meth:`stats` (records and the daily count stay)."""
        with self._lock:
            self._stats.clear()

    def reset_rate_limits(self, limits: RateLimits | str | None = None) -> None:
        """Empty the rate-limit buckets; optionally switch limits (a tier name or values)."""
        self.limiter.reset(RateLimits.for_tier(limits) if isinstance(limits, str) else limits)
