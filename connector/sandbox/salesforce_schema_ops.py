"""Custom fields (Tooling API) and field-level security for the emulated org.

A custom field created through ``tooling/sobjects/CustomField`` is, as in a real org, invisible
and read-only to the API user until a ``FieldPermissions`` row grants it (notes 1.8) in a
permission set that applies to that user: one with a ``PermissionSetAssignment`` for the user
(the profile's own permission set has one from the start, as in a real org, where every user is
listed against their profile's set). A standalone permission set grants nothing until it is
assigned (notes-2 section 5). Set ``enforce_field_security = False`` on the org to skip that step. This mixin holds that logic so
:mod:`connector.sandbox.salesforce_org` stays about records and sessions.
"""

from __future__ import annotations

import json
import re

from connector.sandbox.salesforce_fields import FieldDef, FieldError

_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)__c$")
_TYPES = {"Number": "double", "Currency": "currency", "Percent": "percent", "Text": "string",
          "TextArea": "textarea", "LongTextArea": "textarea", "Picklist": "picklist",
          "Checkbox": "boolean", "Date": "date", "DateTime": "datetime", "Email": "email",
          "Phone": "phone", "Url": "url"}
_FIXED_LENGTH = {"TextArea": 255, "Email": 80, "Phone": 40, "Url": 255}


def _integrity(message: str) -> FieldError:
    return FieldError("FIELD_INTEGRITY_EXCEPTION", message, [])


def _number(metadata: dict, key: str, low: int, high: int, label: str) -> int:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or not str(value).isdigit():
        raise _integrity(f"{label}: You must enter a value")
    value = int(value)
    if not low <= value <= high:
        raise _integrity(f"{label}: value must be between {low} and {high}")
    return value


