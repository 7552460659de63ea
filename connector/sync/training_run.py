"""A retraining as the state store records it: under the connection's lock, with a run row of
kind ``retrain`` holding its outcome, API calls and verdict, so ``status`` and the report show
retraining beside the syncs and two workers never pull the same history at once.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.crm import CRM
from connector.errors import LeadscoreError, StopRequestedError, StopRunError
from connector.model.selection import Volume
from connector.model.train import TrainResult
from connector.state import RunCounts, StateStore


def verdict(result: TrainResult) -> str:
    """What a training decided, in a few words: ``promoted v3 (holdout ROC AUC 0.712)``."""
    auc = result.metrics.get("roc_auc")
    return (f"{'promoted' if result.promoted else 'kept the live model over'} {result.version}"
            + (f" (holdout ROC AUC {auc:.3f})" if isinstance(auc, float) else ""))


def recent_volume(state: StateStore, name: str, sync_minutes: int | None) -> Volume:
    """The leads a sync of ``name`` pulls, as the median of its last 10 syncs (a rescan after
    a promotion pulls the whole org and would skew a mean), for weighing scoring cost; the
    org's size comes from the history the training pulls."""
    pulled = sorted(run.counts.pulled for run in state.last_runs(name, limit=10, kinds=["sync"])
                    if not run.dry_run and run.outcome == "ok")
    return Volume(changed_per_sync=pulled[len(pulled) // 2] if pulled else None,
                  sync_minutes=sync_minutes)


def recorded_training(name: str, crm: CRM, state: StateStore,
                      train: Callable[[Callable[[int], None]], TrainResult]) -> TrainResult:
    """Run ``train`` (pull the history through ``crm`` and train) as connection ``name``'s
    ``retrain`` run and return its result. ``train`` gets a function to report how many
    records it pulled, which the run row keeps (``status`` shows it).

    Raises :class:`~connector.errors.ConnectionLockedError` when another worker holds the
    connection. Whatever ``train`` raises is recorded on the run row (``stopped`` for a
    :class:`~connector.errors.StopRunError` such as too little data, ``failed`` otherwise)
    and raised again.
    """
    state.ensure_connection(name, crm.name)
    with state.lock(name):
        run_id = state.start_run(name, "retrain")
        api_base = crm.usage().calls

        pulled = [0]

        def tally(count: int) -> None:
            pulled[0] = count

        def finish(outcome: str, message: str, version: str | None = None) -> None:
            usage = crm.usage()
            state.add_counts(run_id, RunCounts(pulled=pulled[0]))
            state.finish_run(run_id, outcome, message=message, api_calls=usage.calls - api_base,
                             daily_used=usage.daily_used, daily_max=usage.daily_max,
                             model_version=version)

        try:
            result = train(tally)
        except BaseException as error:
            if isinstance(error, StopRequestedError):
                finish("interrupted", error.message)  # as a sync stopped by SIGTERM is
            elif isinstance(error, LeadscoreError):
                finish("stopped" if isinstance(error, StopRunError) else "failed", error.message)
            else:
                finish("failed", f"{type(error).__name__}: {error}")
            raise
        finish("ok", verdict(result), result.version)
        return result
