"""The sObject types the Salesforce emulator serves, with their fields and describe output.

Lead carries the standard fields the connector reads (notes 1.9); Profile, User (with its
ProfileId), PermissionSet, PermissionSetAssignment and FieldPermissions exist so a client can
grant field-level security over REST (notes 1.8, notes-2 section 5); the Tooling object
CustomField lists custom fields. Rows live on each :class:`SObjectType` as plain
dicts keyed by canonical field names, in the wire form (see :mod:`connector.sandbox.soql`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.sandbox.salesforce_fields import FieldDef, picklist, reference, system, text
from connector.sandbox.soql import FieldInfo

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted")
CONVERTED_STATUSES = frozenset({"Closed - Converted"})
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
INDUSTRIES = ("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
              "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
              "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government",
              "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media",
              "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
              "Telecommunications", "Transportation", "Utilities", "Other")


def _audit_fields() -> list[FieldDef]:
    return [
        system("CreatedDate", "Created Date", "datetime"),
        reference("CreatedById", "Created By ID", ["User"], "CreatedBy", nillable=False,
                  createable=False, updateable=False),
        system("LastModifiedDate", "Last Modified Date", "datetime"),
        reference("LastModifiedById", "Last Modified By ID", ["User"], "LastModifiedBy",
                  nillable=False, createable=False, updateable=False),
        system("SystemModstamp", "System Modstamp", "datetime"),
    ]


def _id_field(label: str) -> FieldDef:
    return system("Id", label, "id", length=18, id_lookup=True)


def lead_fields() -> list[FieldDef]:
    """The standard Lead fields (no custom ones), in describe order."""
    return [
        _id_field("Lead ID"),
        system("IsDeleted", "Deleted", "boolean"),
        reference("MasterRecordId", "Master Record ID", ["Lead"], "MasterRecord",
                  createable=False, updateable=False),
        text("LastName", "Last Name", 80, nillable=False),
        text("FirstName", "First Name", 40),
        system("Name", "Full Name", "string", length=121, name_field=True),
        text("Title", "Title", 128),
        text("Company", "Company", 255, nillable=False),
        FieldDef("Phone", "Phone", "phone", length=40),
        FieldDef("Email", "Email", "email", length=80, id_lookup=True),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        picklist("Status", "Status", LEAD_STATUSES, LEAD_STATUSES[0], nillable=False),
        picklist("Industry", "Industry", INDUSTRIES),
        FieldDef("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "Employees", "int", digits=8),
        reference("OwnerId", "Owner ID", ["Group", "User"], "Owner", nillable=False),
        FieldDef("IsConverted", "Converted", "boolean", nillable=False, updateable=False),
        FieldDef("ConvertedDate", "Converted Date", "date", updateable=False),
        reference("ConvertedAccountId", "Converted Account ID", ["Account"], "ConvertedAccount",
                  createable=False, updateable=False),
        reference("ConvertedContactId", "Converted Contact ID", ["Contact"], "ConvertedContact",
                  createable=False, updateable=False),
        reference("ConvertedOpportunityId", "Converted Opportunity ID", ["Opportunity"],
                  "ConvertedOpportunity", createable=False, updateable=False),
        *_audit_fields(),
    ]


def user_fields() -> list[FieldDef]:
    """The few User fields a client might read (users are not writable here). ``ProfileId`` is
    how a client finds the profile's own permission set."""
    return [_id_field("User ID"), system("Username", "Username", "string", length=80),
            system("Name", "Full Name", "string", length=121, name_field=True),
            system("Email", "Email", "email", length=128), system("IsActive", "Active", "boolean"),
            reference("ProfileId", "Profile ID", ["Profile"], "Profile", nillable=False,
                      createable=False, updateable=False),
            *_audit_fields()]


def profile_fields() -> list[FieldDef]:
    """Profile: read-only here; each has its own permission set (``IsOwnedByProfile``)."""
    return [_id_field("Profile ID"), system("Name", "Name", "string", length=255, name_field=True),
            *_audit_fields()]


