"""Calibration: a model's margins (log-odds) -> probabilities, refitted at every retrain.

A model is calibrated on its own margins over its own closed history (:func:`calibrate`): a
Platt fit (slope and intercept) weighted toward the newest leads, with a half-life of
:data:`HALF_LIFE` of the history. Why this and not a fit on the newest slice alone:

* the slope belongs to the model it was measured on. An earlier version measured it on the
  pre-refit model's holdout and applied it to the model refit on all history, whose margins
  spread differently. On the bank demo's drifting history (``bench/model_quality.py``, rolling
  split: a retrain before each of five consecutive blocks) that slope ranged from 0.3 to 5.4
  between consecutive retrains while the next block's leads never agreed with it (their own
  slopes were 0.2-0.8 whatever it said), so one retrain's scores were not comparable with the
  next: pooled over the blocks the ranking fell to 0.65 ROC AUC while each block alone ranked
  as well as the plain baselines (logistic regression: 0.716 pooled). When the older model
  ranked the newest leads backwards, the slope was clamped at 0.05 and every open lead got
  the same score (all Hot, with 40% of the bank leads open);
* the level still follows the recent conversion rate, smoothly: every closed lead counts, the
  newest most (half of the weight sits in the newest :data:`HALF_LIFE` of the history), so
  one unusual slice does not move every score. Measured on the same blocks: pooled ROC AUC
  0.73, and a Brier score of 0.199 on the next block's leads against 0.221;
* for trees the fit also maps margins that are not log-odds (a random forest's averaged
  one-step leaves) onto probabilities.

:func:`holdout_slope` is the diagnostic: the calibration slope of the pre-refit model on the
newest closed leads it did not see (near 0: it barely ranks them).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from connector.model.selection import recency_weights

HALF_LIFE = 0.1  # share of the (time-ordered) history over which a lead's weight halves


def platt(margin: np.ndarray, y: np.ndarray,
          weights: np.ndarray | None = None) -> tuple[float, float]:
    """(slope, intercept) of the (weighted) logistic fit of ``y`` on ``margin``.

    Newton's method on the standardised margin with step halving, so it converges even when
    the margins barely vary (a boosted model stopped after a few rounds) instead of running off
    to a slope in the millions. Constant margins give slope 0 and the weighted rate's log-odds.
    """
    margin, y = np.asarray(margin, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    center = float(np.average(margin, weights=w))
    spread = float(np.sqrt(np.average((margin - center) ** 2, weights=w)))
    z = (margin - center) / spread if spread > 1e-12 else np.zeros_like(margin)
    rate = float(np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6))
    theta = np.array([0.0, np.log(rate / (1 - rate))])  # slope, intercept on z

    def loss(t: np.ndarray) -> float:
        s = t[0] * z + t[1]
        return -float(np.sum(w * (y * log_expit(s) + (1 - y) * log_expit(-s))))

    current = loss(theta)
    for _ in range(100):
        p = expit(theta[0] * z + theta[1])
        h = w * p * (1 - p) + 1e-12
        grad = np.array([np.sum(w * (p - y) * z), np.sum(w * (p - y))])
        hess = np.array([[np.sum(h * z * z), np.sum(h * z)], [np.sum(h * z), np.sum(h)]])
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        size = 1.0
        while size > 1e-6 and loss(theta - size * step) > current:
            size /= 2
        theta = theta - size * step
        new = loss(theta)
        improved, current = current - new, new
        if np.abs(size * step).max() < 1e-9 or improved < 1e-12:
            break
    slope = theta[0] / spread if spread > 1e-12 else 0.0
    return float(slope), float(theta[1] - slope * center)


def calibrate(margin: np.ndarray, y: np.ndarray,
              half_life: float = HALF_LIFE) -> tuple[float, float]:
    """(slope, intercept) for a model's margins on its own time-ordered training history:
    Platt, recency-weighted (see the module docstring)."""
    return platt(margin, y, recency_weights(len(y), half_life))


def holdout_slope(margin: np.ndarray, y: np.ndarray) -> float:
    """The unweighted calibration slope of margins on leads the model did not train on."""
    return platt(margin, y)[0]
