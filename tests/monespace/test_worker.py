"""monespace/worker.py on PostgreSQL: worker processes sharing one database and a real SMTP
server, the advisory lock of the exclusive jobs, expiry, purges and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest
from aiosmtpd.controller import Controller

from admin_ui import mail
from admin_ui.models import OutboxMessage
from authz import db, events
from authz.models import Enterprise, LegalRepresentation, Person, RoleRequest
from authz.services import Caller, designate_gap, request_role
from authz.tables import utcnow
from idp_bridge.models import PendingLogin
from monespace import worker
from tests.authz.services import make_bce, make_nrn
from tests.monespace.conftest import run_cli
from tests.smtp_server import Collector, free_port

ROOT = Path(__file__).resolve().parents[2]
GAP = {"enterprise": "Boulangerie Dupont", "bce": "0123.456.749", "link": "https://x.test/g"}


@pytest.fixture
def database_url(postgres_url):
    """PostgreSQL only: several processes and advisory locks (SQLite: test_cli_worker.py)."""
    return postgres_url


class SlowCollector(Collector):
    """Takes a moment per message, so that two workers are sending at the same time."""

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp():
    collector = SlowCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield collector, controller.port
    controller.stop()


@pytest.fixture
def worker_env(cli_env, smtp, monkeypatch, tmp_path) -> dict[str, str]:
    """The CLI's environment (production mode, the test database), sending to ``smtp``."""
    monkeypatch.setenv("MONESPACE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MONESPACE_SMTP_PORT", str(smtp[1]))
    monkeypatch.setenv("MONESPACE_SMTP_STARTTLS", "false")
    return {**os.environ, "PYTHONPATH": str(ROOT), "MONESPACE_WORKER_MAIL_INTERVAL": "1"}


