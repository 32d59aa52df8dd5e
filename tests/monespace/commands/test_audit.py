"""``monespace audit verify``: intact, altered, deleted, inserted rows, and what the recorded
head tells: a removed tail, rows appended after it, a rewrite by the key's holder."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from authz import audit, db
from authz.models import AuditEvent
from monespace.cli import cli
from monespace.commands import audit as audit_command
from tests.authz import audit_tampering as tamper
from tests.monespace.conftest import run_cli


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
    assert result.stdout == f"audit log intact: 3 rows, head 3:{log[-1].hash}\n"


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


def test_a_row_rewritten_without_the_key_is_named(log):
    tamper.rewrite(2, actor="person:99")

    result = verify()

    assert result.exit_code == 1
    assert result.stdout == (
        "audit log broken: row 2 was altered: its hashes were recomputed without the audit key "
        "(its HMAC does not match)\n"
        f"the 1 rows before it are intact, up to head 1:{log[0].hash}\n"
    )


def test_a_row_inserted_is_named(log):
    tamper.insert(2, actor="person:99")

    result = verify()

    assert result.exit_code == 1
    assert result.stdout.startswith("audit log broken: row 2 was altered: its hashes were")


def test_head_detects_a_removed_tail(log):
    recorded_head = f"3:{log[-1].hash}"
    AuditEvent.delete().where(AuditEvent.seq == 3).execute()

    assert verify().exit_code == 0  # a shorter chain is still a valid chain...
    result = verify("--head", recorded_head)

    assert result.exit_code == 1  # ...but it no longer reaches the recorded head
    assert result.stdout == (
        "audit log broken: row 3 was removed from the end (the log has 2 rows, the head was "
        "row 3)\n"
        f"its 2 rows are intact in themselves, head 2:{log[1].hash}\n"
    )


def test_head_tells_a_rewrite_by_the_key_holder(log):
    recorded_head = f"3:{log[-1].hash}"
    tamper.rewrite(2, audit.keyring().current, actor="person:99")

    assert verify().exit_code == 0  # the key's holder can rewrite the log...
    result = verify("--head", recorded_head)

    assert result.exit_code == 1  # ...but not the head recorded elsewhere
    assert result.stdout.startswith(
        f"audit log broken: row 3 is not the recorded head {log[-1].hash[:16]}...: the rows up "
        "to it were rewritten by someone holding the audit key"
    )


def test_head_counts_the_rows_appended_after_it(log):
    result = verify("--head", f"1:{log[0].hash}")

    assert result.exit_code == 0
    assert result.stdout == (
        f"audit log intact: 3 rows (2 appended after the recorded head), head 3:{log[-1].hash}\n"
    )


def test_head_of_an_earlier_version_is_a_bare_hash(log):
    result = verify("--head", log[1].hash.upper())

    assert result.exit_code == 0
    assert result.stdout.startswith("audit log intact: 3 rows (1 appended after the recorded head)")


def test_head_must_be_a_sha256(log):
    result = verify("--head", "not-a-hash")

    assert result.exit_code == 2
    assert "a head is SEQ:HASH" in result.output
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


def test_production_refuses_to_verify_without_the_audit_key(cli_env, monkeypatch, capsys):
    monkeypatch.delenv("MONESPACE_AUDIT_KEY")

    code, out, err = run_cli(capsys, "audit", "verify")

    assert (code, out) == (1, "")
    assert err.startswith("error: audit_key: production mode needs MONESPACE_AUDIT_KEY_FILE")
    assert len(err.splitlines()) == 1


def test_verify_uses_the_configured_keys(cli_env, monkeypatch, capsys, tmp_path):
    """Rows keyed with the key now retired verify once it is listed as retired."""
    audit.record(
        actor="person:1", action="grant_role", target_type="g", target_id=1, policy_version="test"
    )
    retired = tmp_path / "retired-audit-keys"
    retired.write_text("# retired 2026-12\n" + os.environ["MONESPACE_AUDIT_KEY"] + "\n")
    monkeypatch.setenv("MONESPACE_AUDIT_KEY", "the next audit key " * 3)

    code, out, _err = run_cli(capsys, "audit", "verify")
    assert code == 1
    assert "which is not configured" in out

    monkeypatch.setenv("MONESPACE_AUDIT_PREVIOUS_KEYS_FILE", str(retired))
    code, out, _err = run_cli(capsys, "audit", "verify")
    assert (code, out.split(",")[0]) == (0, "audit log intact: 1 rows")
