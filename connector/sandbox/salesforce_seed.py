"""Loading :class:`SeedData` into the emulated org as Leads.

Fields are created with the Tooling API's own function and granted through FieldPermissions,
and leads are inserted with the REST API's create function; only the audit values (creation
time, conversion) come from the trusted seeding side, as a data import with "Set Audit Fields"
would set them.
"""

from __future__ import annotations

from datetime import timedelta

from connector.sandbox.seeding import SeedData, SeedRow
from connector.sandbox.soql import format_datetime

FLOAT_SCALE = 6  # enough decimals for any value of the bundled data


def _field_metadata(kind: str, label: str) -> dict:
    if kind == "text":
        return {"type": "Text", "label": label, "length": 255}
    return {"type": "Number", "label": label, "precision": 18, "scale": 0 if kind == "int" else FLOAT_SCALE}


def _audit(org, row: SeedRow) -> dict:
    """Status, conversion and stamps of one seeded lead; open leads get one of the open statuses."""
    stamp = format_datetime(row.created_at)
    audit = {"CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
    if row.is_open:
        audit["Status"] = "Working - Contacted" if row.index % 3 == 0 else "Open - Not Contacted"
    elif row.outcome:
        converted = row.created_at + timedelta(days=3 + row.index % 5)
        audit.update({
            "Status": "Closed - Converted", "IsConverted": True,
            "ConvertedDate": converted.date().isoformat(),
            "ConvertedAccountId": org.ids.next("001"), "ConvertedContactId": org.ids.next("003"),
            "ConvertedOpportunityId": org.ids.next("006"),
            "LastModifiedDate": format_datetime(converted), "SystemModstamp": format_datetime(converted)})
    else:
        audit["Status"] = "Closed - Not Converted"
    return audit


def seed_org(org, data: SeedData) -> dict[str, bool]:
    """Create one custom field per column and one Lead per row; returns open lead id -> outcome."""
    for column in data.columns:
        org.create_custom_field({"FullName": f"Lead.{column.sf_field}",
                                 "Metadata": _field_metadata(column.kind, column.label)})
        org.grant_field_access(column.sf_field)
    lead, hidden = org.objects["Lead"], {}
    for row in data.rows:
        values = {column.sf_field: row.values[column.name] for column in data.columns}
        values.update(LastName=f"Client {row.index + 1:05d}", Company=f"Household {row.index + 1:05d}",
                      OwnerId=org.rep_ids[row.index % len(org.rep_ids)])
        record_id = org.create(lead, values, audit=_audit(org, row))
        if row.is_open:
            hidden[record_id] = row.outcome
    return hidden
