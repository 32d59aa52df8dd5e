"""Authorization epochs: bumped with access changes, heard by other processes' trackers."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import psycopg2
import pytest

from authz import db, epochs
from authz.epochs import PostgresEpochTracker, SqliteEpochTracker, tracker_for
from authz.models import Enterprise

ACME, GLOBEX = "0123456749", "0999999922"


@pytest.fixture
def firms(database):
    return (
        Enterprise.create(bce=ACME, name="Acme Demo SA"),
        Enterprise.create(bce=GLOBEX, name="Globex Fictive SRL"),
    )


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_bump_moves_only_the_given_enterprises(firms):
    acme, _globex = firms
    with db.transaction():
        epochs.bump([acme.id, acme.id])
    assert epochs.read_epoch(ACME) == 1
    assert epochs.read_epoch(GLOBEX) == 0
    assert epochs.read_epoch("0888888895") is None


def test_a_rolled_back_bump_changes_nothing(firms):
    acme, _ = firms
    with pytest.raises(RuntimeError), db.transaction():
        epochs.bump([acme.id])
        raise RuntimeError("the change fails")
    assert epochs.read_epoch(ACME) == 0


class Forgetful:
    """A tracker stand-in that counts how often this process's views are forgotten."""

    def __init__(self):
        self.forgotten = 0

    def forget_all(self):
        self.forgotten += 1


@pytest.fixture
def tracker(monkeypatch):
    found = Forgetful()
    monkeypatch.setattr(epochs, "_trackers", [found])
    return found


def test_views_are_forgotten_when_the_outermost_transaction_commits(firms, tracker):
    acme, globex = firms
    with db.transaction():
        with db.transaction():  # a service's transaction inside a page's
            epochs.bump([acme.id])
        assert tracker.forgotten == 0  # not yet: the outer transaction may still roll back
        epochs.bump([globex.id])
    assert tracker.forgotten == 1  # once, after the commit


def test_a_rollback_forgets_nothing_and_leaves_nothing_pending(firms, tracker):
    acme, _ = firms
    with pytest.raises(RuntimeError), db.transaction():
        epochs.bump([acme.id])
        raise RuntimeError("the change fails")
    assert tracker.forgotten == 0
    with db.transaction():
        pass  # a later transaction does not run the rolled-back one's callbacks
    assert tracker.forgotten == 0


# -- SQLite -----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path):
    return str(tmp_path / "monespace.sqlite3")


@pytest.fixture
def sqlite_firms(sqlite_path):
    from authz import schema

    database = db.connect(f"sqlite:///{sqlite_path}")
    database.connect(reuse_if_open=True)
    schema.upgrade()
    acme = Enterprise.create(bce=ACME, name="Acme Demo SA")
    yield acme
    database.close()


def test_sqlite_tracker_sees_commits_of_other_connections(sqlite_path, sqlite_firms):
    tracker = SqliteEpochTracker(sqlite_path)
    tracker.start()
    assert tracker.epoch(ACME) == 0
    # Another connection (as another process would) commits a change.
    other = sqlite3.connect(sqlite_path)
    other.execute("UPDATE enterprise SET authz_epoch = authz_epoch + 1 WHERE bce = ?", (ACME,))
    other.commit()
    other.close()
    assert tracker.epoch(ACME) == 1
    assert tracker.healthy
    tracker.stop()


def test_sqlite_tracker_keeps_its_view_while_nothing_changes(
    sqlite_path, sqlite_firms, monkeypatch
):
    tracker = tracker_for(f"sqlite:///{sqlite_path}")
    assert isinstance(tracker, SqliteEpochTracker)
    assert tracker.epoch(ACME) == 0
    reads = []
    monkeypatch.setattr(epochs, "read_epoch", lambda bce: reads.append(bce) or 0)
    assert tracker.epoch(ACME) == 0
    assert reads == []  # answered from the view
    tracker.stop()


