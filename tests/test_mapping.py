"""Mapping files: the shipped examples load, and every kind of mistake names file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import MappingError
from connector.mapping import canonical, load_mapping

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"

VALID = """\
crm: salesforce
object: Lead
time_field: CreatedDate
outcome:
  converted_when:
    - {field: IsConverted, equals: true}
  lost_when:
    - {field: Status, equals: "Closed - Not Converted"}
features:
  - {field: LeadSource, kind: category, label: "Source: {value}"}
  - {field: NumberOfEmployees, kind: number, label: "{value} employees"}
outputs:
  score: LS_Score__c
  tier: LS_Tier__c
  reason: {field: LS_Reason__c, max_length: 255}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> MappingError:
    with pytest.raises(MappingError) as caught:
        load_mapping(write(tmp_path, text))
    return caught.value


@pytest.mark.parametrize("name", sorted(p.name for p in MAPPINGS.glob("*.yaml")))
def test_shipped_mappings_load(name):
    mapping = load_mapping(MAPPINGS / name)
    assert mapping.output_fields()[:3] == [mapping.outputs.score.field,
                                           mapping.outputs.tier.field,
                                           mapping.outputs.reason.field]
    assert not any("duration" in f.field.lower() for f in mapping.features)


def test_demo_mappings_use_the_sandbox_field_names():
    sf = load_mapping(MAPPINGS / "bank-demo-salesforce.yaml")
    hs = load_mapping(MAPPINGS / "bank-demo-hubspot.yaml")
    assert "Day_Of_Week__c" in sf.input_fields() and "Pdays__c" in sf.input_fields()
    assert "bank_day_of_week" in hs.input_fields() and "createdate" in hs.input_fields()
    assert [f.kind for f in sf.features] == [f.kind for f in hs.features]


def test_valid_mapping_exposes_fields_and_outcome(tmp_path):
    mapping = load_mapping(write(tmp_path, VALID))
    assert (mapping.crm, mapping.object, mapping.time_field) == ("salesforce", "Lead",
                                                                 "CreatedDate")
    assert mapping.input_fields() == ["LeadSource", "NumberOfEmployees", "IsConverted", "Status",
                                      "CreatedDate"]
    assert mapping.output_fields() == ["LS_Score__c", "LS_Tier__c", "LS_Reason__c"]
    assert mapping.outputs.reason.max_length == 255
    assert mapping.outcome_of({"IsConverted": True}) is True
    assert mapping.outcome_of({"IsConverted": "true"}) is True  # HubSpot-style string
    assert mapping.outcome_of({"IsConverted": False, "Status": " closed - not converted "}) is False
    assert mapping.outcome_of({"IsConverted": False, "Status": "Working - Contacted"}) is None
    assert mapping.scoring.tiers[0].name == "Hot"


def test_hubspot_outcome_in_list():
    mapping = load_mapping(MAPPINGS / "hubspot-contact.yaml")
    assert mapping.outcome_of({"lifecyclestage": "customer"}) is True
    assert mapping.outcome_of({"lifecyclestage": "lead", "hs_lead_status": "UNQUALIFIED"}) is False
    assert mapping.outcome_of({"lifecyclestage": "lead", "hs_lead_status": "NEW"}) is None


@pytest.mark.parametrize("old,new,line,key,words", [
    ("kind: category", "kind: picklist", 10, "features.0.kind", "category"),
    ("  lost_when:\n    - {field: Status, equals: \"Closed - Not Converted\"}\n", "", 4,
     "outcome.lost_when", "required"),
    ("  tier: LS_Tier__c", "  tier: LS_Score__c", 14, "outputs.tier", "also used"),
    ("{field: NumberOfEmployees,", "{field: LS_Reason__c,", 11, "features.1.field",
     "output field"),
    ("{field: NumberOfEmployees,", "{field: LeadSource,", 11, "features.1.field", "twice"),
    ("{field: NumberOfEmployees,", "{field: Status,", 11, "features.1.field", "outcome"),
    ("crm: salesforce", "crm: pipedrive", 1, "crm", "hubspot"),
    ("object: Lead\n", "object: Lead\nobjekt: Lead\n", 3, "objekt", "Extra inputs"),
    ("equals: true}", "equals: true, in: [a]}", 6, "outcome.converted_when.0", "exactly one"),
    ("max_length: 255", "max_length: 5", 15, "outputs.reason.max_length", "20"),
    ("kind: number, label", "kind: number, aliases: {a: [b]}, label", 11, "features.1",
     "aliases"),
])
def test_invalid_mapping_names_file_line_and_key(tmp_path, old, new, line, key, words):
    assert old in VALID
    error = error_for(tmp_path, VALID.replace(old, new))
    assert (error.file, error.line, error.key) == (str(tmp_path / "m.yaml"), line, key)
    assert words in error.message and error.hint
    assert str(error).startswith(f"{tmp_path / 'm.yaml'}:{line}: {key}: ")


def test_missing_outcome_section(tmp_path):
    text = VALID.split("outcome:")[0] + "features:" + VALID.split("features:")[1]
    error = error_for(tmp_path, text)
    assert error.key == "outcome" and "required" in error.message and error.line == 1


def test_yaml_syntax_error_names_the_line(tmp_path):
    error = error_for(tmp_path, VALID.replace("  tier: LS_Tier__c", "  tier: [LS_Tier__c"))
    assert error.line is not None and 14 <= error.line <= 16
    assert "YAML syntax error" in error.message


def test_duplicate_yaml_key(tmp_path):
    error = error_for(tmp_path, VALID + "crm: hubspot\n")
    assert (error.line, error.key) == (16, "crm") and "twice" in error.message


def test_tiers_must_be_consistent(tmp_path):
    tiers = ("scoring:\n  tiers:\n    - {name: Hot, min_score: 50}\n"
             "    - {name: Warm, top_share: 0.3}\n    - {name: Cold}\n")
    error = error_for(tmp_path, VALID + tiers)
    assert error.key == "scoring" and error.line == 16 and "either" in error.message


@pytest.mark.parametrize("text,words", [("", "YAML mapping"), ("- a\n- b\n", "YAML mapping")])
def test_not_a_mapping(tmp_path, text, words):
    assert words in error_for(tmp_path, text).message


def test_unreadable_file(tmp_path):
    with pytest.raises(MappingError) as caught:
        load_mapping(tmp_path / "absent.yaml")
    assert caught.value.file == str(tmp_path / "absent.yaml")


def test_canonical_values_compare_across_crms_and_stay_apart_by_type_when_remembered():
    for _ in range(2):  # the second round is answered from the remembered values
        assert canonical(True) == canonical("TRUE") == "true"
        assert canonical(1) == canonical(1.0) == canonical(" 1 ") == "1.0"
        assert canonical("1,000") == "1000.0"  # thousands separators
        assert canonical(True) != canonical(1)
        assert canonical(" Married ") == "married"
        assert canonical("") is None and canonical([1]) is None and canonical({"a": 1}) is None
        assert canonical(float("inf")) == "inf"  # not a finite number: kept as text
        assert canonical(-0.0) == "-0.0" and canonical(0.0) == "0.0"  # equal keys, not texts
