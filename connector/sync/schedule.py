"""The long-running process (``scheduler.py`` / ``leadscore run``): APScheduler 3.x jobs per
connection, rebuilt from the config at every start (no pickled job store).

Per connection:

* **sync** - every ``sync_every_minutes`` (default hourly) or on ``sync_cron``, with jitter,
  coalesced, one instance at a time, a misfire grace of half the period; an interval sync runs
  at start too, a crontab one waits for its first match.
* **new leads** - every ``new_leads_every_minutes`` (default 2): scores only records created since
  it last looked; one API call when nothing is new. Skipped while the sync of the same
  connection runs (that sync picks the new leads up itself).
* **maintenance** - daily (a day after the last one, or at start when overdue): prunes audit
  rows, runs and removal rows past ``retention_days`` and removes the records the CRM no longer
  finds (:mod:`connector.sync.maintenance`).
* **retrain** - every ``retrain_every_days`` (default weekly) or on ``retrain_cron``, at start too
  when no model exists; the model issue's champion/challenger rule decides whether the new
  version goes live, and the next sync then rescores every open lead. Each retraining holds the
  connection's lock and leaves a run row (kind ``retrain``) with its API calls and verdict.

SIGTERM/SIGINT set a stop flag: the run in flight finishes the batch it is writing, records its
state and returns (a retraining stops between two pages of its pull or two model fits, saving
nothing); the process then exits 0. Each run logs exactly one line with its counts.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import Config, ConnectionConfig, Schedule, load_config
from connector.crm import CRM, open_crm
from connector.cron import crontab_trigger, next_fire, shortest_gap
from connector.errors import (
    ConnectionLockedError, LeadscoreError, RetryLaterError, StopRequestedError)
from connector.mapping import load_mapping
from connector.model import load_model, train_model
from connector.model.artifacts import current_version
from connector.state import StateStore, utcnow
from connector.sync.engine import RunSummary, run_sync
from connector.sync.maintenance import KIND as MAINTENANCE, run_maintenance
from connector.sync.training_run import recent_volume, recorded_training, verdict
from connector.sync.training_inputs import point_in_time_inputs, pull_records
from connector.sync.workspace import live_model_fields

log = logging.getLogger("leadscore")
MAX_SYNC_JITTER_S = 300.0
CRON_JITTER_S = 60


def sync_trigger(schedule: Schedule) -> BaseTrigger:
    """The sync's trigger: its crontab, or its interval with up to 5 % of it (at most 5 minutes)
    of jitter so many workers do not all hit the CRM on the hour. A crontab gets a minute of
    jitter: the admin picked the time, but workers sharing it still spread out a little."""
    if schedule.sync_cron:
        return crontab_trigger(schedule.sync_cron, schedule.timezone, jitter_s=CRON_JITTER_S)
    seconds = schedule.sync_every_minutes * 60
    return IntervalTrigger(seconds=seconds, jitter=int(min(MAX_SYNC_JITTER_S, seconds * 0.05)))


def retrain_trigger(schedule: Schedule) -> BaseTrigger:
    """The retraining's trigger: its crontab or its interval in days."""
    if schedule.retrain_cron:
        return crontab_trigger(schedule.retrain_cron, schedule.timezone)
    return IntervalTrigger(days=schedule.retrain_every_days)


def sync_period(schedule: Schedule, now: datetime) -> timedelta:
    """The time between two syncs: the interval, or the crontab's shortest gap."""
    if schedule.sync_cron:
        return shortest_gap(schedule.sync_cron, schedule.timezone, now)
    return timedelta(minutes=schedule.sync_every_minutes)


