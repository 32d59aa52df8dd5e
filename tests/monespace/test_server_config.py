"""monespace/server_config.py: the worker count a granian worker reads back from its master's
command line and environment (allowed and refused cases of the rate-limit check rest on it),
the log format, the shipped log configuration; and an eID login through granian started
directly in demo mode, its SAML signatures checked by the xmlsec1 program (a process each,
started from a request's thread) or by the xmlsec binding in process.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from loadtests.logins import LoginClient
from monespace import server_config
from tests.flows.app_processes import free_port


@pytest.fixture
def in_a_granian_worker(monkeypatch):
    monkeypatch.setattr(multiprocessing.current_process(), "name", "granian-worker")
    monkeypatch.delenv("GRANIAN_WORKERS", raising=False)

    def started_with(*args: str) -> None:
        monkeypatch.setattr(sys, "argv", ["/usr/local/bin/granian", *args])

    return started_with


def test_outside_a_granian_worker_no_count_is_known():
    assert multiprocessing.current_process().name != "granian-worker"
    assert server_config.served_workers() is None


def test_a_worker_reads_the_count_its_master_was_given(in_a_granian_worker):
    in_a_granian_worker("--interface", "wsgi", "--workers", "3", "--factory", server_config.APP)
    assert server_config.served_workers() == 3


def test_a_worker_reads_the_count_from_the_environment(in_a_granian_worker, monkeypatch):
    in_a_granian_worker("--interface", "wsgi", "--factory", server_config.APP)
    monkeypatch.setenv("GRANIAN_WORKERS", "4")
    assert server_config.served_workers() == 4
    # An option given wins over the variable, as in granian's master.
    in_a_granian_worker("--workers", "2", server_config.APP)
    assert server_config.served_workers() == 2


def test_without_either_granian_runs_one_worker(in_a_granian_worker):
    in_a_granian_worker("--interface", "wsgi", server_config.APP)
    assert server_config.served_workers() == 1


def test_the_shipped_argv_is_read_back_by_its_workers(in_a_granian_worker):
    in_a_granian_worker(*server_config.granian_argv("127.0.0.1", 8000, 2)[3:])
    assert server_config.served_workers() == 2
    assert server_config.served_threads() == server_config.THREADS


def test_threads_are_known_when_given_and_one_is_kept_from_the_database(
    in_a_granian_worker, monkeypatch
):
    from monespace import bootstrap

    assert server_config.served_threads() is None  # not in a granian worker
    assert bootstrap.database_slots() is None
    in_a_granian_worker("--interface", "wsgi", "--blocking-threads", "6", server_config.APP)
    assert server_config.served_threads() == 6
    assert bootstrap.database_slots() == 5
    in_a_granian_worker("--interface", "wsgi", server_config.APP)  # granian picks them
    assert server_config.served_threads() is None and bootstrap.database_slots() is None
    monkeypatch.setenv("GRANIAN_BLOCKING_THREADS", "1")
    assert server_config.served_threads() == 1
    assert bootstrap.database_slots() == 1  # never none at all


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MONESPACE_LOG_FORMAT": "text", "MONESPACE_MODE": "production"}, "text"),
        ({"MONESPACE_LOG_FORMAT": "json", "MONESPACE_MODE": "demo"}, "json"),
        ({"MONESPACE_MODE": "demo"}, "text"),
        ({"MONESPACE_MODE": "production"}, "json"),
    ],
)
def test_the_log_format_named_or_the_modes(monkeypatch, environ, expected):
    for name in ("MONESPACE_LOG_FORMAT", "MONESPACE_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert server_config.log_format(read_settings=False) == expected


def test_granians_lines_are_json_under_the_shipped_log_configuration(monkeypatch):
    document = json.loads(server_config.LOG_CONFIG.read_text())
    logger = logging.getLogger("_granian")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        logging.config.dictConfig(document)
        logger.info("Spawning worker-1 with PID: 1")
    finally:
        logger.handlers, logger.level, logger.propagate = saved
    line = json.loads(stream.getvalue())
    assert line["logger"] == "_granian"
    assert line["message"] == "Spawning worker-1 with PID: 1"
    assert set(line) >= {"time", "level", "request_id"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["xmlsec1", "python-xmlsec"])
def test_an_eid_login_goes_through_granian_started_directly(tmp_path, backend):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONESPACE_")},
        "MONESPACE_MODE": "demo",
        "MONESPACE_BASE_URL": url,
        "MONESPACE_DATABASE_URL": f"sqlite:///{tmp_path / 'monespace.sqlite3'}",
        "MONESPACE_DATA_DIR": str(tmp_path),
        "MONESPACE_EID_CRYPTO_BACKEND": backend,
    }
    command = server_config.granian_argv("127.0.0.1", port, 1, "text")
    node = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert node.poll() is None, node.stdout.read().decode()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the node never answered /healthz"
            time.sleep(0.2)

        result = LoginClient(url).login("eid", "luc", "0123456749")

        assert result.sub
        assert "POST /login/eid/acs" in [step for step, _seconds in result.steps]
    finally:
        node.terminate()
        node.wait(timeout=40)
        node.stdout.close()
