"""Tier drift as ``status``, ``sync`` and the report show it (the rule: :mod:`connector.model.tier_drift`).

The report counts the tiers of today's open leads as it scores them. ``status`` and ``sync``
read no CRM data of their own; they count the tiers the store last wrote with the current model:
the leads leadscore keeps scored (after a full sync, today's open leads; a lead that closed
since keeps the tier it had while open).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from connector.config import Config
from connector.errors import LeadscoreError
from connector.mapping import load_mapping
from connector.model import load_model
from connector.model.tier_drift import explain, intended_shares, tier_drift
from connector.state.census import written_counts

STATE_WHOSE = "the leads holding a score from model {version}"


def tier_watch(model, counts: dict[str, int], whose: str = "today's open leads") -> dict[str, Any]:
    """JSON-ready tier shares of ``counts`` against ``model``'s intended shares, with one
    warning line per tier that is far off."""
    intended = intended_shares(model.reference, model.scale, model.cuts)
    total = sum(counts.get(name, 0) for name in intended)
    drift = tier_drift(intended, counts)
    return {"whose": whose, "leads": total,
            "intended": {name: round(share, 4) for name, share in intended.items()},
            "current": {name: round(counts.get(name, 0) / total, 4) if total else None
                        for name in intended},
            "warnings": [explain(d, model.scale, whose) for d in drift]}


def report_watch(model, tiers: Iterable[str]) -> dict[str, Any]:
    """:func:`tier_watch` of the tiers of today's open leads (the report's own scoring)."""
    return tier_watch(model, dict(Counter(tiers)))


def state_watch(config: Config, state, name: str) -> dict[str, Any] | None:
    """:func:`tier_watch` of the tiers the store holds from the current model of connection
    ``name``; None when there is no model or mapping to judge by."""
    try:
        model = load_model(config.model_dir_for(name))
        tier_field = load_mapping(config.connection(name).mapping).outputs.tier.field
    except LeadscoreError:
        return None
    counts = written_counts(state, name, tier_field, model.version)
    return tier_watch(model, counts, STATE_WHOSE.format(version=model.version))
