"""Pure curve and table computations for the model report (no I/O, no plotting).

Drift (PSI) lives in :mod:`connector.model.profile`, beside the training profile it reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_curve

from connector.model.metrics import calibration_table


def roc_points(y_true: Sequence[int], p: Sequence[float], max_points: int = 200):
    """False- and true-positive rates, thinned to at most ``max_points`` points."""
    fpr, tpr, _ = roc_curve(np.asarray(y_true), np.asarray(p))
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points)).astype(int))
    return fpr[keep].tolist(), tpr[keep].tolist()


def gain_points(y_true: Sequence[int], p: Sequence[float], steps: int = 50):
    """Cumulative gain: share of all conversions found in the top x share of leads by score."""
    order = np.argsort(-np.asarray(p), kind="stable")
    hits = np.cumsum(np.asarray(y_true)[order])
    total, n = max(hits[-1], 1), len(order)
    xs = [i / steps for i in range(steps + 1)]
    ys = [0.0] + [float(hits[max(int(round(x * n)) - 1, 0)] / total) for x in xs[1:]]
    return xs, ys


def lift_points(y_true: Sequence[int], p: Sequence[float], steps: int = 20):
    """Lift: conversion rate in the top x share divided by the overall rate."""
    order = np.argsort(-np.asarray(p), kind="stable")
    y = np.asarray(y_true)[order]
    base = y.mean() or 1.0
    xs = [(i + 1) / steps for i in range(steps)]
    ys = [float(y[: max(int(round(x * len(y))), 1)].mean() / base) for x in xs]
    return xs, ys


def calibration_points(y_true: Sequence[int], p: Sequence[float], bins: int = 10):
    """Mean predicted vs observed conversion in equal-count bins (the model card's table)."""
    rows = calibration_table(np.asarray(y_true), np.asarray(p), bins=min(bins, max(len(p), 1)))
    return [r["predicted"] for r in rows], [r["observed"] for r in rows]
