"""`leadscore mappings suggest`: a starting mapping that loads, checks and trains as written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from connector.cli import main
from connector.config import load_config
from connector.mapping import load_mapping
from connector.model import train_model
from connector.records import FieldCatalog, FieldInfo
from connector.admin.sampling import Sample, sample_records
from connector.sandbox import Sandbox
from connector.admin.suggest import readable_label, sentinel_values, suggest_mapping
from connector.sync.workspace import Workspace, pull_history
from tests.admin_support import small_seed, write_config

OUTCOME_FIELDS = {"IsConverted", "Status", "ConvertedDate", "ConvertedAccountId",
                  "ConvertedContactId", "ConvertedOpportunityId"}


def _touch_open_leads(org) -> int:
    """What a sync leaves behind: every open lead written today, years after the rest of the
    history (the same values, new stamps)."""
    lead = org.sobject("Lead")
    open_ids = list(org.hidden_outcomes())
    for record_id in open_ids:
        org.update(lead, record_id, {"LastName": lead.rows[record_id]["LastName"]})
    return len(open_ids)


def test_on_the_bank_demo_the_suggestion_checks_and_trains_without_edits(tmp_path, capsys):
    """Suggest and check read the same sample and apply the same rules: no field suggest keeps
    is one check then flags."""
    with Sandbox(crms=("salesforce",), seed="bank", directory=tmp_path / "sandbox") as sandbox:
        config = write_config(tmp_path, sandbox, sf_mapping="mappings/suggested-salesforce.yaml")
        args = ["--connection", "salesforce", "--config", str(config)]
        assert main(["mappings", "suggest", *args]) == 0
        path = tmp_path / "mappings" / "suggested-salesforce.yaml"
        mapping, text = load_mapping(path), path.read_text()
        features = {f.field for f in mapping.features}
        assert not features & (OUTCOME_FIELDS | {"Duration__c", "Email", "LastName", "Id"})
        assert {"Age__c", "Job__c", "Poutcome__c", "Campaign__c"} <= features
        assert "Duration__c: leakage" in text and "ConvertedDate" in text
        pdays = next(f for f in mapping.features if f.field == "Pdays__c")
        assert pdays.missing_values == [999]  # "never contacted", not 999 days ago
        assert all(not f.missing_values for f in mapping.features if f.field != "Pdays__c")

        assert main(["fields", "create", *args, "--grant", "LeadScore_Integration"]) == 0
        capsys.readouterr()
        assert main(["check", *args, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        about_kept = [f for f in report["findings"]
                      if f["subject"] in features and f["severity"] != "ok"]
        assert about_kept == []
        assert report["sample"].startswith("a sample of 5,000 of the records")
        assert report["sample"] in " ".join(text.replace("#", " ").split())  # what suggest judged

        workspace = Workspace(load_config(config), "salesforce")
        crm = workspace.open_crm()
        try:
            result = train_model(pull_history(crm, mapping), mapping,
                                 model_dir=tmp_path / "models")
        finally:
            crm.close()
    assert result.version == "v0001" and result.metrics["roc_auc"] > 0.65, result.metrics
    assert not [w for w in result.warnings if "leakage" in w]


def test_the_sample_keeps_its_size_and_records_after_a_sync(tmp_path):
    """After a sync every open lead carries today's stamp, years after the rest of the history:
    the time windows between are empty. The sample still takes ``size`` records spread over the
    history, the same ones on every run, whichever fields are asked for."""
    with Sandbox(crms=("salesforce",), seed=small_seed(tmp_path, rows=1500),
                 directory=tmp_path / "sandbox") as sandbox:
        assert _touch_open_leads(sandbox.salesforce) == 300
        workspace = Workspace(load_config(write_config(tmp_path, sandbox)), "salesforce")
        crm = workspace.open_crm()
        try:
            samples = [sample_records(crm, fields, size=400) for fields in (
                ["LastName", "Age__c", "IsConverted"], ["LastName"], ["LastName", "Job__c"])]
        finally:
            crm.close()
    names = [[r["LastName"] for r in sample.records] for sample in samples]
    assert [len(n) for n in names] == [400, 400, 400] and len(set(names[0])) == 400
    assert names[0] == names[1] == names[2]
    # Spread: both the untouched closed history and the leads written today are in it.
    touched = sum(int(name.split()[1]) > 1200 for name in names[0])  # the newest 20 % are open
    assert 40 <= touched <= 360, touched


def test_hubspot_suggestion_leaves_out_outcome_personal_free_text_and_leaks(tmp_path, capsys):
    with Sandbox(crms=("hubspot",), seed=small_seed(tmp_path),
                 directory=tmp_path / "sandbox") as sandbox:
        config = write_config(tmp_path, sandbox)
        out = tmp_path / "suggested.yaml"
        args = ["mappings", "suggest", "--connection", "hubspot", "--config", str(config),
                "--out", str(out)]
        assert main(args) == 0
        assert main(args) == 3 and "already exists" in capsys.readouterr().err
        assert main([*args, "--force"]) == 0
    mapping, text = load_mapping(out), out.read_text()
    features = {f.field: f.kind for f in mapping.features}
    assert features == {"age": "number", "job": "category", "contact": "category"}
    assert mapping.outcome.fields() == ["lifecyclestage", "hs_lead_status"]
    assert mapping.time_field == "createdate" and mapping.outputs.score.field == "ls_score"
    assert "duration: leakage" in text and "predicts the outcome almost perfectly" in text
    assert "note: free text" in text
    assert "firstname, lastname, email" in text


def _field(name: str, kind: str, **options) -> FieldInfo:
    return FieldInfo(name, name.replace("__c", "").replace("_", " "), kind, kind, **options)


def test_a_field_filled_only_once_the_lead_converted_is_left_out():
    catalog = FieldCatalog("Lead", {f.name: f for f in [
        _field("IsConverted", "boolean", updateable=False), _field("Status", "picklist"),
        _field("CreatedDate", "datetime", updateable=False),
        _field("Contract_Signed__c", "date", custom=True),
        _field("Region__c", "picklist", custom=True), _field("Rare__c", "number", custom=True),
        _field("HasOptedOutOfEmail", "boolean")]})
    records = []
    for i in range(200):
        won = i % 4 == 0
        records.append({"IsConverted": won, "CreatedDate": "2024-01-01T00:00:00Z",
                        "Status": "Closed - Converted" if won else "Closed - Not Converted",
                        "Contract_Signed__c": f"2024-02-{1 + i % 28:02d}" if won else None,
                        "Region__c": ["north", "south"][i % 2], "Rare__c": 1 if i == 3 else None,
                        "HasOptedOutOfEmail": i % 3 == 0})
    suggestion = suggest_mapping("salesforce", catalog,
                                 Sample(records, True, datetime.now(UTC), datetime.now(UTC)))
    assert [f.field for f in suggestion.features] == ["Region__c", "HasOptedOutOfEmail"]
    why = dict(suggestion.left_out)
    assert why["Contract_Signed__c"].startswith("leakage: Contract_Signed__c ")
    assert "under 5%" in why["Rare__c"] and why["Status"].startswith("outcome field")


@pytest.mark.parametrize("values, sentinels", [
    ([999] * 96 + list(range(4)), [999]),  # pdays: 999 = never contacted
    ([-1] * 10 + [5] * 90, [-1]),  # -1 = not asked
    ([99] * 20 + list(range(80)), []),  # 99 within the range of real values
    ([9999] + list(range(199)), []),  # under 1 %: more likely one real big value
    ([9] * 50 + [1] * 50, []),  # a lone digit 9 is an ordinary number
    (list(range(100)), []),
])
def test_placeholder_numbers_are_found(values, sentinels):
    assert sentinel_values(values) == sentinels


def test_strided_sample_spreads_over_the_whole_pull():
    from connector.records import Page, Record
    from connector.admin.sampling import _strided
    from datetime import UTC, datetime
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [Page(tuple(Record(str(i), {}, stamp) for i in range(start, start + 100)), None)
             for start in range(0, 1000, 100)]
    kept = [int(r.id) for r in _strided(pages, 100)]
    assert 50 <= len(kept) <= 100 and kept[0] == 0 and kept[-1] >= 900
    assert len({b - a for a, b in zip(kept, kept[1:])}) == 1  # an even stride


def test_web_shop_fields_get_readable_labels_and_integer_codes_become_categories():
    """Fields as a public web-shop sessions file arrives: API names as labels, integer codes."""
    catalog = FieldCatalog("Lead", {f.name: f for f in [
        _field("IsConverted", "boolean", updateable=False), _field("Status", "picklist"),
        _field("CreatedDate", "datetime", updateable=False),
        FieldInfo("ProductRelated_Duration", "ProductRelated_Duration", "number", "double",
                  custom=True),
        FieldInfo("OperatingSystems", "OperatingSystems", "number", "double", custom=True),
        FieldInfo("Administrative", "Administrative", "number", "double", custom=True)]})
    rng = np.random.default_rng(0)
    records = [{"IsConverted": i % 5 == 0, "CreatedDate": f"2024-01-{1 + i % 28:02d}T00:00:00Z",
                "Status": "Closed - Converted" if i % 5 == 0 else "Closed - Not Converted",
                "ProductRelated_Duration": float(rng.lognormal(6, 1)),
                "OperatingSystems": float(rng.integers(1, 9)),
                "Administrative": float(rng.integers(0, 6))} for i in range(300)]
    suggestion = suggest_mapping("salesforce", catalog,
                                 Sample(records, True, datetime.now(UTC), datetime.now(UTC)))
    features = {f.field: f for f in suggestion.features}
    assert features["ProductRelated_Duration"].label == "Product related duration {value}"
    assert features["OperatingSystems"].kind == "category"
    assert features["OperatingSystems"].label == "Operating systems: {value}"
    assert features["Administrative"].kind == "number"  # a count of pages, not a code
    assert [readable_label(*pair) for pair in [("Lead Source", "LeadSource"), ("", "LeadID"),
                                               ("hs_lead_status", "hs_lead_status")]] == [
        "Lead Source", "Lead ID", "Hs lead status"]
