"""The periodic jobs, run by one long-lived process: ``monespace worker``.

Each job calls the same domain function as its one-shot command (``monespace mail send``,
``monespace requests expire``) or as the stores' own opportunistic housekeeping (the purges of
login and provider state), on its own interval from the configuration. One run of a job is one
log line saying what it did; its outcome is written to the heartbeat file, which
``monespace worker status`` reads (a container probe).

Several workers may share one PostgreSQL database:

- the mail job claims each outbox row before sending it (``admin_ui.mail``), so workers share
  the outbox and never send one email twice;
- the other jobs are *exclusive*: each run takes a session-level advisory lock named after the
  job (``pg_try_advisory_lock``) and is skipped when another worker holds it, so one worker
  at a time expires requests or purges. A worker that dies releases its locks with its
  connection.

SQLite has no such locks: one worker per SQLite database, held by an exclusive lock on a file
beside the database; a second worker is refused (:class:`AnotherWorker`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from prometheus_client import Counter, Gauge, Histogram

from admin_ui.mail import deliver_due, outbox_depth
from authz import db
from authz.services import expire_requests
from authz.tables import utcnow
from idp_bridge.oidc import storage as provider_storage
from idp_bridge.shared import db_stores
from monespace.config import Config

logger = logging.getLogger("monespace.worker")

STOP_CHECK = 0.5  # seconds: a stop request is seen this soon while the worker waits
MAIL_BATCH = 100  # messages per run of the mail job; a full batch runs the job again at once
PURGE_BATCHES = 100  # batches of provider state (idp_bridge.oidc.storage) deleted per run
# A job is overdue when its last success is older than twice its interval plus this.
GRACE = timedelta(seconds=60)
# The first key of the two-key advisory locks: "ME" (Mon Espace), so our locks are told apart
# from any other application's on the same database.
LOCK_SPACE = 0x4D45


class AnotherWorker(RuntimeError):
    """Another worker already runs on this SQLite database."""


@dataclass(frozen=True)
class Outcome:
    """What one run did: a summary for the log, and whether work remains right now."""

    summary: str
    more: bool = False


@dataclass(frozen=True)
class Job:
    name: str
    interval_setting: str  # the Config attribute holding its interval, in seconds
    run: Callable[[Config], Outcome]
    exclusive: bool  # one worker at a time (an advisory lock), or row claims of its own

    def interval(self, config: Config) -> int:
        return getattr(config, self.interval_setting)


def expire(_config: Config) -> Outcome:
    """``monespace requests expire``: the requesters are emailed through the outbox."""
    return Outcome(f"{expire_requests()} role request(s) expired")


def purge(_config: Config) -> Outcome:
    """Expired login state and provider state, which the stores otherwise purge only when
    logins happen."""
    now = utcnow()
    counts = db_stores.purge_expired(now)
    provider = 0
    for _ in range(PURGE_BATCHES):
        deleted = provider_storage.purge_expired(now)
        provider += deleted
        if deleted < provider_storage.PURGE_BATCH:
            break
    counts["provider_state"] = provider
    return Outcome("deleted " + ", ".join(f"{n} {table}" for table, n in counts.items()))


def send_mail(config: Config) -> Outcome:
    """``monespace mail send``: the due messages, each claimed before it is sent."""
    sent, failed = deliver_due(config, limit=MAIL_BATCH)
    pending, abandoned = outbox_depth()
    summary = f"sent {sent}, failed {failed}, {pending} pending, {abandoned} abandoned"
    if not config.smtp_host:
        summary += " (MONESPACE_SMTP_HOST is not set: the messages stay in the outbox)"
    # A full batch sent: more may be due. Failures wait for their retry time instead.
    return Outcome(summary, more=failed == 0 and sent >= MAIL_BATCH)


# In this order at start-up: the expiry emails are sent by the same pass.
JOBS = (
    Job("expire-requests", "worker_expire_interval", expire, exclusive=True),
    Job("purge", "worker_purge_interval", purge, exclusive=True),
    Job("mail", "worker_mail_interval", send_mail, exclusive=False),
)


# -- metrics (served by `monespace worker` when worker_metrics_port is set) -------------------

JOB_RUNS = Counter(
    "monespace_worker_job_runs",
    "Runs of the worker's jobs, by job and outcome (ok, failed, skipped: another worker "
    "held the job's lock).",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "monespace_worker_job_seconds",
    "Duration of the worker's job runs.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
JOB_LAST_SUCCESS = Gauge(
    "monespace_worker_job_last_success_timestamp_seconds",
    "Unix time of each job's last successful run in this worker.",
    ["job"],
    multiprocess_mode="livemax",
)


def _expect(jobs: Sequence[Job]) -> None:
    for job in jobs:
        for outcome in ("ok", "failed", "skipped"):
            JOB_RUNS.labels(job.name, outcome)
        JOB_SECONDS.labels(job.name)


# -- the heartbeat file ---------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Heartbeat:
    """The last run and the last success of each job, in one JSON file rewritten atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": _now().isoformat(),
            "jobs": {},
        }

    def record(self, job: str, interval: int, summary: str, ok: bool) -> None:
        now = _now().isoformat()
        entry = self.state["jobs"].setdefault(job, {"last_success": None})
        entry.update(interval=interval, last_run=now, result=summary, ok=ok)
        if ok:
            entry["last_success"] = now
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".heartbeat-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(self.state, file, indent=2)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class JobStatus:
    name: str
    interval: int
    last_success: datetime | None
    result: str | None
    overdue: bool


