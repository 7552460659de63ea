"""The feature transform: named, stable columns; CRM typing; garbage never crashes or shifts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.model.features import MISSING, OTHER, FeatureEncoder, parse_time
from connector.mapping import Feature

FEATURES = [
    Feature(field="Source", kind="category", label="Came from {value}", min_count=1,
            aliases={"Web": ["website", "web site"]}),
    Feature(field="Employees", kind="number", label="{value} employees", missing_values=[999]),
    Feature(field="OptOut", kind="boolean", label="Opted out {value}"),
    Feature(field="Phone", kind="text_present", label="Phone {value}"),
    Feature(field="LastActivity", kind="date", label="Active {value} after creation"),
    Feature(field="Created", kind="date", derive="weekday", label="Created on {value}",
            min_count=1),
]
TRAIN = [
    {"Source": "Web", "Employees": 10, "OptOut": False, "Phone": "+1 555",
     "LastActivity": "2024-05-03", "Created": "2024-05-01T10:00:00.000+0000"},
    {"Source": "Partner", "Employees": 30, "OptOut": True, "Phone": None,
     "LastActivity": None, "Created": "2024-05-02T10:00:00.000+0000"},
    {"Source": "web site", "Employees": None, "OptOut": None, "Phone": "",
     "LastActivity": "2024-05-10T00:00:00Z", "Created": "2024-05-01T00:00:00.000+0000"},
]


def encoder() -> FeatureEncoder:
    return FeatureEncoder(FEATURES, time_field="Created").fit(TRAIN)


def test_columns_are_named_and_grouped_by_field():
    enc = encoder()
    assert enc.columns_ == (
        "Source=web", "Source=partner", f"Source={OTHER}", f"Source={MISSING}",
        "Employees", "Employees:missing", "OptOut", "OptOut:missing", "Phone:present",
        "LastActivity", "LastActivity:missing",
        "Created=wed", "Created=thu", f"Created={OTHER}", f"Created={MISSING}")
    assert set(enc.fields_) == {f.field for f in FEATURES}


def test_values_salesforce_and_hubspot_typed_alike():
    enc = encoder()
    salesforce = {"Source": " WEBSITE ", "Employees": 42, "OptOut": True, "Phone": "x",
                  "LastActivity": "2024-05-03T00:00:00.000+0000",
                  "Created": "2024-05-01T00:00:00.000+0000"}
    hubspot = {"Source": "website", "Employees": "42", "OptOut": "true", "Phone": "x",
               "LastActivity": "1714694400000", "Created": "2024-05-01T00:00:00Z"}
    rows = enc.transform([salesforce, hubspot]).values
    np.testing.assert_array_equal(rows[0], rows[1])
    named = dict(zip(enc.columns_, rows[0]))
    assert named["Source=web"] == 1 and named["Employees"] == 42 and named["OptOut"] == 1
    assert named["LastActivity"] == 2.0  # days after the lead's own creation, not after today
    assert named["Created=wed"] == 1


def test_missing_unseen_and_sentinel_values():
    enc = encoder()
    named = dict(zip(enc.columns_, enc.transform([{"Source": "Trade show", "Employees": 999,
                                                    "Phone": "N/A"}]).values[0]))
    assert named[f"Source={OTHER}"] == 1
    assert named["Employees:missing"] == 1 and named["Employees"] == 20.0  # the training median
    assert named["Phone:present"] == 0 and named["OptOut:missing"] == 1
    assert named[f"Created={MISSING}"] == 1 and named["LastActivity:missing"] == 1


def test_deterministic_and_round_trips():
    enc = encoder()
    again = FeatureEncoder.from_dict(enc.to_dict())
    np.testing.assert_array_equal(enc.transform(TRAIN).values, again.transform(TRAIN).values)
    assert again.columns_ == enc.columns_


def test_parse_time_formats():
    assert parse_time("2024-05-01") == parse_time("2024-05-01T00:00:00.000+0000")
    assert parse_time("2024-09-11T13:27:39.356Z") == parse_time(1726061259356)
    assert parse_time("1726061259356") == parse_time(1726061259356)
    for garbage in ("soon", "", None, True, float("nan"), "9" * 50, [1]):
        assert parse_time(garbage) is None


garbage = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.sampled_from(["N/A", "", "  ", "null", "∞", "1e400", "-0",
                                           "2024-13-45", "x" * 5000, "99999999999999999"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                          max_size=2),
)
records = st.lists(st.one_of(
    st.fixed_dictionaries({f.field: garbage for f in FEATURES}),
    st.dictionaries(st.sampled_from([f.field for f in FEATURES] + ["Other"]), garbage),
    st.none(), st.integers()), max_size=8)


@settings(max_examples=150, deadline=None)
@given(records)
def test_garbage_never_crashes_or_shifts_columns(batch):
    enc = encoder()
    matrix = enc.transform(batch)
    assert matrix.values.shape == (len(batch), len(enc.columns_))
    assert np.isfinite(matrix.values).all()
    # Each categorical field has exactly one active level column, whatever came in.
    for field in ("Source", "Created"):
        cols = [i for i, f in enumerate(matrix.fields) if f == field]
        assert (matrix.values[:, cols].sum(axis=1) == 1).all()


@settings(max_examples=60, deadline=None)
@given(records, garbage)
def test_one_fields_garbage_leaves_other_fields_alone(batch, value):
    enc = encoder()
    clean = [r if isinstance(r, dict) else {} for r in batch] or [{}]
    spoiled = [{**r, "Source": value} for r in clean]
    keep = [i for i, f in enumerate(enc.fields_) if f != "Source"]
    np.testing.assert_array_equal(enc.transform(clean).values[:, keep],
                                  enc.transform(spoiled).values[:, keep])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fixed_dictionaries({f.field: garbage for f in FEATURES}), max_size=20))
def test_fit_on_garbage_still_gives_a_fixed_layout(batch):
    enc = FeatureEncoder(FEATURES, time_field="Created").fit(batch)
    matrix = enc.transform(TRAIN + batch)
    assert matrix.values.shape[1] == len(enc.columns_) and np.isfinite(matrix.values).all()
