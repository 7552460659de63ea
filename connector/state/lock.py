"""One worker per connection: a file lock on SQLite, an advisory lock plus a lease on PostgreSQL.

* **SQLite** (one machine): an OS file lock beside the database file. The kernel drops it when
  the holder dies, even on ``kill -9``. A lease row is written too, only so ``status`` can show
  who holds the connection.
* **PostgreSQL** (many workers, many machines): a session advisory lock, dropped by the server
  when the holder's connection dies, *and* a lease row with an expiry that the holder renews as
  it goes. The lease is the rule: a worker that lost its database connection or stalled past its
  lease stops at its next renewal, and a crashed worker's lease simply expires. The advisory lock
  closes the window in which a stalled (not dead) holder and a newcomer could both run.

Lease times come from the injected clock of the process; workers are assumed to keep their
clocks within a small fraction of the lease length (NTP), which the default of 15 minutes allows.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from connector.errors import ConnectionLockedError
from connector.state.schema import leases, write_tx

DEFAULT_LEASE_S = 900.0


def make_owner() -> str:
    """A worker identity for lease rows: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def advisory_key(connection: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from a connection name."""
    digest = hashlib.sha256(f"leadscore:{connection}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file_path(engine: Engine, connection: str) -> Path:
    """Where the SQLite file lock for ``connection`` lives: beside the database file."""
    safe = hashlib.sha256(connection.encode()).hexdigest()[:12]
    database = engine.url.database
    if not database or database == ":memory:":
        return Path(tempfile.gettempdir()) / f"leadscore-memory-{id(engine)}-{safe}.lock"
    return Path(f"{database}.{safe}.lock")


class ConnectionLock:
    """The exclusive right to sync one connection, from :meth:`acquire` until :meth:`release`.

    Use as a context manager. :meth:`acquire` raises
    :class:`~connector.errors.ConnectionLockedError` naming the holder when another worker has
    the connection; :meth:`renew` raises it when this worker's lease was lost.
    """

    def __init__(self, engine: Engine, connection: str, *, clock: Callable[[], datetime],
                 lease_s: float = DEFAULT_LEASE_S, owner: str | None = None) -> None:
        self.engine, self.connection, self.clock = engine, connection, clock
        self.lease = timedelta(seconds=lease_s)
        self.owner = owner or make_owner()
        self._postgres = engine.dialect.name == "postgresql"
        self._file_lock: FileLock | None = None
        self._session: Connection | None = None
        self.held = False

    def __enter__(self) -> ConnectionLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> ConnectionLock:
        """Take the lock now or raise :class:`ConnectionLockedError`; never waits."""
        if self._postgres:
            self._take_advisory()
        else:
            self._take_file()
        try:
            self._take_lease(override=not self._postgres)
        except BaseException:
            self._drop_os_locks()
            raise
        self.held = True
        return self

    def renew(self) -> None:
        """Push the lease's expiry forward; raise :class:`ConnectionLockedError` if it was lost."""
        now = self.clock()
        with write_tx(self.engine) as conn:
            done = conn.execute(leases.update()
                                .where(leases.c.connection == self.connection,
                                       leases.c.owner == self.owner)
                                .values(expires_at=now + self.lease)).rowcount
        if not done:
            raise ConnectionLockedError(
                f"connection {self.connection!r}: this worker's lease expired and was taken over",
                "The run stopped before writing more; the next run resumes from the last "
                "recorded page.")

    def release(self) -> None:
        """Give the lock up (idempotent). The lease row is deleted only if still ours."""
        if self.held:
            try:
                with write_tx(self.engine) as conn:
                    conn.execute(leases.delete().where(leases.c.connection == self.connection,
                                                       leases.c.owner == self.owner))
            finally:
                self.held = False
                self._drop_os_locks()

    # -- the parts ---------------------------------------------------------------------------------

    def _locked(self, detail: str) -> ConnectionLockedError:
        return ConnectionLockedError(
            f"connection {self.connection!r} is being synced by another worker ({detail})")

    def _take_file(self) -> None:
        self._file_lock = FileLock(str(lock_file_path(self.engine, self.connection)), timeout=0)
        try:
            self._file_lock.acquire(timeout=0)
        except Timeout:
            self._file_lock = None
            holder = lease_holder(self.engine, self.connection)
            raise self._locked(f"held by {holder[0]}" if holder else "file lock held") from None

    def _take_advisory(self) -> None:
        session = self.engine.connect()
        got = session.execute(text("SELECT pg_try_advisory_lock(:key)"),
                              {"key": advisory_key(self.connection)}).scalar()
        session.commit()  # the session-level lock outlives the transaction; don't idle in one
        if not got:
            session.close()
            holder = lease_holder(self.engine, self.connection)
            raise self._locked(f"held by {holder[0]}" if holder else "advisory lock held")
        self._session = session

    def _take_lease(self, *, override: bool) -> None:
        now = self.clock()
        row = {"owner": self.owner, "acquired_at": now, "expires_at": now + self.lease}
        try:
            with write_tx(self.engine) as conn:
                current = conn.execute(select(leases).where(leases.c.connection == self.connection)
                                       .with_for_update()).first()
                if current is None:
                    conn.execute(leases.insert().values(connection=self.connection, **row))
                elif override or current.owner == self.owner or current.expires_at <= now:
                    conn.execute(leases.update()
                                 .where(leases.c.connection == self.connection).values(**row))
                else:
                    raise self._locked(f"lease of {current.owner} runs until "
                                       f"{current.expires_at:%Y-%m-%d %H:%M:%S} UTC")
        except IntegrityError:
            raise self._locked("another worker took the lease at the same moment") from None

    def _drop_os_locks(self) -> None:
        if self._session is not None:
            try:
                self._session.execute(text("SELECT pg_advisory_unlock(:key)"),
                                      {"key": advisory_key(self.connection)})
                self._session.commit()
            except DBAPIError as error:
                # The session was dropped while we ran (idle timeout, pooler, restart): the
                # server released the advisory lock with it, so there is nothing left to undo.
                if not error.connection_invalidated:
                    raise
            finally:
                self._session.close()
                self._session = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


def current_holder(engine: Engine, connection: str,
                   now: datetime) -> tuple[str, datetime] | None:
    """``(owner, lease expiry)`` of the live holder of ``connection``, or None when it is free.

    On SQLite a lease left by a killed worker is ignored once its file lock is free; on
    PostgreSQL a lease counts until it expires.
    """
    holder = lease_holder(engine, connection)
    if holder is None or holder[1] <= now:
        return None
    if engine.dialect.name != "postgresql":
        probe = FileLock(str(lock_file_path(engine, connection)), timeout=0)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return holder
        probe.release()
        return None
    return holder


def lease_holder(engine: Engine, connection: str) -> tuple[str, datetime] | None:
    """``(owner, expires_at)`` of the lease row for ``connection``, or None when there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(leases.c.owner, leases.c.expires_at)
                           .where(leases.c.connection == connection)).first()
    return None if row is None else (row.owner, row.expires_at)
