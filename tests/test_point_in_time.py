"""Point-in-time training end to end on the sandbox, through the CLI: bank data with the call
``duration`` known only after the outcome, a mapping that includes it. ``check`` and
``mappings suggest`` name it, ``train`` warns and (``--strict``) refuses; after a sync logs the
open leads and the time route closes half of them, training uses the logged inputs, rebuilds the
older leads from LeadHistory, and shows today's-values validation beside its own."""

from __future__ import annotations

import json

import pytest
import requests
from sync_support import MAPPINGS, environ, small_bank

from connector.admin.check import run_check
from connector.admin.suggest import suggest_for_connection
from connector.cli import main
from connector.cli import model_cmd, sync_cmd  # noqa: F401  (registers the commands)
from connector.crm import open_crm
from connector.model import load_model
from connector.sandbox import Sandbox
from connector.sandbox.seeding import with_post_outcome_columns
from connector.state import StateStore
from connector.sync.workspace import open_workspace
from tests.admin_support import write_config

LEADS = 2000


@pytest.fixture
def project(tmp_path, monkeypatch):
    data = with_post_outcome_columns(small_bank(LEADS, open_share=0.4), ["duration"])
    with Sandbox(crms=("salesforce",), seed=data) as box:
        mapping = MAPPINGS["salesforce"].read_text().replace(
            "features:\n", "features:\n  - {field: Duration__c, kind: number, "
            "label: \"{value} s call\"}\n").replace(
            "min_closed: 1000\n  min_converted: 120", "min_closed: 500\n  min_converted: 40")
        (tmp_path / "mapping.yaml").write_text(mapping, encoding="utf-8")
        config = write_config(tmp_path, box)
        monkeypatch.chdir(tmp_path)
        yield box, config


def _train(config, capsys, *extra) -> tuple[int, dict]:
    code = main(["train", "-c", "salesforce", "--config", str(config), "--json", *extra])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1]) if out and out[-1].startswith("{") else {}


def test_duration_is_named_everywhere_and_training_uses_logged_inputs(project, capsys):
    box, config = project
    report = run_check(config, "salesforce", environ=environ())
    named = [f for f in report.findings if f.subject == "Duration__c"]
    assert {f.severity for f in named} == {"warning"}
    text = " ".join(f.message for f in named)
    assert "filled on 100% of" in text and "but 0% of" in text
    assert "set at or after the outcome on 100% of" in text

    workspace = open_workspace(config, "salesforce")
    crm = open_crm(workspace.connection, environ=environ())
    try:
        suggestion = suggest_for_connection(crm, workspace.connection)
    finally:
        crm.close()
    reasons = dict(suggestion.left_out)
    assert "Duration__c" in reasons and "leakage" in reasons["Duration__c"]
    assert "Duration__c" not in {f.field for f in suggestion.features}

    assert main(["fields", "create", "-c", "salesforce", "--config", str(config)]) == 0
    box.salesforce.enforce_field_security = False  # the admin granted access
    code, first = _train(config, capsys, "--force")
    assert code == 0
    assert any("likely leakage: Duration__c" in w for w in first["warnings"])

    assert main(["sync", "-c", "salesforce", "--config", str(config)]) == 0
    opened = box.salesforce.hidden_outcomes()
    with StateStore(config.parent / "state.db") as state:
        assert state.feature_log.count("salesforce") == len(opened)
    closed = requests.post(box.info["salesforce"]["admin_url"] + "/close",
                           json={"share": 0.5, "seed": 1}, timeout=30,
                           verify=box.info["salesforce"]["ca_file"]).json()
    assert closed["closed"] == round(len(opened) / 2)

    code, second = _train(config, capsys, "--force")
    assert code == 0
    card = load_model(workspace.model_dir).card
    inputs = card["inputs"]
    assert inputs["logged"] == closed["closed"]
    assert inputs["history"] == LEADS - len(opened)
    assert inputs["today"] == 0
    # Empty while open, filled today: every closed lead's duration differs.
    assert inputs["fields_differing_from_today"]["Duration__c"] == LEADS - len(closed["ids"])
    validation = card["validation"]
    assert validation["today_values_roc_auc"] > validation["point_in_time_roc_auc"] + 0.05
    assert validation["fields"][0]["field"] == "Duration__c"
    # Half of the closed leads of the open leads' period, held out while fitting on the rest.
    assert validation["open_period_holdout"] == closed["closed"] // 2
    assert 0.5 < validation["open_period_roc_auc"] < validation["today_values_roc_auc"]
    assert any(w.startswith("likely leakage: Duration__c makes validation")
               for w in second["warnings"])

    assert main(["train", "-c", "salesforce", "--config", str(config), "--strict"]) == 3
    err = capsys.readouterr().err
    assert "refused (--strict): likely leakage in Duration__c" in err

