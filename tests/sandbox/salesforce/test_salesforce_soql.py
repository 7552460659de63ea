"""The SOQL subset on its own: parsing, checking against fields, running over rows."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings, strategies as st

from connector.sandbox.soql import FieldInfo, SOQLError, case_safe_id, plan

FIELDS = {f.lower(): FieldInfo(f, t) for f, t in [
    ("Id", "id"), ("LastName", "string"), ("Status", "picklist"), ("Age__c", "double"),
    ("IsConverted", "boolean"), ("CreatedDate", "datetime"), ("ConvertedDate", "date")]}
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
ROWS = [
    {"Id": case_safe_id("00Q000000000001"), "LastName": "Smith", "Status": "Open", "Age__c": 30.0,
     "IsConverted": False, "CreatedDate": "2024-05-10T08:00:00.000+0000", "ConvertedDate": None},
    {"Id": case_safe_id("00Q000000000002"), "LastName": "jones", "Status": "Closed", "Age__c": None,
     "IsConverted": True, "CreatedDate": "2024-05-09T23:59:59.999+0000", "ConvertedDate": "2024-05-01"},
    {"Id": case_safe_id("00Q000000000003"), "LastName": "O'Brien", "Status": "Open", "Age__c": 45.5,
     "IsConverted": False, "CreatedDate": "2024-01-01T00:00:00.000+0000", "ConvertedDate": None},
]


def ids(query: str) -> list[str]:
    return [row["Id"][-4] for row in plan(query, FIELDS, now=NOW).run(ROWS)]


@pytest.mark.parametrize("where, expected", [
    ("LastName = 'SMITH'", ["1"]),  # string comparison ignores case, as in SOQL
    ("LastName = 'O\\'Brien'", ["3"]),
    ("Age__c > 30", ["3"]),
    ("Age__c != 30", ["2", "3"]),  # != keeps nulls
    ("Age__c = null", ["2"]),
    ("Age__c != null AND NOT IsConverted = true", ["1", "3"]),
    ("(Age__c < 40 OR IsConverted = true) AND Status IN ('open', 'Closed')", ["1", "2"]),
    ("Status NOT IN ('Open')", ["2"]),
    ("LastName LIKE 'j%'", ["2"]),
    ("LastName LIKE '_mith'", ["1"]),
    ("CreatedDate >= 2024-05-09T23:59:59.999Z", ["1", "2"]),
    ("CreatedDate < 2024-05-10T03:00:00+02:00", ["2", "3"]),
    ("CreatedDate = TODAY", ["1"]),
    ("CreatedDate = YESTERDAY", ["2"]),
    ("CreatedDate = LAST_N_DAYS:7", ["1", "2"]),
    ("CreatedDate < LAST_N_DAYS:30", ["3"]),
    ("ConvertedDate <= 2024-05-01", ["2"]),
    ("Id = '00Q000000000001'", ["1"]),  # a 15-character id matches its 18-character form
])
def test_where(where, expected):
    assert ids(f"SELECT Id FROM Lead WHERE {where}") == expected


def test_order_by_nulls_limit_offset_and_field_case():
    assert ids("SELECT Id FROM Lead ORDER BY Age__c") == ["2", "1", "3"]  # ASC: nulls first
    assert ids("SELECT Id FROM Lead ORDER BY Age__c DESC") == ["3", "1", "2"]  # DESC: nulls last
    assert ids("SELECT Id FROM Lead ORDER BY Age__c DESC NULLS FIRST") == ["2", "3", "1"]
    assert ids("select id from lead order by status desc, lastname asc limit 2 offset 1") == ["1", "2"]
    compiled = plan("SELECT lastname, ID, Lead.Status FROM Lead", FIELDS, now=NOW)
    assert compiled.fields == ("LastName", "Id", "Status")


def test_count():
    compiled = plan("SELECT COUNT() FROM Lead WHERE IsConverted = false", FIELDS, now=NOW)
    assert compiled.count_only and len(compiled.run(ROWS)) == 2


@pytest.mark.parametrize("query, code, tail", [
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
    ("SELECT Id FROM Lead WHERE Age__c = 1 AND Age__c = 2 OR Age__c = 3", "MALFORMED_QUERY",
     "unexpected token: 'OR'"),
    ("SELECT Id, FROM Lead", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
    ("SELECT Id FROM Lead LIMIT ten", "MALFORMED_QUERY", "unexpected token: 'ten'"),
    ("SELECT Id FROM Lead WHERE LastName = 'open", "MALFORMED_QUERY", "unexpected token"),
    ("SELECT Nope__c FROM Lead", "INVALID_FIELD",
     "No such column 'Nope__c' on entity 'Lead'. If you are attempting to use a custom field, be "
     "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
     "describe call for the appropriate names."),
    ("SELECT Id FROM Lead WHERE Age__c = '3'", "INVALID_FIELD",
     "value of filter criterion for field 'Age__c' must be of type double and should not be "
     "enclosed in quotes"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-01", "INVALID_FIELD", "must be of type dateTime"),
])
def test_errors_carry_code_position_and_message(query, code, tail):
    with pytest.raises(SOQLError) as caught:
        plan(query, FIELDS, now=NOW)
    assert caught.value.code == code
    assert tail in caught.value.message
    if code == "INVALID_FIELD" or "EOF" in tail:
        assert "\nERROR at Row:1:Column:" in caught.value.message


def test_case_safe_id_suffix():
    assert case_safe_id("001000000000000") == "001000000000000AAA"
    assert case_safe_id("001A00000000000") == "001A00000000000IAA"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="SELECT Id FROM Lead WHERE ()=<>!'%,.:_0123456789-TZ AND OR NOT IN LIKE null",
               max_size=80))
def test_any_text_is_a_result_or_a_soql_error(text):
    try:
        plan(text, FIELDS, now=NOW).run(ROWS)
    except SOQLError as error:
        assert error.code in {"MALFORMED_QUERY", "INVALID_FIELD", "NUMBER_OUTSIDE_VALID_RANGE"}
