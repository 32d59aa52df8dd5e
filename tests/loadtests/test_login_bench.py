"""loadtests/login_bench.py's CPU accounting: the server's CPU time by endpoint read from the
workers' metrics, and the simulators' share of it."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg2

from loadtests import dataset
from loadtests.login_bench import simulator_share
from loadtests.servers import REQUEST_CPU_METRIC, request_cpu_seconds
from monespace.metrics import REQUEST_CPU_SECONDS

# Two workers, as granian's write them: each process its own file of values.
WORKER = """
from monespace.metrics import REQUEST_CPU_SECONDS
for endpoint, seconds in {spent!r}.items():
    REQUEST_CPU_SECONDS.labels(endpoint).inc(seconds)
"""


def test_the_cpu_time_by_endpoint_is_added_up_over_the_workers(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for spent in (
        {"/authorize": 0.25, "/simulators/eid/sso": 1.0},
        {"/authorize": 0.5, "/token": 0.125},
    ):
        subprocess.run([sys.executable, "-c", WORKER.format(spent=spent)], env=env, check=True)
    assert REQUEST_CPU_SECONDS._name == REQUEST_CPU_METRIC
    assert request_cpu_seconds(tmp_path) == {
        "/authorize": 0.75,
        "/simulators/eid/sso": 1.0,
        "/token": 0.125,
    }


def test_the_simulators_share_counts_only_what_was_spent_between_two_readings():
    began = {"/authorize": 10.0, "/simulators/eid/sso": 30.0}
    ended = {"/authorize": 13.0, "/simulators/eid/sso": 31.0, "/simulators/itsme/token": 1.0}
    assert simulator_share(began, ended) == 0.4  # (1 + 1) of (3 + 1 + 1)
    assert simulator_share(began, began) is None  # nothing spent: no share to give
    assert simulator_share({}, {"/token": 2.0}) == 0.0


def test_the_database_cpu_is_read_per_backend_of_the_database_only():
    with dataset.throwaway_database("postgresql", prefix="monespace_backendcpu") as url:
        busy = psycopg2.connect(url)
        try:
            with busy.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                (pid,) = cur.fetchone()
                before = dataset.backend_cpu_seconds(url)
                cur.execute("SELECT count(*) FROM generate_series(1, 3000000)")
                after = dataset.backend_cpu_seconds(url)
        finally:
            busy.close()
        # The busy backend is found on this machine; the reading's own connection is not.
        assert pid in before and pid in after and len(after) == 1
        assert after[pid] - before[pid] > 0.05
