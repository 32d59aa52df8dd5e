"""The deployment's topology without containers: two nodes and the worker on one PostgreSQL.

What deploy/compose.yaml and deploy/kubernetes/ run, started as the processes they start
(``monespace serve`` under granian, ``monespace worker``), in production mode with the
secrets in files: a decision through either node, a token from one introspected at the other,
a revocation through one seen by the other, the worker's health; then a node stopped as an
orchestrator stops it (SIGTERM) finishes the request in flight and exits 0 while the other
node goes on answering.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from monespace import demo

AUTH = (
    "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
)
LUC, NORA, BOULANGERIE = "90010100123", "95050500928", "0123456749"
WORKER_JOBS = ("expire-requests", "purge", "mail")

pytestmark = pytest.mark.slow


def post(node, path: str, body: dict, *, form: bool = False) -> tuple[int, dict]:
    data = urlencode(body).encode() if form else json.dumps(body).encode()
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    request = urllib.request.Request(
        node.url + path,
        data=data,
        method="POST",
        headers={"Authorization": AUTH, "Content-Type": kind},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def decision(node, nrn: str) -> bool:
    status, answer = post(
        node,
        "/access/v1/evaluation",
        {
            "subject": {"type": "person", "id": nrn},
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": BOULANGERIE},
        },
    )
    assert status == 200, answer
    return answer["decision"]


def active(node, token: str) -> bool:
    status, answer = post(node, "/introspect", {"token": token}, form=True)
    assert status == 200, answer
    return answer["active"]


def worker_status(environ: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "monespace", "worker", "status"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def heartbeat_jobs(environ: dict[str, str]) -> set[str]:
    try:
        text = Path(environ["MONESPACE_WORKER_HEARTBEAT_FILE"]).read_text(encoding="utf-8")
    except FileNotFoundError:
        return set()
    return set(json.loads(text)["jobs"])


def finish_in_flight_across_sigterm(node) -> bytes:
    """A token request begun (headers and half the body sent, so the node's worker is reading
    it) when the node gets SIGTERM, as an orchestrator stops it; the answer, once the client
    sends the rest."""
    body = b"grant_type=client_credentials"
    with socket.create_connection(("127.0.0.1", node.port), timeout=20) as connection:
        connection.sendall(
            b"POST /token HTTP/1.1\r\nHost: monespace.test\r\n"
            + f"Authorization: {AUTH}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:11]
        )
        time.sleep(0.5)
        node.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[11:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_two_nodes_and_the_worker_serve_as_one_installation(installation):
    (first, second), _worker, environ = installation

    # A decision through each node: Luc acts for the Boulangerie, Nora (who only asked) not.
    assert decision(first, LUC) is True
    assert decision(second, LUC) is True
    assert decision(second, NORA) is False

    # A token from one node, known to the other; revoked through that one, refused by the first.
    status, token = post(first, "/token", {"grant_type": "client_credentials"}, form=True)
    assert status == 200, token
    assert active(second, token["access_token"]) is True
    status, _ = post(second, "/revoke", {"token": token["access_token"]}, form=True)
    assert status == 200
    deadline = time.monotonic() + 1
    while active(first, token["access_token"]):
        assert time.monotonic() < deadline, "the revocation was not seen by the other node"
        time.sleep(0.02)
    assert active(second, token["access_token"]) is False

    # The worker ran each job once at start and says so, as its liveness probe reads it.
    deadline = time.monotonic() + 20
    while heartbeat_jobs(environ) != set(WORKER_JOBS):
        assert time.monotonic() < deadline, "the worker recorded no run of every job"
        time.sleep(0.1)
    result = worker_status(environ)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list(WORKER_JOBS)
    assert all(" ok " in line for line in lines), result.stdout
    # A worker that never ran (no heartbeat file) is reported unhealthy.
    nowhere = str(Path(environ["MONESPACE_DATA_DIR"]) / "no-worker.json")
    assert worker_status({**environ, "MONESPACE_WORKER_HEARTBEAT_FILE": nowhere}).returncode == 1

    # The first node is stopped: the request it was reading is answered, then it exits 0;
    # the other node never stops answering.
    answer = finish_in_flight_across_sigterm(first)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert "access_token" in json.loads(payload)
    assert first.process.wait(timeout=40) == 0, first.log()
    assert decision(second, LUC) is True
