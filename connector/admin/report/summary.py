"""The report's first screen: what an admin should read in 30 seconds, as plain sentences.

:func:`first_screen` turns the model card and the gathered report inputs into a verdict
(promoted or not, and why), a headline (how much better the top 10 % convert, against the
points rule), whether conversion falls from the best tier to the worst on the holdout, drift in
one line, and every warning. Warnings are gathered in one place, :func:`gather_warnings`: the
model card's own, the checks made here, and any the caller adds (``ReportInputs.warnings``),
so a new check adds one line there and shows on the first screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MAJOR_SHIFT = 0.25  # PSI above this: a major shift (the drift section's reading)


@dataclass(frozen=True)
class FirstScreen:
    """The sentences of the first screen; ``good`` colours the verdict."""

    verdict: str
    good: bool
    headline: str
    tier_order: str
    drift: str
    warnings: list[str] = field(default_factory=list)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def verdict(card: dict) -> tuple[str, bool]:
    """(sentence, promoted): is this model live, and why (the card's decision)."""
    version, why = card.get("version", "?"), card.get("decision") or "no reason recorded"
    if card.get("promoted"):
        return f"Model {version} is live: it was promoted ({why}).", True
    return f"Model {version} was NOT promoted: {why}.", False


def headline(card: dict) -> str:
    """The top decile's lift on the holdout, against the baseline's."""
    lift = (card.get("holdout") or {}).get("lift_top_decile")
    if not isinstance(lift, (int, float)):
        return "No holdout lift was recorded for this model."
    text = (f"On the newest closed leads (the holdout), the 10% with the best scores converted "
            f"{lift:.1f}× the average")
    baseline = card.get("baseline") or {}
    base_lift = baseline.get("lift_top_decile")
    if isinstance(base_lift, (int, float)):
        kind = baseline.get("kind") or "baseline"
        kind = "the points rule" if kind == "points rule" else f"the baseline ({kind})"
        return text + f"; {kind} reached {base_lift:.1f}×."
    return text + "; no baseline is configured to compare with."


def tier_order(tiers: Sequence) -> tuple[str, str | None]:
    """(sentence, warning or None): does observed conversion fall from the best tier to the
    worst on the holdout? ``tiers`` are best first, with ``name`` and ``observed``."""
    if len(tiers) < 2:
        return "No tier results on the holdout.", None
    rates = ", ".join(f"{t.name} {_pct(t.observed)}" for t in tiers)
    falls = all(a.observed >= b.observed for a, b in zip(tiers, tiers[1:]))
    if falls:
        return f"On the holdout, conversion falls from {tiers[0].name} to {tiers[-1].name}: " \
               f"{rates}.", None
    sentence = f"On the holdout, conversion does NOT fall from {tiers[0].name} to " \
               f"{tiers[-1].name}: {rates}."
    return sentence, (f"{sentence} Reps working the tiers in order would not meet the best "
                      "leads first: check the mapping's features and tiers, then retrain.")


def _word(value: float) -> str:
    """The drift section's reading of a PSI, as shown (three decimals)."""
    value = round(value, 3)
    return "stable" if value < 0.1 else "a moderate shift" if value <= MAJOR_SHIFT \
        else "a major shift"


def drift_line(rows: Sequence[tuple[str, float]]) -> tuple[str, list[str]]:
    """(one line, warnings) from the drift table (the score first, then inputs)."""
    if not rows:
        return "Drift: no open leads to compare yet.", []
    score = next((v for name, v in rows if name == "Score"), None)
    inputs = [(name, v) for name, v in rows if name != "Score"]
    parts = [] if score is None else [f"scores {_word(score)} (PSI {score:.2f})"]
    if inputs:
        name, value = max(inputs, key=lambda row: row[1])
        parts.append(f"largest input shift {name} (PSI {value:.2f}, {_word(value)})")
    major = ", ".join(f"{name} ({value:.2f})" for name, value in rows
                      if round(value, 3) > MAJOR_SHIFT)
    warning = [f"Major drift since training (PSI above {MAJOR_SHIFT}) in {major}: today's open "
               "leads differ from those the model learned from; consider retraining."] if major else []
    return "Drift against training: " + "; ".join(parts) + ".", warning


def gather_warnings(card: dict, *, tier_warning: str | None, drift_warnings: Sequence[str],
                    extra: Sequence[str]) -> list[str]:
    """Every warning of the report, in one list, each once: the ones checked here first,
    then the caller's (tier drift, leaks...), then the model card's."""
    found = [w for w in (tier_warning,) if w] + list(drift_warnings) + list(extra)
    found += [str(w) for w in card.get("warnings") or []]
    return list(dict.fromkeys(found))


def first_screen(card: dict, tiers: Sequence, drift_rows: Sequence[tuple[str, float]],
                 extra_warnings: Sequence[str] = ()) -> FirstScreen:
    """The first screen of the report (module docstring)."""
    said, good = verdict(card)
    order, order_warning = tier_order(tiers)
    drift, drift_warnings = drift_line(drift_rows)
    return FirstScreen(said, good, headline(card), order, drift, gather_warnings(
        card, tier_warning=order_warning, drift_warnings=drift_warnings, extra=extra_warnings))
