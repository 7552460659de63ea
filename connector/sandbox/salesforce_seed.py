"""Loading :class:`SeedData` into the emulated org as Leads, and closing them later.

Fields are created with the Tooling API's own function and granted through FieldPermissions,
and leads are inserted with the REST API's create function; only the audit values (creation
time, conversion) come from the trusted seeding side, as a data import with "Set Audit Fields"
would set them. Post-outcome columns stay empty on open leads (their values wait for
:func:`close_values`); on closed leads they are filled and LeadHistory shows them set at the
close, with the Status change.
"""

from __future__ import annotations

from datetime import datetime

from connector.sandbox.seeding import SeedData, SeedRow, close_time
from connector.sandbox.soql import format_datetime

FLOAT_SCALE = 6  # enough decimals for any value of the bundled data
OPEN_STATUSES = ("Working - Contacted", "Open - Not Contacted")


def _field_metadata(kind: str, label: str) -> dict:
    if kind == "text":
        return {"type": "Text", "label": label, "length": 255}
    return {"type": "Number", "label": label, "precision": 18, "scale": 0 if kind == "int" else FLOAT_SCALE}


def _open_status(row: SeedRow) -> str:
    return OPEN_STATUSES[0] if row.index % 3 == 0 else OPEN_STATUSES[1]


def close_values(org, converted: bool, at: datetime) -> dict:
    """The trusted-side values that close one lead at ``at``: conversion or the lost status."""
    stamp = format_datetime(at)
    values = {"LastModifiedDate": stamp, "SystemModstamp": stamp, "LastModifiedById": org.user_id}
    if converted:
        values.update({
            "Status": "Closed - Converted", "IsConverted": True,
            "ConvertedDate": at.date().isoformat(),
            "ConvertedAccountId": org.ids.next("001"), "ConvertedContactId": org.ids.next("003"),
            "ConvertedOpportunityId": org.ids.next("006")})
    else:
        values["Status"] = "Closed - Not Converted"
    return values


def _audit(org, row: SeedRow, closes_late: bool) -> dict:
    """Status, conversion and stamps of one seeded lead; open leads get one of the open statuses.

    Converted leads were last modified at their conversion; with ``closes_late`` (post-outcome
    columns) lost leads too were last modified when they closed.
    """
    stamp = format_datetime(row.created_at)
    audit = {"CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
    if row.is_open:
        audit["Status"] = _open_status(row)
    elif row.outcome or closes_late:
        audit.update(close_values(org, row.outcome, close_time(row)))
    else:
        audit["Status"] = "Closed - Not Converted"
    return audit


def seed_org(org, data: SeedData) -> tuple[dict[str, bool], dict[str, dict]]:
    """Create one custom field per column and one Lead per row.

    Returns open lead id -> outcome, and open lead id -> its post-outcome values (field -> value)
    kept aside until the lead closes. Tracks field history on the post-outcome fields and then
    the other columns, up to the org's limit.
    """
    for column in data.columns:
        org.create_custom_field({"FullName": f"Lead.{column.sf_field}",
                                 "Metadata": _field_metadata(column.kind, column.label)})
        org.grant_field_access(column.sf_field)
    late = [c for c in data.columns if c.name in data.post_outcome]
    for column in late + [c for c in data.columns if c not in late]:
        if len(org.field_history.tracked) < org.field_history.limit:
            org.field_history.track(column.sf_field)
    lead, hidden, pending = org.objects["Lead"], {}, {}
    for row in data.rows:
        values = {column.sf_field: row.values[column.name] for column in data.columns}
        values.update(LastName=f"Client {row.index + 1:05d}", Company=f"Household {row.index + 1:05d}",
                      OwnerId=org.rep_ids[row.index % len(org.rep_ids)])
        waiting = {c.sf_field: values.pop(c.sf_field) for c in late} if row.is_open else {}
        try:
            record_id = org.create(lead, values, audit=_audit(org, row, bool(late)),
                                   history=False)
        except ValueError as error:  # a value the field refuses: say which row of the file
            raise ValueError(f"data row {row.index + 1}: {error}") from None
        if row.is_open:
            hidden[record_id] = row.outcome
            pending[record_id] = waiting
        elif late:
            _seed_close_history(org, lead.rows[record_id], row, late)
    return hidden, pending


def _seed_close_history(org, stored: dict, row: SeedRow, late) -> None:
    """LeadHistory of a seeded closed lead: its status and post-outcome fields set at the close."""
    at = format_datetime(close_time(row))
    org.field_history.add_change(stored["Id"], "Status", _open_status(row), stored["Status"],
                                 at, org.user_id)
    for column in late:
        if stored.get(column.sf_field) is not None:
            org.field_history.add_change(stored["Id"], column.sf_field, None,
                                         stored[column.sf_field], at, org.user_id)
