"""The state store's tables, and the versioned migration path between schema versions.

A fresh database gets the current tables and is stamped :data:`SCHEMA_VERSION`. An older one is
brought forward by the steps in :data:`MIGRATIONS` (``{target_version: step}``), each run in the
same transaction as the version stamp, so an interrupted upgrade leaves the old version intact.
A database newer than this code is refused rather than guessed at.

Nothing here holds personal data: record ids, hashes, scores, tiers, counts and timestamps.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON, Boolean, Column, Connection, DateTime, Engine, ForeignKey, Index, Integer, MetaData,
    String, Table, Text, UniqueConstraint, create_engine, event, inspect, select, text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.types import TypeDecorator

from connector.errors import StateStoreError
from connector.state.faults import translate_storage_faults

SCHEMA_VERSION = 2

# Each step takes the open transaction and upgrades the schema by exactly one version.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend stores."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("state store timestamps must be timezone-aware")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = MetaData()
_ID = String(255)  # CRM record ids are short (18 chars, integers), but a third CRM may differ

meta = Table("leadscore_meta", metadata,
             Column("key", String(64), primary_key=True),
             Column("value", Text, nullable=False))

connections = Table(
    "connections", metadata,
    Column("name", String(100), primary_key=True),
    Column("crm", String(40), nullable=False),
    # The model version every open lead has been rescored with (None until a pass completes).
    Column("model_version", String(100)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False))

cursors = Table(
    "cursors", metadata,
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False))

records = Table(
    "records", metadata,
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), primary_key=True),
    Column("record_id", _ID, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("written", JSON, nullable=False),
    Column("run_id", Integer),
    Column("updated_at", UTCDateTime, nullable=False))

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("outcome", String(20), nullable=False),
    Column("pulled", Integer, nullable=False, default=0),
    Column("scored", Integer, nullable=False, default=0),
    Column("written", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("api_calls", Integer, nullable=False, default=0),
    # The CRM's daily allowance as last reported during the run (None when it says nothing).
    Column("daily_used", Integer),
    Column("daily_max", Integer),
    Column("model_version", String(100)),
    Column("message", Text),
    Index("ix_runs_connection_started", "connection", "started_at"),
    sqlite_autoincrement=True)

failures = Table(
    "failures", metadata,
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), primary_key=True),
    Column("record_id", _ID, primary_key=True),
    Column("code", String(100)),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    # The record's modification stamp when it failed: the next pull starts no later than this.
    Column("stamp", UTCDateTime),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("run_id", Integer))

# A change about to be written: staged before the CRM call, turned into an audit row once the
# write is known to have landed (in the same transaction that deletes it), so a crash between
# the CRM call and the bookkeeping can neither lose nor duplicate the audit row.
pending_changes = Table(
    "pending_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("record_id", _ID, nullable=False),
    Column("field", String(255), nullable=False),
    Column("old_value", JSON),
    Column("new_value", JSON),
    Column("run_id", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("connection", "record_id", "field", name="uq_pending_record_field"),
    sqlite_autoincrement=True)  # ids are never reused: an audit row's change_id stays unique

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("change_id", Integer, nullable=False, unique=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("record_id", _ID, nullable=False),
    Column("field", String(255), nullable=False),
    Column("old_value", JSON),
    Column("new_value", JSON),
    Column("run_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_audit_connection_record", "connection", "record_id"),
    sqlite_autoincrement=True)

leases = Table(
    "leases", metadata,
    Column("connection", String(100), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False))

# -- new in schema version 2 ----------------------------------------------------------------------

# The feature log (connector.state.feature_log): the mapped inputs of an open lead each time it
# was scored with inputs different from before, for point-in-time training. Values are a JSON
# list in the order of a layout (the mapping's feature fields when logged), so field names are
# not repeated on every row; the primary key is the only index (no rowid on SQLite).
feature_log_layouts = Table(
    "feature_log_layouts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("fields", Text, nullable=False),
    UniqueConstraint("connection", "fields", name="uq_feature_log_layout"))

feature_log = Table(
    "feature_log", metadata,
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), primary_key=True),
    Column("record_id", _ID, primary_key=True),
    # Naive UTC (converted once per batch in connector.state.feature_log, not once per row).
    Column("scored_at", DateTime, primary_key=True),
    Column("layout", Integer, nullable=False),
    Column("inputs", Text, nullable=False),
    sqlite_with_rowid=False)

# One erasure-safe row per record that left the CRM (deleted, merged, archived, gone) or was
# forgotten on request: a salted hash of the id, what happened, when. Its other rows are gone.
removed_records = Table(
    "removed_records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("event", String(20), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("run_id", Integer),
    UniqueConstraint("connection", "record_hash", "event", name="uq_removed_record_event"),
    Index("ix_removed_records_connection_at", "connection", "at"),
    sqlite_autoincrement=True)

# Every lead of a connection with a control group, from its first scoring while open: its group
# and the score and tier it had then (its would-be tier, fixed before any rep acted on it), the
# latest ones, and when a control lead's scores were finally written (the group switched off).
pilot_leads = Table(
    "pilot_leads", metadata,
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), primary_key=True),
    Column("record_id", _ID, primary_key=True),
    Column("grp", String(10), nullable=False),
    Column("score", Integer),
    Column("tier", String(40)),
    Column("model_version", String(100)),
    Column("first_scored_at", UTCDateTime, nullable=False),
    Column("last_score", Integer),
    Column("last_tier", String(40)),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime))

# One row per lead and tier entry that calls for a callback task, staged before the CRM write
# that puts the lead in the tier; ``after`` is the state the lead entered from, so a rerun of the
# same entry finds the same row. status: staged -> sending (the CRM call may have happened) ->
# created | failed | dropped (the lead left the tier before its task could be made).
callback_tasks = Table(
    "callback_tasks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("record_id", _ID, nullable=False),
    Column("after", String(64), nullable=False),
    Column("ref", String(40), nullable=False, unique=True),
    Column("tier", String(40), nullable=False),
    Column("previous_tier", String(40)),
    Column("score", Integer),
    Column("owner_id", String(255)),
    Column("subject", String(255), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("task_id", String(255)),
    Column("code", String(100)),
    Column("reason", Text),
    Column("run_id", Integer),
    Column("staged_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    UniqueConstraint("connection", "record_id", "after", name="uq_callback_entry"),
    Index("ix_callback_status", "connection", "status"),
    sqlite_autoincrement=True)

# Webhook deliveries of created callback tasks: retried with backoff, dead after max attempts.
webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("callback_id", Integer, primary_key=True),
    Column("connection", ForeignKey("connections.name", ondelete="CASCADE"), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_webhook_status", "connection", "status"))

V2_TABLES = [feature_log_layouts, feature_log, removed_records, pilot_leads, callback_tasks,
             webhook_outbox]


def _to_v2(conn: Connection) -> None:
    """Schema version 2: the tables new in it (see :data:`V2_TABLES`): the feature log, the
    removed records, the control group, callback tasks and the webhook outbox."""
    metadata.create_all(conn, tables=V2_TABLES)


MIGRATIONS[2] = _to_v2


def make_engine(url: str | Path) -> Engine:
    """An engine for a SQLAlchemy URL, or for a plain file path (taken as a SQLite file).

    SQLite gets WAL (readers never block the writer), a 30 s busy timeout, enforced foreign keys
    and explicit ``BEGIN``/``BEGIN IMMEDIATE`` (see :func:`write_tx`) instead of the driver's own
    transaction guessing. PostgreSQL is reached through psycopg 3, which here never prepares
    statements server-side: PostgreSQL soon plans a prepared statement once for all parameter
    values, and for a page's id lists over the small, ever-changing staging table that generic
    plan checked every pending row of the connection against every listed id, at many times
    the cost of a plan made for the ids at hand.
    """
    text_url = str(url)
    if "://" not in text_url:
        Path(text_url).expanduser().parent.mkdir(parents=True, exist_ok=True)
        text_url = f"sqlite:///{Path(text_url).expanduser()}"
    try:
        parsed = make_url(text_url)
        postgres = parsed.get_backend_name() == "postgresql"
        if postgres and parsed.get_driver_name() != "psycopg":  # bulk.py speaks psycopg 3
            raise ArgumentError(f"PostgreSQL is reached through psycopg 3, "
                                f"not {parsed.get_driver_name()}")
        engine = create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite",
                               connect_args={"prepare_threshold": None} if postgres else {})
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise StateStoreError(f"state store URL {text_url!r}: {error}",
                              "Use a file path, sqlite:///PATH or postgresql+psycopg://... "
                              "(install the `postgres` extra for PostgreSQL).") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    translate_storage_faults(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        cursor = dbapi_connection.cursor()
        try:
            for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                           "synchronous=NORMAL"):
                cursor.execute(f"PRAGMA {pragma}")
        except UnicodeDecodeError as error:
            # Damage over the schema pages shows as undecodable schema text: report it as the
            # malformed image it is (connector.state.faults turns that into one line).
            raise sqlite3.DatabaseError(f"database disk image is malformed ({error})") from None
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front: upgrading a read lock later can
        # fail at once with "database is locked" instead of waiting for the busy timeout.
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A connection inside one write transaction: committed on success, rolled back on error."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        yield conn


def _stored_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(meta.name):
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    return None if value is None else int(value)


def _stamp(conn: Connection, version: int, *, fresh: bool) -> None:
    if fresh:
        conn.execute(meta.insert().values(key="schema_version", value=str(version)))
    else:
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version)))


def migrate(engine: Engine, *, target: int | None = None) -> int:
    """Create or upgrade the schema to ``target`` (default :data:`SCHEMA_VERSION`); return it.

    Raises :class:`~connector.errors.StateStoreError` when the database is newer than this code
    or a step is missing. Concurrent callers are serialised by the database's write lock (an
    immediate transaction on SQLite, a transaction-scoped advisory lock on PostgreSQL).
    """
    target = SCHEMA_VERSION if target is None else target
    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7405732061)"))  # 'leadscore' schema
        current = _stored_version(conn)
        if current is None:
            metadata.create_all(conn)
            _stamp(conn, target, fresh=True)
            return target
        if current > target:
            raise StateStoreError(
                f"the state store {engine.url.render_as_string(hide_password=True)} has schema "
                f"version {current}, newer than this leadscore understands ({target})",
                "Upgrade leadscore, or point `state.url` at another database.")
        for version in range(current + 1, target + 1):
            step = MIGRATIONS.get(version)
            if step is None:
                raise StateStoreError(f"no migration step to state schema version {version}",
                                      "This is a leadscore bug; report it.")
            step(conn)
            _stamp(conn, version, fresh=False)
        return target
