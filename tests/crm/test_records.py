"""The value types the CRM layer shares: field checks, cursors and their dedupe window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from connector.crm import available_crms, get_crm
from connector.crm.hubspot import HubSpotCRM
from connector.crm.salesforce import SalesforceCRM
from connector.errors import ConfigError
from connector.records import (
    Cursor,
    FieldCatalog,
    FieldInfo,
    Record,
    RecordWrite,
    SeenWindow,
    parse_stamp,
)


def test_adapters_are_found_by_entry_point():
    assert available_crms() == ["hubspot", "salesforce"]
    assert get_crm("salesforce") is SalesforceCRM and get_crm("hubspot") is HubSpotCRM
    with pytest.raises(ConfigError, match="hubspot, salesforce"):
        get_crm("pipedrive")


@pytest.mark.parametrize("info, value, code", [
    (FieldInfo("T", "T", "string", "string", length=5), "toolong", "STRING_TOO_LONG"),
    (FieldInfo("T", "T", "string", "string", length=5), 5, "INVALID_TYPE"),
    (FieldInfo("N", "N", "number", "double"), True, "INVALID_TYPE"),
    (FieldInfo("N", "N", "number", "double"), float("nan"), "INVALID_TYPE"),
    (FieldInfo("B", "B", "boolean", "boolean"), "yes", "INVALID_TYPE"),
    (FieldInfo("D", "D", "datetime", "datetime"), datetime(2024, 1, 1), "INVALID_TYPE"),
    (FieldInfo("D", "D", "date", "date"), datetime(2024, 1, 1, tzinfo=UTC), "INVALID_TYPE"),
    (FieldInfo("P", "P", "picklist", "picklist", picklist=("a", "b")), "c", "INVALID_PICKLIST"),
    (FieldInfo("R", "R", "string", "string", updateable=False), "x", "NOT_UPDATEABLE"),
])
def test_values_a_field_cannot_take_are_named(info, value, code):
    assert info.problem_with(value)[0] == code


@pytest.mark.parametrize("info, value", [
    (FieldInfo("T", "T", "string", "string", length=5), "short"),
    (FieldInfo("N", "N", "number", "double"), 4.5),
    (FieldInfo("D", "D", "date", "date"), date(2024, 1, 1)),
    (FieldInfo("P", "P", "picklist", "picklist", picklist=("a", "b")), "a"),
    (FieldInfo("T", "T", "string", "string", length=5), None),
])
def test_values_a_field_takes_pass(info, value):
    assert info.problem_with(value) is None


def test_text_is_cut_to_the_field_length():
    info = FieldInfo("R", "R", "text", "textarea", length=10)
    assert info.fit("short") == "short" and info.fit("much too long here") == "much too …"


def test_a_catalog_refuses_unknown_fields():
    catalog = FieldCatalog("Lead", {"A": FieldInfo("A", "A", "number", "double")})
    refusal = catalog.refusal(RecordWrite("1", {"A": 1, "B": 2}))
    assert (refusal.field, refusal.code, refusal.sent) == ("B", "UNKNOWN_FIELD", False)
    assert catalog.refusal(RecordWrite("1", {"A": 1})) is None


def test_crm_stamps_parse_to_aware_utc():
    expected = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert parse_stamp("2024-05-01T10:00:00.000+0000") == expected
    assert parse_stamp("2024-05-01T12:00:00.000+0200") == expected
    assert parse_stamp("2024-05-01T10:00:00.000Z") == expected
    assert parse_stamp("1714557600000") == expected


def test_a_cursor_survives_the_state_store():
    stamp = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    cursor = Cursor(stamp, frozenset({Cursor.version("00Q1", stamp)}), {"mode": "search"})
    assert Cursor.from_json(cursor.to_json()) == cursor
    assert Cursor.from_json(Cursor().to_json()) == Cursor()


def test_the_window_forgets_versions_older_than_the_next_read():
    base = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    window = SeenWindow(timedelta(minutes=5))
    old, recent = Record("1", {}, base), Record("2", {}, base + timedelta(minutes=9))
    assert window.first_time(old) and window.first_time(recent)
    assert not window.first_time(recent)
    cursor = window.cursor(base + timedelta(minutes=10))
    assert cursor.seen == {Cursor.version("2", recent.stamp)}
    assert cursor.since(timedelta(minutes=5)) == base + timedelta(minutes=5)
