"""Fixtures of the flows.

``two_processes``: two app processes (``app_process.py``) on the test's database, as two
nodes; yields their ports once each one's epoch tracker is healthy. ``two_metered_processes``:
the same, sharing a metrics directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from monespace import demo
from tests.flows.app_processes import HARNESS, call, free_port
from tests.scrape import TOKEN


@pytest.fixture
def two_processes(database, database_url):
    yield from _two_processes(database, database_url, {})


@pytest.fixture
def two_metered_processes(database, database_url, tmp_path):
    """Two app processes sharing one metrics directory (prometheus_client's multiprocess
    mode, as gunicorn's workers under `monespace serve`), /metrics open to
    ``tests.scrape.TOKEN``; yields (ports, processes, the directory)."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "MONESPACE_METRICS_TOKEN": TOKEN}
    processes: list[subprocess.Popen] = []
    for ports in _two_processes(database, database_url, env, processes):
        yield ports, processes, metrics_dir


def _two_processes(database, database_url, env: dict, processes: list | None = None):
    demo.seed()  # before the processes start, so neither seeds
    database.close()
    processes = [] if processes is None else processes
    ports = []
    try:
        for _ in range(2):
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, str(HARNESS), database_url, str(port)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # The harness imports loadtests/, which is not installed: the checkout is.
                env={**os.environ, "PYTHONPATH": str(HARNESS.parents[2]), **env},
            )
            processes.append(process)
            ports.append(port)
        for process in processes:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        for port in ports:
            deadline = time.monotonic() + 10
            while call(port, "GET", "/_test/ready")[0] != 200:
                assert time.monotonic() < deadline, "epoch tracker never became healthy"
                time.sleep(0.05)
        yield ports
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=10)
            process.stdout.close()
            process.stderr.close()
        database.connect(reuse_if_open=True)
