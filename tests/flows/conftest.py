"""Fixtures of the flows.

``two_processes``: two app processes (``app_process.py``) on the test's database, as two
nodes; yields their ports once each one's epoch tracker is healthy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from monespace import demo
from tests.flows.app_processes import HARNESS, call, free_port


@pytest.fixture
def two_processes(database, database_url):
    demo.seed()  # before the processes start, so neither seeds
    database.close()
    processes, ports = [], []
    try:
        for _ in range(2):
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, str(HARNESS), database_url, str(port)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # The harness imports loadtests/, which is not installed: the checkout is.
                env={**os.environ, "PYTHONPATH": str(HARNESS.parents[2])},
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
            process.terminate()
            process.wait(timeout=10)
            process.stdout.close()
            process.stderr.close()
        database.connect(reuse_if_open=True)
