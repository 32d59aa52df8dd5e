"""Database connection: SQLite (embedded default, WAL mode) or PostgreSQL (production).

The same models run on both. ``database`` is a proxy bound once at start-up by :func:`connect`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from peewee import Database, DatabaseProxy, PostgresqlDatabase
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}


# Requests take a connection from a pool and give it back (close() returns it): opening a
# PostgreSQL connection per request would cost milliseconds.
POOL_SIZE = 32
POOL_STALE_SECONDS = 300


def make_database(url: str) -> Database:
    """Build (not open) a peewee database from ``sqlite:///path`` or ``postgresql://...``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
        if not path:
            raise ValueError(f"database URL {url!r} names no file")
        # BEGIN IMMEDIATE: a write transaction takes SQLite's write lock when it starts, so two
        # processes never both read then fail to upgrade to a write (SQLITE_BUSY mid-way).
        return PooledSqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            lock_type="IMMEDIATE",
            max_connections=POOL_SIZE,
            stale_timeout=POOL_STALE_SECONDS,
            # The pool hands a connection to one thread at a time, but not always the thread
            # that opened it (threaded servers).
            check_same_thread=False,
        )
    if parsed.scheme in ("postgres", "postgresql"):
        return PooledPostgresqlDatabase(
            parsed.path.lstrip("/"),
            max_connections=POOL_SIZE,
            stale_timeout=POOL_STALE_SECONDS,
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
        )
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


def connect(url: str) -> Database:
    """Bind the proxy to the database at ``url`` and return it."""
    db = make_database(url)
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


@contextmanager
def connection():
    """Open a connection for the duration of a block (CLI commands, background work)."""
    opened = database.connect(reuse_if_open=True)
    try:
        yield database
    finally:
        if opened:
            database.close()
