"""Proof that a cached allow never outlives a revocation made by another process.

Two app processes share one database (PostgreSQL, then SQLite). Both answer the same question
and cache the allow. The grant is revoked through the first process; the second must deny
within the bound the README states: at once on SQLite (data_version is checked before every
cached answer), and on PostgreSQL as soon as the NOTIFY arrives (worst case: the tracker's
max_delay, after which a silent listener is unhealthy and cached allows are no longer used).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from authz.epochs import PostgresEpochTracker
from authz.models import Person, RoleGrant
from monespace import demo

HARNESS = Path(__file__).with_name("app_process.py")
LUC, BOULANGERIE = "90010100123", "0123456749"
AUTH = "Basic " + base64.b64encode(b"demo-rp:demo-secret").decode()
BOUND_SECONDS = {"sqlite": 0.0, "postgresql": PostgresEpochTracker.WORST_CASE_DELAY}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def luc_may_act(port: int) -> bool:
    status, body = call(
        port,
        "POST",
        "/access/v1/evaluation",
        {
            "subject": {"type": "person", "id": LUC},
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": BOULANGERIE},
        },
    )
    assert status == 200, body
    return body["decision"]


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


def test_revocation_through_one_process_is_seen_by_the_other(two_processes, database_url):
    first, second = two_processes
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    # Both processes answer and cache the allow (the demo client asks for "fiscalite").
    for port in (first, second):
        assert luc_may_act(port) is True
        status, body = call(port, "GET", f"/_test/cache/{LUC}/act_for/{BOULANGERIE}/fiscalite")
        assert (status, body["cache"]) == (200, "hit")
    grant = RoleGrant.get(RoleGrant.person == Person.get(Person.nrn == LUC))

    status, _ = call(first, "POST", f"/_test/revoke/{grant.id}", {})
    assert status == 200
    revoked_at = time.monotonic()
    assert luc_may_act(first) is False  # the process that revoked: at once
    while luc_may_act(second):
        elapsed = time.monotonic() - revoked_at
        assert elapsed <= BOUND_SECONDS[backend] + 0.5, f"still allowed after {elapsed:.2f}s"
        time.sleep(0.01)
    elapsed = time.monotonic() - revoked_at
    assert elapsed <= BOUND_SECONDS[backend] + 0.5
