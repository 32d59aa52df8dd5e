"""Fixtures for the wiring tests: a clean environment and working directory per test."""

from __future__ import annotations

import os

import pytest

from authz import db


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No MONESPACE_* variable from the caller's shell; ./instance lands in tmp_path."""
    for name in list(os.environ):
        if name.startswith("MONESPACE_") and not name.startswith("MONESPACE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    # Commands and apps rebind the shared proxy; close whatever it points at now.
    if db.database.obj is not None and not db.database.is_closed():
        db.database.close()