def permission_set_assignment_fields() -> list[FieldDef]:
    """PermissionSetAssignment: a standalone permission set reaches a user only through one.

    Changing an assignment means deleting it and inserting another, so both references are
    create-only."""
    return [_id_field("Permission Set Assignment ID"),
            reference("AssigneeId", "Assignee ID", ["User"], "Assignee", nillable=False,
                      updateable=False),
            reference("PermissionSetId", "Permission Set ID", ["PermissionSet"], "PermissionSet",
                      nillable=False, updateable=False),
            *_audit_fields()]


TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")


def task_fields() -> list[FieldDef]:
    """The Task fields a callback uses (notes-2 section 4): who, owner, subject, due date,
    status, priority, the long "Comments" text (not filterable) and the create-only subtype."""
    return [
        _id_field("Activity ID"),
        system("IsDeleted", "Deleted", "boolean"),
        reference("WhoId", "Name ID", ["Contact", "Lead"], "Who"),
        reference("WhatId", "Related To ID", ["Account", "Opportunity"], "What"),
        FieldDef("Subject", "Subject", "combobox", length=255),
        FieldDef("ActivityDate", "Due Date Only", "date"),
        picklist("Status", "Status", TASK_STATUSES, TASK_STATUSES[0], nillable=False,
                 restricted=True),
        picklist("Priority", "Priority", ("High", "Normal", "Low"), "Normal", nillable=False,
                 restricted=True),
        FieldDef("Description", "Description", "textarea", length=32000),
        picklist("TaskSubtype", "Task Subtype", ("Task", "Email", "ListEmail", "Call",
                                                 "LinkedIn"), restricted=True, updateable=False),
        reference("OwnerId", "Assigned To ID", ["Group", "User"], "Owner", nillable=False),
        system("IsClosed", "Closed", "boolean"),
        system("IsHighPriority", "High Priority", "boolean"),
        *_audit_fields(),
    ]


def permission_set_fields() -> list[FieldDef]:
    """PermissionSet: where field permissions hang (profile-owned or standalone)."""
    return [_id_field("Permission Set ID"), text("Name", "Name", 80, nillable=False),
            text("Label", "Label", 80, nillable=False, name_field=True),
            FieldDef("Description", "Description", "textarea", length=255),
            system("IsOwnedByProfile", "Is Owned by Profile", "boolean"),
            reference("ProfileId", "Profile ID", ["Profile"], "Profile", createable=False,
                      updateable=False),
            *_audit_fields()]


def field_permissions_fields() -> list[FieldDef]:
    """FieldPermissions: one row grants read (and maybe edit) on one field to one permission set."""
    return [_id_field("Field Permissions ID"),
            reference("ParentId", "Parent ID", ["PermissionSet"], "Parent", nillable=False,
                      updateable=False),
            picklist("SobjectType", "Sobject Type Name", ("Lead",), nillable=False, updateable=False),
            text("Field", "Field Name", 255, nillable=False, updateable=False),
            FieldDef("PermissionsEdit", "Edit Field", "boolean", nillable=False),
            FieldDef("PermissionsRead", "Read Field", "boolean", nillable=False),
            *_audit_fields()]


def custom_field_fields() -> list[FieldDef]:
    """The Tooling API's CustomField columns a client can query."""
    return [_id_field("Custom Field Definition ID"),
            system("DeveloperName", "Field Name", "string", length=40),
            system("TableEnumOrId", "Table Enum or ID", "string", length=40),
            system("NamespacePrefix", "Namespace Prefix", "string", length=15, nillable=True),
            system("Description", "Description", "textarea", length=1000, nillable=True),
            system("Length", "Length", "int", nillable=True),
            *_audit_fields()]


