"""admin_ui/limits.py: rate-limit counters in Redis (the machine's, on 6379, under a key prefix of
these tests), shared between app instances and between processes; a storage that cannot be
used stops the start-up in one line; a Redis that stops answering later makes the limited forms
answer 503 (fail closed), never 500, while everything else goes on."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from admin_ui import limits
from authz.models import RoleRequest
from monespace import demo
from monespace.config import ConfigError
from tests.admin_ui.limits_process import ENTERPRISES, ask
from tests.idp_bridge.web_client import Browser

REDIS = "redis://127.0.0.1:6379/0"
# The tests' own keys: other installations' counters on the same Redis are never touched.
PREFIX = "monespace-tests-serving"
CHECKOUT = Path(__file__).parents[2]
PROCESS = Path(__file__).with_name("limits_process.py")


def redis_app(make_app, **settings):
    return make_app(rate_limit_storage=REDIS, rate_limit_key_prefix=PREFIX, **settings)


def test_two_app_instances_share_the_counters_in_redis(make_app):
    one = redis_app(make_app, role_request_limit="2/hour")
    other = redis_app(make_app, role_request_limit="2/hour")
    limits.reset()  # counters of earlier runs, kept by Redis under the same person ids
    alice_one, alice_other = Browser(one), Browser(other)
    alice_one.login("eid", "person:alice")
    alice_other.login("eid", "person:alice")

    assert ask(alice_one, ENTERPRISES[0]).status_code != 429
    assert ask(alice_other, ENTERPRISES[1]).status_code != 429
    refused = ask(alice_one, ENTERPRISES[2])

    assert refused.status_code == 429  # the third of the hour, whichever instance counted
    assert RoleRequest.select().where(RoleRequest.message == "Bonjour").count() <= 2


@pytest.mark.parametrize(
    ("storage", "words"),
    [
        ("redis://127.0.0.1:1/0", "the server does not answer"),
        ("redis://:secret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    ],
)
def test_a_storage_that_cannot_be_used_stops_the_start(make_app, storage, words):
    with pytest.raises(ConfigError) as caught:
        make_app(rate_limit_storage=storage)
    message = str(caught.value)
    assert message.startswith("rate_limit_storage: ")
    assert words in message
    assert "secret" not in message
    assert "\n" not in message


def test_the_machines_redis_is_accepted_at_start(make_app):
    assert redis_app(make_app)


def test_the_limit_holds_in_total_across_two_processes(database, database_url, tmp_path):
    """Two app processes (two workers, or two nodes) on one Redis: 4 an hour in all, not 4
    in each; the control is the same two processes counting in memory://, each allowing 4."""
    demo.seed()  # before the processes start, so neither seeds
    database.close()
    try:
        shared = run_two_processes(database_url, tmp_path / "redis", REDIS, attempts=4)
        apart = run_two_processes(database_url, tmp_path / "memory", "memory://", attempts=4)
    finally:
        database.connect(reuse_if_open=True)
        limits.reset()
        forget_counters()

    assert sum(status != 429 for status in shared) == 4  # the limit, in total
    assert sum(status == 429 for status in shared) == 4
    assert sum(status != 429 for status in apart) == 8  # per process: twice the limit
    assert all(status < 500 for status in shared + apart)


def forget_counters() -> None:
    """Delete the counters under the tests' prefix (Alice's, of an earlier run)."""
    limits._limiter(REDIS, PREFIX).storage.reset()


def run_two_processes(database_url: str, data_dir: Path, storage: str, attempts: int):
    if storage != "memory://":
        forget_counters()
    data_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    command = [sys.executable, str(PROCESS), database_url, str(data_dir), storage, PREFIX]
    processes = [
        subprocess.Popen(
            [*command, "4/hour", str(attempts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        for process in processes:  # both send together
            process.stdin.write("go\n")
            process.stdin.flush()
        statuses = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            statuses += [int(line) for line in out.split()]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert len(statuses) == 2 * attempts
    return statuses


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_redis():
    """A Redis server of this test's own, to stop while the app runs."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed", pytrace=False)
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield server, f"redis://127.0.0.1:{port}/0"
    if server.poll() is None:
        server.terminate()
        server.wait(10)


def test_a_redis_that_stops_answering_makes_the_form_503_not_500(make_app, own_redis):
    server, url = own_redis
    app = make_app(rate_limit_storage=url)
    alice = Browser(app)
    alice.login("eid", "person:alice")
    assert ask(alice, ENTERPRISES[0]).status_code in (200, 400)

    server.terminate()
    server.wait(10)
    started = time.monotonic()
    response = ask(alice, ENTERPRISES[1])

    assert response.status_code == 503  # fail closed: no uncounted email to a GAP
    assert time.monotonic() - started < limits.REDIS_TIMEOUT * 2 + 1
    assert response.headers["Retry-After"]
    assert RoleRequest.select().where(RoleRequest.message == "Bonjour").count() <= 1
    # Nothing else needs Redis: the pages, the decision API and liveness go on.
    assert alice.get("/entreprises").status_code == 200
    assert alice.get("/entreprises/ajouter").status_code == 200
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    decision = client.post(
        "/access/v1/evaluation",
        json={
            "subject": {"type": "person", "id": "90010100123"},
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": "0123456749"},
        },
        headers={"Authorization": "Basic " + base64.b64encode(b"demo-rp:demo-secret").decode()},
    )
    assert decision.status_code == 200 and decision.get_json() == {"decision": True}
