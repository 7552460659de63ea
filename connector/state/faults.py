"""Storage faults of the state database turned into one-line :class:`StateStoreError`\\ s.

A state file that became read-only, a path pointing at some other file, or a damaged SQLite
image fail on whichever statement first touches them, often long after the store opened. An
engine event translates those driver errors wherever they happen, so the CLI prints one line
with a hint (exit 3) instead of a traceback.
"""

from __future__ import annotations

from sqlalchemy import Engine, event

from connector.errors import StateStoreError

_MOVE_AWAY = ("move it away: the next run starts a new store and rescans the CRM, which "
              "still holds every score")

# (text in the driver's message, what it means, how to fix it)
_SQLITE_FAULTS = (
    ("readonly database", "is read-only",
     "Let the user running leadscore write the file and its folder, or point `state_url` at "
     "another database."),
    ("file is not a database", "is not a leadscore state database (not SQLite)",
     f"Point `state_url` at the state file, or {_MOVE_AWAY}."),
    ("disk image is malformed", "is damaged (its SQLite image is malformed)",
     f"Restore it from a backup, or {_MOVE_AWAY}."),
    ("database or disk is full", "cannot grow: the disk is full",
     "Free space on its disk, then run again; nothing was lost."),
)
_PG_READ_ONLY = "25006"  # read_only_sql_transaction: a standby or a read-only role


def translate_storage_faults(engine: Engine) -> None:
    """Raise :class:`StateStoreError` for ``engine``'s storage faults instead of driver errors."""
    where = engine.url.render_as_string(hide_password=True)

    @event.listens_for(engine, "handle_error")
    def _one_line(context) -> None:
        original = context.original_exception
        said = str(original)
        if getattr(original, "sqlstate", None) == _PG_READ_ONLY:
            raise StateStoreError(
                f"the state store {where} is read-only ({said.splitlines()[0]})",
                "Point `state_url` at the primary server with a role that may write.") from original
        for needle, meaning, hint in _SQLITE_FAULTS if engine.dialect.name == "sqlite" else ():
            if needle in said:
                raise StateStoreError(f"the state store {where} {meaning}: {said}",
                                      hint) from original
