"""Field history tracking for the Salesforce emulator: the read-only ``LeadHistory`` object.

Salesforce keeps one row per change of a tracked field (notes-2 section 1): ``LeadId``,
``Field`` (the field's API name, or ``created`` for the record's creation), ``DataType``,
``OldValue``/``NewValue`` (``anyType``: JSON numbers for numeric fields, strings for text,
booleans for checkboxes, null when empty), ``CreatedDate`` to the second. At most
:data:`TRACKED_LIMIT` fields per object are tracked; tracking starts when it is switched on and
is never back-filled. Clients read the rows with SOQL (``SELECT ... FROM LeadHistory``); the
object cannot be written through the API.
"""

from __future__ import annotations

from connector.sandbox.salesforce_fields import FieldDef, FieldError, reference, system
from connector.sandbox.salesforce_objects import SObjectType

TRACKED_LIMIT = 20
"""Fields tracked per object without Field Audit Trail (Shield raises it to 60)."""
# The wording of the refusal is not documented (notes-2 1.2 gives only the number).
TRACKED_LIMIT_MESSAGE = ("You can track up to {limit} fields on Lead; {name} would be field "
                         "{count}. Stop tracking another field first.")
# The history DataType of a field, by describe type (notes-2 1.3; labels for Lead are unverified).
DATA_TYPES = {"string": "Text", "textarea": "TextArea", "picklist": "DynamicEnum", "email": "Email",
              "phone": "Phone", "url": "Url", "double": "Double", "int": "Double",
              "currency": "Currency", "percent": "Percent", "boolean": "Boolean",
              "date": "DateOnly", "datetime": "DateTime", "reference": "EntityId", "id": "EntityId"}
CREATED = "created"
UNTRACKABLE = frozenset({"Id", "IsDeleted", "Name", "CreatedDate", "CreatedById",
                         "LastModifiedDate", "LastModifiedById", "SystemModstamp"})


def lead_history_fields() -> list[FieldDef]:
    """The LeadHistory columns (notes-2 1.1), all server-kept."""
    return [
        system("Id", "Lead History ID", "id", length=18, id_lookup=True),
        system("IsDeleted", "Deleted", "boolean"),
        reference("LeadId", "Lead ID", ["Lead"], "Lead", nillable=False, createable=False,
                  updateable=False),
        system("Field", "Changed Field", "picklist", length=255),
        system("DataType", "Data Type", "picklist", length=255, nillable=True),
        system("OldValue", "Old Value", "anyType", nillable=True),
        system("NewValue", "New Value", "anyType", nillable=True),
        system("CreatedDate", "Created Date", "datetime"),
        reference("CreatedById", "Created By ID", ["User"], "CreatedBy", nillable=False,
                  createable=False, updateable=False),
    ]


def lead_history_object() -> SObjectType:
    """A fresh, empty LeadHistory (read-only through the API)."""
    return SObjectType.build("LeadHistory", "Lead History", "Lead History", "017",
                             lead_history_fields(), createable=False, updateable=False,
                             deletable=False)


def _to_seconds(stamp: str) -> str:
    """History stamps are kept to the second: ``...T10:00:00.123+0000`` -> ``.000+0000``."""
    return stamp[:19] + ".000+0000"


class FieldHistory:
    """Which Lead fields are tracked, and the LeadHistory rows their changes write."""

    def __init__(self, history: SObjectType, lead: SObjectType, new_id) -> None:
        self.history, self.lead, self._new_id = history, lead, new_id
        self.limit = TRACKED_LIMIT
        self.tracked: list[str] = ["Status"]

    def track(self, name: str) -> None:
        """Switch tracking on for the Lead field ``name`` (FieldError past the limit)."""
        definition = self.lead.fields.get(name)
        if definition is None or name in UNTRACKABLE:
            raise FieldError("INVALID_FIELD", f"Field history cannot be tracked for Lead.{name}",
                             [name])
        if name in self.tracked:
            return
        self.check_room(name)
        self.tracked.append(name)

    def check_room(self, name: str) -> None:
        """FieldError LIMIT_EXCEEDED when tracking ``name`` too would pass the limit."""
        if name not in self.tracked and len(self.tracked) >= self.limit:
            raise FieldError("LIMIT_EXCEEDED", TRACKED_LIMIT_MESSAGE.format(
                limit=self.limit, name=name, count=len(self.tracked) + 1), [name])

    def untrack(self, name: str) -> None:
        """Switch tracking off for ``name`` (its rows stay, as in Salesforce)."""
        if name in self.tracked:
            self.tracked.remove(name)

    def record(self, old: dict | None, new: dict, *, user_id: str, at: str | None = None,
               created_row: bool = True) -> None:
        """Write the rows for one Lead write: ``created`` on insert, one per changed tracked field.

        ``at`` (wire form) defaults to the row's ``SystemModstamp``; seeding passes
        ``created_row=False`` (history is not back-filled for imported records).
        """
        if old is None:
            if created_row:
                stamp = _to_seconds(at or new["SystemModstamp"])
                self._add(new["Id"], CREATED, None, None, None, stamp, user_id)
            return
        stamp = _to_seconds(at or new["SystemModstamp"])
        for name in self.tracked:
            before, after = old.get(name), new.get(name)
            if before != after:
                ftype = self.lead.fields[name].type if name in self.lead.fields else "string"
                self._add(new["Id"], name, DATA_TYPES.get(ftype, "Text"), before, after, stamp,
                          user_id)

    def add_change(self, lead_id: str, name: str, old, new, at: str, user_id: str) -> None:
        """One change row written by the trusted side (seeded history of closed leads)."""
        ftype = self.lead.fields[name].type
        self._add(lead_id, name, DATA_TYPES.get(ftype, "Text"), old, new, _to_seconds(at), user_id)

    def _add(self, lead_id, name, data_type, old, new, stamp, user_id) -> None:
        row_id = self._new_id()
        self.history.rows[row_id] = {
            "Id": row_id, "IsDeleted": False, "LeadId": lead_id, "Field": name,
            "DataType": data_type, "OldValue": old, "NewValue": new, "CreatedDate": stamp,
            "CreatedById": user_id}
