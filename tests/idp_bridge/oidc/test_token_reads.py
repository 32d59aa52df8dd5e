"""The records introspection and userinfo read, and what each process keeps of them
(idp_bridge.oidc.token_reads): bounded, dropped when a removal is announced, never used while
the epoch tracker is unhealthy, never kept when read across a removal, expiry checked at use;
the write-once collections refuse changes in place (idp_bridge.oidc.storage)."""

from __future__ import annotations

import pytest

from authz import db
from authz.epochs import PostgresEpochTracker
from idp_bridge.oidc import storage as storage_module
from idp_bridge.oidc.storage import DatabaseStorage, StaleRecordError
from idp_bridge.oidc.token_reads import RecordCache, read_record, read_token


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tracker(started_tracker):
    return started_tracker


@pytest.fixture
def tokens(database):
    return DatabaseStorage("access_tokens", ttl=3600, write_once=True)


def select_count(sql_log) -> int:
    return sum(1 for sql, _ in sql_log.statements if "FROM" in sql and "oidc_state" in sql)


def test_a_record_read_again_is_answered_without_sql(tracker, tokens, sql_log):
    tokens["t1"] = {"sub": "s1"}
    cache = RecordCache(lambda: tracker)
    assert read_record("t1", tokens, cache) == {"sub": "s1"}
    sql_log.clear()
    for _ in range(3):
        assert read_record("t1", tokens, cache) == {"sub": "s1"}
    assert select_count(sql_log) == 0 and cache.hits == 3


def test_what_is_kept_is_bounded(tracker, tokens):
    cache = RecordCache(lambda: tracker, maxsize=3)
    for n in range(5):
        tokens[f"t{n}"] = {"n": n}
    for n in range(5):
        assert read_record(f"t{n}", tokens, cache) == {"n": n}
    assert len(cache) == cache.maxsize == 3
    assert read_record("t0", tokens, cache) == {"n": 0}  # dropped first, read again
    assert cache.hits == 0


def test_an_absence_is_never_kept(tracker, tokens):
    cache = RecordCache(lambda: tracker)
    assert read_record("later", tokens, cache) is None
    tokens["later"] = {"n": 1}
    assert read_record("later", tokens, cache) == {"n": 1}


def test_a_removal_in_this_process_drops_what_is_kept(tracker, tokens):
    cache = RecordCache(lambda: tracker)
    tokens["t1"], tokens["t2"] = {"n": 1}, {"n": 2}
    assert read_record("t1", tokens, cache) and read_record("t2", tokens, cache)
    assert tokens.pop("t1") == {"n": 1}
    assert read_record("t1", tokens, cache) is None  # denied: at once
    assert read_record("t2", tokens, cache) == {"n": 2}  # allowed: the other one


def test_a_removal_rolled_back_drops_nothing(tracker, tokens):
    cache = RecordCache(lambda: tracker)
    tokens["t1"] = {"n": 1}
    assert read_record("t1", tokens, cache) == {"n": 1}
    count = tracker.revocations
    with pytest.raises(RuntimeError), db.transaction():
        tokens.pop("t1")
        raise RuntimeError("the logout fails")
    assert tracker.revocations == count
    assert read_record("t1", tokens, cache) == {"n": 1}


def test_rows_read_while_a_removal_commits_are_not_kept(tracker, tokens):
    tokens["t1"] = {"n": 1}
    cache = RecordCache(lambda: tracker)

    def read_then_removed():
        rows = (("access_tokens", '{"n":1}', None),)
        DatabaseStorage("access_tokens", write_once=True).pop("t1")  # another request
        return rows

    assert cache.read((("access_tokens",), "t1"), read_then_removed)
    assert len(cache) == 0
    assert read_record("t1", tokens, cache) is None


