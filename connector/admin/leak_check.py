"""The leak detectors that ``check`` and ``mappings suggest`` run on a sample of the CRM: fields
filled on far more closed leads than open ones, and fields the CRM's history shows set at or
after the outcome (see :mod:`connector.model.leaks`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connector.admin.sampling import Sample
from connector.crm import CRM
from connector.crm.history import read_history
from connector.errors import LeadscoreError, StopRunError
from connector.model.features import parse_time
from connector.model.leaks import Leak, closed_open_gaps, set_after_outcome

HISTORY_SAMPLE = 1_000
"""Newest closed leads of the sample whose field history is read (HubSpot: 20 calls)."""


def sample_leaks(crm: CRM, sample: Sample, fields: Sequence[str],
                 outcome_of: Callable[[dict], bool | None], outcome_fields: Sequence[str],
                 time_field: str) -> list[Leak]:
    """Leaks among ``fields`` in ``sample``: closed/open gaps, then history timing (skipped
    quietly when the CRM offers no history or refuses to show it)."""
    fields = [name for name in fields if name not in outcome_fields]
    leaks = closed_open_gaps(sample.records, fields, outcome_of, time_field)
    closed = [(i, r) for i, r in zip(sample.ids, sample.records) if outcome_of(r) is not None]
    closed.sort(key=lambda item: parse_time(item[1].get(time_field)) or 0.0, reverse=True)
    closed = closed[:HISTORY_SAMPLE]
    try:
        history = read_history(crm, [i for i, _ in closed], [*fields, *outcome_fields])
    except StopRunError:
        raise
    except LeadscoreError:  # history not tracked or not visible: the other detectors stand
        history = None
    if history:
        leaks += set_after_outcome(dict(closed), history, fields, outcome_fields, time_field)
    return leaks
