"""Database connection: SQLite (embedded default, WAL mode) or PostgreSQL (production).

The same models run on both. ``database`` is a proxy bound once at start-up by :func:`connect`.
"""

from __future__ import annotations

import contextlib
import re
import select
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlparse

import peewee
import psycopg2
import psycopg2.errors
import psycopg2.extensions
from peewee import Database, DatabaseProxy, OperationalError, PostgresqlDatabase
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

from authz import metrics, pgbounds

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
# peewee's pool asks PostgreSQL whether a connection still works (``SELECT 1``, a round trip)
# each time it hands one out: a third of an introspection's round trips. A connection given
# back less than POOL_RECHECK_SECONDS ago is handed out without that question when its socket
# shows nothing from the server (a backend that was terminated or a server that shut down
# sends its notice and closes the socket: readable). 0 asks every time.
POOL_RECHECK_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5  # a PostgreSQL server that does not answer


@dataclass(frozen=True)
class Bounds:
    """How long a PostgreSQL connection may wait on the server, and the name it shows in
    ``pg_stat_activity``. Times in seconds; 0 means no limit (statement and idle timeouts).

    The server cancels a statement past ``statement_timeout`` (an OperationalError, 503 at
    the edges) and ends a session left idle in a transaction past ``idle_in_transaction``;
    a server that does not answer at all is given up by :mod:`authz.pgbounds`.
    """

    application_name: str = "monespace-pool"
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    statement_timeout: float = 5
    idle_in_transaction: float = 30

    def connect_params(self) -> dict[str, Any]:
        options = [
            f"-c statement_timeout={round(self.statement_timeout * 1000)}",
            f"-c idle_in_transaction_session_timeout={round(self.idle_in_transaction * 1000)}",
        ]
        return {
            "application_name": self.application_name,
            # libpq takes whole seconds (it uses at least 2); pgbounds applies the exact bound.
            "connect_timeout": max(1, round(self.connect_timeout)),
            "options": " ".join(options),
            # A peer that vanished (no reset, no answer) is noticed within about 25 s even on
            # a connection left idle in the pool.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "connection_factory": pgbounds.BoundedConnection,
        }


class PoolExhausted(OperationalError):
    """Every pooled connection stayed in use for the whole wait: the service is overloaded.

    An OperationalError, as a database that cannot be reached: every edge answers both as
    unavailable for now (503, with Retry-After), never as a failure of its own (500)."""


class DatabaseSilent(OperationalError):
    """Every thread allowed to use the database is busy with it while it seems silent
    (:func:`authz.pgbounds.silent`): answered at once as unavailable (503), not queued."""


# A thread waiting for a database slot gives up once the database has been silent this long.
SILENT_AFTER_SECONDS = 0.5


class Slots:
    """How many threads of a process may hold or wait for a database connection at once.

    A threaded server calls the app from a fixed number of threads; if every one of them
    waits on a database that stopped answering, nothing else is answered (``/healthz``, a
    cached decision) until the waits' bounds run out. With one slot fewer than threads, a
    thread is always left for requests that need no database. A thread waiting for a slot
    gives up (:class:`DatabaseSilent`) as soon as the database seems silent, or with
    :class:`PoolExhausted` after ``wait`` seconds; a thread takes one slot however many
    times it connects, and gives it back with its connection.
    """

    def __init__(self, size: int, wait: float, silent_after: float = SILENT_AFTER_SECONDS):
        self.size, self.wait, self.silent_after = size, wait, silent_after
        self._free = threading.BoundedSemaphore(size)
        self._held = threading.local()

    def take(self) -> None:
        if getattr(self._held, "slot", False):
            return
        deadline = time.monotonic() + self.wait
        while not self._free.acquire(timeout=0.05):
            if pgbounds.silent(self.silent_after):
                raise DatabaseSilent("the database does not answer; every slot is waiting on it")
            if time.monotonic() >= deadline:
                metrics.POOL_EXHAUSTED.inc()
                raise PoolExhausted(f"no database slot free after {self.wait} s")
        self._held.slot = True

    def give_back(self) -> None:
        if getattr(self._held, "slot", False):
            self._held.slot = False
            self._free.release()


