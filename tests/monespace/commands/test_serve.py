"""monespace/commands/serve.py: the production node keeps answering while slow and idle clients
hold connections open (granian under monespace/server_config.py); its metrics and logs.

Slow clients send a request's header lines one every two seconds and never finish; idle
clients open a connection and send nothing, or keep an answered connection alive. Meanwhile
``/healthz`` and a decision are asked again and again on new connections: each answers 200
within a second. (Under gunicorn's sync workers, two such slow clients silenced a node; under
granian's default "auto" HTTP mode, idle connections that send nothing are never closed, and
with a small backpressure a few of them silence a worker.)

Production refuses rate-limit counters kept per process (``memory://``) in more than one
worker, whether ``monespace serve`` or granian itself, started by hand, starts it.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from authz.metrics import FLUSH_SECONDS
from monespace import config, demo, server_config
from monespace.commands.serve import observed
from tests import scrape
from tests.flows.app_processes import free_port

CHECKOUT = Path(__file__).parents[3]

SLOW_CLIENTS, IDLE_CLIENTS, KEPT_ALIVE = 60, 60, 30
HEADER_EVERY = 2.0  # seconds between two header lines of a slow client
WATCHED_FOR = 8.0  # seconds of normal requests while they hang on
WITHIN = 1.0  # seconds: the slowest a normal answer may be
AUTH = (
    "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
)


def decision(bce: str) -> str:
    return json.dumps(
        {
            "subject": {"type": "person", "id": "90010100123"},  # Luc, agent of the Boulangerie
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": bce},
        }
    )


ALLOWED, REFUSED = decision("0123456749"), decision("0403170701")  # his, and another's


def test_production_runs_granian_under_the_shipped_settings():
    argv = server_config.granian_argv("0.0.0.0", 8000, 3)  # noqa: S104
    assert argv[1:3] == ["-m", "granian"]
    assert argv[-2:] == ["--factory", "monespace.app:create_served_app"]
    options = {name: argv[argv.index(name) + 1] for name in argv if name.startswith("--")}
    assert options["--interface"] == "wsgi"
    assert options["--http"] == "1"
    assert options["--host"] == "0.0.0.0"  # noqa: S104
    assert (options["--port"], options["--workers"]) == ("8000", "3")
    assert options["--workers-kill-timeout"] == str(server_config.GRACEFUL_TIMEOUT)
    assert "--respawn-failed-workers" in argv
    assert argv[argv.index("--log-config") + 1] == str(server_config.LOG_CONFIG)
    assert "--log-config" not in server_config.granian_argv("::", 8000, 1, "text")


def timed_request(port: int, method: str, path: str, body: str | None = None, timeout: float = 5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        headers = {"Authorization": AUTH, "Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return response.status, payload, time.monotonic() - started
    except OSError as exc:
        return None, str(exc).encode(), time.monotonic() - started
    finally:
        conn.close()


class SlowClients:
    """Connections that each send a request's head a line at a time, and ones that idle."""

    def __init__(self, port: int):
        self.port = port
        self.slow: list[socket.socket] = []
        self.idle: list[socket.socket] = []
        self.stopping = threading.Event()
        self.lines_sent = 0
        self.thread = threading.Thread(target=self._drip, daemon=True)

    def open(self) -> None:
        for _ in range(KEPT_ALIVE):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.recv(65536)  # answered; the connection stays open, silent
            self.idle.append(sock)
        for n in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(f"GET /healthz?slow={n} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            self.slow.append(sock)
        for _ in range(IDLE_CLIENTS):
            self.idle.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
        self.thread.start()

    def _drip(self) -> None:
        while not self.stopping.wait(HEADER_EVERY):
            for n, sock in enumerate(self.slow):
                with contextlib.suppress(OSError):
                    sock.sendall(f"X-Slow-{self.lines_sent}: {n}\r\n".encode())
            self.lines_sent += 1

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=HEADER_EVERY + 5)
        for sock in self.slow + self.idle:
            sock.close()


