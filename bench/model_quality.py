"""Model quality on the UCI bank marketing calls: the product against plain baselines.

Prints one JSON object per split:

* ``temporal``: the file is time-ordered; the oldest 80% is the history the product trains on
  (exactly the closed leads of the sandbox CRM, oldest 80% of the file), the newest 20% (the
  leads the sandbox leaves open) is the test set. The product runs its own train path on the
  history: it picks among candidates on the newest 20% *of the history*, refits, recalibrates.
* ``random``: a stratified random 80/20 split (seed 0), for comparison with published figures.
* ``rolling``: what the weekly retrain does. The newest 20% is cut into 5 consecutive blocks;
  before each block every model is retrained on all leads older than it, then scores the block.
  Reported pooled over the 5 blocks and per block.

Per split, every product candidate is also fit on the same training leads as the product would
fit it if it won (boosting rounds by early stopping on the newest sixth of the training leads,
or a random sixth on the random split, then a refit on all of them with those rounds) and its
ROC AUC on the test leads is listed next to the product's pick.

Every model sees the same fields (bench/../mappings/bank-demo-salesforce.yaml: no ``duration``,
no national indicators). Baselines use library defaults on the product's one-hot encoding; the
points rule is the mapping's own ``baseline``, turned into probabilities by the conversion rate
of each points total in the training data (what an admin would read off a report).

Run: ``.venv/bin/python bench/model_quality.py [MAPPING.yaml [SPLIT,...]] [--no-candidates]``
(default: the demo mapping, every split; ``--no-candidates`` skips the per-candidate refits,
which take about half the time, e.g. for a quick rolling run on a busy machine).
"""

from __future__ import annotations

import csv
import gzip
import json
import math
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

from connector.model.features import FeatureEncoder, FeatureMatrix  # noqa: E402
from connector.mapping import load_mapping  # noqa: E402
from connector.model import load_model, train_model  # noqa: E402
from connector.model import metrics  # noqa: E402
from connector.model.candidates import default_candidates, fresh  # noqa: E402
from connector.model.selection import fit_candidate  # noqa: E402
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