class _WaitingPool:
    """peewee's pool, raising :class:`PoolExhausted` where it raises a bare ValueError."""

    def connect(self, reuse_if_open: bool = False) -> bool:
        try:
            return super().connect(reuse_if_open)  # type: ignore[misc]
        except MaxConnectionsExceeded as exc:
            metrics.POOL_EXHAUSTED.inc()
            raise PoolExhausted(
                f"no database connection free after {self._wait_timeout} s"
            ) from exc

    # The pool's gauges follow each connection taken and given back (the pool's own
    # bookkeeping, read under its lock: no query).
    def _connect(self) -> Any:
        conn = super()._connect()  # type: ignore[misc]
        self._count()
        return conn

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        super()._close(conn, close_conn)  # type: ignore[misc]
        self._count()

    def _count(self) -> None:
        metrics.POOL_IN_USE.set(len(self._in_use))  # type: ignore[attr-defined]
        metrics.POOL_IDLE.set(len(self._connections))  # type: ignore[attr-defined]


class _SqlitePool(_WaitingPool, PooledSqliteDatabase):
    pass


class _PostgresqlPool(_WaitingPool, PooledPostgresqlDatabase):
    def __init__(
        self,
        *args: Any,
        bounds: Bounds,
        recheck_after: float = POOL_RECHECK_SECONDS,
        **kwargs: Any,
    ):
        pgbounds.install()
        super().__init__(*args, **kwargs, **bounds.connect_params())
        self.bounds = bounds
        self.recheck_after = recheck_after
        self.slots: Slots | None = None

    def connect(self, reuse_if_open: bool = False) -> bool:
        if self.slots is None or not self.is_closed():
            return super().connect(reuse_if_open)
        self.slots.take()
        try:
            return super().connect(reuse_if_open)
        except BaseException:
            self.slots.give_back()
            raise

    def close(self) -> bool:
        try:
            return super().close()
        finally:
            if self.slots is not None and self.is_closed():
                self.slots.give_back()

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        # Stamped before the connection is back in the pool, where another thread may take it.
        conn.given_back_at = time.monotonic()
        super()._close(conn, close_conn)

    def _is_closed(self, conn: Any) -> bool:
        """Whether a connection taken from the pool is unusable; asked of PostgreSQL (a round
        trip) unless it was given back within ``recheck_after`` seconds, idle, and nothing
        has arrived on its socket since."""
        if conn.closed:
            return True
        given_back = getattr(conn, "given_back_at", None)
        if (
            given_back is not None
            and time.monotonic() - given_back < self.recheck_after
            and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
            and not _readable(conn)
        ):
            return False
        return super()._is_closed(conn)  # type: ignore[misc]


def _readable(conn: Any) -> bool:
    """Whether an idle connection's socket has something to read: on a connection waiting for
    no answer, only the server's notice that it ends the session, or the end of the stream."""
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg2.Error):
        return True


def make_database(
    url: str,
    pool_size: int = POOL_SIZE,
    pool_wait: int = POOL_WAIT_SECONDS,
    bounds: Bounds | None = None,
    pool_recheck: float = POOL_RECHECK_SECONDS,
    slots: int | None = None,
) -> Database:
    """Build (not open) a peewee database from ``sqlite:///path`` or ``postgresql://...``;
    at most ``pool_size`` connections, a request waiting at most ``pool_wait`` seconds for one;
    PostgreSQL connections bounded by ``bounds``, asked whether they still work when handed
    out unless given back within ``pool_recheck`` seconds (:data:`POOL_RECHECK_SECONDS`);
    with ``slots``, at most that many threads using PostgreSQL at once (:class:`Slots`).
    """
    parsed = urlparse(url)
    metrics.POOL_MAX.set(pool_size)
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
        pool = _PostgresqlPool(
            parsed.path.lstrip("/"),
            max_connections=pool_size,
            timeout=pool_wait,
            stale_timeout=POOL_STALE_SECONDS,
            bounds=bounds or Bounds(),
            recheck_after=pool_recheck,
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
        )
        pool.slots = Slots(slots, pool_wait) if slots else None
        return pool
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


def connect(
    url: str,
    pool_size: int = POOL_SIZE,
    pool_wait: int = POOL_WAIT_SECONDS,
    bounds: Bounds | None = None,
    pool_recheck: float = POOL_RECHECK_SECONDS,
    slots: int | None = None,
) -> Database:
    """Bind the proxy to the database at ``url`` and return it."""
    db = make_database(url, pool_size, pool_wait, bounds, pool_recheck, slots)
    database.initialize(db)
    return db


