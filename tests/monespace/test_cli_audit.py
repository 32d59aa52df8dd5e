"""``monespace audit verify``: intact, altered, deleted rows, and a removed tail."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from authz import audit, db
from authz.models import AuditEvent
from monespace.cli import cli
from monespace.commands import audit as audit_command


@pytest.fixture
def log(database, database_url, monkeypatch):
    """Three audit events; MONESPACE_DATABASE_URL points the commands at them."""
    monkeypatch.setenv("MONESPACE_DATABASE_URL", database_url)
    return [
        audit.record(
            actor=f"person:{n}",
            action="grant_role",
            target_type="role_grant",
            target_id=n,
            policy_version="test",
            enterprise_bce="0403170701",
            details={"role": "owner"},
        )
        for n in (1, 2, 3)
    ]


def verify(*args: str):
    result = CliRunner().invoke(cli, ["audit", "verify", *args])
    db.database.connect(reuse_if_open=True)
    return result


def test_intact_log(log):
    result = verify()

    assert result.exit_code == 0
    assert result.stdout == f"audit log intact: 3 rows, head {log[-1].hash}\n"


def test_an_altered_row_is_named(log):
    AuditEvent.update(actor="person:99").where(AuditEvent.seq == 2).execute()

    result = verify()

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "audit log broken: row 2 was altered"


def test_a_deleted_row_is_reported_missing(log):
    AuditEvent.delete().where(AuditEvent.seq == 2).execute()

    result = verify()

    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "audit log broken: row 2 is missing"


def test_head_detects_a_removed_tail(log):
    recorded_head = log[-1].hash
    AuditEvent.delete().where(AuditEvent.seq == 3).execute()

    assert verify().exit_code == 0  # a shorter chain is still a valid chain...
    result = verify("--head", recorded_head)

    assert result.exit_code == 1  # ...but it no longer reaches the recorded head
    assert result.stdout.startswith("audit log broken: the recorded head ")
    assert "rows were removed" in result.stdout


def test_head_of_an_earlier_verify_is_accepted(log):
    result = verify("--head", log[1].hash.upper())

    assert result.exit_code == 0
    assert result.stdout.startswith("audit log intact: 3 rows")


def test_head_must_be_a_sha256(log):
    result = verify("--head", "not-a-hash")

    assert result.exit_code == 2
    assert "64 hexadecimal characters" in result.output


def test_progress_goes_to_stderr(database, database_url, monkeypatch):
    monkeypatch.setenv("MONESPACE_DATABASE_URL", database_url)
    monkeypatch.setattr(audit_command, "PROGRESS_INTERVAL", 0)
    with db.transaction():
        for n in range(1000):
            audit.record(
                actor="operator:test",
                action="import",
                target_type="row",
                target_id=n,
                policy_version="test",
            )

    result = verify()

    assert result.exit_code == 0
    assert result.stderr == "verified 1000 rows...\n"
    assert result.stdout.startswith("audit log intact: 1000 rows, head ")


def test_refuses_a_database_without_schema(empty_database, database_url, monkeypatch):
    monkeypatch.setenv("MONESPACE_DATABASE_URL", database_url)

    result = verify()

    assert result.exit_code == 1
    assert "run `monespace db upgrade`" in str(result.exception)
