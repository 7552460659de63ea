"""Fleet mode: the scheduler's jobs as Celery tasks, run by workers on any number of machines.

``leadscore run --fleet`` keeps APScheduler as the one schedule (the same triggers as
``leadscore run``) but each job *enqueues* a task instead of running it; ``leadscore worker``
starts Celery workers that run them. The broker is Redis; the state store must be one every
worker reaches (PostgreSQL).

* **One queue per connection** (``leadscore.<name>``). Every worker consumes all of them, one
  task at a time (``prefetch_multiplier = 1``), and the Redis transport takes the queues in
  turn, so a connection with a backlog never starves another: each org's API budget is spent
  on its own work only, and an org's jobs never run twice at once (its lease).
* **Nothing lost, nothing written twice.** Tasks are acknowledged only when done
  (``acks_late``); a worker that dies mid-task leaves its message unacknowledged and Redis hands
  it out again after ``visibility_timeout_seconds`` (a worker process killed under a living
  worker is requeued at once). The redelivered task is safe because a run is: writes are staged
  before they are sent and confirmed from the CRM's values afterwards, and the per-connection
  lease keeps two workers off one connection. A task that finds the lease held (the dead
  worker's, until it expires after ``lease_seconds``, or a live run) is retried later; a
  new-leads task is dropped instead (the next one comes in minutes).
* **No pile-up.** The scheduler does not enqueue a job that is still waiting in its queue.

:func:`fleet_status` tells queue depth, the age of the oldest waiting task and the live
workers, for ``leadscore status --fleet``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from celery import Celery
from celery.signals import worker_process_init

from connector.config import CONFIG_ENV, Config, ConnectionConfig, load_config
from connector.crm import get_crm
from connector.errors import ConfigError, ConnectionLockedError, LeadscoreError
from connector.state import StateStore
from connector.sync.schedule import ConnectionWorker

log = logging.getLogger(__name__)
TASK = "leadscore.job"
JOBS = ("sync", "new_leads", "retrain", "maintenance")
QUEUE_PREFIX = "leadscore."
LOCKED_RETRY_S = 15.0
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's Redis priority lists


def queue_for(connection: str) -> str:
    """The Celery queue of one connection's jobs."""
    return QUEUE_PREFIX + connection


def _waiting_key(connection: str, job: str) -> str:
    return f"leadscore:waiting:{connection}:{job}"


def make_app(config: Config) -> Celery:
    """The Celery app for ``config``'s broker, with the ``leadscore.job`` task registered."""
    app = Celery("leadscore", broker=config.fleet.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_ignore_result=True, task_serializer="json", accept_content=["json"],
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": config.fleet.visibility_timeout_seconds},
        task_default_queue=QUEUE_PREFIX + "default")
    app.task(name=TASK, bind=True, max_retries=None, acks_late=True)(run_job)
    return app


# -- the worker side --------------------------------------------------------------------------


class FleetWorker(ConnectionWorker):
    """A :class:`ConnectionWorker` whose jobs let :class:`ConnectionLockedError` through, so
    the task can be retried instead of counted as done."""

    def run(self, job: str) -> str:
        """Run ``job`` now and return its log line."""
        with self.busy:
            if job == "retrain":
                return self._retrain()
            if job == "maintenance":
                return self._maintenance()
            return self._sync(new_leads=job == "new_leads")


@dataclass
class _Runtime:
    """What one worker process keeps between tasks: the config, the state store, a CRM
    client per connection (its pacer remembers the recent calls), the broker's Redis."""

    config: Config
    state: StateStore
    workers: dict[str, FleetWorker]
    redis: redis.Redis

    def worker(self, name: str) -> FleetWorker:
        if name not in self.workers:
            self.workers[name] = FleetWorker(self.config, self.config.connection(name),
                                             self.state, stop=threading.Event())
        return self.workers[name]


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def _current() -> _Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            config = load_config(os.environ.get(CONFIG_ENV))
            state = StateStore(config.state_url)
            state.lease_s = config.fleet.lease_seconds
            _runtime = _Runtime(config, state, {}, redis.Redis.from_url(config.fleet.broker_url))
        return _runtime


def run_job(task, connection: str, job: str, enqueued_at: str) -> str:
    """The ``leadscore.job`` task: run one job of one connection (see the module docstring)."""
    runtime = _current()
    runtime.redis.delete(_waiting_key(connection, job))
    worker = runtime.worker(connection)
    try:
        line = worker.run(job)
    except ConnectionLockedError as error:
        if job == "new_leads":
            line = f"{job} {connection} skipped: {error.message}"
        else:
            log.info("%s %s waits for the connection: %s", job, connection, error.message)
            raise task.retry(countdown=LOCKED_RETRY_S) from None
    except Exception:
        worker.close()  # the next task starts on a fresh CRM connection
        raise
    log.info("%s", line)
    return line


def worker_argv(config: Config, *, concurrency: int, hostname: str | None = None) -> list[str]:
    """Arguments of ``celery worker`` for every connection's queue."""
    queues = ",".join(queue_for(name) for name in config.connections)
    return ["worker", f"--queues={queues}", f"--concurrency={concurrency}", "--pool=prefork",
            "--prefetch-multiplier=1", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel=INFO",
            f"--hostname={hostname or 'leadscore-' + uuid.uuid4().hex[:6]}@%h"]


