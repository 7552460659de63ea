"""`leadscore demo`: the full cycle on the sandbox, graded against the hidden outcomes."""

import json

import pytest

from connector.cli import main
from connector.admin.demo import grade
from connector.errors import LeadscoreError


def test_grade_counts_tiers_and_the_top_decile():
    outputs = {f"id{i}": {"s": 100 - i, "t": "Hot" if i < 10 else "Cold"} for i in range(100)}
    hidden = {f"id{i}": i < 5 or i % 10 == 0 for i in range(100)}
    graded = grade(outputs, hidden, "s", "t", ["Hot", "Cold"])
    assert graded["open_leads"] == 100 and graded["open_conversion"] == pytest.approx(0.14)
    assert graded["top_decile_conversion"] == pytest.approx(0.5)
    assert graded["top_decile_conversion_ratio"] == pytest.approx(0.5 / 0.14, rel=1e-3)
    assert graded["tiers"] == [{"tier": "Hot", "leads": 10, "conversion": 0.5},
                               {"tier": "Cold", "leads": 90, "conversion": 0.1}]


def test_grade_refuses_when_nothing_was_written():
    with pytest.raises(LeadscoreError, match="no open lead holds a score"):
        grade({"a": {"s": None, "t": None}}, {"a": True}, "s", "t", ["Hot"])


def test_demo_json_on_salesforce(tmp_path, capsys):
    (tmp_path / "models" / "salesforce" / "v0007").mkdir(parents=True)  # an earlier demo's
    (tmp_path / "leadscore-state.db").write_text("not a database")
    assert main(["demo", "--dir", str(tmp_path), "--crm", "salesforce", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    sf = summary["crms"]["salesforce"]
    assert sf["open_leads"] == 8238
    assert sum(t["leads"] for t in sf["tiers"]) == 8238
    assert sf["top_decile_conversion_ratio"] >= 2.0
    assert 0 < sf["api_calls"] < 200
    report = tmp_path / "report-salesforce.html"
    assert summary["reports"] == [str(report)] and report.stat().st_size > 20_000
    assert "CC BY 4.0" in report.read_text()
    assert sf["model_version"] == "v0001"
