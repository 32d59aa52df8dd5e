"""authz/pgbounds.py in a server's thread (the production workers, granian's, call the app from
a few threads each: monespace/server_config.py): the wait callback waits on the socket through
``select.poll``, without the GIL, so while a request's query waits the worker's other threads
go on. Each case runs in a process of its own, the callback installed there or not. The
process's record of its bounded waits says when PostgreSQL seems silent (``silent``: what
authz.db.Slots reads to stop queueing for it).

(The bounds on a database that stops answering, in that same thread: tests/flows/
test_silent_database.py.)
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from authz import pgbounds

CHECKOUT = Path(__file__).parents[2]
SCRIPT = """
import sys
import threading
import time
import psycopg2
from authz import pgbounds
if sys.argv[2] == "callback":
    pgbounds.install()
conn = psycopg2.connect(sys.argv[1])
ticks = []
querying = threading.Event()
def query():
    querying.set()
    conn.cursor().execute("SELECT pg_sleep(1)")
thread = threading.Thread(target=query)
thread.start()
querying.wait()
while thread.is_alive():
    ticks.append(time.monotonic())
    time.sleep(0.05)
print(len(ticks) - 1)
"""


def ticks_during_a_query(url: str, mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PYTHONPATH": str(CHECKOUT), "PATH": "/usr/bin:/bin"},
    )
    return int(done.stdout.strip())


def postgresql_only(url: str) -> str:
    if not url.startswith("postgresql"):
        pytest.skip("psycopg2's wait callback: PostgreSQL only")
    return url


@pytest.mark.parametrize("mode", ["callback", "none"])
def test_a_query_waiting_in_one_thread_leaves_the_others_running(database, database_url, mode):
    url = postgresql_only(database_url)
    assert ticks_during_a_query(url, mode) >= 10  # 20 ticks of 50 ms in 1 s


def test_silent_while_a_wait_lasts_unanswered_and_just_after_one_gave_up(monkeypatch):
    monkeypatch.setattr(pgbounds, "_waiting", {})
    monkeypatch.setattr(pgbounds, "_last_answered", float("-inf"))
    monkeypatch.setattr(pgbounds, "_last_given_up", float("-inf"))
    assert not pgbounds.silent(0.5)
    pgbounds._waiting[1] = time.monotonic() - 0.1  # a wait that began a moment ago
    assert not pgbounds.silent(0.5)
    pgbounds._waiting[2] = time.monotonic() - 2  # one that has lasted two seconds
    assert pgbounds.silent(0.5)
    pgbounds._last_answered = time.monotonic() - 0.2  # while another wait got its answer
    assert not pgbounds.silent(0.5)  # a slow statement, not a silent database
    pgbounds._last_answered = time.monotonic() - 1
    assert pgbounds.silent(0.5)
    pgbounds._waiting.clear()
    pgbounds._last_given_up = time.monotonic()  # one just gave up
    assert pgbounds.silent(0.5)
    pgbounds._last_given_up = time.monotonic() - 1
    assert not pgbounds.silent(0.5)


def test_an_answer_is_recorded_and_a_slow_statement_is_not_silence(database, database_url):
    """One connection runs a 2.5 s statement while another keeps asking: the database is never
    silent to the process; it is once only the slow statement is left unanswered."""
    url = postgresql_only(database_url)
    slow_started = threading.Event()

    def slow():
        conn = psycopg2.connect(
            url + "?options=-c%20statement_timeout%3D5000",
            connection_factory=pgbounds.BoundedConnection,
        )
        try:
            slow_started.set()
            conn.cursor().execute("SELECT pg_sleep(2.5)")
        finally:
            conn.close()

    pgbounds.install()
    worker = threading.Thread(target=slow)
    worker.start()
    quick = psycopg2.connect(
        url + "?options=-c%20statement_timeout%3D5000",
        connection_factory=pgbounds.BoundedConnection,
    )
    try:
        assert slow_started.wait(10)
        seen = []
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            quick.cursor().execute("SELECT 1")
            seen.append(pgbounds.silent(0.3))
            time.sleep(0.05)
        assert not any(seen)  # answers keep coming: a slow statement only
        time.sleep(0.4)  # only the slow statement left, unanswered for 0.3 s and more
        assert worker.is_alive() and pgbounds.silent(0.3)
    finally:
        quick.close()
        worker.join(10)