def test_slow_and_idle_clients_do_not_stop_a_node_from_answering(production_node):
    port = production_node
    clients = SlowClients(port)
    clients.open()
    answers = []
    try:
        deadline = time.monotonic() + WATCHED_FOR
        while time.monotonic() < deadline:
            answers.append(("/healthz", *timed_request(port, "GET", "/healthz")))
            for asked in (ALLOWED, REFUSED):
                answers.append(
                    (asked, *timed_request(port, "POST", "/access/v1/evaluation", asked))
                )
            time.sleep(0.1)
        lines_sent = clients.lines_sent
    finally:
        clients.close()

    assert lines_sent >= WATCHED_FOR // HEADER_EVERY - 1  # the slow clients kept dripping
    assert len(answers) >= 30
    late = [(what, status, took) for what, status, _body, took in answers if took >= WITHIN]
    failed = [(what, status, body[:200]) for what, status, body, _ in answers if status != 200]
    assert not failed, failed
    assert not late, late
    for asked, expected in ((ALLOWED, True), (REFUSED, False)):
        decisions = [json.loads(body) for what, _s, body, _t in answers if what == asked]
        assert decisions and all(d == {"decision": expected} for d in decisions)


def run_refused(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def production_env(database_url: str, tmp_path, **settings) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(CHECKOUT),
        "MONESPACE_MODE": "production",
        "MONESPACE_DATABASE_URL": database_url,
        "MONESPACE_SECRET_KEY": "k" * 40,
        "MONESPACE_BASE_URL": "https://id.example.test",
        "MONESPACE_DATA_DIR": str(tmp_path),
        **settings,
    }


def test_serve_refuses_per_process_counters_in_two_workers(database, database_url, tmp_path):
    env = production_env(database_url, tmp_path)  # rate_limit_storage: memory://
    command = [sys.executable, "-m", "monespace", "serve", "--port", "1", "--workers"]

    refused = run_refused([*command, "2"], env)

    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: rate_limit_storage: memory://")
    assert "2 workers" in refused.stderr and "granian" not in refused.stdout


def granian_directly(*options: str) -> list[str]:
    """granian started by hand on the service's factory, not by ``monespace serve``."""
    command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1"]
    command += ["--port", str(free_port()), "--log-config", str(server_config.LOG_CONFIG)]
    return [*command, *options, "--factory", server_config.APP]


