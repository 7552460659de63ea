"""What ``leadscore status`` shows, per connection, read from the state store and the model
directory only (no CRM call): the last runs and their counts, failures waiting for a retry,
cursor lag, the live model and its holdout metrics, the last retraining, the API allowance as
last reported, who holds the connection now, when each job is next expected, and each tier's
share of the scored leads against its intended share (:mod:`connector.admin.tier_watch`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from connector.config import Config
from connector.model.artifacts import current_version, versions
from connector.records import Cursor
from connector.sync.schedule import next_runs
from connector.state import RunInfo, StateStore
from connector.sync.engine import CHANGED, CREATED
from connector.admin.tier_watch import state_watch
from connector.sync.lifecycle import MAX_RETRY_ATTEMPTS

HOLDOUT_KEYS = ("roc_auc", "pr_auc", "lift_top_decile", "brier")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _run(run: RunInfo) -> dict[str, Any]:
    return {"id": run.id, "kind": run.kind, "dry_run": run.dry_run, "outcome": run.outcome,
            "started_at": _iso(run.started_at), "ended_at": _iso(run.ended_at),
            **run.counts.as_dict(), "api_calls": run.api_calls,
            "model_version": run.model_version, "message": run.message}


def _lag(state: StateStore, name: str, stream: str, now: datetime) -> dict[str, Any] | None:
    stored = state.cursors(name).get(stream)
    if stored is None:
        return None
    cursor = Cursor.from_json(stored[0])
    return {"stamp": _iso(cursor.stamp), "recorded_at": _iso(stored[1]),
            "lag_s": round((now - cursor.stamp).total_seconds(), 1) if cursor.stamp else None,
            "mid_sweep": cursor.resume is not None}


def _model(config: Config, state: StateStore, name: str) -> dict[str, Any]:
    directory = config.model_dir_for(name)
    version = current_version(directory)
    out: dict[str, Any] = {"version": version, "rescored_with": state.model_version(name),
                           "directory": str(directory)}
    if version is not None:
        card_file = directory / version / "card.json"
        card = json.loads(card_file.read_text("utf-8")) if card_file.is_file() else {}
        holdout = card.get("holdout") or {}
        out.update(trained_at=card.get("trained_at"), chosen=card.get("chosen"),
                   holdout={k: holdout[k] for k in HOLDOUT_KEYS if k in holdout})
        if state.model_version(name) == version:
            out["rescored_records"] = state.record_count(name, model_version=version)
    return out


def _last_trained(config: Config, name: str) -> datetime | None:
    """When the newest saved version (promoted or not) was trained: the last retrain."""
    directory = config.model_dir_for(name)
    saved = versions(directory)
    card_file = directory / saved[-1] / "card.json" if saved else None
    if card_file is None or not card_file.is_file():
        return None
    trained = json.loads(card_file.read_text("utf-8")).get("trained_at")
    return datetime.fromisoformat(trained) if trained else None


def _allowance(runs: list[RunInfo], reserve: float) -> dict[str, Any]:
    latest = next((r for r in runs if r.daily_max), None)
    if latest is None:
        return {"daily_used": None, "daily_max": None, "daily_left": None, "reserve": reserve}
    return {"daily_used": latest.daily_used, "daily_max": latest.daily_max,
            "daily_left": latest.daily_max - latest.daily_used, "reserve": reserve,
            "as_of": _iso(latest.ended_at or latest.started_at)}


def pilot_status(config: Config, state: StateStore, name: str) -> dict[str, Any]:
    """The pilot of ``name``: control group share and sizes, callback tasks by status, and
    webhook deliveries (``dead``: the dead letters)."""
    connection = config.connection(name)
    control = connection.control
    return {"control_share": control.share if control else None,
            "groups": state.pilot.group_sizes(name),
            "callbacks": state.pilot.callback_counts(name),
            "webhook": state.pilot.webhook_counts(name) if connection.webhook else None}


def connection_status(config: Config, state: StateStore, name: str, now: datetime, *,
                      runs: int = 5) -> dict[str, Any]:
    """Everything ``status`` shows about connection ``name`` as a JSON-ready dict."""
    connection = config.connection(name)
    history = state.last_runs(name, limit=max(runs, 20))
    last_start = {kind: next((r.started_at for r in history if r.kind == kind and not r.dry_run),
                             None) for kind in ("sync", "new_leads")}
    retrains = state.last_runs(name, limit=1, kinds=["retrain"])
    last_start["retrain"] = retrains[0].started_at if retrains else _last_trained(config, name)
    holder = state.lock_holder(name)
    failures = state.failures(name, limit=10)
    return {
        "connection": name, "crm": connection.crm, "object": connection.object,
        "timezone": connection.schedule.timezone,
        "runs": [_run(r) for r in history[:runs]],
        "failures": {"waiting": state.failure_count(name),
                     # retried only when their record changes; they no longer hold the cursor
                     "exhausted": state.exhausted_count(name, MAX_RETRY_ATTEMPTS),
                     "oldest": [{"record_id": f.record_id, "code": f.code, "reason": f.reason,
                                 "attempts": f.attempts, "last_at": _iso(f.last_at)}
                                for f in failures]},
        "cursor": _lag(state, name, CHANGED, now),
        "new_leads_cursor": _lag(state, name, CREATED, now),
        "model": _model(config, state, name),
        "last_retrain": _run(retrains[0]) if retrains else None,
        "api": _allowance(history, connection.api_reserve),
        "locked_by": {"owner": holder[0], "lease_until": _iso(holder[1])} if holder else None,
        "next_runs": {job: _iso(at) for job, at in
                      next_runs(connection.schedule, last_start, now).items()},
        "pilot": pilot_status(config, state, name),
        "tiers": state_watch(config, state, name),
    }


def status(config: Config, state: StateStore, now: datetime, *,
           connection: str | None = None) -> list[dict[str, Any]]:
    """:func:`connection_status` of one connection, or of every configured one."""
    names = [connection] if connection else sorted(config.connections)
    return [connection_status(config, state, name, now) for name in names]