def read_status(path: Path, jobs: Sequence[Job], config: Config) -> list[JobStatus]:
    """Each job's state from the heartbeat file; a job never run, or whose last success is
    older than twice its interval plus :data:`GRACE`, is overdue. Raises ``OSError`` or
    ``ValueError`` when the file cannot be read."""
    recorded = json.loads(path.read_text(encoding="utf-8")).get("jobs", {})
    now = _now()
    statuses = []
    for job in jobs:
        entry = recorded.get(job.name, {})
        interval = int(entry.get("interval") or job.interval(config))
        last = entry.get("last_success")
        last_success = datetime.fromisoformat(last) if last else None
        overdue = (
            last_success is None or now - last_success > 2 * timedelta(seconds=interval) + GRACE
        )
        statuses.append(JobStatus(job.name, interval, last_success, entry.get("result"), overdue))
    return statuses


# -- one worker per SQLite database, one run of an exclusive job per PostgreSQL database ----


@contextmanager
def sqlite_lock(database_file: str) -> Iterator[None]:
    """Hold ``<database file>.worker-lock`` for the life of the worker, or refuse."""
    path = Path(f"{database_file}.worker-lock")
    handle: IO[str] = path.open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherWorker(
                f"another monespace worker runs on this SQLite database (it holds {path}); "
                "SQLite takes one worker: stop it, or use PostgreSQL for several"
            ) from None
        yield
    finally:
        handle.close()


def _lock_key(job: Job) -> int:
    key = zlib.crc32(job.name.encode())
    return key - (1 << 32) if key >= 1 << 31 else key  # a signed 32-bit integer


@contextmanager
def job_lock(job: Job) -> Iterator[bool]:
    """True when this worker may run ``job`` now: always for a job that claims its own rows
    or on SQLite (one worker), else when it gets the job's advisory lock."""
    if not job.exclusive or not db.is_postgresql():
        yield True
        return
    args = (LOCK_SPACE, _lock_key(job))
    got = db.database.execute_sql("SELECT pg_try_advisory_lock(%s, %s)", args).fetchone()[0]
    try:
        yield bool(got)
    finally:
        if got:
            db.database.execute_sql("SELECT pg_advisory_unlock(%s, %s)", args)


# -- the loop -------------------------------------------------------------------------------


class Worker:
    """Runs ``jobs`` each on its interval until :meth:`stop` is called."""

    def __init__(self, config: Config, jobs: Sequence[Job] | None = None):
        self.config, self.jobs = config, tuple(JOBS if jobs is None else jobs)
        self.heartbeat = Heartbeat(config.worker_heartbeat_file)
        self.stopping = False
        _expect(self.jobs)

    def stop(self) -> None:
        """Finish the job in hand, then return from :meth:`run_forever`. Safe in a signal
        handler: it only sets a flag (a threading.Event would take a lock the interrupted
        code may hold)."""
        self.stopping = True

    def run_job(self, job: Job) -> Outcome | None:
        """Run ``job`` once, log one line and record it; None when it failed."""
        started = time.monotonic()
        interval = job.interval(self.config)
        try:
            with db.connection(), job_lock(job) as mine:
                outcome = job.run(self.config) if mine else None
        except Exception as exc:  # one failed run must not stop the worker; retried next time
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
            logger.error("%s: failed: %s", job.name, error)
            self.heartbeat.record(job.name, interval, f"failed: {error}", ok=False)
            JOB_RUNS.labels(job.name, "failed").inc()
            return None
        elapsed = time.monotonic() - started
        if outcome is None:
            outcome = Outcome("skipped: another worker is running it")
            JOB_RUNS.labels(job.name, "skipped").inc()
        else:
            JOB_RUNS.labels(job.name, "ok").inc()
            JOB_SECONDS.labels(job.name).observe(elapsed)
            JOB_LAST_SUCCESS.labels(job.name).set(time.time())
        logger.info("%s: %s (%.2f s)", job.name, outcome.summary, elapsed)
        self.heartbeat.record(job.name, interval, outcome.summary, ok=True)
        return outcome

    def run_once(self) -> bool:
        """Every job once, in order; True when all succeeded."""
        return all([self.run_job(job) is not None for job in self.jobs])

    def run_forever(self) -> None:
        """Every job at start, then each when its interval has passed since its last run;
        returns once :meth:`stop` is called, after the job in hand."""
        due = dict.fromkeys((job.name for job in self.jobs), 0.0)
        while not self.stopping:
            for job in sorted(self.jobs, key=lambda job: due[job.name]):
                if self.stopping or due[job.name] > time.monotonic():
                    continue
                outcome = self.run_job(job)
                again = outcome is not None and outcome.more
                due[job.name] = time.monotonic() + (0 if again else job.interval(self.config))
            # In short naps: a signal interrupts a sleep, which then resumes (PEP 475).
            while not self.stopping and (left := min(due.values()) - time.monotonic()) > 0:
                time.sleep(min(left, STOP_CHECK))