def test_an_unhealthy_tracker_means_nothing_is_kept_nor_used(postgres_url, database, sql_log):
    if not db.is_postgresql():
        pytest.skip("the SQLite tracker has no listener to lose")
    tracker = PostgresEpochTracker(postgres_url, heartbeat=0.5, retry_delay=0.1)
    tracker.start()
    assert tracker.wait_until_healthy(5)
    tokens = DatabaseStorage("access_tokens", write_once=True)
    tokens["t1"] = {"n": 1}
    cache = RecordCache(lambda: tracker)
    assert read_record("t1", tokens, cache) == {"n": 1}
    assert len(cache) == 1  # healthy: kept
    tracker.stop()  # the listener is down
    assert not tracker.healthy
    sql_log.clear()
    assert read_record("t1", tokens, cache) == {"n": 1}
    assert read_record("t1", tokens, cache) == {"n": 1}
    assert select_count(sql_log) == 2 and cache.hits == 0  # read from the database each time
    tokens.pop("t1")
    assert read_record("t1", tokens, cache) is None


def test_without_a_tracker_nothing_is_kept(database, tokens, sql_log):
    cache = RecordCache(lambda: None)
    tokens["t1"] = {"n": 1}
    sql_log.clear()
    for _ in range(2):
        assert read_record("t1", tokens, cache) == {"n": 1}
    assert select_count(sql_log) == 2 and len(cache) == 0


def test_expiry_is_checked_against_the_clock_at_use(tracker):
    clock = Clock()
    tokens = DatabaseStorage("access_tokens", ttl=60, clock=clock, write_once=True)
    tokens["t1"] = {"n": 1}
    cache = RecordCache(lambda: tracker)
    assert read_record("t1", tokens, cache) == {"n": 1}
    clock.now += 59
    assert read_record("t1", tokens, cache) == {"n": 1} and cache.hits == 1
    clock.now += 2
    assert read_record("t1", tokens, cache) is None


def test_only_write_once_collections_are_kept(tracker):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"used": False}
    cache = RecordCache(lambda: tracker)
    assert read_record("c1", codes, cache) == {"used": False}
    assert len(cache) == 0


def test_introspections_read_of_both_kinds_is_kept_as_one_entry(tracker, tokens):
    clients = DatabaseStorage("client_tokens", ttl=3600, write_once=True)
    clients["c"] = {"client_id": "batch"}
    cache = RecordCache(lambda: tracker)
    for _ in range(2):
        assert read_token("c", (clients, tokens), cache) == {
            "client_tokens": {"client_id": "batch"}
        }
    assert len(cache) == 1 and cache.hits == 1


# -- write-once collections --------------------------------------------------------------------


def test_a_live_write_once_record_is_never_changed_in_place(database, tokens):
    tokens["t1"] = {"n": 1}
    with pytest.raises(StaleRecordError):
        tokens["t1"] = {"n": 2}
    record = tokens["t1"]
    with pytest.raises(StaleRecordError):
        record["n"] = 2
    with pytest.raises(StaleRecordError):
        tokens.compare_and_set("t1", record, {"n": 3})
    with pytest.raises(StaleRecordError), storage_module.written_together():
        storage_module.store_all([(tokens, "t1", {"n": 4}), (tokens, "t2", {"n": 5})])
    assert tokens["t1"] == {"n": 1} and "t2" not in tokens
    # Allowed: new keys, and a key again once its record has gone.
    storage_module.store_all([(tokens, "t2", {"n": 5})])
    del tokens["t1"]
    tokens["t1"] = {"n": 6}
    assert tokens["t1"] == {"n": 6} and tokens["t2"] == {"n": 5}


def test_an_expired_write_once_record_may_be_replaced(database):
    clock = Clock()
    tokens = DatabaseStorage("access_tokens", ttl=10, clock=clock, write_once=True)
    tokens["t1"] = {"n": 1}
    clock.now += 11
    tokens["t1"] = {"n": 2}
    assert tokens["t1"] == {"n": 2}
    clock.now += 11
    storage_module.store_all([(tokens, "t1", {"n": 3})])
    assert tokens["t1"] == {"n": 3}


def test_other_collections_still_change_in_place(database):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"n": 1}
    codes["c1"] = {"n": 2}
    storage_module.store_all([(codes, "c1", {"n": 3})])
    assert codes["c1"] == {"n": 3}
