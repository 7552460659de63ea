"""Numbers in reasons read as people write them: no scientific notation, integers as integers,
the mapping's formats (percent, durations) and units. Pinned by golden files."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from connector.mapping import Feature, Mapping
from connector.model import load_model, train_model
from connector.model.candidates import LinearCandidate
from connector.model.numbers import formatted
from connector.model.scoring import value_text

GOLDEN = Path(__file__).parent / "golden"
CASES = [(None, None, v) for v in (0, 7, 1234, 1234567.0, 2.5e7, 1e20, 12.345, 1.2345, 0.5,
                                   0.047123, 0.000234, 1e-9, -3.25, 99.95)] + [
    ("percent", None, v) for v in (0.0, 0.02, 0.153, 0.0004, 1.0, 2.5)] + [
    ("duration_s", None, v) for v in (0.4, 45.4, 75, 200, 1234.56, 3600, 7260, 90061)] + [
    ("duration_min", None, v) for v in (1.5, 90, 1500)] + [
    (None, "EUR", 1234.5), (None, "km", 12), (None, "pages", 0.5)]


def _golden(name: str, got: object) -> object:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return json.loads(path.read_text("utf-8"))


def test_number_formats_are_pinned_by_golden_file():
    got = [[fmt, unit, value, formatted(value, fmt, unit)] for fmt, unit, value in CASES]
    assert got == _golden("numbers.json", got)
    assert not any("e+" in text or "e-" in text for *_, text in got)


def test_value_text_by_kind():
    days = Feature(field="Last", kind="date", label="Last activity {value} after creation")
    assert [value_text(days, v, None) for v in (1.0, 0.25, 36.6)] == ["1 day", "0.2 days",
                                                                        "37 days"]
    hour = Feature(field="Created", kind="date", derive="hour", label="Created at {value}")
    assert value_text(hour, 9.0, None) == "09:00"
    share = Feature(field="Bounce", kind="number", format="percent", label="Bounce {value}")
    assert value_text(share, 0.0123, "0.0123") == "1.23%"


def test_format_only_for_numbers():
    with pytest.raises(ValueError, match="only apply to kind: number"):
        Feature(field="Src", kind="category", label="x", format="percent")


def _sessions(n: int, seed: int = 0) -> list[dict]:
    """Web-shop sessions: time on product pages (seconds), bounce rate (a share), page value."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    leads = []
    for i in range(n):
        seconds = float(rng.lognormal(6, 1.2))
        bounce = float(rng.beta(1, 30))
        value = float(rng.choice([0.0, rng.lognormal(3, 1)], p=[0.7, 0.3]))
        logit = -3 + 0.5 * np.log1p(seconds) / 2 - 40 * bounce + 0.08 * value
        converted = bool(rng.random() < 1 / (1 + np.exp(-logit)))
        leads.append({"Id": f"S{i:05d}", "ProductRelated_Duration": seconds,
                      "BounceRates": bounce, "PageValues": value,
                      "CreatedDate": (start + timedelta(hours=i)).isoformat(),
                      "IsConverted": converted,
                      "Status": "Closed - Converted" if converted else "Closed - Not Converted"})
    return leads


MAPPING = {
    "crm": "salesforce", "object": "Lead", "time_field": "CreatedDate",
    "outcome": {"converted_when": [{"field": "IsConverted", "equals": True}],
                "lost_when": [{"field": "Status", "equals": "Closed - Not Converted"}]},
    "features": [
        {"field": "ProductRelated_Duration", "kind": "number", "format": "duration_s",
         "label": "{value} on product pages"},
        {"field": "BounceRates", "kind": "number", "format": "percent",
         "label": "Bounce rate {value}"},
        {"field": "PageValues", "kind": "number", "unit": "EUR", "label": "Page value {value}"}],
    "outputs": {"score": "S", "tier": "T", "reason": {"field": "R", "max_length": 200}},
    "training": {"min_closed": 200, "min_converted": 30},
}


def test_reasons_on_web_sessions_are_pinned_by_golden_file(tmp_path):
    leads = _sessions(1500)
    train_model(leads, Mapping.model_validate(MAPPING), model_dir=tmp_path, force=True,
                now=datetime(2024, 3, 1, tzinfo=timezone.utc),
                candidates=[LinearCandidate(C=1.0)])
    fixed = [{"ProductRelated_Duration": 1234.56, "BounceRates": 0.00012, "PageValues": 53.7},
             {"ProductRelated_Duration": 4.0, "BounceRates": 0.2, "PageValues": 0},
             {"ProductRelated_Duration": 86400 * 1.5, "BounceRates": 0.031,
              "PageValues": 12345.678}]
    got = [s.reason for s in load_model(tmp_path).score(fixed)]
    assert got == _golden("reasons_sessions.json", got)
