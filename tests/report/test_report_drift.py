"""The report's drift section: against the saved training profile, or the stated fallback."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.model import load_model, train_model
from connector.model.candidates import LinearCandidate
from connector.admin.report.build import FALLBACK_NOTE, build_inputs, drift_rows
from connector.admin.report.page import render_report

sys.path.insert(0, str(Path(__file__).parents[1] / "model"))
from leadsynth import make_leads, make_mapping  # noqa: E402

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model dir with a profile, the same version copied without one, the leads)."""
    leads, mapping = make_leads(2400, open_share=0.1), make_mapping()
    model_dir = tmp_path_factory.mktemp("models")
    train_model(leads, mapping, model_dir=model_dir, now=NOW, candidates=[LinearCandidate()])
    older = tmp_path_factory.mktemp("older-models")
    shutil.copytree(model_dir, older, dirs_exist_ok=True)
    (older / "v0001" / "profile.json").unlink()
    return model_dir, older, leads


def _inputs(model_dir: Path, records: list[dict]):
    model = load_model(model_dir)
    return build_inputs(connection="test", crm="salesforce", model=model,
                        version_dir=model_dir / model.version, mapping=make_mapping(),
                        records=records, runs=[], now=NOW)


def _today(leads: list[dict]) -> list[dict]:
    """Today's pull: closed leads now visit far more than at training, open leads do not."""
    return [{**r, "Visits": r["Visits"] + 8} if r["Status"].startswith("Closed") else r
            for r in leads]


def test_drift_is_measured_against_the_training_profile(trained):
    model_dir, _, leads = trained
    inputs = _inputs(model_dir, _today(leads))
    assert inputs.drift_note.startswith("Current open leads against the 2,160 closed leads")
    names = [name for name, _ in inputs.drift]
    assert names[0] == "Score" and set(names[1:]) == {"Came from", "site visits",
                                                      "Phone number", "Region"}
    values = [value for _, value in inputs.drift[1:]]
    assert values == sorted(values, reverse=True)
    # Training had the same visit mix as today's open leads, so no drift shows.
    assert dict(inputs.drift)["site visits"] < 0.1
    html = render_report(inputs)
    assert "model v0001 was trained on" in html and FALLBACK_NOTE not in html


def test_shifted_open_leads_show_a_major_shift_first(trained):
    model_dir, _, leads = trained
    moved = [{**r, "Phone": None} if r["Status"] == "Working - Contacted" else r for r in leads]
    inputs = _inputs(model_dir, moved)
    assert inputs.drift[1][0] == "Phone number" and inputs.drift[1][1] > 0.25
    assert "major shift" in render_report(inputs)


def test_a_model_without_a_profile_falls_back_and_says_so(trained):
    _, older, leads = trained
    inputs = _inputs(older, _today(leads))
    assert inputs.drift_note == FALLBACK_NOTE
    # Today's closed leads stand in for training, so their extra visits read as drift.
    assert dict(inputs.drift)["site visits"] > 0.25
    assert FALLBACK_NOTE.replace("'", "&#39;") in render_report(inputs)


def test_drift_rows_put_the_score_first_then_inputs_by_psi():
    rows = drift_rows(0.02, {"a": 0.05, "b": 0.4, "c": 0.1}, {"a": "Age", "b": "Job"})
    assert rows == [("Score", 0.02), ("Job", 0.4), ("c", 0.1), ("Age", 0.05)]
    assert drift_rows(None, {}, {}) == []
