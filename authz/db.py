"""Database connection: SQLite (embedded default, WAL mode) or PostgreSQL (production).

The same models run on both. ``database`` is a proxy bound once at start-up by :func:`connect`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, OperationalError, PostgresqlDatabase
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}


# Requests take a connection from a pool and give it back (close() returns it): opening a
# PostgreSQL connection per request would cost milliseconds. A request finding the pool empty
# waits for a connection to come back, at most POOL_WAIT_SECONDS, then gets PoolExhausted.
POOL_SIZE = 32
POOL_WAIT_SECONDS = 5
POOL_STALE_SECONDS = 300
CONNECT_TIMEOUT_SECONDS = 5  # a PostgreSQL server that does not answer


class PoolExhausted(OperationalError):
    """Every pooled connection stayed in use for the whole wait: the service is overloaded.

    An OperationalError, as a database that cannot be reached: every edge answers both as
    unavailable for now (503, with Retry-After), never as a failure of its own (500)."""


class _WaitingPool:
    """peewee's pool, raising :class:`PoolExhausted` where it raises a bare ValueError."""

    def connect(self, reuse_if_open: bool = False) -> bool:
        try:
            return super().connect(reuse_if_open)  # type: ignore[misc]
        except MaxConnectionsExceeded as exc:
            raise PoolExhausted(
                f"no database connection free after {self._wait_timeout} s"
            ) from exc


class _SqlitePool(_WaitingPool, PooledSqliteDatabase):
    pass


class _PostgresqlPool(_WaitingPool, PooledPostgresqlDatabase):
    pass


def make_database(
    url: str, pool_size: int = POOL_SIZE, pool_wait: int = POOL_WAIT_SECONDS
) -> Database:
    """Build (not open) a peewee database from ``sqlite:///path`` or ``postgresql://...``;
    at most ``pool_size`` connections, a request waiting at most ``pool_wait`` seconds for one.
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise ValueError(f"database URL {url!r} names no file")
        # BEGIN IMMEDIATE: a write transaction takes SQLite's write lock when it starts, so two
        # processes never both read then fail to upgrade to a write (SQLITE_BUSY mid-way).
        return _SqlitePool(
            path,
            pragmas=SQLITE_PRAGMAS,
            lock_type="IMMEDIATE",
            max_connections=pool_size,
            timeout=pool_wait,
            stale_timeout=POOL_STALE_SECONDS,
            # The pool hands a connection to one thread at a time, but not always the thread
            # that opened it (threaded servers).
            check_same_thread=False,
        )
    if parsed.scheme in ("postgres", "postgresql"):
        return _PostgresqlPool(
            parsed.path.lstrip("/"),
            max_connections=pool_size,
            timeout=pool_wait,
            stale_timeout=POOL_STALE_SECONDS,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
        )
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


def connect(url: str, pool_size: int = POOL_SIZE, pool_wait: int = POOL_WAIT_SECONDS) -> Database:
    """Bind the proxy to the database at ``url`` and return it."""
    db = make_database(url, pool_size, pool_wait)
    database.initialize(db)
    return db


def is_postgresql() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


@contextmanager
def transaction() -> Iterator[Any]:
    """One write transaction (a savepoint when nested), yielding peewee's transaction object
    (``rollback()``, ``commit()``). Callbacks registered with :func:`after_commit` inside it
    run once the outermost transaction has ended without an exception; never after a failure."""
    outermost = not database.in_transaction()
    if outermost:
        _pending.callbacks = []
    try:
        with database.atomic() as atomic:
            yield atomic
    except BaseException:
        if outermost:
            _pending.callbacks = []
        raise
    if outermost:
        callbacks, _pending.callbacks = _pending.callbacks, []
        for callback in callbacks:
            callback()


_pending = threading.local()


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` (once) when the transaction under way commits; at once outside one."""
    callbacks = getattr(_pending, "callbacks", None) if database.in_transaction() else None
    if callbacks is None:
        callback()
    elif callback not in callbacks:
        callbacks.append(callback)


_scope = threading.local()


def hold_connections() -> None:
    """A request starts in this thread: a connection :func:`connection` takes from the pool
    stays with the thread until :func:`release_connections` (the request's end, where the app
    gives it back) instead of going back at the end of each block. peewee's pool checks a
    connection with a round trip (``SELECT 1``) each time it hands it out, and one login ran
    about 60 such blocks."""
    _scope.depth = getattr(_scope, "depth", 0) + 1


def release_connections() -> None:
    _scope.depth = max(0, getattr(_scope, "depth", 0) - 1)


@contextmanager
def connection():
    """Open a connection for the duration of a block (CLI commands, background work), or of
    the request under way (:func:`hold_connections`)."""
    opened = database.connect(reuse_if_open=True)
    try:
        yield database
    finally:
        if opened and not getattr(_scope, "depth", 0):
            database.close()
