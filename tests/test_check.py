"""`leadscore check` against a live sandbox: one clear line and exit 3 per kind of problem."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from connector.cli import main
from connector.config import load_config
from connector.mapping import load_mapping
from connector.sandbox import Sandbox
from connector.sync.workspace import Workspace
from connector.sync.writeback import output_specs
from tests.admin_support import salesforce_mapping, small_seed, write_config


@pytest.fixture
def sandbox(tmp_path):
    """A Salesforce sandbox seeded with 400 small rows."""
    with Sandbox(crms=("salesforce",), seed=small_seed(tmp_path),
                 directory=tmp_path / "sandbox") as running:
        yield running


def provision(config, sandbox, mapping_path, *, grant: bool = True, edit: bool = True,
              digits: dict[str, tuple[int, int]] | None = None) -> None:
    """Create the mapping's output fields (as `leadscore fields create` does, or with the
    (precision, scale) in ``digits`` as an admin might make them by hand in Setup), then grant
    field-level security as the admin would in Setup (or not)."""
    specs = [replace(spec, precision=digits[spec.name][0], scale=digits[spec.name][1])
             if spec.name in (digits or {}) else spec
             for spec in output_specs(load_mapping(mapping_path))]
    crm = Workspace(load_config(config), "salesforce").open_crm()
    try:
        crm.ensure_fields(specs)
    finally:
        crm.close()
    for spec in specs:
        if grant:
            sandbox.salesforce.grant_field_access(spec.name, edit=edit)


def run(config, capsys, *extra) -> tuple[int, str]:
    code = main(["check", "--connection", "salesforce", "--config", str(config), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_a_provisioned_connection_passes_and_profiles_the_data(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path))
    code, out = run(config, capsys)
    assert code == 0, out
    assert "nothing to fix" in out and "all 400 records" in out
    assert lines_with(out, "Job__c") and "outcomes in the sample" in out


def test_json_report(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path))
    code = main(["check", "--connection", "salesforce", "--config", str(config), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] and report["problems"] == 0
    assert {f["field"] for f in report["features"]} == {"Age__c", "Job__c"}
    assert report["outcomes"]["closed"] + report["outcomes"]["open"] == 400


def test_a_mapping_field_missing_in_the_crm(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    mapping = salesforce_mapping(tmp_path, age_field="Agee__c")
    provision(config, sandbox, mapping)
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "Lead has no field Agee__c")
    assert "mapping.yaml:10 features.0.field" in line and "fix:" in line
    assert "check found 1 problem in connection 'salesforce'" in out


def test_an_output_field_too_short(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path, reason_length=300))
    salesforce_mapping(tmp_path, reason_length=1000)  # the admin raised it afterwards
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "LS_Reason__c holds 300 characters")
    assert "outputs.reason.max_length is 1000" in line and "widen Lead.LS_Reason__c" in line


def test_a_probability_output_of_the_default_size_passes(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path, probability="LS_Probability__c"))
    code, out = run(config, capsys)
    assert code == 0, out
    assert "4 output fields exist and are writable" in out


def test_a_score_field_too_small_for_a_score_of_100(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path), digits={"LS_Score__c": (2, 0)})
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "LS_Score__c")
    assert "Lead.LS_Score__c holds numbers up to 99 (Number(2,0)) but scores (scoring.scale: " \
           "probability) go up to 100 (" in line and "outputs.score" in line
    assert "widen Lead.LS_Score__c to Number(3,0)" in line
    assert "check found 1 problem in connection 'salesforce'" in out


@pytest.mark.parametrize("digits, says, wanted", [
    ((3, 2), "keeps 2 decimals (Number(3,2)) but probability values have 3", "Number(4,3)"),
    ((3, 3), "holds numbers up to 0.999 (Number(3,3)) but the probability goes up to 1",
     "Number(4,3)"),
    ((2, 2), ("holds numbers up to 0.99 (Number(2,2)) but the probability goes up to 1 and "
              "keeps 2 decimals (Number(2,2)) but probability values have 3"), "Number(4,3)"),
])
def test_a_probability_field_too_small_for_its_values(tmp_path, sandbox, capsys, digits, says,
                                                      wanted):
    config = write_config(tmp_path, sandbox)
    mapping = salesforce_mapping(tmp_path, probability="LS_Probability__c")
    provision(config, sandbox, mapping, digits={"LS_Probability__c": digits})
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "LS_Probability__c")
    assert f"Lead.LS_Probability__c {says} (" in line and "outputs.probability" in line
    assert f"widen Lead.LS_Probability__c to {wanted}" in line
    assert "check found 1 problem" in out


def test_an_output_field_without_field_level_security(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path), grant=False)
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "Lead.LS_Score__c exists but the integration user can neither")
    assert "grant field-level security (Read and Edit) on Lead.LS_Score__c" in line
    assert "--grant PERMISSION_SET" in line
    assert len(lines_with(out, "can neither see nor edit")) == 3


def test_an_output_field_that_is_read_only(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    provision(config, sandbox, salesforce_mapping(tmp_path), edit=False)
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "Lead.LS_Tier__c is read-only for the integration user")
    assert "grant Edit on Lead.LS_Tier__c" in line


def test_a_wrong_credential(tmp_path, sandbox, capsys):
    config = write_config(tmp_path, sandbox)
    text = (tmp_path / ".env").read_text().replace("SALESFORCE_PASSWORD=sandbox-password",
                                                   "SALESFORCE_PASSWORD=wrong")
    (tmp_path / ".env").write_text(text)
    salesforce_mapping(tmp_path)
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "Salesforce refused the password flow credentials")
    assert "SALESFORCE_PASSWORD" in line


def test_a_missing_environment_variable(tmp_path, sandbox, capsys, monkeypatch):
    monkeypatch.delenv("SALESFORCE_PASSWORD", raising=False)
    config = write_config(tmp_path, sandbox)
    text = (tmp_path / ".env").read_text()
    (tmp_path / ".env").write_text(
        "\n".join(line for line in text.splitlines()
                  if not line.startswith("SALESFORCE_PASSWORD")))
    salesforce_mapping(tmp_path)
    code, out = run(config, capsys)
    assert code == 3
    [line] = lines_with(out, "environment variable SALESFORCE_PASSWORD not set")
    assert "password flow" in line


def test_a_config_error_names_the_file_and_key(tmp_path, capsys):
    config = tmp_path / "leadscore.toml"
    config.write_text('[connections.salesforce]\ncrm = "salesforce"\nmapping = "m.yaml"\n'
                      'auth = "oauth"\n')
    code, out = run(config, capsys)
    assert code == 3
    assert lines_with(out, "leadscore.toml: connections.salesforce.auth")