@dataclass
class SObjectType:
    """One object: its fields (in describe order), rows by id, and what clients may do."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    tooling: bool = False
    rows: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def build(cls, name, label, plural, prefix, fields, **kw) -> SObjectType:
        """An object type from a list of fields."""
        return cls(name, label, plural, prefix, {f.name: f for f in fields}, **kw)

    def field(self, name: str) -> FieldDef | None:
        """The readable field called ``name`` (any case), or None."""
        found = self.fields.get(name)
        if found is None:
            lowered = name.lower()
            found = next((f for f in self.fields.values() if f.name.lower() == lowered), None)
        return found if found is not None and found.readable else None

    def soql_fields(self) -> dict[str, FieldInfo]:
        """Lower-cased name -> planner info, for the fields this user can see."""
        return {f.name.lower(): f.info for f in self.fields.values() if f.readable}

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/{'tooling/' if self.tooling else ''}sobjects/{self.name}"
        return {"rowTemplate": f"{base}/{{ID}}", "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                "describe": f"{base}/describe", "sobject": base}

    def summary(self, version: str) -> dict:
        """This object's entry in the global describe."""
        return {
            "activateable": False, "associateEntityType": None, "associateParentEntity": None,
            "createable": self.createable, "custom": False, "customSetting": False,
            "deepCloneable": False, "deletable": self.deletable, "deprecatedAndHidden": False,
            "feedEnabled": self.name == "Lead", "hasSubtypes": False, "isInterface": False,
            "isSubtype": False, "keyPrefix": self.key_prefix, "label": self.label,
            "labelPlural": self.label_plural, "layoutable": self.name == "Lead",
            "mergeable": self.name == "Lead", "mruEnabled": self.name == "Lead", "name": self.name,
            "queryable": True, "replicateable": True, "retrieveable": True,
            "searchable": self.name == "Lead", "triggerable": True,
            "undeletable": self.deletable, "updateable": self.updateable, "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict:
        """The full ``sobjects/{name}/describe`` answer (hidden fields left out)."""
        body = self.summary(version)
        body.update({
            "actionOverrides": [], "childRelationships": [], "compactLayoutable": True,
            "defaultImplementation": None, "extendedBy": None, "extendsInterfaces": None,
            "fields": [f.describe() for f in self.fields.values() if f.readable],
            "implementedBy": None, "implementsInterfaces": None, "listviewable": None,
            "lookupLayoutable": None, "namedLayoutInfos": [], "networkScopeFieldName": None,
            "recordTypeInfos": [], "searchLayoutable": True, "sobjectDescribeOption": "FULL",
            "supportedScopes": [{"label": "All leads", "name": "everything"}],
        })
        return dict(sorted(body.items()))


def standard_objects() -> dict[str, SObjectType]:
    """Fresh, empty data objects of a new org."""
    objects = [
        SObjectType.build("Lead", "Lead", "Leads", "00Q", lead_fields()),
        SObjectType.build("User", "User", "Users", "005", user_fields(), createable=False,
                          updateable=False, deletable=False),
        SObjectType.build("Profile", "Profile", "Profiles", "00e", profile_fields(),
                          createable=False, updateable=False, deletable=False),
        SObjectType.build("Task", "Task", "Tasks", "00T", task_fields()),
        SObjectType.build("PermissionSet", "Permission Set", "Permission Sets", "0PS",
                          permission_set_fields()),
        SObjectType.build("PermissionSetAssignment", "Permission Set Assignment",
                          "Permission Set Assignments", "0Pa", permission_set_assignment_fields(),
                          updateable=False),
        SObjectType.build("FieldPermissions", "Field Permissions", "Field Permissions", "01k",
                          field_permissions_fields()),
    ]
    return {obj.name: obj for obj in objects}


def tooling_objects() -> dict[str, SObjectType]:
    """Fresh Tooling API objects (custom field definitions)."""
    return {"CustomField": SObjectType.build(
        "CustomField", "Custom Field Definition", "Custom Field Definitions", "00N",
        custom_field_fields(), updateable=False, deletable=False, tooling=True)}
