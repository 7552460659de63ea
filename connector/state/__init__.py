"""The state store (SQLite file by default, PostgreSQL by URL) and the per-connection lock.

``connector.state.store`` holds the store, ``connector.state.rows`` the values it takes and
gives, ``connector.state.schema`` the tables and migrations, ``connector.state.lock`` the
one-worker-per-connection lock.
"""

from connector.state.lock import ConnectionLock
from connector.state.schema import SCHEMA_VERSION
from connector.state.rows import (
    AuditEntry, Change, Failure, PageRecord, RecordState, RunCounts, RunInfo,
)
from connector.state.store import StateStore, utcnow

__all__ = ["AuditEntry", "Change", "ConnectionLock", "Failure", "PageRecord", "RecordState",
           "RunCounts", "RunInfo", "SCHEMA_VERSION", "StateStore", "utcnow"]
