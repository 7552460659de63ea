"""Probability -> score 0-100 -> tier -> reason text, and the per-lead contribution table.

What the score means is the mapping's ``scoring.scale``:

* ``probability`` (default): the score is the calibrated chance of conversion in percent, so
  "score 40" means about 40 in 100 such leads converted lately. Honest and comparable across
  retrains, but when the conversion rate shifts, every score and tier size shifts with it.
* ``percentile``: the score is the lead's rank against the reference population (the closed
  history scored by the same model), so tiers keep stable sizes; a score then says "better
  than N% of past leads", not how likely the lead is to convert.

Reasons come from exact per-lead contributions in calibrated log-odds, folded back onto the
mapped CRM fields; the strongest ``count`` (at least ``MIN_STRENGTH``) are phrased with the
mapping's labels and the lead's own values. All functions here are pure.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
from scipy.special import expit

from connector.model.features import (FeatureEncoder, anchored, cleaner, once_per_value,
                                      parse_time, reader)
from connector.mapping import Feature, Scoring, to_number
from connector.model.candidates import Candidate
from connector.model.numbers import formatted, plain_number

SCORE_MAX = 100  # scores run 0-100 on either scale
MIN_STRENGTH = 0.05  # log-odds; weaker pushes are noise to a rep and are left out of reasons
UP, DOWN = "▲", "▼"


@dataclass(frozen=True, slots=True)
class LeadScore:
    """One scored lead: contributions are per CRM field, in calibrated log-odds."""

    probability: float
    score: int
    tier: str
    reason: str
    contributions: dict[str, float]


@dataclass(frozen=True)
class ContributionRow:
    """One line of ``leadscore explain``: a field, the lead's value and its push."""

    field: str
    label: str
    value: str
    contribution: float
    phrase: str


@dataclass(frozen=True)
class Explanation:
    """Full breakdown of one lead: base log-odds + sum of rows = the calibrated log-odds."""

    probability: float
    score: int
    tier: str
    base_log_odds: float
    rows: list[ContributionRow]


def to_scores(probability: np.ndarray, scale: str, reference: Sequence[float]) -> np.ndarray:
    """Scores 0-100: calibrated percent, or percentile rank within ``reference`` quantiles."""
    probability = np.asarray(probability, dtype=float)
    if scale == "percentile":
        grid = np.linspace(0, SCORE_MAX, len(reference))
        return np.clip(np.rint(np.interp(probability, reference, grid)), 0, SCORE_MAX).astype(int)
    return np.clip(np.rint(probability * SCORE_MAX), 0, SCORE_MAX).astype(int)


def to_tiers(scores: np.ndarray, cuts: Sequence[tuple[str, int]]) -> list[str]:
    """Tier of each score: the first (best) tier whose ``min_score`` it reaches."""
    names = [name for name, _ in cuts]
    floors = np.asarray([minimum for _, minimum in cuts])
    return [names[i] for i in np.argmax(np.asarray(scores)[:, None] >= floors[None, :], axis=1)]


def value_text(feature: Feature, value: Any, raw: Any) -> str:
    """The lead's value of ``feature`` as a rep would read it, from the cleaned ``value`` (see
    :func:`connector.model.features.reader`) and the ``raw`` CRM value."""
    if feature.kind == "text_present":
        return "given" if value else "not given"
    if value is None:
        return "not set"
    if feature.kind == "category":
        return str(raw).strip()[:40]
    if feature.kind == "boolean":
        return "yes" if value else "no"
    if anchored(feature):
        days = plain_number(round(value, 1) if abs(value) < 10 else round(value))
        return f"{days} day" if days in ("1", "-1") else f"{days} days"
    if feature.kind == "date" and feature.derive == "hour":
        return f"{int(value):02d}:00"
    number = to_number(value)
    if number is None:
        return str(value)[:40]
    return formatted(number, feature.format, feature.unit)


