"""Authorization epochs: how every process learns, at once, that an enterprise's access changed.

Each enterprise row carries ``authz_epoch``. Every transaction that changes who may do what for
an enterprise (the mandate services, the BCE import) calls :func:`bump` for it. Decision caches
put the epoch in their keys, so a cached decision stays reachable only while the epoch it was
computed at is the current one.

Each process keeps a view of the epochs (an :class:`EpochTracker`) and must hear of changes made
by the others:

- **PostgreSQL**: :func:`bump` also sends ``NOTIFY monespace_authz_epoch`` with the BCE numbers;
  PostgreSQL delivers it when (and only if) the transaction commits. A listener thread with its
  own connection drops those enterprises from the view, so their next decision re-reads the
  epoch. If the listening connection fails, the tracker is *unhealthy* until it has reconnected
  (and dropped its whole view, since notifications may have been missed); meanwhile the
  decision cache serves no cached allow. A heartbeat on that connection bounds how long a silent
  failure can go unnoticed.
- **SQLite**: ``PRAGMA data_version`` on a dedicated connection changes whenever another
  connection commits. The tracker looks at it before every use of the view and drops the view
  when it moved: no delay at all, for about 4 microseconds.

The same listener carries *revocations*: a write that ends the validity of something other
processes may keep (the OpenID provider's token records, a person's claims; :mod:`authz.kept`)
calls :func:`revoked` in its transaction; at commit, every process's trackers move their
``revocations`` count (this process at once, the others on ``NOTIFY monespace_revocation``; on
SQLite, any commit moves it). A cache of such things drops its entries when the count moves,
and is not used while the tracker is unhealthy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable
from urllib.parse import urlparse

import psycopg2
import psycopg2.extensions
from cachetools import LRUCache

from authz import db, metrics, pgbounds
from authz.models import Enterprise

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "monespace_authz_epoch"
REVOCATION_CHANNEL = "monespace_revocation"
LISTENER_NAME = "monespace-listener"  # its application_name in pg_stat_activity
# Enterprises whose epoch a process remembers; beyond that the oldest are re-read when needed.
VIEW_SIZE = 200_000
# PostgreSQL NOTIFY payloads are limited to 8000 bytes: send BCE numbers in chunks.
_NOTIFY_CHUNK = 500


# Every tracker of this process, so a change made here is seen here at once (see committed()).
_trackers: weakref.WeakSet[EpochTracker] = weakref.WeakSet()


def committed() -> None:
    """Call after a transaction that bumped epochs has committed: this process's trackers
    forget their views at once, without waiting for the notification to come back."""
    for tracker in list(_trackers):
        tracker.forget_all()


def revocation_committed() -> None:
    """Call after a transaction that called :func:`revoked` has committed: this process's
    trackers move their revocation count at once."""
    for tracker in list(_trackers):
        tracker.note_revocation()


def revoked() -> None:
    """Inside the transaction of a write that ends the validity of something other processes
    may keep (a token removed): at commit, every process's trackers move their revocation
    count (this process at once; the others on ``NOTIFY``, or SQLite's data_version)."""
    db.after_commit(revocation_committed)
    if db.is_postgresql():
        db.database.execute_sql("SELECT pg_notify(%s, '')", (REVOCATION_CHANNEL,))


def bump(enterprise_ids: Iterable[int]) -> None:
    """Move the epoch of these enterprises, inside the transaction that changes their access.

    Other processes hear of it at commit (NOTIFY, or SQLite's data_version); this process
    does too, with no delay: :func:`committed` runs when the outermost
    ``db.transaction()`` commits.
    """
    ids = sorted(set(enterprise_ids))
    if not ids:
        return
    db.after_commit(committed)
    Enterprise.update(authz_epoch=Enterprise.authz_epoch + 1).where(
        Enterprise.id.in_(ids)
    ).execute()
    if db.is_postgresql():
        bces = [e.bce for e in Enterprise.select(Enterprise.bce).where(Enterprise.id.in_(ids))]
        for start in range(0, len(bces), _NOTIFY_CHUNK):
            payload = " ".join(bces[start : start + _NOTIFY_CHUNK])
            db.database.execute_sql("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))


def read_epoch(bce: str) -> int | None:
    """The epoch in the database; None for an unknown enterprise."""
    row = Enterprise.select(Enterprise.authz_epoch).where(Enterprise.bce == bce).first()
    return row.authz_epoch if row else None


class EpochTracker:
    """A process's view of enterprise epochs, kept fresh by a subclass."""

    # The worst-case delay between a commit elsewhere and this process seeing it, in seconds,
    # when the tracker reports healthy (stated in docs/decision-api.md).
    max_delay: float = 0.0

    def __init__(self, view_size: int = VIEW_SIZE):
        self._view: LRUCache = LRUCache(maxsize=view_size)
        self._lock = threading.Lock()
        # Moves on every forget: an epoch read from the database while a notification arrived
        # may predate the change it announced, so it must not enter the view.
        self._generation = 0
        # Moves on every revocation heard of and on every forget_all (a view dropped because
        # changes may have been missed): caches of revocable things compare it (revoked()).
        self.revocations = 0
        _trackers.add(self)

    @property
    def healthy(self) -> bool:
        """False while changes made elsewhere may be going unnoticed."""
        return True

    def epoch(self, bce: str) -> int | None:
        """The current epoch of ``bce`` (from the view, else from the database)."""
        self.refresh()
        with self._lock:
            known = self._view.get(bce)
            generation = self._generation
        if known is not None:
            return known
        epoch = read_epoch(bce)
        if epoch is not None:
            with self._lock:
                if generation == self._generation:
                    self._view[bce] = epoch
        return epoch

    def refresh(self) -> None:
        """Bring the view up to date with changes committed elsewhere."""

    def forget(self, bces: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for bce in bces:
                self._view.pop(bce, None)

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self.revocations += 1
            self._view.clear()

    def note_revocation(self) -> None:
        """Something revocable was revoked: caches keyed on :attr:`revocations` drop theirs."""
        with self._lock:
            self.revocations += 1

    def start(self) -> None:
        """Begin watching (threads, connections); idempotent."""

    def stop(self) -> None:
        """Stop watching and release connections."""


class SqliteEpochTracker(EpochTracker):
    """Drops the view whenever ``PRAGMA data_version`` says another connection committed."""

    def __init__(self, path: str, view_size: int = VIEW_SIZE):
        super().__init__(view_size)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._conn_lock = threading.Lock()

    def start(self) -> None:
        with self._conn_lock:
            if self._conn is None:
                # Nothing to lose: every change is seen before the next cached answer.
                metrics.LISTENER_HEALTHY.set(1)
                # Autocommit, shared across threads under the lock: it only reads one pragma.
                self._conn = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None
                )
                self._version = None

    def refresh(self) -> None:
        if self._conn is None:
            self.start()
        with self._conn_lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            changed = version != self._version
            self._version = version
        if changed:
            self.forget_all()

    def stop(self) -> None:
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresEpochTracker(EpochTracker):
    """Listens to ``monespace_authz_epoch`` and ``monespace_revocation`` on its own
    connection, in a daemon thread."""

    HEARTBEAT = 1.0  # seconds; a heartbeat query runs every half of it
    # Without a heartbeat for this long, the listener counts as broken (stated in
    # docs/decision-api.md).
    WORST_CASE_DELAY = 2 * HEARTBEAT

    def __init__(
        self,
        url: str,
        view_size: int = VIEW_SIZE,
        heartbeat: float = HEARTBEAT,
        retry_delay: float = 0.5,
        connect_timeout: float = db.CONNECT_TIMEOUT_SECONDS,
    ):
        super().__init__(view_size)
        self.url = url
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.retry_delay = retry_delay
        self.max_delay = 2 * heartbeat
        self._last_beat = 0.0
        self._healthy = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self.backend_pid: int | None = None  # of the listening connection, for operators
        self.reconnections = 0

    @property
    def healthy(self) -> bool:
        # The heartbeat must keep succeeding: a connection that silently stopped answering
        # (no error, no notification) turns the tracker unhealthy within max_delay.
        return (
            self._healthy.is_set()
            and self._thread is not None
            and self._thread.is_alive()
            and time.monotonic() - self._last_beat < self.max_delay
        )

    def start(self) -> None:
        # A thread does not survive fork (a server forking its workers): start one per process.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stopping.clear()
        self._healthy.clear()
        self._thread = threading.Thread(target=self._run, name="authz-epoch-listener", daemon=True)
        self._thread.start()

    def wait_until_healthy(self, timeout: float = 5.0) -> bool:
        return self._healthy.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat + 2)
        self._healthy.clear()

    def _connect(self):
        parsed = urlparse(self.url)
        pgbounds.install()
        # Its heartbeat must come back within max_delay: the server cancels it before.
        bounds = db.Bounds(
            application_name=LISTENER_NAME,
            connect_timeout=self.connect_timeout,
            statement_timeout=self.max_delay,
            idle_in_transaction=self.max_delay,
        )
        params = {
            **bounds.connect_params(),
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 2,
        }
        conn = psycopg2.connect(
            dbname=parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
            **params,
        )
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
            cur.execute(f"LISTEN {REVOCATION_CHANNEL}")
            cur.execute("SELECT pg_backend_pid()")
            self.backend_pid = cur.fetchone()[0]
        return conn

    def _run(self) -> None:
        while not self._stopping.is_set():
            conn = None
            try:
                conn = self._connect()
                # Whatever happened before this connection listened went unheard.
                self.forget_all()
                self._last_beat = time.monotonic()
                self._healthy.set()
                metrics.LISTENER_HEALTHY.set(1)
                metrics.LISTENER_LAST_BEAT.set(time.time())
                self._listen(conn)
            except (psycopg2.Error, OSError) as exc:
                if self._healthy.is_set():
                    log.warning("epoch listener lost its connection: %s", exc)
                else:
                    log.warning("epoch listener cannot connect: %s", exc)
            finally:
                self._healthy.clear()
                metrics.LISTENER_HEALTHY.set(0)
                if conn is not None:
                    with contextlib.suppress(psycopg2.Error):
                        conn.close()
            if not self._stopping.is_set():
                self.reconnections += 1
                metrics.LISTENER_RECONNECTIONS.inc()
                self._stopping.wait(self.retry_delay)

    def _listen(self, conn) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([conn], [], [], self.heartbeat / 2)
            if ready:
                conn.poll()
                self._drain(conn)
            if time.monotonic() - self._last_beat >= self.heartbeat / 2:
                # A query the server must answer: a dead connection shows up here.
                sent = time.monotonic()
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                self._drain(conn)
                self._last_beat = time.monotonic()
                metrics.LISTENER_BEAT_SECONDS.set(self._last_beat - sent)
                metrics.LISTENER_LAST_BEAT.set(time.time())

    def _drain(self, conn) -> None:
        while conn.notifies:
            notification = conn.notifies.pop(0)
            if notification.channel == REVOCATION_CHANNEL:
                self.note_revocation()
                continue
            bces = notification.payload.split()
            self.forget(bces)
            metrics.EPOCH_NOTIFICATIONS.inc()
            metrics.EPOCH_ENTERPRISES.inc(len(bces))


def tracker_for(url: str, connect_timeout: float = db.CONNECT_TIMEOUT_SECONDS) -> EpochTracker:
    """The tracker suited to the database at ``url``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        return SqliteEpochTracker(path)
    return PostgresEpochTracker(url, connect_timeout=connect_timeout)
