"""Tree candidates on XGBoost: boosted trees and a random forest, both on native categoricals.

The feature matrix is one-hot for categories (what the linear candidate needs). A tree learns
better from one column per field: a categorical field's level block becomes one column of level
codes (XGBoost's ``enable_categorical`` splits on sets of levels), and a number's value and
missing-flag pair becomes one value column with NaN where it is missing (XGBoost learns where
missing values go). Contributions come back from ``pred_contribs`` per compact column and are
put on the first column of the field's block, so they still fold exactly onto CRM fields and
``contributions(X).sum(1) == margin(X)``.
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from connector.model.shap_cells import CellShap

THREADS = 2
EARLY_STOP = 20  # rounds without a better validation ROC AUC before boosting stops


def column_groups(roles: tuple[str, ...], fields: tuple[str, ...] | None) -> list[list]:
    """``[kind, columns]`` per compact column: ``cat`` for a field's one-hot level block,
    ``num`` for a (value, missing) pair, ``raw`` for any other single column. Without
    ``fields`` every column stays as it is."""
    if not fields:
        return [["raw", [j]] for j in range(len(roles))]
    groups: list[list] = []
    j = 0
    while j < len(roles):
        end = j + 1
        while end < len(roles) and fields[end] == fields[j]:
            end += 1
        block = roles[j:end]
        if all(role == "level" for role in block):
            groups.append(["cat", list(range(j, end))])
        elif block == ("value", "missing"):
            groups.append(["num", [j, j + 1]])
        else:
            groups.extend(["raw", [k]] for k in range(j, end))
        j = end
    return groups


class TreeCandidate:
    """XGBoost boosted trees, or a random forest grown by XGBoost (``forest=True``), so both get
    exact TreeSHAP contributions from ``pred_contribs`` and save as UBJSON.

    Boosting rounds are found by early stopping on the time-ordered validation slice the trainer
    passes as ``eval_set``; ``rounds`` is the cap (or the fixed count on a refit)."""

    def __init__(self, forest: bool = False, max_depth: int = 3, rounds: int = 600,
                 eta: float = 0.1, min_child_weight: float = 5.0, subsample: float = 0.8,
                 half_life: float | None = None, seed: int = 0) -> None:
        self.forest, self.max_depth, self.rounds, self.eta = forest, max_depth, rounds, eta
        self.min_child_weight, self.subsample = min_child_weight, subsample
        self.half_life, self.seed = half_life, seed

    @property
    def family(self) -> str:
        """random_forest or xgboost."""
        return "random_forest" if self.forest else "xgboost"

    @property
    def name(self) -> str:
        """Readable identity used in the model card."""
        if self.forest:
            return f"random_forest(depth={self.max_depth}, leaf_weight={self.min_child_weight:g})"
        return (f"xgboost(depth={self.max_depth}, eta={self.eta:g}, "
                f"leaf_weight={self.min_child_weight:g}, subsample={self.subsample:g})")

    def settings(self) -> dict:
        """The constructor arguments (what :func:`fresh` copies and the card shows)."""
        return {"forest": self.forest, "max_depth": self.max_depth, "rounds": self.rounds,
                "eta": self.eta, "min_child_weight": self.min_child_weight,
                "subsample": self.subsample, "half_life": self.half_life, "seed": self.seed}

    def _params(self) -> dict:
        # Categorical splits partition a field's levels into two sets (max_cat_to_onehot=1),
        # considering at most 32 levels per split: a picklist is one column, not 30 sparse ones.
        common = {"objective": "binary:logistic", "eval_metric": "auc", "nthread": THREADS,
                  "max_depth": self.max_depth, "seed": self.seed, "tree_method": "hist",
                  "min_child_weight": self.min_child_weight, "max_cat_to_onehot": 1,
                  "max_cat_threshold": 32}
        if self.forest:
            # A forest: one round of many full-eta trees on bootstrap-sized row samples.
            return {**common, "eta": 1.0, "num_parallel_tree": 40, "subsample": 0.632,
                    "colsample_bynode": 0.5, "lambda": 1e-5}
        return {**common, "eta": self.eta, "subsample": self.subsample,
                "colsample_bytree": 0.8, "lambda": 1.0}

    def _compact(self, X: np.ndarray) -> np.ndarray:
        out = np.empty((len(X), len(self.groups_)), dtype=np.float32)
        for g, (kind, cols) in enumerate(self.groups_):
            if kind == "cat":
                out[:, g] = X[:, cols].argmax(axis=1)
            elif kind == "num":
                out[:, g] = np.where(X[:, cols[1]] > 0, np.nan, X[:, cols[0]])
            else:
                out[:, g] = X[:, cols[0]]
        return out

    def _types(self) -> list[str]:
        return ["c" if kind == "cat" else "q" for kind, _ in self.groups_]

    def _matrix(self, X: np.ndarray, y: np.ndarray | None = None,
                weight: np.ndarray | None = None) -> xgb.DMatrix:
        return xgb.DMatrix(self._compact(X), label=y, weight=weight, feature_types=self._types(),
                           enable_categorical=True, nthread=THREADS)

    def fit(self, X: np.ndarray, y: np.ndarray, roles: tuple[str, ...] = (),
            sample_weight: np.ndarray | None = None,
            eval_set: tuple[np.ndarray, np.ndarray] | None = None,
            fields: tuple[str, ...] | None = None) -> TreeCandidate:
        """Grow the trees on ``fields``' compact columns; boosting stops early on ``eval_set``
        when given. Returns self."""
        self.groups_ = column_groups(tuple(roles) or ("value",) * X.shape[1], fields)
        self.n_inputs_ = X.shape[1]
        train = self._matrix(X, y, sample_weight)
        rounds = 1 if self.forest else self.rounds
        kwargs = {}
        if eval_set is not None and not self.forest:
            kwargs = {"evals": [(self._matrix(*eval_set), "valid")],
                      "early_stopping_rounds": EARLY_STOP, "verbose_eval": False}
        self.booster_ = xgb.train(self._params(), train, num_boost_round=rounds, **kwargs)
        best = getattr(self.booster_, "best_iteration", None) if kwargs else None
        self.rounds_ = rounds if best is None else best + 1
        if best is not None:
            self.booster_ = self.booster_[: self.rounds_]
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Log-odds of conversion."""
        return self.booster_.predict(self._matrix(X), output_margin=True).astype(np.float64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP log-odds contributions per input column, bias last: each field's
        contribution sits on the first column of its block. Equal to XGBoost's
        ``pred_contribs``, computed once per tree cell (see :mod:`connector.model.shap_cells`)."""
        if getattr(self, "shap_", None) is None or self.shap_.booster is not self.booster_:
            self.shap_ = CellShap(self.booster_, self._types(), THREADS)
        compact = self.shap_(self._compact(X))
        out = np.zeros((len(X), self.n_inputs_ + 1))
        firsts = [cols[0] for _, cols in self.groups_]
        out[:, firsts] = compact[:, :-1]
        out[:, -1] = compact[:, -1]
        return out

    def to_state(self) -> tuple[dict, bytes]:
        """Settings and layout as JSON plus the booster as UBJSON bytes."""
        state = {**self.settings(), "rounds_": self.rounds_, "groups_": self.groups_,
                 "n_inputs_": self.n_inputs_}
        return state, bytes(self.booster_.save_raw(raw_format="ubj"))

    @classmethod
    def from_state(cls, state: dict, blob: bytes) -> TreeCandidate:
        """Rebuild from :meth:`to_state`."""
        keys = ("forest", "max_depth", "rounds", "eta", "min_child_weight", "subsample",
                "half_life", "seed")
        model = cls(**{k: state[k] for k in keys if k in state})
        model.booster_ = xgb.Booster(params={"nthread": THREADS})
        model.booster_.load_model(bytearray(blob))
        model.rounds_ = state["rounds_"]
        # Versions saved before the compact layout took every input column as it was.
        model.n_inputs_ = state.get("n_inputs_", model.booster_.num_features())
        model.groups_ = [[kind, list(cols)] for kind, cols in
                         state.get("groups_", column_groups(("value",) * model.n_inputs_, None))]
        return model
