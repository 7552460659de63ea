"""Record writes for the Salesforce emulator: ids, value checks and the server-kept stamps.

Everything here builds new row dicts and never touches the stored ones, so the org can check
a whole collection first and commit it (or roll it back) afterwards. Seeding goes through the
same :func:`prepare_insert` as the REST API, with ``audit`` values standing in for the "Set
Audit Fields upon Record Creation" permission real imports use.
"""

from __future__ import annotations

import itertools

from connector.sandbox.salesforce_fields import FieldError, is_valid_id
from connector.sandbox.salesforce_objects import CONVERTED_STATUSES, SObjectType
from connector.sandbox.soql import case_safe_id

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
IGNORED_KEYS = frozenset({"attributes"})
FLS_MESSAGE = ("Unable to create/update fields: {}. Please check the security settings of this "
               "field and verify that it is read/write for your profile or permission set.")


class IdFactory:
    """Case-safe 18-character ids: 3-character key prefix, a fixed pod part, a base62 counter."""

    def __init__(self, pod: str = "Dn"):
        self.pod, self._counter = pod, itertools.count(1)

    def next(self, prefix: str) -> str:
        """A new id for an object whose key prefix is ``prefix``."""
        number, digits = next(self._counter), []
        for _ in range(8):
            number, digit = divmod(number, 62)
            digits.append(_BASE62[digit])
        return case_safe_id(prefix + self.pod + "00" + "".join(reversed(digits)))


def check_id(obj: SObjectType, record_id: object) -> str:
    """The 18-character form of ``record_id`` if it can name a row of ``obj``, else MALFORMED_ID."""
    if not is_valid_id(record_id) or not record_id.startswith(obj.key_prefix):
        raise FieldError("MALFORMED_ID", f"malformed id {record_id}", [])
    return case_safe_id(record_id)


def _writable_values(obj: SObjectType, values: dict, creating: bool) -> dict:
    """Canonical name -> stored value for each written field; per-record errors as Salesforce orders them."""
    resolved = {}
    for key, value in values.items():
        if key in IGNORED_KEYS or key.lower() == "id":
            continue
        definition = obj.field(key)
        if definition is None:
            raise FieldError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [])
        resolved[definition.name] = (definition, value)
    blocked = [name for name, (definition, _) in resolved.items()
               if not definition.editable
               or not (definition.createable if creating else definition.updateable)]
    if blocked:
        raise FieldError("INVALID_FIELD_FOR_INSERT_UPDATE", FLS_MESSAGE.format(", ".join(blocked)),
                         blocked)
    return {name: definition.coerce(value) for name, (definition, value) in resolved.items()}


def _required_missing(obj: SObjectType, row: dict) -> None:
    missing = [f.name for f in obj.fields.values()
               if not f.nillable and f.createable and f.type != "boolean"
               and f.picklist_default is None and row.get(f.name) is None]
    if missing:
        raise FieldError("REQUIRED_FIELD_MISSING",
                         f"Required fields are missing: [{', '.join(missing)}]", missing)


def _derive(obj: SObjectType, row: dict) -> None:
    """Fields the server computes from others."""
    if obj.name == "Lead":
        row["Name"] = " ".join(part for part in (row.get("FirstName"), row.get("LastName")) if part)
    elif obj.name == "Task":
        row["IsClosed"] = row.get("Status") == "Completed"
        row["IsHighPriority"] = row.get("Priority") == "High"


def prepare_insert(obj: SObjectType, values: dict, *, record_id: str, now: str, user_id: str,
                   audit: dict | None = None) -> dict:
    """A new row for ``obj`` from a client's ``values`` (plus trusted ``audit`` values)."""
    if not obj.createable:
        raise FieldError("INSUFFICIENT_ACCESS_OR_READONLY",
                         "insufficient access rights on object id", [])
    written = _writable_values(obj, values, creating=True)
    row = {name: (False if f.type == "boolean" else None) for name, f in obj.fields.items()}
    for name, definition in obj.fields.items():
        if definition.picklist_default is not None:
            row[name] = definition.picklist_default
    row.update(written)
    if "OwnerId" in obj.fields and row["OwnerId"] is None:
        row["OwnerId"] = user_id
    row.update({"Id": record_id, "CreatedDate": now, "CreatedById": user_id,
                "LastModifiedDate": now, "LastModifiedById": user_id, "SystemModstamp": now})
    if audit:
        row.update(audit)
    _required_missing(obj, row)
    _derive(obj, row)
    return row


def prepare_update(obj: SObjectType, row: dict, values: dict, *, now: str, user_id: str) -> dict:
    """The row after applying ``values``; stamps move even when no value changes, as in Salesforce."""
    if row.get("IsDeleted"):
        raise FieldError("ENTITY_IS_DELETED", "entity is deleted", [])
    if obj.name == "Lead" and row.get("IsConverted"):
        raise FieldError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
    written = _writable_values(obj, values, creating=False)
    updated = dict(row)
    updated.update(written)
    _required_missing(obj, updated)
    if obj.name == "Lead" and updated.get("Status") in CONVERTED_STATUSES and not row.get("IsConverted"):
        # A converted status can only be reached through lead conversion.
        raise FieldError("FIELD_INTEGRITY_EXCEPTION",
                         "Status: converted status can only be set by converting the lead", ["Status"])
    updated.update({"LastModifiedDate": now, "LastModifiedById": user_id, "SystemModstamp": now})
    _derive(obj, updated)
    return updated


def prepare_delete(obj: SObjectType, row: dict, *, now: str, user_id: str) -> dict:
    """The row moved to the recycle bin (``queryAll`` still sees it)."""
    if not obj.deletable:
        raise FieldError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
    if row.get("IsDeleted"):
        raise FieldError("ENTITY_IS_DELETED", "entity is deleted", [])
    deleted = dict(row)
    deleted.update({"IsDeleted": True, "LastModifiedDate": now, "LastModifiedById": user_id,
                    "SystemModstamp": now})
    return deleted
