"""monespace/commands/serve.py: what production's gunicorn is given for the metrics and logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from authz.metrics import FLUSH_SECONDS
from monespace import config, demo
from monespace.commands.serve import gunicorn_argv, observed
from tests import scrape
from tests.smtp_server import free_port


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
    options = observed(production(tmp_path))
    assert options == ["--config", "python:monespace.gunicorn_hooks"]
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


def test_the_options_go_before_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("MONESPACE_LOG_FORMAT", "")
    argv = gunicorn_argv("127.0.0.1", 8000, 2)
    argv[-1:-1] = observed(production(tmp_path))
    assert argv[-3:] == [
        "--config",
        "python:monespace.gunicorn_hooks",
        "monespace.app:create_app()",
    ]


def test_production_serves_one_metrics_view_of_two_gunicorn_workers(
    database, database_url, tmp_path
):
    """`monespace serve` in production: gunicorn with two workers; whichever answers a scrape
    shows both workers' requests; the log lines are JSON, gunicorn's too."""
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
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    assert all(set(line) >= {"time", "level", "logger", "message", "request_id"} for line in lines)
