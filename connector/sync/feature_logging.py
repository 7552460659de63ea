"""What the sync engine logs for point-in-time training: each scored open lead's feature values,
the first time it is scored and whenever its inputs change (:mod:`connector.state.feature_log`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connector.mapping import Mapping
from connector.records import Record
from connector.state import StateStore


def log_inputs(state: StateStore, connection: str, mapping: Mapping, at: datetime,
               records: Sequence[Record]) -> int:
    """Log the mapping's feature fields (only those) of ``records`` as scored at ``at``."""
    fields = list(dict.fromkeys(feature.field for feature in mapping.features))
    return state.feature_log.add(connection, fields, ((r.id, r.values) for r in records), at,
                                 retention_days=mapping.training.retention_days)