# Statements of hot paths built by peewee once per kind of database and shape: building a
# one-row statement, or a union of three joins, costs peewee more CPU than the database takes
# to run it. (kind, shape) -> (SQL, its parameters in order: ("name", marker) or ("value", v)).
# Not bounded by a size: the shapes are a set the code fixes (a statement's name and the
# counts or flags that change its text), never a value from a request.
_built: dict[tuple[type, tuple], tuple[str, tuple[tuple[str, Any], ...]]] = {}
_built_lock = threading.Lock()
_MARKER = "\x00"


def built_statement(
    shape: tuple, build: Callable[[Callable[[str], str]], Any], values: dict[str, Any]
) -> tuple[str, list[Any]]:
    """The SQL and parameters of the statement ``build`` makes, named ``shape``, with
    ``values``. ``build`` gets a function that turns a parameter's name into the marker it puts
    where the value goes (a name may be used more than once); every other parameter of the
    statement is a constant of the shape, kept as built. Values are sent as given: give them
    as peewee would send them (a field's ``db_value``). Each shape's statement is built by
    peewee once per kind of database; after that only its text is reused."""
    kind = type(database.obj)
    built = _built.get((kind, shape))
    if built is None:
        sql, params = build(lambda name: f"{_MARKER}{name}{_MARKER}").sql()
        order = tuple(
            ("name", param.strip(_MARKER))
            if isinstance(param, str) and param.startswith(_MARKER) and param.endswith(_MARKER)
            else ("value", param)
            for param in params
        )
        named = {name for how, name in order if how == "name"}
        if named != set(values):  # every value has its place, every marker a value
            raise RuntimeError(f"unexpected parameters for {shape!r}: {params!r}")
        with _built_lock:
            built = _built.setdefault((kind, shape), (sql, order))
    sql, order = built
    return sql, [values[item] if how == "name" else item for how, item in order]


def execute_built(
    shape: tuple, build: Callable[[Callable[[str], str]], Any], values: dict[str, Any]
):
    """Run :func:`built_statement`'s statement (prepared on PostgreSQL: :func:`prepared`);
    the cursor."""
    with prepared_lost():
        return database.execute_sql(*prepared(shape, build, values))


def execute_prepared(shape: tuple, sql: str, params: Sequence[Any]):
    """PostgreSQL: run ``sql`` (parameters ``%s``, the same text for every call with
    ``shape``) as a statement prepared on the connection (:func:`prepared_sql`); the cursor."""
    with prepared_lost():
        return database.execute_sql(*prepared_sql(shape, sql, params))


@contextmanager
def prepared_lost() -> Iterator[None]:
    """A session that lost its prepared statements (``DISCARD ALL`` or ``DEALLOCATE`` by
    someone else) fails the statement once; its connection prepares them again next time."""
    try:
        yield
    except (psycopg2.Error, peewee.DatabaseError) as exc:
        cause = exc if isinstance(exc, psycopg2.Error) else (exc.__cause__ or exc.__context__)
        if isinstance(cause, psycopg2.errors.InvalidSqlStatementName):
            with _built_lock:
                _prepared_on.pop(database.connection(), None)
        raise


# PostgreSQL plans a statement at every execution unless it is prepared; for the one-row
# reads and writes of the hot paths, planning costs as much as running (a read by a unique
# key: 80 µs of the server's CPU planned each time, 40 µs prepared). Each built shape is
# prepared once per connection, under a name of its own: (kind, shape) -> (name, its SQL
# with $n parameters); connection -> the names prepared on it.
_prepared_forms: dict[tuple[type, tuple], tuple[str, str]] = {}
_prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%s")


def prepared_text(sql: str) -> str:
    """The statement ``sql`` runs: for ``EXECUTE`` of a statement :func:`prepared` made, the
    prepared statement's text (its parameters as ``$n``); else ``sql`` itself."""
    if sql.startswith("EXECUTE monespace_built_"):
        name = sql.split()[1]
        for known, text in list(_prepared_forms.values()):
            if known == name:
                return text
    return sql


def prepared(
    shape: tuple, build: Callable[[Callable[[str], str]], Any], values: dict[str, Any]
) -> tuple[str, list[Any]]:
    """:func:`built_statement`'s SQL and parameters, as ``EXECUTE`` of a statement prepared on
    the thread's connection on PostgreSQL (prepared there first if it is not yet); as they
    are on SQLite. The caller runs them at once, on the same connection."""
    sql, params = built_statement(shape, build, values)
    if not is_postgresql():
        return sql, params
    return prepared_sql(shape, sql, params)