@worker_process_init.connect
def _open_at_start(**_signal) -> None:
    """A pool process opens its runtime (config, state store) as it starts, not in its first
    task: a fleet starting up takes its first tasks at full speed."""
    try:
        _current()
    except LeadscoreError as error:  # the first task opens it again and fails with the cause
        log.warning("worker process could not open its runtime yet: %s", error.message)


def start_worker(config_path: str | Path | None, *, concurrency: int = 1) -> None:
    """``leadscore worker``: run Celery worker processes until stopped (SIGTERM: warm stop)."""
    config = load_config(config_path)
    os.environ[CONFIG_ENV] = str(config.path)  # the pool's processes load it
    for crm in {connection.crm for connection in config.connections.values()}:
        get_crm(crm)  # imported once here (with its SDK), inherited by every forked pool process
    make_app(config).worker_main(worker_argv(config, concurrency=concurrency))


# -- the scheduler side -----------------------------------------------------------------------


class Dispatcher:
    """Enqueues jobs, skipping one that is still waiting in its queue."""

    def __init__(self, config: Config, app: Celery | None = None) -> None:
        self.config = config
        self.app = app or make_app(config)
        self.redis = redis.Redis.from_url(config.fleet.broker_url)

    def enqueue(self, connection: str, job: str) -> bool:
        """Send ``job`` of ``connection`` to its queue; False when one is already waiting."""
        now = datetime.now(UTC).isoformat()
        if not self.redis.set(_waiting_key(connection, job), now, nx=True,
                              ex=self.config.fleet.visibility_timeout_seconds):
            log.info("%s %s not enqueued: one is still waiting", job, connection)
            return False
        self.app.send_task(TASK, args=[connection, job, now], queue=queue_for(connection))
        return True


class Enqueuer:
    """Stands in for a :class:`ConnectionWorker` in the scheduler: its jobs enqueue."""

    def __init__(self, config: Config, connection: ConnectionConfig,
                 dispatcher: Dispatcher) -> None:
        self.connection, self.name, self.dispatcher = connection, connection.name, dispatcher
        self.model_dir = config.model_dir_for(connection.name)

    def sync(self) -> bool:
        """Enqueue the incremental sync."""
        return self.dispatcher.enqueue(self.name, "sync")

    def new_leads(self) -> bool:
        """Enqueue the new-leads job."""
        return self.dispatcher.enqueue(self.name, "new_leads")

    def retrain(self) -> bool:
        """Enqueue the retraining."""
        return self.dispatcher.enqueue(self.name, "retrain")

    def maintenance(self) -> bool:
        """Enqueue the daily maintenance."""
        return self.dispatcher.enqueue(self.name, "maintenance")

    @staticmethod
    def last_maintenance() -> datetime:
        """Counted from the scheduler's start (the run rows are the workers'): the first
        maintenance is enqueued a day later, not beside the start's sync."""
        return datetime.now(UTC)


# -- status -----------------------------------------------------------------------------------


def _enqueued_at(raw: bytes) -> datetime | None:
    try:
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        return datetime.fromisoformat(args[2])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _unreachable(config: Config, error: Exception) -> ConfigError:
    return ConfigError(f"fleet broker {config.fleet.broker_url.split('@')[-1]} is unreachable: "
                       f"{error}", hint="Start Redis there, or set [fleet] broker_url (or "
                       "LEADSCORE_FLEET__BROKER_URL) to the broker the workers use.")


def fleet_status(config: Config, *, app: Celery | None = None, timeout: float = 1.0) -> dict:
    """Per connection the tasks waiting and the age of the oldest; the workers answering.
    Raises :class:`ConfigError` when the broker cannot be reached."""
    try:
        return _fleet_status(config, app, timeout)
    except (redis.exceptions.ConnectionError, OSError) as error:
        raise _unreachable(config, error) from None


def _fleet_status(config: Config, app: Celery | None, timeout: float) -> dict:
    client = redis.Redis.from_url(config.fleet.broker_url)
    now, queues = datetime.now(UTC), {}
    for name in config.connections:
        keys = [queue_for(name) + suffix for suffix in PRIORITY_SUFFIXES]
        waiting = sum(client.llen(key) for key in keys)
        stamps = [_enqueued_at(raw) for key in keys if (raw := client.lindex(key, -1))]
        oldest = min((s for s in stamps if s is not None), default=None)
        queues[name] = {"waiting": waiting, "oldest_waiting_s":
                        round((now - oldest).total_seconds(), 1) if oldest else None}
    replies = (app or make_app(config)).control.ping(timeout=timeout)
    return {"broker": config.fleet.broker_url.split("@")[-1], "queues": queues,
            "workers": sorted(name for reply in replies for name in reply)}


def run_scheduler(config_path: str | Path | None = None) -> int:
    """``leadscore run --fleet``: the one schedule, enqueuing every job; stops on SIGTERM."""
    import signal

    from apscheduler.schedulers.blocking import BlockingScheduler

    from connector.sync.schedule import add_jobs

    config = load_config(config_path)
    dispatcher = Dispatcher(config)
    scheduler = BlockingScheduler(timezone=UTC)
    for connection in config.connections.values():
        add_jobs(scheduler, Enqueuer(config, connection, dispatcher))

    def shut_down(signum: int, _frame) -> None:
        log.info("%s received: the scheduler stops", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    previous = {sig: signal.signal(sig, shut_down) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("fleet scheduler started: %d connection(s) from %s, broker %s",
             len(config.connections), config.path, config.fleet.broker_url.split("@")[-1])
    try:
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
