"""Gathering point-in-time training inputs for one connection: today's records from the CRM,
the feature log from the state store, the CRM's field history for closed leads the log never
saw, and the leak detectors that need open leads or history (see
:mod:`connector.model.point_in_time` and :mod:`connector.model.leaks`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from connector.crm.base import CRM
from connector.crm.history import read_history
from connector.errors import LeadscoreError, StopRequestedError
from connector.mapping import Mapping
from connector.model.features import parse_time
from connector.model.leaks import closed_open_gaps, set_after_outcome
from connector.model.point_in_time import PointInTime, assemble
from connector.state import StateStore

HISTORY_MAX_CALLS = 400
"""A CRM that reads history record by record (HubSpot: 50 a call) is asked for the newest
closed leads the log never saw, at most this many calls (20,000 leads); one that reads it for
the whole object at once (Salesforce: one SOQL query) for all of them."""


def pull_records(crm: CRM, mapping: Mapping, *, stop: threading.Event | None = None,
                 also: Sequence[str] = ()) -> Iterable[tuple[str, dict]]:
    """Every record's id and mapped input values (and the fields in ``also``, e.g. the live
    model's), page by page; with ``stop`` set, raises :class:`StopRequestedError` before
    asking for the next page."""
    pulled = 0
    for page in crm.pull_changed(None, list(dict.fromkeys([*mapping.input_fields(), *also]))):
        if stop is not None and stop.is_set():
            raise StopRequestedError(f"stop requested: the history pull stopped after "
                                     f"{pulled:,} records")
        pulled += len(page.records)
        for record in page.records:
            yield record.id, dict(record.values)


def point_in_time_inputs(crm: CRM, mapping: Mapping, state: StateStore, connection: str,
                         records: list[tuple[str, dict]] | None = None, *,
                         stop: threading.Event | None = None,
                         also: Sequence[str] = ()) -> PointInTime:
    """The closed leads' point-in-time records, with the leaks found before training.

    ``records`` (id, values) are pulled when not given. A CRM whose history cannot be read
    (not offered, not permitted) leaves those leads on today's values, and the card says why.
    """
    pulled = (list(pull_records(crm, mapping, stop=stop, also=also)) if records is None
              else records)
    features = list(dict.fromkeys(f.field for f in mapping.features))
    closed = [(i, v) for i, v in pulled if mapping.outcome_of(v) is not None]
    logged = state.feature_log.entries(connection)
    unseen = [(i, v) for i, v in closed if i not in logged]
    unseen.sort(key=lambda item: parse_time(item[1].get(mapping.time_field)) or 0.0,
                reverse=True)
    per_call = getattr(crm, "history_records_per_call", None)
    cap = len(unseen) if per_call is None else per_call * HISTORY_MAX_CALLS
    wanted = [i for i, _ in unseen[:cap]]
    note = None
    if len(unseen) > cap:
        note = (f"field history read for the newest {cap:,} of {len(unseen):,} closed leads "
                "the feature log never saw")
    try:
        history = read_history(crm, wanted, features + mapping.outcome.fields())
    except LeadscoreError as error:
        history, note = None, f"field history unreadable ({error.message})"
    if history is None and note is None:
        note = f"{crm.name} offers no field history to this connector"
    result = assemble(closed, mapping, logged, history, note)
    result.open_since = min((t for _, v in pulled if mapping.outcome_of(v) is None
                             and (t := parse_time(v.get(mapping.time_field))) is not None),
                            default=None)
    result.leaks = closed_open_gaps([v for _, v in pulled], features, mapping.outcome_of,
                                    mapping.time_field)
    result.leaks += set_after_outcome(dict(closed), history or {}, features,
                                      mapping.outcome.fields(), mapping.time_field)
    return result