def prepared_sql(shape: tuple, sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """PostgreSQL: ``EXECUTE`` of ``sql`` (its parameters ``%s``; the same text for every
    call with ``shape``) prepared on the thread's connection, and its parameters."""
    params = list(params)
    key = (type(database.obj), shape)
    form = _prepared_forms.get(key)
    if form is None:
        if "%%" in sql:  # a literal percent sign: its text would differ once prepared
            raise RuntimeError(f"{shape!r}: a built statement cannot hold a literal '%'")
        numbers = iter(range(1, len(params) + 1))
        text = _PLACEHOLDER.sub(lambda _match: f"${next(numbers)}", sql)
        with _built_lock:
            name = f"monespace_built_{len(_prepared_forms)}"
            form = _prepared_forms.setdefault(key, (name, text))
    name, text = form
    connection = database.connection()
    with _built_lock:
        ready = _prepared_on.setdefault(connection, set())
    if name not in ready:
        database.execute_sql(f"PREPARE {name} AS {text}")
        ready.add(name)
    if not params:
        return f"EXECUTE {name}", params
    return f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params


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


def within_transaction() -> AbstractContextManager[Any]:
    """The caller's transaction when one is under way, else :func:`transaction`: for a block
    whose failure fails the whole caller (nothing catches it to go on), where a savepoint
    would be two more round trips for nothing."""
    return nullcontext() if database.in_transaction() else transaction()


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
    connection with a round trip (``SELECT 1``) when it hands it out (unless it came back
    within :data:`POOL_RECHECK_SECONDS`), and one login ran about 60 such blocks."""
    _scope.depth = getattr(_scope, "depth", 0) + 1


def release_connections() -> None:
    _scope.depth = max(0, getattr(_scope, "depth", 0) - 1)


def give_back_for_now() -> None:
    """The request under way is done with the database for a while (CPU work follows, such
    as signing an ID token): its connection goes back to the pool, and its slot (:class:`Slots`)
    to the other threads, rather than waiting for the request's end; a later block takes one
    again. Nothing is given back inside a transaction."""
    if not database.is_closed() and not database.in_transaction():
        database.close()


def holding_connections() -> bool:
    """Whether this thread is inside a request's hold (:func:`hold_connections`)."""
    return getattr(_scope, "depth", 0) > 0


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


READINESS_NAME = "monespace-readiness"


def probe(queries: Sequence[str], timeout: float = 1.0) -> list[tuple | None]:
    """Run ``queries`` on a connection of their own, all within ``timeout`` seconds, and
    return the first row of each (None for a query that failed on its own account: a table
    that does not exist). The first query is the one that says the database answers.

    Never from the pool: a pool whose connections are all in use must not delay a readiness
    check, nor a frozen one hold it. Raises OperationalError when the database cannot be
    reached or does not answer in time.
    """
    bound = database.obj
    if isinstance(bound, PostgresqlDatabase):
        return _probe_postgresql(bound, queries, timeout)
    try:
        conn = sqlite3.connect(bound.database, timeout=timeout, check_same_thread=False)
    except sqlite3.Error as exc:
        raise OperationalError(str(exc)) from exc
    try:
        rows: list[tuple | None] = []
        for number, sql in enumerate(queries):
            try:
                rows.append(conn.execute(sql).fetchone())
            except sqlite3.Error as exc:
                if number == 0:
                    raise OperationalError(str(exc)) from exc
                rows.append(None)
        return rows
    finally:
        conn.close()


def _probe_postgresql(
    bound: PostgresqlDatabase, queries: Sequence[str], timeout: float
) -> list[tuple | None]:
    started = time.monotonic()
    bounds = replace(
        getattr(bound, "bounds", Bounds()),
        application_name=READINESS_NAME,
        connect_timeout=timeout,
        statement_timeout=timeout,
    )
    try:
        conn = psycopg2.connect(
            database=bound.database, **{**bound.connect_params, **bounds.connect_params()}
        )
    except psycopg2.Error as exc:
        raise OperationalError(str(exc)) from exc
    try:
        conn.autocommit = True
        rows: list[tuple | None] = []
        for number, sql in enumerate(queries):
            conn.query_bound = max(0.01, timeout - (time.monotonic() - started))
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql)
                    rows.append(cursor.fetchone())
            except psycopg2.Error as exc:
                if number == 0 or isinstance(exc, psycopg2.OperationalError):
                    raise OperationalError(str(exc)) from exc
                rows.append(None)
        return rows
    finally:
        with contextlib.suppress(psycopg2.Error):
            conn.close()
