"""The value types the CRM layer shares: field checks, cursors and their dedupe window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from connector.crm import available_crms, get_crm
from connector.crm.hubspot import HubSpotCRM
from connector.crm.salesforce import SalesforceCRM
from connector.errors import ConfigError
from connector.mapping import Mapping
from connector.records import (
    Cursor,
    FieldCatalog,
    FieldInfo,
    Record,
    RecordWrite,
    SeenWindow,
    parse_stamp,
)
from connector.model.scoring import LeadScore
from connector.sync.writeback import output_values


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


def _number(precision: int | None, scale: int | None, crm_type: str = "double") -> FieldInfo:
    return FieldInfo("LS_Score__c", "Lead score", "number", crm_type, precision=precision,
                     scale=scale)


@pytest.mark.parametrize("info, value, reason", [
    (_number(2, 0), 100, "LS_Score__c holds numbers up to 99 (Number(2,0)); got 100"),
    (_number(2, 0), -100, "LS_Score__c holds numbers up to 99 (Number(2,0)); got -100"),
    (_number(2, 0), 99.5, "LS_Score__c holds numbers up to 99 (Number(2,0)); got 99.5"),
    (_number(4, 3), 10, "LS_Score__c holds numbers up to 9.999 (Number(4,3)); got 10"),
    (_number(4, 3), 9.9995, "LS_Score__c holds numbers up to 9.999 (Number(4,3)); got 9.9995"),
    (_number(3, 3), 1.0, "LS_Score__c holds numbers up to 0.999 (Number(3,3)); got 1.0"),
    (_number(16, 2, "currency"), 1e15, ("LS_Score__c holds numbers up to 99999999999999.99 "
                                        "(Currency(16,2)); got 1000000000000000.0")),
    (_number(18, 0), 1e300,
     "LS_Score__c holds numbers up to 999999999999999999 (Number(18,0)); got 1e+300"),
])
def test_a_number_beyond_the_fields_precision_is_refused(info, value, reason):
    assert info.problem_with(value) == ("NUMBER_OUTSIDE_VALID_RANGE", reason)


@pytest.mark.parametrize("info, value", [
    (_number(2, 0), 99), (_number(2, 0), -99), (_number(2, 0), 99.4), (_number(2, 0), 0),
    (_number(4, 3), 9.9994), (_number(4, 3), 1e-300), (_number(3, 0), 100),
    (_number(18, 0), 999_999_999_999_999_999), (_number(None, None), 10 ** 30),
])
def test_a_number_the_field_holds_once_rounded_to_its_scale_passes(info, value):
    assert info.problem_with(value) is None


def test_a_number_is_stored_rounded_half_up_to_the_scale():
    assert str(_number(4, 3).stored_number(0.1235)) == "0.124"
    assert str(_number(2, 0).stored_number(98.5)) == "99"
    assert str(_number(None, None).stored_number(0.1235)) == "0.1235"


def test_the_write_back_rounds_a_fraction_to_the_fields_scale():
    mapping = Mapping.model_validate({
        "crm": "salesforce", "object": "Lead", "time_field": "CreatedDate",
        "outcome": {"converted_when": [{"field": "IsConverted", "equals": True}],
                    "lost_when": [{"field": "Status", "equals": "Closed - Not Converted"}]},
        "features": [{"field": "Title", "kind": "category", "label": "Title: {value}"}],
        "outputs": {"score": "S__c", "tier": "T__c", "reason": "R__c", "probability": "P__c"}})
    lead = LeadScore(probability=0.42371, score=42, tier="Warm", reason="why", contributions={})

    def written(probability: FieldInfo) -> dict:
        catalog = FieldCatalog("Lead", {"S__c": _number(3, 0), "P__c": probability})
        return output_values(lead, mapping, model_version="v0001", scored_at=datetime.now(UTC),
                             catalog=catalog)

    assert written(FieldInfo("P__c", "P", "number", "double", precision=4, scale=3))["P__c"] \
        == 0.424
    assert written(FieldInfo("P__c", "P", "number", "double", precision=3, scale=2))["P__c"] \
        == 0.42  # what the CRM would store, so the next run sees no change
    assert written(FieldInfo("P__c", "P", "number", "number"))["P__c"] == 0.424  # no scale
    score = written(FieldInfo("P__c", "P", "number", "double", precision=4, scale=3))["S__c"]
    assert score == 42 and isinstance(score, int)


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