def error_lines(stderr: str) -> list[dict]:
    """The log's JSON lines whose message is a refusal (one a worker: each refuses alike)."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"].startswith("error: ")]


@pytest.mark.parametrize(
    ("options", "environ"),
    [(("--workers", "2"), {}), ((), {"GRANIAN_WORKERS": "2"})],
    ids=["option", "environment"],
)
def test_granian_started_directly_refuses_them_too(
    database, database_url, tmp_path, options, environ
):
    """granian by hand, its workers named on its command line or in its environment: each
    worker reads the count granian read, and refuses to start."""
    if not database_url.startswith("postgresql"):
        pytest.skip("production mode runs on PostgreSQL")
    command = granian_directly(*options)

    refused = run_refused(command, production_env(database_url, tmp_path, **environ))

    assert refused.returncode == 1
    errors = error_lines(refused.stderr)
    assert errors and all(
        e["message"].startswith("error: rate_limit_storage: memory:// counts in each process")
        and "2 workers" in e["message"]
        for e in errors
    )
    assert "Traceback" not in refused.stderr


def test_granian_started_directly_serves_one_worker_with_such_counters(
    database, database_url, tmp_path
):
    if not database_url.startswith("postgresql"):
        pytest.skip("production mode runs on PostgreSQL")
    command = granian_directly("--workers", "1")
    port = int(command[command.index("--port") + 1])
    env = production_env(database_url, tmp_path)
    with (tmp_path / "granian.log").open("w") as log:
        node = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while timed_request(port, "GET", "/healthz")[0] != 200:
            assert node.poll() is None, (tmp_path / "granian.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=40) == 0
    assert not error_lines((tmp_path / "granian.log").read_text())


def test_granian_started_directly_refuses_an_unreachable_redis(database, database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("production mode runs on PostgreSQL")
    shared = production_env(
        database_url,
        tmp_path,
        MONESPACE_RATE_LIMIT_STORAGE="redis://127.0.0.1:1/0",  # shared, but no Redis there
    )
    no_redis = run_refused(granian_directly("--workers", "2"), shared)

    assert no_redis.returncode == 1
    assert "rate_limit_storage: redis://127.0.0.1:1/0: the server does not answer" in (
        no_redis.stderr
    )


# -- metrics and logs ----------------------------------------------------------------------


def production(tmp_path, **settings) -> config.Config:
    return config.load(
        {
            "mode": "production",
            "database_url": "postgresql://u@db/x",
            "secret_key": "s" * 40,
            "audit_key": "a" * 40,
            "base_url": "https://example.be",
            "data_dir": str(tmp_path),
            **settings,
        },
        environ={},
    )


def test_the_metrics_directory_named_is_emptied_of_an_earlier_run(tmp_path, monkeypatch):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    (directory / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    monkeypatch.setenv("MONESPACE_LOG_FORMAT", "")
    observed(production(tmp_path))
    assert sorted(p.name for p in directory.iterdir()) == ["keep.txt"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    assert os.environ["MONESPACE_LOG_FORMAT"] == "json"


def test_without_a_directory_named_a_new_one_is_made(tmp_path, monkeypatch):
    # Set, then unset: the variables observed() sets are restored after the test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setenv("MONESPACE_LOG_FORMAT", "")
    monkeypatch.delenv("MONESPACE_LOG_FORMAT")
    observed(production(tmp_path, log_format="text"))
    made = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert os.path.isdir(made) and not os.listdir(made)
    assert os.environ["MONESPACE_LOG_FORMAT"] == "text"
    os.rmdir(made)


def test_production_serves_one_metrics_view_of_two_granian_workers(
    database, database_url, tmp_path
):
    """`monespace serve` in production: granian with two workers; whichever answers a scrape
    shows both workers' requests; the log lines are JSON, granian's too."""
    demo.seed()
    database.close()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(scrape.ROOT),
        "MONESPACE_MODE": "production",
        "MONESPACE_DATABASE_URL": database_url,
        "MONESPACE_SECRET_KEY": "s" * 40,
        "MONESPACE_BASE_URL": "https://id.example.test",
        "MONESPACE_DATA_DIR": str(tmp_path),
        "MONESPACE_METRICS_TOKEN": scrape.TOKEN,
        # Two workers need shared rate-limit counters.
        "MONESPACE_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/11",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    env.pop("MONESPACE_LOG_FORMAT", None)
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "monespace", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if scrape.get(f"{url}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.2)
        for _ in range(40):  # spread over both workers by the kernel
            assert scrape.get(f"{url}/healthz")[0] == 200
        assert scrape.get(f"{url}/metrics")[0] == 401
        time.sleep(FLUSH_SECONDS + 0.5)
        samples = scrape.scrape(url)
        served = scrape.value(
            samples, "monespace_http_requests_total", endpoint="/healthz", status="200"
        )
        assert served >= 41
        assert scrape.value(samples, "monespace_db_pool_max_connections") == 64  # two pools
        pids = {p.stem.rsplit("_", 1)[1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(pids) >= 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    output = (tmp_path / "serve.log").read_text().splitlines()
    lines = [json.loads(line) for line in output if line.startswith("{")]
    assert any(line["logger"] == "_granian" for line in lines)  # granian's own lines
    assert all(set(line) >= {"time", "level", "logger", "message", "request_id"} for line in lines)


def test_serve_refuses_a_secret_key_that_reads_none_of_the_signing_keys(
    database, database_url, tmp_path
):
    from idp_bridge.oidc.keys import KeyStore
    from idp_bridge.oidc.models import SigningKey

    KeyStore("k" * 40).ensure()  # made under production_env's secret key
    before = {row.kid for row in SigningKey.select()}
    env = production_env(database_url, tmp_path, MONESPACE_SECRET_KEY="w" * 40)
    command = [sys.executable, "-m", "monespace", "serve", "--port", "1", "--workers", "1"]

    refused = run_refused(command, env)

    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: signing key ")
    assert "Set MONESPACE_SECRET_KEY back to that key" in errors[0]
    assert "Traceback" not in refused.stderr
    assert {row.kid for row in SigningKey.select()} == before


def test_granian_under_the_shipped_settings_refuses_such_a_secret_key_in_one_line(
    database, database_url, tmp_path
):
    """granian started by hand with the shipped settings (respawn of failed workers among
    them): the worker's refusal is one JSON error line, not a traceback; the worker started
    again refuses alike at once, and granian stops (its crash loop check) with status 1."""
    if not database_url.startswith("postgresql"):
        pytest.skip("production mode runs on PostgreSQL")
    from idp_bridge.oidc.keys import KeyStore

    KeyStore("k" * 40).ensure()
    command = server_config.granian_argv("127.0.0.1", free_port(), 1)
    env = production_env(database_url, tmp_path, MONESPACE_SECRET_KEY="w" * 40)

    refused = run_refused(command, env)

    assert refused.returncode == 1
    errors = error_lines(refused.stderr)
    assert 1 <= len(errors) <= 2  # the worker, and the one started in its place
    assert all(e["message"] == errors[0]["message"] for e in errors)
    assert errors[0]["message"].startswith("error: signing key ")
    assert "Set MONESPACE_SECRET_KEY back to that key" in errors[0]["message"]
    assert "Traceback" not in refused.stderr


# -- a frozen database, under the server's threads ------------------------------------------

# Every answer within this (the client waits longer): 2 x THREADS requests at once, each
# bounded (1 s to connect, 1 s + 1 s a statement), their new connections opened one at a time
# (peewee's pool opens them under its lock), a thread each, THREADS at a time.
FROZEN_ALL_WITHIN = 30


def test_a_frozen_database_holds_the_threads_no_longer_than_its_bounds(start_node, database_url):
    """One worker (server_config.THREADS threads), a database that stops answering (a proxy
    that forwards nothing), twice as many uncached decisions at once as there are threads:
    each is a 503, none hangs; /healthz, sent after them, answers within a second: one
    thread is never given to the database (authz.db.Slots), and the decisions queued for a
    slot give up as soon as the database has been silent for half a second. The node heals
    on thaw."""
    from urllib.parse import urlparse, urlunparse

    from tests.tcp_proxy import FreezableProxy

    url = urlparse(database_url)
    proxy = FreezableProxy((url.hostname or "127.0.0.1", url.port or 5432))
    proxied = urlunparse(url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}"))
    bounds = {
        "MONESPACE_DATABASE_CONNECT_TIMEOUT": "1",
        "MONESPACE_DATABASE_STATEMENT_TIMEOUT": "1",
        "MONESPACE_DECISION_CACHE_SIZE": "0",  # every decision asks the database
    }
    try:
        with start_node(proxied, 1, **bounds) as port:
            assert timed_request(port, "POST", "/access/v1/evaluation", ALLOWED)[0] == 200
            proxy.freeze()
            answers: list = []
            asking = [
                threading.Thread(
                    target=lambda: answers.append(
                        timed_request(port, "POST", "/access/v1/evaluation", ALLOWED, 40)
                    )
                )
                for _ in range(2 * server_config.THREADS)
            ]
            for thread in asking:
                thread.start()
            time.sleep(0.2)
            health = timed_request(port, "GET", "/healthz", timeout=40)
            for thread in asking:
                thread.join(timeout=30)
            proxy.thaw()
            healed = timed_request(port, "POST", "/access/v1/evaluation", ALLOWED)
    finally:
        proxy.thaw()
        proxy.close()

    assert len(answers) == 2 * server_config.THREADS
    assert all(status == 503 for status, _body, _took in answers), answers
    assert max(took for _s, _b, took in answers) < FROZEN_ALL_WITHIN
    assert health[0] == 200 and health[2] < 1.0, health
    assert healed[0] == 200