class ConnectionWorker:
    """What the jobs of one connection share: its mapping, one CRM client reused across runs,
    the state store, and a lock so its jobs never overlap inside this process."""

    def __init__(self, config: Config, connection: ConnectionConfig, state: StateStore, *,
                 stop: threading.Event, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.config, self.connection, self.state = config, connection, state
        self.stop, self.environ, self.clock = stop, environ, clock
        self.name = connection.name
        self.mapping = load_mapping(connection.mapping)
        self.model_dir = config.model_dir_for(self.name)
        self.busy = threading.Lock()
        self._crm: CRM | None = None
        self._model = None

    def crm(self) -> CRM:
        """The CRM client, opened on first use and kept (its pacer knows the recent calls)."""
        if self._crm is None:
            self._crm = open_crm(self.connection, environ=self.environ)
        return self._crm

    def model(self):
        """The live model, reloaded when a retrain promoted a new version."""
        if self._model is None or self._model.version != current_version(self.model_dir):
            self._model = load_model(self.model_dir)
        return self._model

    def close(self) -> None:
        """Close the CRM client."""
        if self._crm is not None:
            self._crm.close()
            self._crm = None

    def _guarded(self, job: str, action: Callable[[], str], *, wait: bool) -> str | None:
        if not self.busy.acquire(blocking=wait):
            log.info("%s %s skipped: another job of this connection is running", job, self.name)
            return None
        try:
            if self.stop.is_set():
                return None
            line = action()
        except ConnectionLockedError as error:
            line = f"{job} {self.name} skipped: {error.message}"
        except StopRequestedError as error:
            line = f"{job} {self.name} stopped: {error.message}"
        except LeadscoreError as error:
            if isinstance(error, RetryLaterError):
                self.close()  # start the next run on a fresh connection
            line = f"{job} {self.name} failed: {error.message}"
        except Exception as error:  # noqa: BLE001 - a bug must not stop the other jobs
            log.exception("%s %s crashed", job, self.name)
            self.close()
            return f"{job} {self.name} crashed: {type(error).__name__}: {error}"
        finally:
            self.busy.release()
        log.info("%s", line)
        return line

    def _sync(self, *, new_leads: bool) -> str:
        summary: RunSummary = run_sync(self.connection, self.crm(), self.model(), self.mapping,
                                       self.state, new_leads=new_leads, clock=self.clock,
                                       stop=self.stop)
        if summary.error is not None and isinstance(summary.error, RetryLaterError):
            self.close()
        return summary.line()

    def sync(self) -> str | None:
        """The hourly job: one incremental sync. Returns its log line (None if skipped)."""
        return self._guarded("sync", lambda: self._sync(new_leads=False), wait=True)

    def new_leads(self) -> str | None:
        """The frequent job: score the leads created since the last look."""
        return self._guarded("new_leads", lambda: self._sync(new_leads=True), wait=False)

    def retrain(self) -> str | None:
        """The weekly job: train on the CRM's history; promotion is the model's decision."""
        return self._guarded("retrain", self._retrain, wait=True)

    def maintenance(self) -> str | None:
        """The daily job: retention and the reconciliation of removed records."""
        return self._guarded("maintenance", self._maintenance, wait=True)

    def _maintenance(self) -> str:
        return run_maintenance(self.name, self.crm(), self.state,
                               retention_days=self.connection.retention_days,
                               clock=self.clock).line()

    def last_maintenance(self) -> datetime | None:
        """When the maintenance job last ran (None: never)."""
        last = self.state.last_runs(self.name, limit=1, kinds=[MAINTENANCE])
        return last[0].started_at if last else None

    def _sync_minutes(self) -> int | None:
        schedule = self.connection.schedule
        return None if schedule.sync_cron else schedule.sync_every_minutes

    def _retrain(self) -> str:
        crm = self.crm()

        def pull_and_train(tally):
            also = live_model_fields(crm, self.mapping, self.model_dir)
            records = list(pull_records(crm, self.mapping, stop=self.stop, also=also))
            tally(len(records))
            inputs = point_in_time_inputs(crm, self.mapping, self.state, self.name, records,
                                          stop=self.stop)
            return train_model(inputs.records, self.mapping, model_dir=self.model_dir,
                               stop=self.stop, point_in_time=inputs,
                               volume=recent_volume(self.state, self.name, self._sync_minutes()))

        result = recorded_training(self.name, crm, self.state, pull_and_train)
        return f"retrain {self.name}: {verdict(result)}"


def add_jobs(scheduler: BaseScheduler, worker: ConnectionWorker, *,
             now: datetime | None = None) -> None:
    """Add the four jobs of ``worker``'s connection to ``scheduler`` (any APScheduler 3.x)."""
    schedule = worker.connection.schedule
    now = now or datetime.now(timezone.utc)
    name = worker.name
    # An interval sync runs at start so a restarted worker catches up at once; a crontab is the
    # admin's choice of hours (often off-peak), so it waits for its first match.
    first_sync = {} if schedule.sync_cron else {"next_run_time": now}
    scheduler.add_job(worker.sync, sync_trigger(schedule), id=f"{name}:sync",
                      name=f"sync {name}", coalesce=True, max_instances=1,
                      misfire_grace_time=int(sync_period(schedule, now).total_seconds() / 2),
                      replace_existing=True, **first_sync)
    scheduler.add_job(worker.new_leads,
                      IntervalTrigger(minutes=schedule.new_leads_every_minutes),
                      id=f"{name}:new_leads", name=f"new leads {name}", coalesce=True,
                      max_instances=1, misfire_grace_time=schedule.new_leads_every_minutes * 60,
                      replace_existing=True)
    last = worker.last_maintenance()
    scheduler.add_job(worker.maintenance, IntervalTrigger(days=1), id=f"{name}:maintenance",
                      name=f"maintenance {name}", coalesce=True, max_instances=1,
                      misfire_grace_time=12 * 3600, replace_existing=True,
                      next_run_time=max(now, last + timedelta(days=1)) if last else now)
    first_retrain = now if current_version(worker.model_dir) is None else None
    scheduler.add_job(worker.retrain, retrain_trigger(schedule),
                      id=f"{name}:retrain", name=f"retrain {name}", coalesce=True,
                      max_instances=1, misfire_grace_time=24 * 3600, replace_existing=True,
                      **({"next_run_time": first_retrain} if first_retrain else {}))


def build(config: Config, state: StateStore, *, scheduler: BaseScheduler | None = None,
          stop: threading.Event | None = None, environ: Mapping[str, str] | None = None,
          clock: Callable[[], datetime] = utcnow) -> tuple[BaseScheduler, list[ConnectionWorker]]:
    """A scheduler (default: blocking, in-memory job store) holding every connection's jobs."""
    stop = stop or threading.Event()
    workers = [ConnectionWorker(config, connection, state, stop=stop, environ=environ,
                                clock=clock) for connection in config.connections.values()]
    size = max(4, 3 * len(workers))
    scheduler = scheduler or BlockingScheduler(
        executors={"default": ThreadPoolExecutor(size)}, timezone=timezone.utc)
    for worker in workers:
        add_jobs(scheduler, worker)
    return scheduler, workers


def run(config_path: str | Path | None = None, *,
        environ: Mapping[str, str] | None = None) -> int:
    """Load the config and run the jobs until SIGTERM/SIGINT; return the exit code (0)."""
    config = load_config(config_path)
    state = StateStore(config.state_url)
    stop = threading.Event()
    scheduler, workers = build(config, state, stop=stop, environ=environ)

    def shut_down(signum: int, _frame) -> None:
        log.info("%s received: finishing the batch in flight", signal.Signals(signum).name)
        stop.set()
        scheduler.shutdown(wait=False)

    previous = {sig: signal.signal(sig, shut_down) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("scheduler started: %d connection(s) from %s", len(workers), config.path)
    try:
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for worker in workers:
            with worker.busy:  # wait for the run in flight to record its state
                worker.close()
        state.close()
    log.info("scheduler stopped")
    return 0


def configure_logging(level: int = logging.INFO) -> None:
    """One line per event on stderr; APScheduler's own per-job chatter is left out."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def next_runs(schedule: Schedule, last: Mapping[str, datetime | None],
              now: datetime) -> dict[str, datetime]:
    """When each job is next expected (status uses this; the live scheduler adds jitter): a
    crontab's next match, or an interval counted from the last time the job ran."""
    every = {"sync": timedelta(minutes=schedule.sync_every_minutes),
             "new_leads": timedelta(minutes=schedule.new_leads_every_minutes),
             "retrain": timedelta(days=schedule.retrain_every_days)}
    crons = {"sync": schedule.sync_cron, "retrain": schedule.retrain_cron}
    expected = {}
    for job, interval in every.items():
        if crons.get(job):
            expected[job] = next_fire(crons[job], schedule.timezone, now)
        else:
            expected[job] = max(now, last[job] + interval) if last.get(job) else now
    return expected