def phrase(feature: Feature, value: str, contribution: float) -> str:
    """"▲ Contacted by cellular": the label with ``{value}`` filled, or "label: value"."""
    text = (feature.label.replace("{value}", value) if "{value}" in feature.label
            else f"{feature.label}: {value}")
    return f"{UP if contribution > 0 else DOWN} {text}"


def join_reasons(phrases: Sequence[str], separator: str, max_length: int | None) -> str:
    """Join phrases, dropping the weakest (last) until the text fits ``max_length``."""
    phrases = list(phrases)
    text = separator.join(phrases)
    while max_length and len(text) > max_length and len(phrases) > 1:
        phrases.pop()
        text = separator.join(phrases)
    if max_length and len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return text


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is scored. A batch's results are
    acyclic (a score and a contributions dict per lead), so collecting finds nothing, yet their
    number sets off hundreds of collections and full sweeps of the whole process heap: 0.6 s of
    CPU for 100,000 leads in bench/scoring.py, a quarter of the run."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ScoringModel:
    """A trained model ready to score: encoder + estimator + calibration + score rules."""

    def __init__(self, *, version: str, card: dict, encoder: FeatureEncoder,
                 estimator: Candidate, calibration: tuple[float, float], scale: str,
                 reference: Sequence[float], cuts: Sequence[tuple[str, int]],
                 reason_count: int = 3, separator: str = " · ",
                 reason_length: int | None = None) -> None:
        self.version, self.card, self.encoder, self.estimator = version, card, encoder, estimator
        self.calibration, self.scale, self.reference = calibration, scale, list(reference)
        self.cuts = [tuple(c) for c in cuts]
        self.reason_count, self.separator, self.reason_length = reason_count, separator, reason_length
        self._fields = list(dict.fromkeys(encoder.fields_))
        index = {field: i for i, field in enumerate(self._fields)}
        self._fold = np.zeros((len(encoder.fields_), len(self._fields)))
        self._fold[np.arange(len(encoder.fields_)), [index[f] for f in encoder.fields_]] = 1.0
        self._features = {f.field: f for f in encoder.features}
        self._readers = {f.field: reader(f) for f in encoder.features}
        self._cleaners = {f.field: cleaner(f) for f in encoder.features}
        self._column = {f.field: k for k, f in enumerate(encoder.features)}

    def _value(self, field: str, record: dict, anchor: float | None) -> str:
        value = self._readers[field](record, anchor)
        return value_text(self._features[field], value, record.get(field))

    def _contribs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(per-field log-odds contributions, base log-odds, calibrated probability)."""
        slope, intercept = self.calibration
        raw = self.estimator.contributions(X)
        fields = (raw[:, :-1] @ self._fold) * slope
        base = raw[:, -1] * slope + intercept
        probability = expit(fields.sum(axis=1) + base)
        return fields, base, probability

    def probabilities(self, records: Iterable[dict]) -> np.ndarray:
        """Calibrated conversion probabilities."""
        slope, intercept = self.calibration
        margin = self.estimator.margin(self.encoder.transform(records).values)
        return expit(slope * margin + intercept)

    def _anchor(self, record: dict) -> float | None:
        return parse_time(record.get(self.encoder.time_field)) if isinstance(record, dict) else None

    def score(self, records: Iterable[dict]) -> list[LeadScore]:
        """Score, tier, reason and per-field contributions for every record, in order."""
        records = [r if isinstance(r, dict) else {} for r in records]
        if not records:
            return []
        with _collector_paused():
            raws = self.encoder.raw_columns(records)
            columns = self.encoder.read(records, raws)
            X = self.encoder.matrix(columns, len(records)).values
            fields, _, probability = self._contribs(X)
            scores = to_scores(probability, self.scale, self.reference)
            tiers = to_tiers(scores, self.cuts)
            reasons = self._reasons(raws, columns, fields)
            rounded = zip(*np.round(fields, 4).T.tolist())  # column lists: no list per lead
            return [LeadScore(p, s, t, r, dict(zip(self._fields, c))) for p, s, t, r, c
                    in zip(probability.tolist(), scores.tolist(), tiers, reasons, rounded)]

    def _reasons(self, raws: list[list], columns: list[list], fields: np.ndarray) -> list[str]:
        """Each lead's reason: its ``reason_count`` strongest pushes of at least
        :data:`MIN_STRENGTH`, phrased. Values are read only where a field is shown, and each
        distinct (field, value, direction) is phrased once for the whole batch."""
        top = np.argsort(-np.abs(fields), axis=1, kind="stable")[:, : self.reason_count]
        push = np.take_along_axis(fields, top, axis=1)
        shown = np.abs(push) >= MIN_STRENGTH
        phrases = np.full(top.shape, None, dtype=object)
        for j in np.unique(top[shown]):
            rows, ranks = np.nonzero(shown & (top == j))
            phrases[rows, ranks] = self._phrases(self._fields[j], raws, columns, rows,
                                                 push[rows, ranks])
        texts = [self.separator.join(filter(None, row)) for row in zip(*phrases.T.tolist())]
        if self.reason_length:  # only a text over the limit needs its weakest phrases dropped
            for i in [i for i, text in enumerate(texts) if len(text) > self.reason_length]:
                texts[i] = join_reasons(list(filter(None, phrases[i])), self.separator,
                                        self.reason_length)
        return texts

    def _phrases(self, field: str, raws: list[list], columns: list[list], rows: np.ndarray,
                 pushes: np.ndarray) -> np.ndarray:
        """The phrase of ``field`` for each of ``rows``, pushed by ``pushes``."""
        feature, clean, k = self._features[field], self._cleaners[field], self._column[field]
        if anchored(feature):  # days from the lead's own anchor: the text follows the value
            texts = once_per_value(lambda v: value_text(feature, v, None),
                                   [columns[k][i] for i in rows.tolist()])
        else:
            texts = once_per_value(lambda raw: value_text(feature, clean(raw), raw),
                                   [raws[k][i] for i in rows.tolist()])
        keys = list(zip(texts, (pushes > 0).tolist()))
        phrased = {key: phrase(feature, key[0], 1.0 if key[1] else -1.0) for key in set(keys)}
        out = np.empty(len(keys), dtype=object)
        out[:] = [phrased[key] for key in keys]
        return out

    def explain(self, record: dict) -> Explanation:
        """Every mapped field's contribution for one lead, strongest first."""
        record = record if isinstance(record, dict) else {}
        fields, base, probability = self._contribs(self.encoder.transform([record]).values)
        score = int(to_scores(probability, self.scale, self.reference)[0])
        anchor = self._anchor(record)
        rows = []
        for j in np.argsort(-np.abs(fields[0]), kind="stable"):
            feature = self._features[self._fields[j]]
            value = self._value(feature.field, record, anchor)
            rows.append(ContributionRow(feature.field, feature.label, value,
                                        round(float(fields[0, j]), 4),
                                        phrase(feature, value, fields[0, j])))
        return Explanation(float(probability[0]), score, to_tiers(np.array([score]), self.cuts)[0],
                           round(float(base[0]), 4), rows)


def tier_cuts(scoring: Scoring, reference_scores: np.ndarray) -> list[tuple[str, int]]:
    """(tier name, minimum score) best first, the last tier at 0. Share-based tiers are cut at
    the matching quantile of the reference population's scores."""
    cuts = []
    for tier in scoring.tiers[:-1]:
        if tier.min_score is not None:
            cuts.append((tier.name, tier.min_score))
        else:
            cuts.append((tier.name,
                         int(np.ceil(np.quantile(reference_scores, 1 - tier.top_share)))))
    return [*cuts, (scoring.tiers[-1].name, 0)]
