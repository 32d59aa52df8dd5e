"""authz/pgbounds.py under gevent (the production workers, monespace/gunicorn_config.py): the
wait callback waits through ``select.poll``, which gevent replaces, so a query waits as a
greenlet and the worker's other connections go on; without the callback libpq blocks the whole
worker. Each case runs in a process of its own: gevent patches the standard library for good.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).parents[2]
SCRIPT = """
import sys
from gevent import monkey
monkey.patch_all()
import time
import gevent
import psycopg2
from authz import pgbounds
if sys.argv[2] == "callback":
    pgbounds.install()
conn = psycopg2.connect(sys.argv[1])
ticks = []
def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.05)
ticker = gevent.spawn(tick)
gevent.sleep(0)
conn.cursor().execute("SELECT pg_sleep(1)")
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


def test_a_query_waits_as_a_greenlet_under_gevent(database, database_url):
    url = postgresql_only(database_url)
    assert ticks_during_a_query(url, "callback") >= 10  # 20 ticks of 50 ms in 1 s


def test_without_the_callback_a_query_blocks_the_worker(database, database_url):
    url = postgresql_only(database_url)
    assert ticks_during_a_query(url, "none") == 0
