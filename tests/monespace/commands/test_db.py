"""``monespace db upgrade``: new database, no-op, step from version 1, newer database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from authz import db, schema
from authz.models import ALL_MODELS, AuditMention, Enterprise, EnterpriseMandate, SchemaInfo
from monespace.cli import cli

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def upgrade(monkeypatch, database_url):
    monkeypatch.setenv("MONESPACE_DATABASE_URL", database_url)

    def run():
        result = CliRunner().invoke(cli, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        # The command closed its connection; reconnect for the checks that follow.
        db.database.connect(reuse_if_open=True)
        return result.stdout

    return run


def test_upgrade_creates_the_schema_on_an_empty_database(empty_database, upgrade):
    output = upgrade()

    assert f"created schema version {schema.CURRENT_VERSION}" in output
    assert set(db.database.get_tables()) >= {m._meta.table_name for m in ALL_MODELS}
    assert schema.current_version() == schema.CURRENT_VERSION


def test_upgrade_twice_does_nothing_the_second_time(empty_database, upgrade):
    upgrade()
    output = upgrade()

    assert "nothing to do" in output
    assert SchemaInfo.select().count() == 1


def test_upgrade_from_version_1_keeps_the_rows(empty_database, upgrade):
    schema.upgrade()
    Enterprise.create(bce="0403170701", name="Boulangerie Dupont")
    migrator = (
        PostgresqlMigrator(db.database.obj)
        if db.is_postgresql()
        else SqliteMigrator(db.database.obj)
    )
    migrate(
        migrator.drop_column("enterprise", "authz_epoch"),
        migrator.drop_column("audit_event", "key_id"),
        migrator.drop_column("audit_event", "mac"),
        migrator.drop_column("client", "catalogue"),
    )
    db.database.execute_sql("DROP INDEX audit_event_action_seq")
    fresh_mandate_indexes = {i.name for i in db.database.get_indexes("enterprise_mandate")}
    db.database.drop_tables([EnterpriseMandate, AuditMention])
    SchemaInfo.update(version=1).execute()
    assert "authz_epoch" not in {c.name for c in db.database.get_columns("enterprise")}

    output = upgrade()

    assert "upgraded schema to version 2" in output
    assert "upgraded schema to version 3" in output
    assert "upgraded schema to version 4: An HMAC per audit log row" in output
    assert "upgraded schema to version 5: Mandates between enterprises" in output
    assert "upgraded schema to version 6: A catalogue entry per client" in output
    assert "upgraded schema to version 7: The persons each audit event names" in output
    assert schema.current_version() == schema.CURRENT_VERSION
    # The table comes back with the indexes of a new database (the one open mandate per pair).
    assert {i.name for i in db.database.get_indexes("enterprise_mandate")} == (
        fresh_mandate_indexes
    )
    assert "enterprise_mandate_mandator_id_mandatee_id" in fresh_mandate_indexes
    indexes = {index.name for index in db.database.get_indexes("audit_event")}
    assert "audit_event_action_seq" in indexes
    enterprise = Enterprise.get(Enterprise.bce == "0403170701")
    assert enterprise.name == "Boulangerie Dupont"
    assert enterprise.authz_epoch == 0


def test_a_database_newer_than_the_code_is_one_error_line(
    database, database_url, tmp_path, request
):
    SchemaInfo.update(
        version=schema.CURRENT_VERSION + 7, compatible_from=schema.CURRENT_VERSION + 7
    ).execute()
    request.addfinalizer(
        lambda: SchemaInfo.update(
            version=schema.CURRENT_VERSION, compatible_from=schema.CURRENT_VERSION
        ).execute()
    )  # the next test's database fixture finds this software's version
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONESPACE_")},
        "MONESPACE_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
    }

    result = subprocess.run(
        [sys.executable, "-m", "monespace", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: the database is at schema version {schema.CURRENT_VERSION + 7}, newer than "
        f"this software ({schema.CURRENT_VERSION}) and not compatible with it (software of "
        f"version {schema.CURRENT_VERSION + 7} or later runs on it): upgrade monespace before "
        "using it"
    ]


def test_a_newer_database_this_software_still_runs_on_is_left_as_it_is(database, upgrade, request):
    # As the next release's upgrade leaves it when its steps are backward compatible: the
    # previous release (this one) rolled back, its upgrade Job run again, succeeds.
    SchemaInfo.update(
        version=schema.CURRENT_VERSION + 1, compatible_from=schema.CURRENT_VERSION
    ).execute()
    request.addfinalizer(
        lambda: SchemaInfo.update(
            version=schema.CURRENT_VERSION, compatible_from=schema.CURRENT_VERSION
        ).execute()
    )

    output = upgrade()

    assert (
        f"schema at version {schema.CURRENT_VERSION + 1}, newer than this software "
        f"({schema.CURRENT_VERSION}), which still runs on it; nothing to do"
    ) in output
    assert schema.current_version() == schema.CURRENT_VERSION + 1