def start_worker(env: dict[str, str], name: str, tmp_path: Path) -> subprocess.Popen:
    heartbeat = tmp_path / f"{name}-heartbeat.json"
    return subprocess.Popen(
        [sys.executable, "-m", "monespace", "worker"],
        env={**env, "MONESPACE_WORKER_HEARTBEAT_FILE": str(heartbeat)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    return process.returncode, err


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def enqueue(count: int) -> None:
    with db.transaction():
        for number in range(count):
            mail.enqueue("gap_designated", f"gap{number}@example.test", "en", **GAP)


def unsent() -> int:
    with db.connection():
        return OutboxMessage.select().where(OutboxMessage.sent_at.is_null()).count()


@pytest.mark.slow
def test_two_workers_at_once_send_each_email_exactly_once(worker_env, smtp, tmp_path):
    names = ("first", "second")
    collector, _port = smtp
    first = start_worker(worker_env, "first", tmp_path)
    second = start_worker(worker_env, "second", tmp_path)
    try:
        # Both up (each has run every job once), then the mail: both find the same rows due.
        wait_until(lambda: all((tmp_path / f"{n}-heartbeat.json").exists() for n in names))
        enqueue(120)
        wait_until(lambda: unsent() == 0)
    finally:
        results = [stop(first), stop(second)]
    for code, err in results:
        assert code == 0, err
        assert "stopped (SIGTERM)" in err
    recipients = sorted(to for _sender, (to,) in collector.envelopes)
    assert recipients == sorted(f"gap{n}@example.test" for n in range(120))
    sent = [sum(int(n) for n in re.findall(r"mail: sent (\d+)", err)) for _code, err in results]
    assert sum(sent) == 120  # one line per run, and together they tell the whole story
    assert min(sent) > 0  # the workers shared the outbox


@pytest.mark.slow
def test_sigterm_finishes_the_job_in_hand_and_exits_zero(worker_env, smtp, tmp_path):
    collector, _port = smtp
    process = start_worker(worker_env, "only", tmp_path)
    wait_until(lambda: (tmp_path / "only-heartbeat.json").exists())
    enqueue(30)  # the next mail run (within a second) is in hand when the signal comes
    wait_until(lambda: unsent() < 30)
    code, err = stop(process)
    assert code == 0, err
    # Production's log format: the last JSON line says why it stopped.
    assert json.loads(err.splitlines()[-1])["message"] == "stopped (SIGTERM)"
    # The run in hand was finished: what it claimed was sent and marked sent, none left claimed.
    with db.connection():
        claimed = OutboxMessage.select().where(
            OutboxMessage.sent_at.is_null(), OutboxMessage.attempts > 0
        )
        assert claimed.count() == 0
    assert len(collector.messages) == 30 - unsent()


@pytest.fixture
def expired_request(database) -> RoleRequest:
    """Nora's request for the agent role at the Boulangerie, past its 30 days."""
    enterprise = Enterprise.create(bce=make_bce(1234567), name="Boulangerie Dupont")
    people = [
        Person.create(nrn=make_nrn(born, serial), given_name=given, family_name="Test", email=email)
        for born, serial, given, email in [
            ("750412", 101, "Anne", "anne@example.test"),
            ("800115", 203, "Marc", "marc@example.test"),
            ("880909", 713, "Nora", "nora@example.test"),
        ]
    ]
    representative, gap, requester = people
    LegalRepresentation.create(person=representative, enterprise=enterprise, capacity="gérant")
    with events.muted():
        designate_gap(Caller.for_person(representative), enterprise.bce, gap.nrn)
        request = request_role(Caller.for_person(requester), enterprise.bce, "agent")
    RoleRequest.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        RoleRequest.id == request.id
    ).execute()
    return request


def test_once_expires_the_request_and_emails_its_requester(
    worker_env, smtp, expired_request, capsys
):
    collector, _port = smtp
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert code == 0, err
    assert "expire-requests: 1 role request(s) expired" in err
    assert "mail: sent 1, failed 0" in err
    assert RoleRequest.get_by_id(expired_request.id).status == "expired"
    ((_sender, recipients),) = collector.envelopes
    assert recipients == ["nora@example.test"]
    # Nothing more to do: a second run expires and sends nothing.
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert "0 role request(s) expired" in err and "mail: sent 0" in err
    assert len(collector.envelopes) == 1


def test_an_exclusive_job_is_skipped_while_another_worker_holds_its_lock(
    worker_env, smtp, expired_request, postgres_url, capsys
):
    collector, _port = smtp
    job = next(job for job in worker.JOBS if job.name == "expire-requests")
    other = psycopg2.connect(postgres_url)  # another worker's connection
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (worker.LOCK_SPACE, worker._lock_key(job))
            )
            assert cursor.fetchone()[0] is True
        code, _out, err = run_cli(capsys, "worker", "--once")
        assert code == 0, err
        assert "expire-requests: skipped: another worker is running it" in err
        assert RoleRequest.get_by_id(expired_request.id).status == "pending"
        assert "purge: deleted" in err  # the other jobs run: the lock is per job
    finally:
        other.close()  # its locks go with its connection
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert "expire-requests: 1 role request(s) expired" in err
    assert RoleRequest.get_by_id(expired_request.id).status == "expired"
    assert len(collector.envelopes) == 1
    # This worker let go of the lock after its run: another may take it.
    with psycopg2.connect(postgres_url) as again, again.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (worker.LOCK_SPACE, worker._lock_key(job))
        )
        assert cursor.fetchone()[0] is True


def test_purge_deletes_expired_login_state_and_keeps_the_live(worker_env, capsys):
    now = utcnow()
    for key, expires in [("old", now - timedelta(minutes=5)), ("live", now + timedelta(hours=1))]:
        PendingLogin.create(key=key, kind="saml", value="{}", created_at=now, expires_at=expires)
    code, _out, err = run_cli(capsys, "worker", "--once")
    assert code == 0, err
    assert "purge: deleted 1 pending_login" in err
    assert [row.key for row in PendingLogin.select()] == ["live"]
