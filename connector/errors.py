"""Every error leadscore raises on purpose, grouped by what the caller should do about it.

Each error carries a one-line ``message`` (what went wrong, where), a ``hint`` (how to fix it)
and the process ``exit_code`` the CLI uses. Only ``connector.cli`` turns them into output and an
exit code; library code raises and lets callers decide.

    LeadscoreError                      base; never raised itself
    ├── FixConfigError      exit 3      the admin must change a file, a variable or an argument
    │   ├── ConfigError                 leadscore.toml: missing/invalid key, unknown connection
    │   ├── MappingError                a mapping YAML: names file, line and key
    │   ├── CredentialsError            a secret is missing or the CRM refused it (names the variable)
    │   ├── CheckFailedError            `leadscore check` listed problems to fix
│   ├── LeakageError                `train --strict`: a mapped field looks filled after the outcome
    │   ├── CRMPermissionError          missing scope / field-level security / field not writable
    │   └── StateStoreError             state database unreachable, or its schema is newer than us
    ├── RetryLaterError     exit 75     transient: the same call may succeed later
    │   ├── CRMRateLimitedError         429 or a rate bucket is empty; ``retry_after`` seconds if known
    │   ├── CRMUnavailableError         5xx, timeout, dropped connection
    │   ├── SessionExpiredError         the CRM session ended; re-authenticate once, then retry
    │   └── QueryLocatorLostError       a query cursor was dropped; query again from the last page
    ├── RecordRejectedError             skip this record, report it, carry on with the others
    │   └── (per-record; never reaches the CLI on its own)
    ├── StopRunError        exit 4      stop cleanly; nothing is wrong with the setup
    │   ├── ApiBudgetError              the CRM's daily API allowance is down to the reserve
    │   ├── NotEnoughDataError          too few closed leads / conversions to train
    │   ├── ConnectionLockedError       another worker is syncing this connection
    │   ├── ModelMissingError           no trained model for this connection yet
    │   ├── StopRequestedError          SIGTERM/SIGINT: a long run stopped between two phases
    │   └── ErasureIncompleteError      forget erased what it could; some place still holds the person
    └── CRMRequestError     exit 1      the CRM rejected a request we built: a bug, report it
        ├── BatchRejectedError          a whole batch refused for one bad value: split it to find it
        └── ReplicationWindowError      getDeleted's window reaches past the CRM's delete log

Exit codes: 0 success, 1 unexpected error (a bug), 2 command-line usage, 3 fix the configuration,
4 run stopped on purpose, 75 temporary failure (retry later), 130 interrupted.
"""

from __future__ import annotations


class LeadscoreError(Exception):
    """Base of every deliberate leadscore error: a message, a hint and an exit code."""

    exit_code = 1
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


# -- fix the configuration -------------------------------------------------------------------


class FixConfigError(LeadscoreError):
    """The admin must change a config file, mapping, environment variable or argument."""

    exit_code = 3


class ConfigError(FixConfigError):
    """``leadscore.toml`` (or the config given) is missing, malformed or inconsistent."""

    default_hint = "Edit the config file (see `leadscore init` for a commented example)."


class MappingError(FixConfigError):
    """A mapping YAML file is invalid. The message names the file, the line and the key."""

    default_hint = "Edit the mapping file; the examples in mappings/ show every key."

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        where = ":".join(str(part) for part in (file, line) if part is not None)
        prefix = f"{where}: " if where else ""
        keypart = f"{key}: " if key else ""
        super().__init__(f"{prefix}{keypart}{message}", hint)
        self.file, self.line, self.key = file, line, key


class CredentialsError(FixConfigError):
    """A secret is missing, or the CRM refused the credentials it was given."""

    default_hint = "Set the environment variable (or add it to .env) and try again."


class CheckFailedError(FixConfigError):
    """``leadscore check`` found at least one problem the admin must fix."""

    default_hint = "Fix each problem listed above, then run `leadscore check` again."


class LeakageError(FixConfigError):
    """``train --strict`` found fields that look filled during the sales process."""

    default_hint = ("Remove the fields named from the mapping's features (or train without "
                    "--strict to keep them, at the figures the card shows).")


