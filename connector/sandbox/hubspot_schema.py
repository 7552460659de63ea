"""Object types, property definitions and value validation of the HubSpot emulator.

An :class:`ObjectType` names a CRM object (``contacts``/``0-1``, ``companies``/``0-2``,
``leads``/``0-136``), its system properties (which one holds the creation and modification
stamps differs per type: crm-api-notes 2.3) and its default property definitions. A
:class:`Property` is one definition as the properties API shows it; :func:`check_value` turns a
written value into the string HubSpot stores, or into HubSpot's validation failure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from connector.sandbox.hubspot_errors import iso_ms

# type -> the field types HubSpot accepts with it (notes 2.5); "phonenumber" is HubSpot's own
# field type for default phone properties.
FIELD_TYPES = {
    "string": ("text", "textarea", "phonenumber", "file", "html"),
    "number": ("number", "calculation_equation"),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox"),
    "bool": ("booleancheckbox",),
    "date": ("date",),
    "datetime": ("date",),
}
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Fixed creation time of HubSpot's built-in definitions, so their JSON never changes.
BUILT_IN_AT = datetime(2019, 8, 6, 2, 41, 52, 310000, tzinfo=UTC)


@dataclass(frozen=True)
class Option:
    """One allowed value of an enumeration property."""

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict:
        """The option as HubSpot shows it."""
        return {"label": self.label, "value": self.value, "displayOrder": self.display_order,
                "hidden": self.hidden, "description": self.description}


@dataclass(frozen=True)
class Property:
    """One property definition, as ``GET /crm/v3/properties/{type}`` shows it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: tuple[Option, ...] = ()
    display_order: int = -1
    hidden: bool = False
    has_unique_value: bool = False
    hubspot_defined: bool = False
    calculated: bool = False
    form_field: bool = False
    read_only_value: bool = False
    created_at: datetime = BUILT_IN_AT
    updated_at: datetime = BUILT_IN_AT

    def to_json(self) -> dict:
        """The definition as HubSpot's properties API returns it (notes 2.5)."""
        body = {
            "updatedAt": iso_ms(self.updated_at), "createdAt": iso_ms(self.created_at),
            "name": self.name, "label": self.label, "type": self.type,
            "fieldType": self.field_type, "description": self.description,
            "groupName": self.group_name, "options": [o.to_json() for o in self.options],
            "displayOrder": self.display_order, "calculated": self.calculated,
            "externalOptions": False, "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden, "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {"archivable": not self.hubspot_defined,
                                     "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.read_only_value},
            "formField": self.form_field, "archived": False,
        }
        if not self.hubspot_defined:
            del body["hubspotDefined"]  # HubSpot omits the flag on custom properties
        return body


@dataclass(frozen=True)
class Group:
    """A property group."""

    name: str
    label: str
    display_order: int = -1

    def to_json(self) -> dict:
        """The group as HubSpot's groups API returns it."""
        return {"name": self.name, "label": self.label, "displayOrder": self.display_order,
                "archived": False}


@dataclass(frozen=True)
class ObjectType:
    """A CRM object type and the system properties the server keeps on its records."""

    name: str
    type_id: str
    singular: str  # as HubSpot names it in messages: "CONTACT"
    created: tuple[str, ...]
    modified: tuple[str, ...]
    defaults: tuple[str, ...]  # returned when a read names no properties
    always: tuple[str, ...]  # returned on every read, asked for or not
    searchable: tuple[str, ...]  # matched by a search's free-text ``query``
    groups: tuple[Group, ...]
    properties: tuple[Property, ...] = field(default=())
    needs_contact: bool = False  # leads must be associated with a contact on create
    required: tuple[str, ...] = ()  # properties a create must set (tasks: hs_timestamp)


def _text(name: str, label: str, group: str, **kw) -> Property:
    return Property(name, label, "string", kw.pop("field_type", "text"), group,
                    hubspot_defined=True, form_field=True, **kw)


def _enum(name: str, label: str, group: str, values: list[tuple[str, str]]) -> Property:
    options = tuple(Option(lab, val, i) for i, (val, lab) in enumerate(values))
    return Property(name, label, "enumeration", "radio", group, options=options,
                    hubspot_defined=True, form_field=True)


def _system(name: str, label: str, group: str, kind: str = "datetime") -> Property:
    return Property(name, label, kind, "date" if kind == "datetime" else "number", group,
                    hubspot_defined=True, read_only_value=True, calculated=name != "createdate")


def _merged_ids(group: str) -> Property:
    """The ids a merge absorbed into this record, ``;``-separated (set only by merges)."""
    return Property("hs_merged_object_ids", "Merged record IDs", "string", "text", group,
                    hubspot_defined=True, read_only_value=True, calculated=True)


LIFECYCLE = [("subscriber", "Subscriber"), ("lead", "Lead"),
             ("marketingqualifiedlead", "Marketing Qualified Lead"),
             ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
             ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other")]
LEAD_STATUS = [("NEW", "New"), ("OPEN", "Open"), ("IN_PROGRESS", "In Progress"),
               ("OPEN_DEAL", "Open Deal"), ("UNQUALIFIED", "Unqualified"),
               ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"), ("CONNECTED", "Connected"),
               ("BAD_TIMING", "Bad Timing")]

# The portal's owners (``GET /crm/v3/owners``): owner ids, not user ids (notes-2 section 9).
OWNERS = (("64492917", "Rita", "Santos"), ("64492918", "Nuno", "Costa"),
          ("64492919", "Olga", "Dias"))


def _owner(group: str) -> Property:
    return replace(_enum("hubspot_owner_id", "Contact owner", group,
                         [(owner_id, f"{first} {last}") for owner_id, first, last in OWNERS]),
                   field_type="select")


CONTACTS = ObjectType(
    "contacts", "0-1", "CONTACT", created=("createdate",),
    modified=("lastmodifieddate", "hs_lastmodifieddate"),
    defaults=("firstname", "lastname", "email"),
    always=("createdate", "hs_object_id", "lastmodifieddate"),
    searchable=("firstname", "lastname", "email", "phone", "company"),
    groups=(Group("contactinformation", "Contact information", 0),
            Group("sales_properties", "Sales properties", 1)),
    properties=(
        _text("firstname", "First Name", "contactinformation"),
        _text("lastname", "Last Name", "contactinformation"),
        _text("email", "Email", "contactinformation"),
        _text("phone", "Phone Number", "contactinformation", field_type="phonenumber"),
        _text("company", "Company Name", "contactinformation"),
        _text("jobtitle", "Job Title", "contactinformation"),
        _enum("lifecyclestage", "Lifecycle Stage", "contactinformation", LIFECYCLE),
        _enum("hs_lead_status", "Lead Status", "sales_properties", LEAD_STATUS),
        _owner("sales_properties"),
        replace(_system("createdate", "Create Date", "contactinformation"), read_only_value=False),
        _system("lastmodifieddate", "Last Modified Date", "contactinformation"),
        _system("hs_lastmodifieddate", "Object last modified date/time", "contactinformation"),
        _system("hs_object_id", "Record ID", "contactinformation", "number"),
        _merged_ids("contactinformation"),
    ))

COMPANIES = ObjectType(
    "companies", "0-2", "COMPANY", created=("createdate",), modified=("hs_lastmodifieddate",),
    defaults=("name", "domain"), always=("createdate", "hs_lastmodifieddate", "hs_object_id"),
    searchable=("name", "domain", "phone", "website"),
    groups=(Group("companyinformation", "Company information", 0),),
    properties=(
        _text("name", "Company name", "companyinformation"),
        _text("domain", "Company Domain Name", "companyinformation"),
        _text("website", "Website URL", "companyinformation"),
        _text("phone", "Phone Number", "companyinformation", field_type="phonenumber"),
        _text("industry", "Industry", "companyinformation"),
        _text("city", "City", "companyinformation"),
        replace(_system("createdate", "Create Date", "companyinformation"), read_only_value=False),
        _system("hs_lastmodifieddate", "Last Modified Date", "companyinformation"),
        _system("hs_object_id", "Record ID", "companyinformation", "number"),
        _merged_ids("companyinformation"),
    ))

LEADS = ObjectType(
    "leads", "0-136", "LEAD", created=("hs_createdate",), modified=("hs_lastmodifieddate",),
    defaults=("hs_lead_name",), always=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    searchable=("hs_lead_name",), needs_contact=True,
    groups=(Group("lead_information", "Lead information", 0),),
    properties=(
        _text("hs_lead_name", "Lead name", "lead_information"),
        _text("hs_lead_type", "Lead type", "lead_information"),
        _enum("hs_lead_label", "Lead label", "lead_information",
              [("HOT", "Hot"), ("WARM", "Warm"), ("COLD", "Cold")]),
        _text("hs_pipeline", "Pipeline", "lead_information"),
        _enum("hs_pipeline_stage", "Stage", "lead_information",
              [("new-stage-id", "New"), ("attempting-stage-id", "Attempting"),
               ("connected-stage-id", "Connected"), ("qualified-stage-id", "Qualified"),
               ("unqualified-stage-id", "Disqualified")]),
        replace(_system("hs_createdate", "Create Date", "lead_information"), calculated=False),
        _system("hs_lastmodifieddate", "Last Modified Date", "lead_information"),
        _system("hs_object_id", "Record ID", "lead_information", "number"),
        _merged_ids("lead_information"),
    ))

# Tasks (``0-27``): the engagement the callback creates. hs_timestamp (the due moment) is
# required; status, priority and type are enumerations (notes-2 section 9; task statuses beyond
# NOT_STARTED and COMPLETED are the portal defaults, unverified).
TASKS = ObjectType(
    "tasks", "0-27", "TASK", created=("hs_createdate",), modified=("hs_lastmodifieddate",),
    defaults=(), always=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    searchable=("hs_task_subject",), required=("hs_timestamp",),
    groups=(Group("task", "Task information", 0),),
    properties=(
        replace(_system("hs_timestamp", "Due date", "task"), read_only_value=False,
                calculated=False),
        _text("hs_task_subject", "Task Title", "task"),
        _text("hs_task_body", "Notes", "task", field_type="html"),
        _enum("hs_task_status", "Task Status", "task",
              [("NOT_STARTED", "Not started"), ("IN_PROGRESS", "In progress"),
               ("WAITING", "Waiting"), ("COMPLETED", "Completed"), ("DEFERRED", "Deferred")]),
        _enum("hs_task_priority", "Priority", "task",
              [("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")]),
        _enum("hs_task_type", "Task Type", "task",
              [("EMAIL", "Email"), ("CALL", "Call"), ("TODO", "To-do")]),
        _owner("task"),
        replace(_system("hs_createdate", "Create Date", "task"), calculated=False),
        _system("hs_lastmodifieddate", "Last Modified Date", "task"),
        _system("hs_object_id", "Record ID", "task", "number"),
    ))

OBJECT_TYPES = (CONTACTS, COMPANIES, LEADS, TASKS)


# -- values ------------------------------------------------------------------------------------


def _failure(prop: Property, message: str, error: str) -> dict:
    return {"isValid": False, "message": message, "error": error, "name": prop.name,
            "localizedErrorMessage": message}


def parse_datetime(text: str) -> datetime | None:
    """A datetime from epoch milliseconds or ISO 8601 (HubSpot accepts both), else None."""
    if re.fullmatch(r"-?\d{1,15}", text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_value(prop: Property, raw: object) -> tuple[str | None, dict | None]:
    """The stored form of ``raw`` written to ``prop``, or HubSpot's validation failure.

    Empty strings and nulls clear the value. Non-string JSON scalars are accepted as HubSpot
    does (``42`` -> ``"42"``); values with surrounding whitespace are refused for non-string
    types (HubSpot's 2025 validation).
    """
    if raw is None or raw == "":
        return None, None
    if isinstance(raw, bool):
        raw = "true" if raw else "false"
    if isinstance(raw, (dict, list)):
        return None, _failure(prop, f"{raw} is not a valid value", "INVALID_VALUE")
    text = str(raw)
    if prop.type == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if text != text.strip() or not math.isfinite(number):
            return None, _failure(prop, f"{text} was not a valid number.", "INVALID_NUMBER")
        return text, None
    if prop.type == "enumeration":
        allowed = {o.value for o in prop.options}
        chosen = text.split(";") if prop.field_type == "checkbox" else [text]
        bad = [c for c in chosen if c not in allowed]
        if bad:
            listed = ", ".join(o.value for o in prop.options)
            return None, _failure(prop, f"{bad[0]} was not one of the allowed options: [{listed}]",
                                  "INVALID_OPTION")
        return text, None
    if prop.type == "bool":
        if text.lower() not in ("true", "false"):
            return None, _failure(prop, f"{text} was not a valid boolean.", "INVALID_BOOLEAN")
        return text.lower(), None
    if prop.type in ("datetime", "date"):
        return _check_moment(prop, text)
    if prop.name == "email" and not EMAIL.match(text):
        return None, _failure(prop, f"Email address {text} is invalid", "INVALID_EMAIL")
    return text, None


def _check_moment(prop: Property, text: str) -> tuple[str | None, dict | None]:
    moment = parse_datetime(text) if text == text.strip() else None
    if moment is None:
        return None, _failure(prop, f"{text} was not a valid {prop.type}.", "INVALID_DATE")
    if prop.type == "date":
        if moment.astimezone(UTC).time() != datetime.min.time():
            message = f"{text} is not at midnight UTC; date properties take a day only."
            return None, _failure(prop, message, "INVALID_DATE")
        return moment.astimezone(UTC).date().isoformat(), None
    return iso_ms(moment), None


def unknown_property(name: str) -> dict:
    """HubSpot's validation failure for a property the object type does not have."""
    message = f'Property "{name}" does not exist'
    return {"isValid": False, "message": message, "error": "PROPERTY_DOESNT_EXIST", "name": name,
            "localizedErrorMessage": message}


def read_only(name: str) -> dict:
    """HubSpot's validation failure for a write to a property only the server sets."""
    message = f'Property "{name}" is a read only property; its value cannot be set.'
    return {"isValid": False, "message": message, "error": "READ_ONLY_VALUE", "name": name,
            "localizedErrorMessage": message}
