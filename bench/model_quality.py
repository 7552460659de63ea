"""Model quality on the UCI bank marketing calls: the product against plain baselines.

Prints one JSON object per split:

* ``temporal``: the file is time-ordered; the oldest 80% is the history the product trains on
  (exactly the closed leads of the sandbox CRM, oldest 80% of the file), the newest 20% (the
  leads the sandbox leaves open) is the test set. The product runs its own train path on the
  history: it picks among candidates on the newest 20% *of the history*, refits, recalibrates.
* ``random``: a stratified random 80/20 split (seed 0), for comparison with published figures.

Every model sees the same fields (bench/../mappings/bank-demo-salesforce.yaml: no ``duration``,
no national indicators). Baselines use library defaults on the product's one-hot encoding; the
points rule is the mapping's own ``baseline``, turned into probabilities by the conversion rate
of each points total in the training data (what an admin would read off a report).

Run: ``.venv/bin/python bench/model_quality.py [MAPPING.yaml]`` (default: the demo mapping).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.model.features import FeatureEncoder  # noqa: E402
from connector.mapping import load_mapping  # noqa: E402
from connector.model import load_model, train_model  # noqa: E402
from connector.model import metrics  # noqa: E402
from connector.model.train import baseline_scores  # noqa: E402

DATA = ROOT / "connector" / "sandbox" / "demo" / "bank-additional-full.csv.gz"
MAPPING = ROOT / "mappings" / "bank-demo-salesforce.yaml"
START, END = datetime(2008, 5, 1, tzinfo=timezone.utc), datetime(2010, 11, 30, tzinfo=timezone.utc)


def salesforce_field(column: str) -> str:
    """CSV column -> the sandbox's Salesforce custom field name (emp.var.rate -> Emp_Var_Rate__c)."""
    return "_".join(p.capitalize() for p in re.split(r"[^0-9A-Za-z]+", column) if p) + "__c"


def bank_leads() -> tuple[list[dict], np.ndarray]:
    """Every call as a Salesforce Lead dict (closed, outcome fields set) and the 0/1 outcome."""
    with gzip.open(DATA, "rt", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    header, rows = rows[0], rows[1:]
    step = (END - START) / len(rows)
    leads, y = [], []
    for i, row in enumerate(rows):
        lead = {}
        for column, value in zip(header, row):
            if column == "y":
                continue
            try:
                lead[salesforce_field(column)] = float(value) if "." in value else int(value)
            except ValueError:
                lead[salesforce_field(column)] = value
        converted = row[-1] == "yes"
        created = START + step * i
        lead.update(Id=f"00Q{i:015d}", CreatedDate=created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                    IsConverted=converted,
                    Status="Closed - Converted" if converted else "Closed - Not Converted")
        leads.append(lead)
        y.append(int(converted))
    return leads, np.array(y)


def _row(y: np.ndarray, score: np.ndarray, probability: np.ndarray, train_s: float) -> dict:
    return {**metrics.summary(y, score, probability), "train_s": round(train_s, 2)}


def baselines(mapping, train: list[dict], y_train: np.ndarray, test: list[dict],
              y_test: np.ndarray) -> dict:
    """Plain models a user could pick instead, on the product's one-hot encoding."""
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit(train)
    X_train, X_test = encoder.transform(train).values, encoder.transform(test).values
    plain = {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "random_forest": RandomForestClassifier(n_jobs=2, random_state=0),
        "xgboost_default": xgb.XGBClassifier(n_jobs=2, random_state=0),
    }
    out = {}
    for name, model in plain.items():
        started = time.perf_counter()
        model.fit(X_train, y_train)
        train_s = time.perf_counter() - started
        p = model.predict_proba(X_test)[:, 1]
        out[name] = _row(y_test, p, p, train_s)
    started = time.perf_counter()
    points_train, points_test = baseline_scores(mapping, train), baseline_scores(mapping, test)
    rate = {v: y_train[points_train == v].mean() for v in np.unique(points_train)}
    p = np.array([rate.get(v, y_train.mean()) for v in points_test])
    out["points"] = _row(y_test, points_test, p, time.perf_counter() - started)
    return out


def product(mapping, train: list[dict], test: list[dict], y_test: np.ndarray) -> dict:
    """The product's own train path, scored on the test leads."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = train_model(train, mapping, model_dir=Path(folder), force=True)
        train_s = time.perf_counter() - started
        model = load_model(Path(folder))
        p = model.probabilities(test)
        scores = model.score(test)
    tiers = [s.tier for s in scores]
    row = _row(y_test, p, p, train_s)
    row.update(chosen=result.card["chosen"],
               tiers=metrics.tier_table(y_test, p, tiers, [c[0] for c in model.cuts]),
               candidates_on_history_holdout={c["name"]: c["roc_auc"]
                                              for c in result.card["candidates"]},
               warnings=result.warnings)
    return row


def main() -> None:
    mapping = load_mapping(sys.argv[1] if len(sys.argv) > 1 else MAPPING)
    leads, y = bank_leads()
    cut = int(len(leads) * 0.8)
    first, second = train_test_split(np.arange(len(leads)), test_size=0.2, stratify=y,
                                     random_state=0)
    splits = {"temporal": (np.arange(cut), np.arange(cut, len(leads))),
              "random": (np.sort(first), np.sort(second))}
    for split, (train_idx, test_idx) in splits.items():
        train, test = [leads[i] for i in train_idx], [leads[i] for i in test_idx]
        models = {"product": product(mapping, train, test, y[test_idx]),
                  **baselines(mapping, train, y[train_idx], test, y[test_idx])}
        print(json.dumps({"split": split, "train_leads": len(train), "test_leads": len(test),
                          "test_conversion_rate": round(float(y[test_idx].mean()), 4),
                          "models": models}), flush=True)


if __name__ == "__main__":
    main()