def _picklist_values(metadata: dict) -> tuple[tuple[str, ...], str | None, bool]:
    value_set = metadata.get("valueSet")
    definition = value_set.get("valueSetDefinition") if isinstance(value_set, dict) else None
    entries = definition.get("value") if isinstance(definition, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _integrity("Picklist: You must enter at least one value")
    values, default = [], None
    for entry in entries:
        name = entry.get("fullName") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise _integrity("Picklist: every value needs a fullName")
        values.append(name)
        if entry.get("default"):
            default = name
    return tuple(values), default, bool(value_set.get("restricted"))


def field_from_metadata(full_name: object, metadata: object, durable_id: str) -> FieldDef:
    """A :class:`FieldDef` from a Tooling ``CustomField`` body, or FIELD_INTEGRITY_EXCEPTION."""
    if not isinstance(full_name, str) or full_name.count(".") != 1:
        raise _integrity("FullName: must be Object.Field__c, for example Lead.LS_Score__c")
    sobject, name = full_name.split(".")
    if sobject != "Lead":
        raise FieldError("INVALID_TYPE", f"Cannot create custom fields on {sobject} in this sandbox", [])
    if not _NAME.match(name) or len(name) > 43:
        raise _integrity(f"Field Name: the name {name!r} can only contain underscores and "
                         "alphanumeric characters, must begin with a letter, not include spaces, "
                         "not end with an underscore, and not contain two consecutive underscores")
    if not isinstance(metadata, dict):
        raise FieldError("JSON_PARSER_ERROR", "Metadata: expected a JSON object", [])
    kind, label = metadata.get("type"), metadata.get("label")
    if kind is None:
        raise _integrity("Data Type: You must enter a value")
    if kind not in _TYPES:
        # Salesforce reads Metadata.type as an enumeration: another value fails the body's
        # deserialization (the handler adds where, as the real message does).
        shown, token = (kind, "VALUE_STRING") if isinstance(kind, str) else (
            json.dumps(kind), "VALUE_NUMBER_INT" if isinstance(kind, int) else "VALUE_STRING")
        raise FieldError("JSON_PARSER_ERROR", f"Cannot deserialize instance of complexvalue from "
                         f"{token} value {shown} or request may be missing a required field",
                         ["type"])
    if not isinstance(label, str) or not label.strip():
        raise _integrity("Field Label: You must enter a value")
    options = {"custom": True, "durable_id": durable_id}
    if kind in ("Number", "Currency", "Percent"):
        precision = _number(metadata, "precision", 1, 18, "Length")
        scale = _number(metadata, "scale", 0, precision, "Decimal Places")
        options.update(precision=precision, scale=scale)
    elif kind == "Text":
        options["length"] = _number(metadata, "length", 1, 255, "Length")
    elif kind == "LongTextArea":
        options["length"] = _number(metadata, "length", 256, 131072, "Length")
        _number(metadata, "visibleLines", 2, 50, "# Visible Lines")
    elif kind == "Picklist":
        values, default, restricted = _picklist_values(metadata)
        options.update(length=255, picklist=values, picklist_default=default, restricted=restricted)
    elif kind in _FIXED_LENGTH:
        options["length"] = _FIXED_LENGTH[kind]
    if kind == "Checkbox":
        options["nillable"] = False
    return FieldDef(name, label.strip(), _TYPES[kind], **options)


class SchemaOps:
    """Tooling custom fields and FieldPermissions bookkeeping, mixed into ``SalesforceOrg``."""

    def create_custom_field(self, body: object) -> str:
        """Create a Lead custom field from a Tooling API body; returns its ``00N`` id.

        Raises :class:`FieldError` (answered as a 400 list error) for a bad body or a duplicate.
        """
        if not isinstance(body, dict):
            raise FieldError("JSON_PARSER_ERROR", "Expected a JSON object", [])
        with self.lock:
            lead = self.objects["Lead"]
            durable_id = self.ids.next("00N")
            definition = field_from_metadata(body.get("FullName"), body.get("Metadata"), durable_id)
            sobject = body["FullName"].split(".")[0]
            if any(name.lower() == definition.name.lower() for name in lead.fields):
                raise FieldError("DUPLICATE_DEVELOPER_NAME", "There is already a field named "
                                 f"{definition.name[:-3]} on {sobject}.", [])
            track = body["Metadata"].get("trackHistory") is True
            if track:  # refused before anything is created
                self.field_history.check_room(definition.name)
            visible = not self.enforce_field_security
            lead.fields[definition.name] = definition.with_access(readable=visible, editable=visible)
            if track:
                self.field_history.track(definition.name)
            now = self.now()
            self.tooling["CustomField"].rows[durable_id] = {
                "Id": durable_id, "DeveloperName": definition.name[:-3], "TableEnumOrId": "Lead",
                "NamespacePrefix": None, "Description": body["Metadata"].get("description"),
                "Length": definition.length or None, "CreatedDate": now, "CreatedById": self.user_id,
                "LastModifiedDate": now, "LastModifiedById": self.user_id, "SystemModstamp": now}
            return durable_id

    def grant_field_access(self, field_name: str, *, edit: bool = True) -> str:
        """Grant the admin's profile read (and edit) on ``Lead.field_name`` through FieldPermissions."""
        return self.create(self.objects["FieldPermissions"], {
            "ParentId": self.admin_permission_set_id, "SobjectType": "Lead",
            "Field": f"Lead.{field_name}", "PermissionsRead": True, "PermissionsEdit": edit})

    def _validate_special(self, obj, row: dict, current: dict | None) -> None:
        """Cross-record rules of Task, PermissionSet, PermissionSetAssignment and
        FieldPermissions."""
        if obj.name == "Task":
            self._validate_task(row)
        if obj.name == "PermissionSetAssignment":
            self._validate_assignment(obj, row)
            return
        if obj.name == "PermissionSet":
            clash = next((r for r in obj.rows.values()
                          if r["Name"].lower() == row["Name"].lower() and r["Id"] != row["Id"]), None)
            if clash is not None:
                raise FieldError("DUPLICATE_VALUE", "duplicate value found: Name duplicates value "
                                 f"on record with id: {clash['Id']}", ["Name"])
        if obj.name != "FieldPermissions":
            return
        if row["ParentId"] not in self.objects["PermissionSet"].rows:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["ParentId"])
        sobject, _, name = (row["Field"] or "").partition(".")
        lead = self.objects["Lead"]
        target = lead.fields.get(name)
        if sobject != row["SobjectType"] or target is None or not target.custom:
            raise FieldError("INVALID_FIELD", f"Invalid field {row['Field']} for {row['SobjectType']}",
                             ["Field"])
        if row["PermissionsEdit"] and not row["PermissionsRead"]:
            raise FieldError("FIELD_INTEGRITY_EXCEPTION", "Permission Read Field is required when "
                             "Permission Edit Field is enabled", ["PermissionsRead"])
        if current is None and any(r["ParentId"] == row["ParentId"] and r["Field"] == row["Field"]
                                   for r in obj.rows.values()):
            raise FieldError("DUPLICATE_VALUE", "duplicate value found: <unknown> duplicates value "
                             "on record with id: <unknown>", [])

    def _validate_assignment(self, obj, row: dict) -> None:
        """An assignment names an existing user and a standalone permission set, once."""
        if row["AssigneeId"] not in self.objects["User"].rows:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                             ["AssigneeId"])
        permission_set = self.objects["PermissionSet"].rows.get(row["PermissionSetId"])
        if permission_set is None:
            raise FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                             ["PermissionSetId"])
        if permission_set["IsOwnedByProfile"]:
            # (U) the exact code and wording: a profile's set follows the profile, never an
            # assignment made by hand.
            raise FieldError("FIELD_INTEGRITY_EXCEPTION", "You can't assign or unassign this "
                             "permission set because it's associated with a profile.",
                             ["PermissionSetId"])
        if any(r["AssigneeId"] == row["AssigneeId"] and r["PermissionSetId"] == row["PermissionSetId"]
               for r in obj.rows.values()):
            raise FieldError("DUPLICATE_VALUE", "duplicate value found: <unknown> duplicates value "
                             "on record with id: <unknown>", [])

    def _validate_delete(self, obj, row: dict) -> None:
        """A profile's own permission set, and its users' assignments to it, go only with the profile."""
        owned = (obj.name == "PermissionSet" and row["IsOwnedByProfile"]) or (
            obj.name == "PermissionSetAssignment"
            and self.objects["PermissionSet"].rows[row["PermissionSetId"]]["IsOwnedByProfile"])
        if owned:
            raise FieldError("INSUFFICIENT_ACCESS_OR_READONLY",
                             "cannot delete a permission set owned by a profile, or its assignments", [])

    def _after_write(self, obj, row: dict) -> None:
        if obj.name == "FieldPermissions":
            self._refresh_access(row["Field"])
        elif obj.name == "PermissionSetAssignment":
            self._refresh_all_access()

    def _after_delete(self, obj, row: dict) -> None:
        if obj.name == "FieldPermissions":
            self._refresh_access(row["Field"])
        elif obj.name == "PermissionSetAssignment":
            self._refresh_all_access()
        elif obj.name == "PermissionSet":
            # Its field permissions and assignments go with it, and so does the access they gave.
            for child, key in (("FieldPermissions", "ParentId"),
                               ("PermissionSetAssignment", "PermissionSetId")):
                rows = self.objects[child].rows
                for record_id in [i for i, r in rows.items() if r[key] == row["Id"]]:
                    del rows[record_id]
            self._refresh_all_access()

    def _applied_permission_sets(self) -> set[str]:
        """Ids of the permission sets assigned to the API user (its profile's set included)."""
        return {r["PermissionSetId"] for r in self.objects["PermissionSetAssignment"].rows.values()
                if r["AssigneeId"] == self.user_id}

    def _refresh_all_access(self) -> None:
        for definition in list(self.objects["Lead"].fields.values()):
            if definition.custom:
                self._refresh_access(f"Lead.{definition.name}")

    def _refresh_access(self, qualified: str) -> None:
        """Recompute one custom field's visibility from the FieldPermissions rows naming it in
        the permission sets that apply to the API user."""
        lead = self.objects["Lead"]
        name = qualified.partition(".")[2]
        definition = lead.fields.get(name)
        if definition is None or not definition.custom:
            return
        applied = self._applied_permission_sets()
        grants = [r for r in self.objects["FieldPermissions"].rows.values()
                  if r["Field"] == qualified and r["ParentId"] in applied]
        readable = any(r["PermissionsRead"] for r in grants) or not self.enforce_field_security
        editable = any(r["PermissionsEdit"] for r in grants) or not self.enforce_field_security
        lead.fields[name] = definition.with_access(readable=readable, editable=editable)