class CRMPermissionError(FixConfigError):
    """The CRM user lacks a scope, field-level security or edit access."""

    default_hint = "Grant the integration user access (see the README's setup section)."


class StateStoreError(FixConfigError):
    """The state database cannot be opened or migrated (bad URL, unreachable, schema too new)."""

    default_hint = "Check `state.url` in the config and that the database is reachable."


# -- retry later ------------------------------------------------------------------------------


class RetryLaterError(LeadscoreError):
    """A transient failure: the same call may succeed if repeated later."""

    exit_code = 75
    default_hint = "The CRM is busy or unreachable; the next scheduled run will pick up from here."


class CRMRateLimitedError(RetryLaterError):
    """The CRM answered 429 or a rate bucket is empty. ``retry_after`` is in seconds, if known."""

    def __init__(self, message: str, hint: str | None = None, *, retry_after: float | None = None):
        super().__init__(message, hint)
        self.retry_after = retry_after


class CRMUnavailableError(RetryLaterError):
    """A 5xx answer, a timeout or a dropped connection."""


class SessionExpiredError(RetryLaterError):
    """The CRM session expired; the caller re-authenticates once and repeats the call."""


class QueryLocatorLostError(RetryLaterError):
    """Salesforce dropped a query's locator (15 minutes idle, or the user's eleventh open query);
    the adapter queries again from the cursor it reached."""


# -- skip the record ----------------------------------------------------------------------------


class RecordRejectedError(LeadscoreError):
    """The CRM (or our own pre-check) rejected one record; the others carry on."""

    def __init__(self, record_id: str, message: str, *, field: str | None = None,
                 code: str | None = None, transient: bool = False) -> None:
        super().__init__(f"record {record_id}: {message}")
        self.record_id, self.field, self.code, self.transient = record_id, field, code, transient


# -- stop the run ---------------------------------------------------------------------------------


class StopRunError(LeadscoreError):
    """Stop the run cleanly: the setup is fine, but going on would do harm or cannot help."""

    exit_code = 4


class ApiBudgetError(StopRunError):
    """The CRM's daily API allowance left is at or below the configured reserve."""

    default_hint = "Wait for the allowance to refill, or lower `api_reserve` in the config."


class NotEnoughDataError(StopRunError):
    """Too few closed leads or conversions to train a model that can be trusted."""

    default_hint = "Wait for more closed leads, or lower the minimums in the mapping's `training` section."


class ConnectionLockedError(StopRunError):
    """Another worker holds this connection's lock."""

    default_hint = "Another sync of this connection is running; this one exits without changes."


class ModelMissingError(StopRunError):
    """No trained model exists for this connection."""

    default_hint = "Run `leadscore train --connection NAME` first."


class StopRequestedError(StopRunError):
    """A stop was requested (SIGTERM, SIGINT) while a long run was between two phases."""

    default_hint = "Nothing was changed; the next scheduled run starts it again."


class ErasureIncompleteError(StopRunError):
    """``leadscore forget`` erased what it could, but a model file or the CRM still holds the
    person (the message names where)."""

    default_hint = ("Retrain and delete the model version named, or rerun with --clear-crm "
                    "once the CRM answers; forget can be repeated safely.")


# -- a bug on our side ----------------------------------------------------------------------------


class CRMRequestError(LeadscoreError):
    """The CRM rejected a request leadscore built (a 4xx that cannot succeed by retrying)."""

    exit_code = 1
    default_hint = "This is likely a leadscore bug; rerun with --verbose and report it."


class BatchRejectedError(CRMRequestError):
    """The CRM refused a whole batch because of one bad value (HubSpot's 400 ``VALIDATION_ERROR``
    on batch update). CRM adapters catch it and split the batch to isolate the record."""


class ReplicationWindowError(CRMRequestError):
    """Salesforce refused a getDeleted window (``INVALID_REPLICATION_DATE``): it starts more
    than 15 days back, before a purge of the delete log, or less than a minute before its end.
    The Salesforce adapter catches it and falls back to what ``queryAll`` still shows."""
