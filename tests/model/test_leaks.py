"""Leak detectors on data with a known leak, one per detector, and a legitimately sparse field
that must not be flagged; point-in-time training counts its inputs, validates on them, shows
today's-values validation beside them and names the field that makes the difference."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from leadsynth import MAPPING, make_leads, make_mapping

from connector.crm.history import FieldChange
from connector.model import train_model
from connector.model.leaks import closed_open_gaps, set_after_outcome, validation_gap
from connector.model.point_in_time import assemble
from connector.state.feature_log import LoggedInputs

CLOSE = timedelta(days=5)


def _at(lead: dict) -> datetime:
    return datetime.fromisoformat(lead["CreatedDate"].replace("+0000", "+00:00"))


def _with_rating(leads: list[dict], seed: int = 1) -> list[dict]:
    """A rep's rating filled at the close on closed leads (mostly "A" on conversions), empty on
    open ones; plus a legitimately sparse field filled on 10% of every lead."""
    rng = np.random.default_rng(seed)
    out = []
    for lead in leads:
        closed = lead["Status"].startswith("Closed")
        rating = None
        if closed and rng.random() < 0.95:
            hot = lead["IsConverted"] if rng.random() < 0.9 else not lead["IsConverted"]
            rating = "A" if hot else "C"
        out.append({**lead, "Rating": rating,
                    "Referrer": "partner-x" if rng.random() < 0.10 else None})
    return out


def _outcome_of(mapping):
    return mapping.outcome_of


@pytest.fixture(scope="module")
def rated():
    return _with_rating(make_leads(2400, open_share=0.3))


def test_fill_gap_names_the_field_with_its_numbers_and_spares_a_sparse_one(rated):
    mapping = make_mapping()
    leaks = closed_open_gaps(rated, ["Rating", "Referrer", "Visits"], mapping.outcome_of,
                             "CreatedDate")
    assert [leak.field for leak in leaks] == ["Rating"]
    (leak,) = leaks
    assert leak.detector == "fill_gap"
    assert "filled on 95% of 1,680 closed leads but 0% of 720 open ones" in leak.line()
    assert "leave it out of the features" in leak.advice


def test_value_gap_compares_leads_of_the_same_period_only():
    leads = make_leads(3000, open_share=0.0)
    mapping = make_mapping()
    rng = np.random.default_rng(3)
    mixed = []
    for i, lead in enumerate(leads):
        is_open = i >= 1500 and rng.random() < 0.5  # open and closed leads of one period
        stage = ("Qualified" if lead["IsConverted"] else "Disqualified") if not is_open else "New"
        drifted = "late" if i >= 1500 else "early"  # differs by period, not by outcome
        lead = {**lead, "Stage": stage, "Era": drifted}
        if is_open:
            lead.update(IsConverted=False, Status="Working - Contacted")
        mixed.append(lead)
    leaks = closed_open_gaps(mixed, ["Stage", "Era", "Region"], mapping.outcome_of,
                             "CreatedDate")
    assert [(leak.field, leak.detector) for leak in leaks] == [("Stage", "value_gap")]
    assert "of the same period (PSI" in leaks[0].seen


def test_history_showing_the_value_set_at_the_close_is_flagged(rated):
    history, today = {}, {}
    for lead in rated:
        if not lead["Status"].startswith("Closed"):
            continue
        closed_at = _at(lead) + CLOSE
        changes = [FieldChange("Status", closed_at, "Working - Contacted", lead["Status"]),
                   FieldChange("Visits", _at(lead) + timedelta(days=1), 0, lead["Visits"])]
        if lead["Rating"] is not None:
            changes.append(FieldChange("Rating", closed_at, None, lead["Rating"]))
        history[lead["Id"]], today[lead["Id"]] = changes, lead
    leaks = set_after_outcome(today, history, ["Rating", "Visits", "Referrer"],
                              ["IsConverted", "Status"], "CreatedDate")
    assert [leak.field for leak in leaks] == ["Rating"]
    assert "set at or after the outcome on 100% of 1,602 closed leads" in leaks[0].seen


def test_validation_gap_needs_a_real_difference():
    assert validation_gap(0.80, 0.79, [("X", "e")]) == []
    (leak,) = validation_gap(0.95, 0.70, [("Rating", "its value differs on 95%")])
    assert "ROC AUC 0.950" in leak.seen and "0.700" in leak.seen and leak.field == "Rating"


def _point_in_time(leads, mapping):
    """Closed leads whose rating was logged empty while open (the log saw every second one)."""
    closed = [(lead["Id"], lead) for lead in leads if mapping.outcome_of(lead) is not None]
    features = [f.field for f in mapping.features]
    logged = {i: [LoggedInputs(i, _at(v), {**{f: v.get(f) for f in features}, "Rating": None})]
              for n, (i, v) in enumerate(closed) if n % 2 == 0}
    history = {i: [FieldChange("Status", _at(v) + CLOSE, "Working - Contacted", v["Status"])]
               + ([FieldChange("Rating", _at(v) + CLOSE, None, v["Rating"])]
                  if v["Rating"] is not None else [])
               for n, (i, v) in enumerate(closed) if n % 2 == 1 and n % 10 != 1}
    return assemble(closed, mapping, logged, history)


def test_training_on_point_in_time_inputs_shows_both_validations_and_names_the_field(
        rated, tmp_path):
    mapping = make_mapping(features=[*MAPPING["features"],
                                     {"field": "Rating", "kind": "category", "label": "{value}"}])
    pit = _point_in_time(rated, mapping)
    counts = pit.counts()
    assert counts == {"logged": 840, "history": 672, "today": 168}
    result = train_model(pit.records, mapping, model_dir=tmp_path, force=True,
                         point_in_time=pit)
    card = result.card
    assert card["inputs"]["logged"] == 840 and card["inputs"]["today"] == 168
    assert card["inputs"]["fields_differing_from_today"]["Rating"] > 1300
    validation = card["validation"]
    assert validation["today_values_roc_auc"] > validation["point_in_time_roc_auc"] + 0.05
    assert validation["point_in_time_roc_auc"] == round(card["holdout"]["roc_auc"], 4)
    assert validation["fields"][0]["field"] == "Rating"
    named = [w for w in result.warnings if w.startswith("likely leakage: Rating makes")]
    assert named and "validation on today's values read ROC AUC" in named[0]

    strict = train_model(pit.records, mapping, model_dir=tmp_path / "strict",
                         point_in_time=pit, strict=True)
    assert not strict.promoted and strict.card["decision"].startswith("refused (--strict)")
    assert "Rating" in strict.card["decision"]


def test_without_a_leak_both_validations_agree(tmp_path):
    mapping = make_mapping()
    leads = make_leads(2400, open_share=0.0)
    pit = assemble([(lead["Id"], lead) for lead in leads], mapping,
                   {lead["Id"]: [LoggedInputs(lead["Id"], _at(lead), dict(lead))]
                    for lead in leads[::2]}, None)
    result = train_model(pit.records, mapping, model_dir=tmp_path, force=True,
                         point_in_time=pit)
    assert result.card["validation"]["gap"] == 0.0 and result.card["leaks"] == []
    assert not any(w.startswith("likely leakage") for w in result.warnings)
