"""Fixtures of the command tests.

``production_node``: ``monespace serve`` in production mode on the test's PostgreSQL database
and the machine's Redis (two workers share the rate-limit counters), as an operator starts it
(it checks, then replaces itself with granian); yields its port once ``/healthz`` answers,
and stops granian (master and workers) at the end. ``start_node``: the same as a function of
the database URL, the number of workers and more settings (``MONESPACE_*`` variables).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from monespace import demo
from tests.flows.app_processes import free_port

CHECKOUT = Path(__file__).parents[3]
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def production_node(start_node, database_url):
    with start_node(database_url, 2) as port:
        yield port


@pytest.fixture
def start_node(database, database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("production mode runs on PostgreSQL")
    demo.seed()  # the demo relying party, to ask the decision API
    database.close()

    @contextlib.contextmanager
    def start(url: str, workers: int, **settings: str):
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(CHECKOUT),
            "MONESPACE_MODE": "production",
            "MONESPACE_DATABASE_URL": url,
            "MONESPACE_SECRET_KEY": "k" * 40,
            "MONESPACE_BASE_URL": "https://id.example.test",
            "MONESPACE_DATA_DIR": str(tmp_path),
            "MONESPACE_RATE_LIMIT_STORAGE": REDIS,
            "MONESPACE_RATE_LIMIT_KEY_PREFIX": "monespace-tests-serving",
            **settings,
        }
        command = [sys.executable, "-m", "monespace", "serve", "--port", str(port)]
        log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # granian's workers in its group, stopped with it
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / f"serve-{port}.log").read_text()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            yield port
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=45)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
            log.close()

    yield start
    database.connect(reuse_if_open=True)
