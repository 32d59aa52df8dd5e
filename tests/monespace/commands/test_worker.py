"""``monespace worker --once`` and ``monespace worker status``; one worker per SQLite database."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from monespace import worker
from tests import scrape
from tests.monespace.conftest import run_cli
from tests.smtp_server import free_port


def heartbeat_path(tmp_path):
    return tmp_path / "worker-heartbeat.json"  # the default: <data_dir>/worker-heartbeat.json


def test_status_exits_1_before_any_run_and_0_after_one(cli_env, tmp_path, capsys):
    code, out, err = run_cli(capsys, "worker", "status")
    assert (code, out) == (1, "")
    assert (
        err
        == f"error: no heartbeat at {heartbeat_path(tmp_path)}: the worker has not run a job yet\n"
    )

    code, _out, err = run_cli(capsys, "worker", "--once")
    assert code == 0, err
    code, out, err = run_cli(capsys, "worker", "status")
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["job", "every", "last"]
    assert [row.split()[0] for row in rows] == ["expire-requests", "purge", "mail"]
    assert all(" ok " in row and "OVERDUE" not in row for row in rows)
    assert "60 s" in rows[2] and "sent 0, failed 0" in rows[2]


def age(tmp_path, job: str, seconds: int) -> None:
    """Make ``job``'s last success ``seconds`` old in the heartbeat file."""
    path = heartbeat_path(tmp_path)
    state = json.loads(path.read_text())
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds)
    state["jobs"][job]["last_success"] = when.isoformat()
    path.write_text(json.dumps(state))


def test_status_exits_1_when_a_job_is_overdue(cli_env, tmp_path, capsys):
    assert run_cli(capsys, "worker", "--once")[0] == 0
    # The mail job runs every 60 s: overdue past twice that plus a minute (180 s).
    age(tmp_path, "mail", 170)
    assert run_cli(capsys, "worker", "status")[0] == 0
    age(tmp_path, "mail", 190)
    code, out, _err = run_cli(capsys, "worker", "status")
    assert code == 1
    (mail_row,) = [row for row in out.splitlines() if row.startswith("mail")]
    assert "OVERDUE" in mail_row
    # A run brings it back.
    assert run_cli(capsys, "worker", "--once")[0] == 0
    assert run_cli(capsys, "worker", "status")[0] == 0


def test_intervals_come_from_the_configuration(cli_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MONESPACE_WORKER_EXPIRE_INTERVAL", "86400")
    assert run_cli(capsys, "worker", "--once")[0] == 0
    age(tmp_path, "expire-requests", 3 * 3600)  # overdue at the default hour, not at a day
    code, out, _err = run_cli(capsys, "worker", "status")
    assert code == 0 and "86400 s" in out
    monkeypatch.setenv("MONESPACE_WORKER_EXPIRE_INTERVAL", "0")
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert (code, err) == (
        1,
        "error: MONESPACE_WORKER_EXPIRE_INTERVAL must be at least 1, not '0'\n",
    )


def test_a_failed_run_is_not_a_success(cli_env, tmp_path, monkeypatch, capsys):
    assert run_cli(capsys, "worker", "--once")[0] == 0

    def broken(_config):
        raise RuntimeError("the purge broke")

    jobs = tuple(
        worker.Job(job.name, job.interval_setting, broken, job.exclusive)
        if job.name == "purge"
        else job
        for job in worker.JOBS
    )
    monkeypatch.setattr(worker, "JOBS", jobs)
    age(tmp_path, "purge", 3 * 3600)
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert code == 1  # --once says a job failed
    # Production's log format: JSON lines.
    lines = [json.loads(line) for line in err.splitlines()]
    assert {
        "level": "ERROR",
        "message": "purge: failed: RuntimeError: the purge broke",
    }.items() <= (next(line for line in lines if line["level"] == "ERROR").items())
    assert "mail: sent 0" in err  # the jobs after it still ran
    code, out, _err = run_cli(capsys, "worker", "status")
    (purge_row,) = [row for row in out.splitlines() if row.startswith("purge")]
    assert code == 1 and "OVERDUE" in purge_row and "failed: RuntimeError" in purge_row


# PostgreSQL takes several workers: test_worker.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_takes_one_worker(cli_env, database_url, capsys):
    database_file = database_url[len("sqlite:///") :]
    with worker.sqlite_lock(database_file):  # a worker running on it
        code, out, err = run_cli(capsys, "worker", "--once")
        assert (code, out) == (1, "")
        assert err.startswith("error: another monespace worker runs on this SQLite database")
        assert "SQLite takes one worker" in err and "worker-lock" in err
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert code == 0, err


def test_the_worker_serves_its_metrics_to_the_bearer_of_the_token(cli_env, tmp_path):
    port = free_port()
    env = {**os.environ, "MONESPACE_WORKER_MAIL_INTERVAL": "1"}
    process = scrape.start_worker(env, port)
    try:
        url = f"http://127.0.0.1:{port}"
        status, headers, body = scrape.get(f"{url}/metrics", "Bearer wrong-token-of-some-size")
        assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="metrics"')
        assert "monespace_" not in body
        assert scrape.get(f"{url}/other", f"Bearer {scrape.TOKEN}")[0] == 404
        deadline = time.monotonic() + 30
        while True:
            samples = scrape.scrape(url)
            runs = "monespace_worker_job_runs_total"
            if scrape.value(samples, runs, job="mail", outcome="ok") >= 2:
                break
            assert time.monotonic() < deadline, "the mail job did not run twice"
            time.sleep(0.2)
        for job in ("expire-requests", "purge"):
            assert scrape.value(samples, runs, job=job, outcome="ok") == 1
        assert scrape.value(samples, runs, job="mail", outcome="failed") == 0
        pending = scrape.value(samples, "monespace_outbox_messages", state="pending")
        assert pending == 0
        assert (
            scrape.value(samples, "monespace_worker_job_last_success_timestamp_seconds", job="mail")
            > 0
        )
    finally:
        err = scrape.stop_worker(process)
    assert process.returncode == 0, err
