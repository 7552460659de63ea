"""The in-memory Salesforce org behind the emulator: records, fields, sessions and API usage.

All state changes take ``self.lock`` because the test thread inspects the org while the server
thread serves it. Handlers call the public methods below; each returns plain data or raises
:class:`APIError` (a whole-request error) or :class:`FieldError` (one record's error).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from connector.sandbox import salesforce_dml as dml
from connector.sandbox.salesforce_bulk import BulkJobs
from connector.sandbox.salesforce_fields import FieldError
from connector.sandbox.salesforce_history import FieldHistory, lead_history_object
from connector.sandbox.salesforce_objects import SObjectType, standard_objects, tooling_objects
from connector.sandbox.salesforce_query import QueryCursors, parse_locator
from connector.sandbox.salesforce_recycle import RecycleBin
from connector.sandbox.salesforce_schema_ops import SchemaOps
from connector.sandbox.salesforce_tasks import SALES_REPS, TaskOps
from connector.sandbox.salesforce_sessions import APIError, Session, SessionsAndUsage
from connector.sandbox.salesforce_seed import close_values, seed_org
from connector.sandbox.seeding import SeedData
from connector.sandbox.timeline import CloseRequest, close
from connector.sandbox.soql import SOQLError, format_datetime, parse, plan

API_VERSION = "59.0"
NOT_FOUND = "The requested resource does not exist"
INVALID_TYPE_HINT = ("If you are attempting to use a custom object, be sure to append the '__c' "
                     "after the entity name. Please reference your WSDL or the describe call for "
                     "the appropriate names.")


class SalesforceOrg(SchemaOps, TaskOps, SessionsAndUsage, RecycleBin):
    """One org with one API user (the sandbox admin), its Lead data and its daily API allowance."""

    api_version = API_VERSION

    def __init__(self, *, daily_api_limit: int, session_lifetime_s: float, jwt_cert_file: Path,
                 username: str, password: str, security_token: str, consumer_key: str,
                 consumer_secret: str, clock=None, enforce_field_security: bool = True) -> None:
        self.lock = threading.RLock()
        self.clock = clock or time.time
        self.daily_api_limit, self.session_lifetime_s = daily_api_limit, session_lifetime_s
        self.jwt_cert_file = Path(jwt_cert_file)
        self.username, self.password, self.security_token = username, password, security_token
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self._enforce_field_security = enforce_field_security
        self.instance_url = ""
        self.ids = dml.IdFactory()
        self.org_id = self.ids.next("00D")
        self.objects: dict[str, SObjectType] = standard_objects()
        self.objects["LeadHistory"] = lead_history_object()
        self.field_history = FieldHistory(self.objects["LeadHistory"], self.objects["Lead"],
                                          lambda: self.ids.next("017"))
        self.tooling: dict[str, SObjectType] = tooling_objects()
        self.cursors = QueryCursors()
        self.bulk = BulkJobs(self)
        self.sessions: dict[str, Session] = {}
        self.api_used = 0
        self._hidden: dict[str, bool] = {}
        self._purged_rows, self._log_purged = {}, {}
        self._pending: dict[str, dict] = {}  # open lead id -> post-outcome values, until it closes
        self.reset_stats()
        self.user_id = self.ids.next("005")
        self.profile_id = self._bootstrap_profile()
        self._bootstrap_user()
        self.rep_ids = [self._add_user(*rep) for rep in SALES_REPS]
        """Active sales reps: seeded leads are owned by them in turn."""
        self.inactive_user_id = self._add_user("Former Rep", "former.rep", active=False)
        self.admin_permission_set_id = self._bootstrap_permission_set()

    @property
    def enforce_field_security(self) -> bool:
        """Whether new custom fields stay hidden until a FieldPermissions row grants them."""
        return self._enforce_field_security

    @enforce_field_security.setter
    def enforce_field_security(self, value: bool) -> None:
        with self.lock:
            self._enforce_field_security = value
            self._refresh_all_access()

    # -- time ----------------------------------------------------------------------------------------

    def now(self) -> str:
        """The current time in Salesforce's dateTime wire form."""
        return format_datetime(datetime.fromtimestamp(self.clock(), UTC))

    # -- stats for tests and benchmarks ---------------------------------------------------------------

    def count(self, key: str, amount: int = 1) -> None:
        """Add to one statistic (used by the API layer for injected faults)."""
        with self.lock:
            self._stats[key] = self._stats.get(key, 0) + amount

    def stats(self) -> dict:
        """Counters since the last :meth:`reset_stats`, plus the current API usage."""
        with self.lock:
            return {**self._stats, "api_usage_used": self.api_used,
                    "api_usage_max": self.daily_api_limit, "open_query_locators": len(self.cursors),
                    "leads": len(self.objects["Lead"].rows)}

    def reset_stats(self) -> None:
        """Zero the counters (API usage itself is left alone; see :meth:`set_remaining_api_calls`)."""
        with self.lock:
            self._stats = dict.fromkeys(
                ("api_calls", "http_401", "http_403", "http_429", "http_5xx", "queries",
                 "write_requests", "records_written", "records_created", "records_failed",
                 "records_rejected_by_fault"), 0)

    def hidden_outcomes(self) -> dict[str, bool]:
        """Open seeded lead id -> its true outcome (never stored in the CRM)."""
        with self.lock:
            return dict(self._hidden)

    def peek(self, ids, fields: list[str]) -> dict[str, dict]:
        """Stored Lead values by id, read without an API call (demos and benchmarks grade
        what the CRM holds against the hidden outcomes this way)."""
        rows = self.sobject("Lead").rows
        with self.lock:
            return {i: {f: rows[i].get(f) for f in fields} for i in ids if i in rows}

    # -- objects and reads -------------------------------------------------------------------------

    def sobject(self, name: str, *, tooling: bool = False) -> SObjectType:
        """The object called ``name`` (any case) or 404 NOT_FOUND."""
        table = self.tooling if tooling else self.objects
        found = table.get(name) or next((o for o in table.values() if o.name.lower() == name.lower()), None)
        if found is None:
            raise APIError(404, "NOT_FOUND", NOT_FOUND)
        return found

    def describe_global(self, version: str) -> dict:
        """The ``sobjects`` answer."""
        return {"encoding": "UTF-8", "maxBatchSize": 200,
                "sobjects": [obj.summary(version) for obj in self.objects.values()]}

    def get_record(self, obj: SObjectType, record_id: str, fields: list[str] | None, version: str) -> dict:
        """One record with ``fields`` (default: every readable field)."""
        try:
            record_id = dml.check_id(obj, record_id)
        except FieldError:
            raise APIError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not "
                           f"accessible: {record_id}") from None
        names = self._columns(obj, fields)
        with self.lock:
            row = obj.rows.get(record_id)
        if row is None:
            raise APIError(404, "NOT_FOUND", NOT_FOUND)
        if row.get("IsDeleted"):
            raise APIError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return self._rendered(obj, row, names, version)

    def retrieve(self, obj: SObjectType, ids: list, fields: list, version: str) -> list[dict | None]:
        """The sObject Collections read: one entry per id, in the order given, null where the
        id is malformed, of another object, unknown or deleted (a bad field fails the request)."""
        names = self._columns(obj, fields)
        found: list[dict | None] = []
        with self.lock:
            for record_id in ids:
                try:
                    row = obj.rows.get(dml.check_id(obj, record_id))
                except FieldError:
                    row = None
                alive = row is not None and not row.get("IsDeleted")
                found.append(self._rendered(obj, row, names, version) if alive else None)
        return found

    @staticmethod
    def _columns(obj: SObjectType, fields: list[str] | None) -> list[str]:
        """Canonical names of ``fields`` (default: every readable one), or 400 INVALID_FIELD."""
        names = []
        for name in fields or [f.name for f in obj.fields.values() if f.readable]:
            definition = obj.field(name.strip())
            if definition is None:
                raise APIError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity "
                               f"'{obj.name}'. If you are attempting to use a custom field, be sure "
                               "to append the '__c' after the custom field name. Please reference "
                               "your WSDL or the describe call for the appropriate names.")
            names.append(definition.name)
        return names

    @staticmethod
    def _rendered(obj: SObjectType, row: dict, names: list[str], version: str) -> dict:
        prefix = "tooling/" if obj.tooling else ""
        url = f"/services/data/v{version}/{prefix}sobjects/{obj.name}/{row['Id']}"
        return {"attributes": {"type": obj.name, "url": url}, **{name: row.get(name) for name in names}}

    def query(self, text: str, *, version: str, batch: int, include_deleted: bool = False,
              tooling: bool = False) -> dict:
        """The first page of a SOQL query (400 MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE)."""
        obj, compiled, matches = self.select(text, include_deleted=include_deleted, tooling=tooling)
        if compiled.count_only:
            return {"totalSize": len(matches), "done": True, "records": []}
        return self.cursors.first_page(
            sobject=obj.name, fields=compiled.fields, rows=matches, batch=batch,
            endpoint="queryAll" if include_deleted else "query", tooling=tooling, version=version)

    def select(self, text: str, *, include_deleted: bool = False, tooling: bool = False):
        """Run a SOQL query once: ``(object, compiled plan, matching rows)`` (the rows are
        snapshots: writes replace row dicts, never mutate them). Errors as :meth:`query`."""
        try:
            parsed = parse(text)
            table = self.tooling if tooling else self.objects
            obj = next((o for o in table.values() if o.name.lower() == parsed.sobject.lower()), None)
            if obj is None:
                raise SOQLError.at("INVALID_TYPE", text, parsed.sobject_token,
                                   f"sObject type '{parsed.sobject}' is not supported. " + INVALID_TYPE_HINT)
            compiled = plan(parsed, obj.soql_fields(), now=datetime.fromtimestamp(self.clock(), UTC))
        except SOQLError as exc:
            raise APIError(400, exc.code, exc.message) from None
        with self.lock:
            self._stats["queries"] += 1
            if include_deleted:
                self.expire_recycle_bin(obj)
            rows = obj.rows.values()
            if not include_deleted and "IsDeleted" in obj.fields:
                rows = [row for row in rows if not row["IsDeleted"]]
            matches = compiled.run(rows)
        return obj, compiled, matches

    def query_more(self, token: str, version: str) -> dict:
        """The page a ``nextRecordsUrl`` names (400 INVALID_QUERY_LOCATOR when it is gone)."""
        try:
            locator, position = parse_locator(token)
            return self.cursors.next_page(locator, position, version)
        except LookupError:
            raise APIError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from None

    # -- writes ----------------------------------------------------------------------------------

    def create(self, obj: SObjectType, values: dict, *, audit: dict | None = None,
               history: bool = True) -> str:
        """Insert one record; returns its id or raises :class:`FieldError`.

        ``history=False`` (seeding) writes no ``created`` history row: imported records predate
        tracking.
        """
        with self.lock:
            row = self._prepare_create(obj, values, audit)
            self._commit(obj, [row], history=history)
            self._stats["records_created"] += 1
            return row["Id"]

    def update(self, obj: SObjectType, record_id: str, values: dict) -> None:
        """Update one record (404 NOT_FOUND for an unknown id, FieldError for a bad value)."""
        with self.lock:
            row = self._prepare_update(obj, record_id, values, single=True)
            self._commit(obj, [row])
            self._stats["records_written"] += 1

    def update_in_batch(self, obj: SObjectType, record_id: str, values: dict) -> None:
        """Update one record of a batch (Bulk ingest): its errors are per-record FieldErrors
        (INVALID_CROSS_REFERENCE_KEY for an unknown id), never a whole-request 404."""
        with self.lock:
            row = self._prepare_update(obj, record_id, values, single=False)
            self._commit(obj, [row])
            self._stats["records_written"] += 1

    def delete(self, obj: SObjectType, record_id: str) -> None:
        """Delete one record (Lead rows stay for ``queryAll`` with IsDeleted = true)."""
        with self.lock:
            current = self._existing(obj, record_id, single=True)
            self._validate_delete(obj, current)
            row = dml.prepare_delete(obj, current, now=self.now(), user_id=self.user_id)
            if "IsDeleted" in obj.fields:
                self._commit(obj, [row])
            else:
                del obj.rows[row["Id"]]
                self._after_delete(obj, row)

    def save_collection(self, method: str, records: list, *, all_or_none: bool, reject) -> list[dict]:
        """Create (POST) or update (PATCH) up to 200 records; SaveResults in request order.

        ``reject()`` decides, per record, whether the ``record`` fault makes it fail with the
        transient UNABLE_TO_LOCK_ROW.
        """
        with self.lock:
            prepared: list[tuple[SObjectType, dict] | FieldError] = []
            for values in records:
                try:
                    prepared.append(self._prepare_one(method, values, reject))
                except FieldError as error:
                    prepared.append(error)
            failed = sum(isinstance(item, FieldError) for item in prepared)
            self._stats["write_requests"] += 1
            self._stats["records_failed"] += failed
            if failed and all_or_none:
                return [self._rolled_back(item, method) for item in prepared]
            results = []
            for item in prepared:
                if isinstance(item, FieldError):
                    results.append({"success": False, "errors": [item.as_result()]})
                    continue
                obj, row = item
                self._commit(obj, [row])
                self._stats["records_created" if method == "POST" else "records_written"] += 1
                results.append({"id": row["Id"], "success": True, "errors": []})
            return results

    def _prepare_one(self, method: str, values, reject) -> tuple[SObjectType, dict]:
        if not isinstance(values, dict):
            raise FieldError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from "
                             "a non-object value", [])
        attributes = values.get("attributes")
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(type_name, str):
            raise FieldError("INVALID_TYPE", "Must send a concrete entity type.", [])
        if type_name not in self.objects:
            raise FieldError("INVALID_TYPE", f"sObject type '{type_name}' is not supported. "
                             + INVALID_TYPE_HINT, [])
        obj = self.objects[type_name]
        if method == "POST":
            if any(key.lower() == "id" for key in values):
                raise FieldError("INVALID_FIELD", "Can't specify ids when creating records", ["Id"])
            row = self._prepare_create(obj, values, None)
        else:
            record_id = next((v for k, v in values.items() if k.lower() == "id"), None)
            if record_id is None:
                raise FieldError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            row = self._prepare_update(obj, record_id, values, single=False)
        if reject():
            self._stats["records_rejected_by_fault"] += 1
            raise FieldError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this "
                             f"record or 1 records: {row['Id']}", [])
        return obj, row

    @staticmethod
    def _rolled_back(item, method: str) -> dict:
        if isinstance(item, FieldError):
            return {"success": False, "errors": [item.as_result()]}
        result = {"id": item[1]["Id"]} if method == "PATCH" else {}
        result.update({"success": False, "errors": [{
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the request "
                       "was using AllOrNone header", "fields": []}]})
        return result

    def _prepare_create(self, obj: SObjectType, values: dict, audit: dict | None) -> dict:
        row = dml.prepare_insert(obj, values, record_id=self.ids.next(obj.key_prefix),
                                 now=self.now(), user_id=self.user_id, audit=audit)
        self._validate_special(obj, row, None)
        return row

    def _existing(self, obj: SObjectType, record_id, *, single: bool) -> dict:
        try:
            record_id = dml.check_id(obj, record_id)
        except FieldError:
            if single:
                raise APIError(404, "NOT_FOUND", NOT_FOUND) from None
            raise
        row = obj.rows.get(record_id)
        if row is None:
            if single:
                raise APIError(404, "NOT_FOUND", NOT_FOUND)
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return row

    def _prepare_update(self, obj: SObjectType, record_id, values: dict, *, single: bool) -> dict:
        current = self._existing(obj, record_id, single=single)
        if single and current.get("IsDeleted"):
            raise APIError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        row = dml.prepare_update(obj, current, values, now=self.now(), user_id=self.user_id)
        self._validate_special(obj, row, current)
        return row

    def _commit(self, obj: SObjectType, rows: list[dict], *, history: bool = True) -> None:
        for row in rows:
            if obj.name == "Lead":
                self.field_history.record(obj.rows.get(row["Id"]), row, user_id=self.user_id,
                                          created_row=history)
            obj.rows[row["Id"]] = row
            self._after_write(obj, row)

    # -- seeding ---------------------------------------------------------------------------------

    def seed(self, data: SeedData) -> None:
        """Load ``data`` as Leads through the API's own field-creation and insert functions."""
        with self.lock:
            hidden, pending = seed_org(self, data)
            self._hidden.update(hidden)
            self._pending.update(pending)
        self.reset_stats()  # seeding is not API traffic

    # -- the time route (connector.sandbox.timeline) ---------------------------------------------

    def close(self, body: object) -> dict:
        """``POST /__sandbox/close``: outcomes arrive for the open leads ``body`` selects."""
        with self.lock:
            return close(self, CloseRequest.parse(body))

    def open_seeded_leads(self) -> dict[str, datetime]:
        """Open leads that still have a hidden outcome: id -> creation time."""
        rows = self.objects["Lead"].rows
        return {i: datetime.fromisoformat(rows[i]["CreatedDate"][:23] + "+00:00")
                for i in self._hidden if i in rows and not rows[i]["IsDeleted"]
                and not rows[i]["IsConverted"] and not rows[i]["Status"].startswith("Closed")}

    def clock_now(self) -> datetime:
        """The org's current time."""
        return datetime.fromtimestamp(self.clock(), UTC)

    def apply_close(self, outcomes: dict[str, bool], at: datetime) -> None:
        """Convert or lose each lead at ``at``, filling its post-outcome fields (with history)."""
        lead = self.objects["Lead"]
        for record_id, converted in outcomes.items():
            current = lead.rows[record_id]
            filled = {name: lead.fields[name].coerce(value)
                      for name, value in self._pending.pop(record_id, {}).items()}
            row = {**current, **filled, **close_values(self, converted, at)}
            self._commit(lead, [row])
            self._hidden.pop(record_id, None)

    # -- bootstrap -------------------------------------------------------------------------------

    def _bootstrap_profile(self) -> str:
        profile_id = self.ids.next("00e")
        now = self.now()
        self.objects["Profile"].rows[profile_id] = {
            "Id": profile_id, "Name": "System Administrator", "CreatedDate": now,
            "CreatedById": self.user_id, "LastModifiedDate": now,
            "LastModifiedById": self.user_id, "SystemModstamp": now}
        return profile_id

    def _bootstrap_user(self) -> None:
        now, user_id = self.now(), self.user_id
        self.objects["User"].rows[user_id] = {
            "Id": user_id, "Username": self.username, "Name": "Sandbox Admin",
            "Email": self.username, "IsActive": True, "ProfileId": self.profile_id,
            "CreatedDate": now, "CreatedById": user_id, "LastModifiedDate": now,
            "LastModifiedById": user_id, "SystemModstamp": now}

    def _bootstrap_permission_set(self) -> str:
        """The System Administrator profile's own permission set, as every org has, and the
        admin's assignment to it (a real org lists one per user of the profile)."""
        permission_sets = self.objects["PermissionSet"]
        row = dml.prepare_insert(
            permission_sets, {"Name": f"X{self.profile_id[:15]}", "Label": self.profile_id[:15]},
            record_id=self.ids.next("0PS"), now=self.now(), user_id=self.user_id,
            audit={"IsOwnedByProfile": True, "ProfileId": self.profile_id})
        permission_sets.rows[row["Id"]] = row
        assignments = self.objects["PermissionSetAssignment"]
        assignment = dml.prepare_insert(
            assignments, {"AssigneeId": self.user_id, "PermissionSetId": row["Id"]},
            record_id=self.ids.next("0Pa"), now=self.now(), user_id=self.user_id)
        assignments.rows[assignment["Id"]] = assignment
        return row["Id"]