def baseline_predictions(mapping, train: list[dict], y_train: np.ndarray,
                         test: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Plain models a user could pick instead, on the product's one-hot encoding:
    name -> (score, probability, train seconds) on ``test``."""
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
        out[name] = (p, p, train_s)
    started = time.perf_counter()
    points_train, points_test = baseline_scores(mapping, train), baseline_scores(mapping, test)
    rate = {v: y_train[points_train == v].mean() for v in np.unique(points_train)}
    p = np.array([rate.get(v, y_train.mean()) for v in points_test])
    out["points"] = (points_test, p, time.perf_counter() - started)
    return out


def product_predictions(mapping, train: list[dict], test: list[dict]) -> tuple[np.ndarray,
                                                                                dict, list]:
    """The product's own train path: (probabilities on ``test``, card, tiers of ``test``)."""
    with tempfile.TemporaryDirectory() as folder:
        started, cpu = time.perf_counter(), time.process_time()
        result = train_model(train, mapping, model_dir=Path(folder), force=True)
        result.card["bench_train_s"] = round(time.perf_counter() - started, 2)
        # CPU seconds too: on a shared machine the wall clock also counts other processes.
        result.card["bench_train_cpu_s"] = round(time.process_time() - cpu, 2)
        model = load_model(Path(folder))
        p = model.probabilities(test)
        tiers = [s.tier for s in model.score(test)]
    result.card["cut_names"] = [c[0] for c in model.cuts]
    return p, result.card, tiers


def candidate_predictions(mapping, train: list[dict], y_train: np.ndarray, test: list[dict],
                          shuffle: bool) -> dict[str, np.ndarray]:
    """Every product candidate fit on ``train`` as the product fits a winner: name -> margin
    on ``test``."""
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit(train)
    full, X_test = encoder.transform(train), encoder.transform(test).values
    order = np.random.default_rng(0).permutation(len(train)) if shuffle else np.arange(len(train))
    shuffled = FeatureMatrix(full.values[order], full.columns, full.fields, full.roles)
    # The rows the product would have chosen on: a recency half-life keeps its span in leads.
    chosen_on = len(train) - math.ceil(len(train) * mapping.training.holdout_share)
    out = {}
    for candidate in default_candidates():
        name = candidate.name
        if candidate.family == "xgboost":
            fit_candidate(candidate, shuffled, y_train[order], early_stop=True)
        candidate = fresh(candidate, chosen_on, len(train))
        out[name] = fit_candidate(candidate, full, y_train, early_stop=False).margin(X_test)
    return out


def _block_rows(y_blocks: list[np.ndarray], scores: list[np.ndarray]) -> list[float]:
    return [round(metrics.roc_auc(y, s), 4) for y, s in zip(y_blocks, scores)]


def evaluate(mapping, leads: list[dict], y: np.ndarray,
             folds: list[tuple[np.ndarray, np.ndarray]], shuffle: bool,
             with_candidates: bool = True) -> dict:
    """Train every model on each fold's training leads, pool the test predictions, and report
    the product, its candidates and the plain baselines (pooled, and per fold if several)."""
    pooled: dict[str, list] = {}
    y_blocks, cards, tiers_all, train_seconds = [], [], [], {}
    for train_idx, test_idx in folds:
        train, test = [leads[i] for i in train_idx], [leads[i] for i in test_idx]
        y_blocks.append(y[test_idx])
        p, card, tiers = product_predictions(mapping, train, test)
        cards.append(card)
        tiers_all += tiers
        pooled.setdefault("product", []).append((p, p))
        train_seconds.setdefault("product", []).append(card["bench_train_s"])
        train_seconds.setdefault("product cpu", []).append(card["bench_train_cpu_s"])
        for name, (score, prob, seconds) in baseline_predictions(
                mapping, train, y[train_idx], test).items():
            pooled.setdefault(name, []).append((score, prob))
            train_seconds.setdefault(name, []).append(seconds)
        for name, margin in (candidate_predictions(mapping, train, y[train_idx], test, shuffle)
                             if with_candidates else {}).items():
            pooled.setdefault("candidate " + name, []).append((margin, None))
    y_all = np.concatenate(y_blocks)
    models = {}
    for name, parts in pooled.items():
        score = np.concatenate([s for s, _ in parts])
        prob = None if parts[0][1] is None else np.concatenate([p for _, p in parts])
        row = {**metrics.summary(y_all, score, prob)}
        if name == "product":
            row["train_cpu_s"] = train_seconds["product cpu"]
        if name in train_seconds:
            row["train_s"] = [round(s, 2) for s in train_seconds[name]]
        if len(folds) > 1:
            row["per_block_roc_auc"] = _block_rows(y_blocks, [s for s, _ in parts])
        models[name] = row
    product = models["product"]
    product.update(chosen=[c["chosen"] for c in cards],
                   exclusions=sorted({e for c in cards for e in c.get("exclusions", [])}),
                   tiers=metrics.tier_table(y_all, np.concatenate([p for p, _ in
                                                                   pooled["product"]]),
                                            tiers_all, cards[-1]["cut_names"]),
                   candidates_on_history_holdout=[{c["name"]: c["roc_auc"]
                                                   for c in card["candidates"]}
                                                  for card in cards],
                   warnings=sorted({w for c in cards for w in c.get("warnings", [])}))
    plain = {n: m["roc_auc"] for n, m in models.items()
             if n != "product" and not n.startswith("candidate ")}
    trees = {n: m["roc_auc"] for n, m in models.items()
             if n.startswith(("candidate xgboost", "candidate random_forest"))}
    best = max(plain, key=plain.get)
    trees = trees or {"(not run)": float("nan")}
    summary = {"product_roc_auc": product["roc_auc"], "best_plain_baseline": best,
               "best_plain_roc_auc": plain[best],
               "product_minus_best_plain": round(product["roc_auc"] - plain[best], 4),
               "best_tree_candidate": max(trees, key=trees.get),
               "best_tree_candidate_roc_auc": max(trees.values()),
               "product_lift_top_decile": product["lift_top_decile"]}
    return {"summary": summary, "models": models}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    mapping = load_mapping(args[0] if args else MAPPING)
    only = set(args[1].split(",")) if len(args) > 1 else {"temporal", "random", "rolling"}
    leads, y = bank_leads()
    cut = int(len(leads) * 0.8)
    first, second = train_test_split(np.arange(len(leads)), test_size=0.2, stratify=y,
                                     random_state=0)
    blocks = np.array_split(np.arange(cut, len(leads)), 5)
    splits = {"temporal": ([(np.arange(cut), np.arange(cut, len(leads)))], False),
              "random": ([(np.sort(first), np.sort(second))], True),
              "rolling": ([(np.arange(block[0]), block) for block in blocks], False)}
    for split, (folds, shuffle) in splits.items():
        if split not in only:
            continue
        started = time.perf_counter()
        result = evaluate(mapping, leads, y, folds, shuffle,
                          with_candidates="--no-candidates" not in sys.argv)
        print(json.dumps({"split": split, "train_leads": [len(f[0]) for f in folds],
                          "test_leads": int(sum(len(f[1]) for f in folds)),
                          "test_conversion_rate": round(float(np.mean(
                              np.concatenate([y[f[1]] for f in folds]))), 4),
                          **result, "bench_s": round(time.perf_counter() - started, 1)}),
              flush=True)


if __name__ == "__main__":
    main()
