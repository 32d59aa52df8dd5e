"""Bounds on every wait for PostgreSQL: a database that stops answering never hangs a caller.

PostgreSQL bounds a statement itself (``statement_timeout``, sent in the connection's
``options``) and libpq bounds the opening of a connection (``connect_timeout``). Neither helps
when the database's traffic stops (a frozen network, a paused machine, a proxy that accepts and
forwards nothing): the server's cancellation never arrives, and TCP keepalives are answered by
whatever still holds the other end of the socket. A blocking libpq call then waits for ever.

So psycopg2 runs in its cooperative mode (``psycopg2.extensions.set_wait_callback``): libpq
never blocks; :func:`wait` waits on the socket and gives up at the connection's deadline. On
connections made by :class:`BoundedConnection` the deadline of each operation is
``connect_timeout`` while connecting, then the statement timeout plus :data:`MARGIN_SECONDS`
(the server cancels first; only a database that does not answer at all reaches it). Giving up
raises :class:`DatabaseTimeout`, an OperationalError; psycopg2 then closes the connection, so
a pool never hands it out again. Other psycopg2 connections of the process (tools, tests) wait
as before: without a deadline once connected, ``connect_timeout`` while connecting.
"""

from __future__ import annotations

import re
import select
import threading
import time

import psycopg2
import psycopg2.extensions

# Beyond the server's own statement timeout, how long an answer may take to come back before
# the database counts as silent.
MARGIN_SECONDS = 1.0

_STATEMENT_TIMEOUT = re.compile(r"statement_timeout\s*=\s*(\d+)")
_install_lock = threading.Lock()
# The bounded waits in progress (thread ident -> when the wait began), when one last ended with
# an answer and when one last gave up: what :func:`silent` reads, so other threads can stop
# queueing for a silent database.
_waiting: dict[int, float] = {}
_last_answered = float("-inf")
_last_given_up = float("-inf")


class DatabaseTimeout(psycopg2.OperationalError):
    """PostgreSQL did not answer within the connection's bound; the connection is closed."""


class BoundedConnection(psycopg2.extensions.connection):
    """A psycopg2 connection whose waits :func:`wait` bounds, read from its parameters:
    ``connect_timeout`` (seconds) while connecting, then ``statement_timeout`` (milliseconds,
    in ``options``) plus :data:`MARGIN_SECONDS` per operation; no statement timeout, no bound.
    ``query_bound`` may be changed afterwards (seconds, or None)."""

    def __init__(self, dsn: str, *args, **kwargs):
        params = psycopg2.extensions.parse_dsn(dsn)
        self.connect_bound = _seconds(params.get("connect_timeout"))
        found = _STATEMENT_TIMEOUT.search(params.get("options", ""))
        statement_ms = int(found.group(1)) if found else 0
        self.query_bound = statement_ms / 1000 + MARGIN_SECONDS if statement_ms else None
        self.connected = False
        super().__init__(dsn, *args, **kwargs)
        self.connected = True


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else 0.0
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def _bound(conn) -> float | None:
    if isinstance(conn, BoundedConnection):
        return conn.query_bound if conn.connected else conn.connect_bound
    if conn.status == psycopg2.extensions.STATUS_SETUP:
        return _seconds(psycopg2.extensions.parse_dsn(conn.dsn).get("connect_timeout"))
    return None


def wait(conn) -> None:
    """psycopg2's wait callback: poll the connection until the operation is done, waiting on
    its socket no later than its deadline."""
    bound = _bound(conn)
    if bound is None:
        _poll_until(conn, None, bound)
        return
    started = time.monotonic()
    thread = threading.get_ident()
    _waiting[thread] = started
    try:
        _poll_until(conn, started + bound, bound)
        global _last_answered
        _last_answered = time.monotonic()
    except DatabaseTimeout:
        global _last_given_up
        _last_given_up = time.monotonic()
        raise
    finally:
        _waiting.pop(thread, None)


def silent(longer_than: float) -> bool:
    """Whether PostgreSQL seems silent to this process: a bounded wait gave up less than
    ``longer_than`` seconds ago, or one has lasted more than ``longer_than`` seconds while no
    other got an answer in that time. One slow statement is not silence while others are
    answered."""
    now = time.monotonic()
    if now - _last_given_up < longer_than:
        return True
    if now - _last_answered <= longer_than:
        return False
    return any(now - started > longer_than for started in list(_waiting.values()))


def _poll_until(conn, deadline: float | None, bound: float | None) -> None:
    poller = None
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            events = select.POLLIN
        elif state == psycopg2.extensions.POLL_WRITE:
            events = select.POLLOUT
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        if poller is None:
            poller = select.poll()
        poller.register(conn.fileno(), events)
        if deadline is None:
            poller.poll()
            continue
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise DatabaseTimeout(f"the database did not answer within {bound:g} s")


def install() -> None:
    """Make psycopg2 wait through :func:`wait`, in this process (idempotent)."""
    with _install_lock:
        if psycopg2.extensions.get_wait_callback() is not wait:
            psycopg2.extensions.set_wait_callback(wait)
