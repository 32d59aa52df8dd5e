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
import time
from pathlib import Path

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


def test_silent_while_a_bounded_wait_lasts_and_just_after_one_gave_up(monkeypatch):
    monkeypatch.setattr(pgbounds, "_waiting", {})
    monkeypatch.setattr(pgbounds, "_last_given_up", float("-inf"))
    assert not pgbounds.silent(0.5)
    pgbounds._waiting[1] = time.monotonic() - 0.1  # a wait that began a moment ago
    assert not pgbounds.silent(0.5)
    pgbounds._waiting[2] = time.monotonic() - 2  # one that has lasted two seconds
    assert pgbounds.silent(0.5)
    pgbounds._waiting.clear()
    pgbounds._last_given_up = time.monotonic()  # one just gave up
    assert pgbounds.silent(0.5)
    pgbounds._last_given_up = time.monotonic() - 1
    assert not pgbounds.silent(0.5)
