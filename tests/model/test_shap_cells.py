"""TreeSHAP once per tree cell equals XGBoost's own pred_contribs bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from connector.model.shap_cells import MIN_ROWS, CellShap

TYPES = ["q", "c", "q", "c", "q"]


def compact_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of two level-coded picklists and three numbers (integers, with ties at the split
    points, and missing values), and an outcome that hinges on an interaction."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(18, 80, n), rng.integers(0, 12, n), rng.poisson(2, n),
                         rng.integers(0, 4, n), rng.normal(size=n).round(2)]).astype(np.float32)
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.3, 2] = np.nan
    logit = (X[:, 1] % 3 == 0) * (np.nan_to_num(X[:, 2]) > 1) * 2.0 + (X[:, 3] == 2) - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def train(params: dict, rounds: int) -> xgb.Booster:
    X, y = compact_rows(3000, seed=1)
    data = xgb.DMatrix(X, label=y, feature_types=TYPES, enable_categorical=True)
    common = {"objective": "binary:logistic", "tree_method": "hist", "max_cat_to_onehot": 1,
              "nthread": 1, "seed": 0}
    return xgb.train({**common, **params}, data, num_boost_round=rounds)


def plain(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    data = xgb.DMatrix(X, feature_types=TYPES, enable_categorical=True)
    return booster.predict(data, pred_contribs=True)


FOREST = {"max_depth": 6, "eta": 1.0, "num_parallel_tree": 12, "subsample": 0.632,
          "colsample_bynode": 0.5, "min_child_weight": 2}
DEEP = {"max_depth": 6, "eta": 0.3, "subsample": 0.8, "min_child_weight": 1}
SHALLOW = {"max_depth": 2, "eta": 0.3}


@pytest.mark.parametrize(("params", "rounds", "kept"),
                         [(FOREST, 1, 1), (DEEP, 15, 15), (SHALLOW, 40, 40), (DEEP, 15, 9)],
                         ids=["forest", "deep-boosted", "shallow-boosted", "early-stopped"])
def test_cells_give_pred_contribs_bit_for_bit(params, rounds, kept):
    booster = train(params, rounds)[:kept]  # early stopping keeps the first rounds
    X, _ = compact_rows(MIN_ROWS + 500, seed=2)
    shap = CellShap(booster, TYPES, threads=1)
    assert shap.worthwhile(len(X))  # the cell path is the one under test
    got, want = shap(X), plain(booster, X)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_small_batches_go_to_pred_contribs():
    shap = CellShap(train(FOREST, 1), TYPES, threads=1)
    X, _ = compact_rows(50, seed=4)
    assert not shap.worthwhile(MIN_ROWS - 1) and shap.worthwhile(MIN_ROWS)
    np.testing.assert_array_equal(shap(X), plain(shap.booster, X))