def test_an_epoch_read_while_a_change_arrives_does_not_enter_the_view(
    sqlite_path, sqlite_firms, monkeypatch
):
    tracker = SqliteEpochTracker(sqlite_path)
    real_read = epochs.read_epoch

    def read_then_hear_of_a_change(bce):
        value = real_read(bce)
        tracker.forget([bce])  # the notification lands between the read and the insert
        return value

    monkeypatch.setattr(epochs, "read_epoch", read_then_hear_of_a_change)
    assert tracker.epoch(ACME) == 0
    assert ACME not in tracker._view
    tracker.stop()


# -- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def pg_tracker(postgres_url):
    tracker = PostgresEpochTracker(postgres_url, heartbeat=0.5, retry_delay=0.1)
    tracker.start()
    assert tracker.wait_until_healthy(5)
    yield tracker
    tracker.stop()


@pytest.fixture
def pg_firms(postgres_url):
    from authz import schema

    database = db.connect(postgres_url)
    database.connect(reuse_if_open=True)
    for table in database.get_tables():
        database.execute_sql(f'DROP TABLE "{table}" CASCADE')
    schema.upgrade()
    acme = Enterprise.create(bce=ACME, name="Acme Demo SA")
    yield acme
    database.close()


def test_postgres_notification_reaches_the_tracker(pg_firms, pg_tracker):
    assert pg_tracker.epoch(ACME) == 0
    assert ACME in pg_tracker._view
    with db.transaction():
        epochs.bump([pg_firms.id])
        # Not delivered before commit: other processes must not see uncommitted changes.
        time.sleep(0.2)
        assert ACME in pg_tracker._view
    assert wait_for(lambda: ACME not in pg_tracker._view, 2)
    assert pg_tracker.epoch(ACME) == 1


def test_postgres_rolled_back_change_is_not_announced(pg_firms, pg_tracker):
    assert pg_tracker.epoch(ACME) == 0
    with pytest.raises(RuntimeError), db.transaction():
        epochs.bump([pg_firms.id])
        raise RuntimeError("the change fails")
    time.sleep(0.3)
    assert ACME in pg_tracker._view


def test_postgres_lost_connection_is_unhealthy_until_reconnected(
    postgres_url, pg_firms, pg_tracker
):
    assert pg_tracker.epoch(ACME) == 0
    killed = pg_tracker.backend_pid
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (killed,))
    assert wait_for(lambda: not pg_tracker.healthy, 2)
    # A change made while nobody listens must not be missed after the reconnection.
    with db.transaction():
        epochs.bump([pg_firms.id])
    assert wait_for(lambda: pg_tracker.healthy, 5)
    assert pg_tracker.backend_pid != killed
    assert pg_tracker.reconnections >= 1
    assert pg_tracker.epoch(ACME) == 1
    admin.close()


def test_postgres_silent_listener_turns_unhealthy(pg_firms, pg_tracker):
    """A server that stops answering raises nothing: the missing heartbeat is the signal."""
    backend = pg_tracker.backend_pid
    os.kill(backend, signal.SIGSTOP)  # the listener's server process freezes, socket open
    try:
        started = time.monotonic()
        assert wait_for(lambda: not pg_tracker.healthy, pg_tracker.max_delay + 1)
        assert time.monotonic() - started <= pg_tracker.max_delay + 0.5
    finally:
        os.kill(backend, signal.SIGCONT)
    assert wait_for(lambda: pg_tracker.healthy, 5)


def test_postgres_revocation_reaches_the_tracker_at_commit_only(pg_firms, pg_tracker):
    """Another process's tracker (this one is left out of this process's own trackers, so
    only the notification can move it)."""
    epochs._trackers.discard(pg_tracker)
    assert pg_tracker.epoch(ACME) == 0
    before = pg_tracker.revocations
    with db.transaction():
        epochs.revoked()
        time.sleep(0.2)
        assert pg_tracker.revocations == before  # not before the commit
    assert wait_for(lambda: pg_tracker.revocations > before, 2)
    moved = pg_tracker.revocations
    with pytest.raises(RuntimeError), db.transaction():
        epochs.revoked()
        raise RuntimeError("the revocation fails")
    time.sleep(0.3)
    assert pg_tracker.revocations == moved
    assert ACME in pg_tracker._view  # a revocation leaves the epochs' view alone
