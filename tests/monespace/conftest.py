"""Fixtures for the wiring tests: a clean environment and working directory per test."""

from __future__ import annotations

import os
import shutil

import pytest

from authz import db
from monespace.cli import main
from policies import POLICY_DIR


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No MONESPACE_* variable from the caller's shell; ./instance lands in tmp_path. The run's
    shared demo keys and audit key stay (tests/conftest.py)."""
    for name in list(os.environ):
        if (
            name.startswith("MONESPACE_")
            and not name.startswith(("MONESPACE_TEST_", "MONESPACE_KEYS_DIR"))
            and name != "MONESPACE_AUDIT_KEY"
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    # Commands and apps rebind the shared proxy; close whatever it points at now.
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()


@pytest.fixture
def cli_env(database, database_url, monkeypatch, tmp_path):
    """The CLI pointed at the test database (production mode: no demo data is loaded)."""
    monkeypatch.setenv("MONESPACE_MODE", "production")
    monkeypatch.setenv("MONESPACE_DATABASE_URL", database_url)
    monkeypatch.setenv("MONESPACE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("MONESPACE_BASE_URL", "https://id.example.test")
    monkeypatch.setenv("MONESPACE_DATA_DIR", str(tmp_path))
    return database


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``monespace ARGS`` as the console script does: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


@pytest.fixture
def policy_copy(tmp_path):
    """A copy of the policy files (and the truth table) to change."""
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target
