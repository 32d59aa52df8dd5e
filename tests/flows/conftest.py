"""Fixtures of the flows.

``two_processes``: two app processes (``app_process.py``) on the test's database, as two
nodes; yields their ports once each one's epoch tracker is healthy. ``two_metered_processes``:
the same, sharing a metrics directory.

``installation``: the deployment's topology as processes (``installation.py``): two nodes
under granian and the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from monespace import demo
from tests.flows.app_processes import HARNESS, call, free_port
from tests.flows.installation import environment as installation_env
from tests.flows.installation import monespace, serve
from tests.scrape import TOKEN


@pytest.fixture
def two_processes(database, database_url):
    yield from _two_processes(database, database_url, {})


@pytest.fixture
def two_metered_processes(database, database_url, tmp_path):
    """Two app processes sharing one metrics directory (prometheus_client's multiprocess
    mode, as granian's workers under `monespace serve`), /metrics open to
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
            process = subprocess.Popen(
                [sys.executable, str(HARNESS), database_url, "0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # The harness imports loadtests/, which is not installed: the checkout is.
                env={**os.environ, "PYTHONPATH": str(HARNESS.parents[2]), **env},
            )
            processes.append(process)
        for process in processes:
            ready, _, port = process.stdout.readline().strip().partition(" ")
            assert ready == "ready" and port.isdigit(), process.stderr.read()
            ports.append(int(port))
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


@pytest.fixture
def installation(database, database_url, tmp_path, smtp_server):
    """The compose topology as processes: two nodes (``monespace serve``, production mode) and
    ``monespace worker`` on the test's PostgreSQL database, the demo data loaded, the secrets in
    files, Redis for the rate limits, mail to a real SMTP server. Yields (nodes, worker,
    environment) once both nodes are ready."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes on one PostgreSQL database, as deployed")
    demo.seed()  # production nodes never seed
    database.close()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "database_url").write_text(database_url + "\n")
    (secrets / "secret_key").write_text("installation-secret-key-" + "s" * 32 + "\n")
    # The key the demo data's audit rows were written with (tests/conftest.py).
    (secrets / "audit_key").write_text(os.environ["MONESPACE_AUDIT_KEY"] + "\n")
    _, mail = smtp_server
    environ = installation_env(
        secrets,
        tmp_path,
        # The machine's Redis, under keys of this test only.
        MONESPACE_RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/0",
        MONESPACE_RATE_LIMIT_KEY_PREFIX="monespace-deploy-test-two-nodes",
        MONESPACE_TRUSTED_PROXIES="1",
        MONESPACE_SMTP_HOST=mail.smtp_host,
        MONESPACE_SMTP_PORT=str(mail.smtp_port),
        MONESPACE_SMTP_STARTTLS="false",
        MONESPACE_WORKER_HEARTBEAT_FILE=str(tmp_path / "worker-heartbeat.json"),
    )
    nodes = [serve(free_port(), environ) for _ in range(2)]
    worker = monespace("worker", environ=environ)
    try:
        for node in nodes:
            node.wait_ready()
        yield nodes, worker, environ
    finally:
        for node in nodes:
            node.stop()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        worker.stdout.close()
        database.connect(reuse_if_open=True)
