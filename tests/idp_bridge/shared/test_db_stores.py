"""The database request and seen-identifier stores: single use across connections, time to
live, replay check, purge. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from authz import db
from authz.models import Person, utcnow
from idp_bridge.models import LoginSession, PendingLogin, SeenAssertion
from idp_bridge.shared import db_stores
from idp_bridge.shared.db_stores import DatabaseRequestStore, DatabaseSeenStore, purge_expired


class Clock:
    def __init__(self, now: float | None = None):
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_background_purge(monkeypatch):
    """The stores' own purge would hide what a test looks at: it is off unless a test says."""
    schedule = db_stores.PurgeSchedule(clock=lambda: 0.0)
    assert schedule.due()  # the one purge of this interval, which never ends
    monkeypatch.setattr(db_stores, "_schedule", schedule)


# Request store


def test_a_request_is_taken_back_exactly_once(database):
    store = DatabaseRequestStore("saml")
    store.put("id-1", {"return_to": "/x", "nonce": "n"}, ttl=60)
    assert store.pop("id-1") == {"return_to": "/x", "nonce": "n"}
    assert store.pop("id-1") is None
    assert store.pop("id-unknown") is None
    assert PendingLogin.select().count() == 0


def test_a_request_can_be_read_without_taking_it(database):
    clock = Clock()
    store = DatabaseRequestStore("saml", clock=clock)
    store.put("id-1", {"v": "1"}, ttl=60)
    assert store.peek("id-1") == {"v": "1"} and store.peek("id-1") == {"v": "1"}
    assert DatabaseRequestStore("itsme").peek("id-1") is None
    assert store.pop("id-1") == {"v": "1"}
    assert store.peek("id-1") is None
    store.put("id-2", {}, ttl=60)
    clock.now += 60
    assert store.peek("id-2") is None


def test_a_second_put_replaces_the_request(database):
    clock = Clock()
    store = DatabaseRequestStore("saml", clock=clock)
    store.put("id-1", {"v": "1"}, ttl=10)
    store.put("id-1", {"v": "2"}, ttl=600)
    assert PendingLogin.select().count() == 1
    clock.now += 60  # past the first time to live, within the second
    assert store.pop("id-1") == {"v": "2"}


def test_a_request_past_its_time_to_live_is_gone_and_removed(database):
    clock = Clock()
    store = DatabaseRequestStore("saml", clock=clock)
    store.put("id-1", {}, ttl=60)
    clock.now += 59
    store.put("id-2", {"v": "2"}, ttl=60)
    clock.now += 1
    assert store.pop("id-1") is None
    assert PendingLogin.select(PendingLogin.key).tuples()[:] == [("id-2",)]
    assert store.pop("id-2") == {"v": "2"}


def test_a_request_of_another_kind_is_neither_returned_nor_taken(database):
    DatabaseRequestStore("saml").put("id-1", {"v": "1"}, ttl=60)
    assert DatabaseRequestStore("itsme").pop("id-1") is None
    assert DatabaseRequestStore("saml").pop("id-1") == {"v": "1"}


def test_a_long_request_key_is_stored_by_its_hash(database):
    store = DatabaseRequestStore("saml")
    key = "k" * 500
    store.put(key, {"v": "1"}, ttl=60)
    assert len(PendingLogin.get().key) == 64
    assert store.pop(key + "x") is None
    assert store.pop(key) == {"v": "1"}


def test_labels_must_fit_their_columns():
    with pytest.raises(ValueError, match="kind"):
        DatabaseRequestStore("")
    with pytest.raises(ValueError, match="upstream"):
        DatabaseSeenStore("u" * 33)


def test_concurrent_pops_give_the_request_to_one_caller_only(database):
    """Each thread has its own connection (pooled database): the race is the database's."""
    store = DatabaseRequestStore("saml")
    store.put("id-1", {"v": "1"}, ttl=60)
    results, errors, barrier = [], [], threading.Barrier(8)

    def take():
        try:
            barrier.wait()
            results.append(store.pop("id-1"))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8
    assert [r for r in results if r is not None] == [{"v": "1"}]


# Seen store


def test_an_identifier_is_new_once_until_it_expires(database):
    clock = Clock()
    store = DatabaseSeenStore("eid", clock=clock)
    assert store.add("assertion-1", clock.now + 300) is True
    assert store.add("assertion-1", clock.now + 300) is False
    clock.now += 299
    assert store.add("assertion-1", clock.now + 300) is False
    clock.now += 1
    # Expired but not purged yet: the row is taken over, for the new expiry.
    assert SeenAssertion.select().count() == 1
    assert store.add("assertion-1", clock.now + 300) is True
    assert store.add("assertion-1", clock.now + 300) is False
    assert SeenAssertion.select().count() == 1


def test_identifiers_are_per_upstream(database):
    expires_at = time.time() + 300
    assert DatabaseSeenStore("eid").add("id-1", expires_at) is True
    assert DatabaseSeenStore("itsme").add("id-1", expires_at) is True
    assert DatabaseSeenStore("itsme").add("id-1", expires_at) is False


def test_a_long_identifier_is_stored_by_its_hash(database):
    store = DatabaseSeenStore("itsme")
    expires_at = time.time() + 300
    key = "j" * 5000
    assert store.add(key, expires_at) is True
    assert store.add(key, expires_at) is False
    assert store.add(key + "x", expires_at) is True
    assert store.add("j" * 256, expires_at) is True  # fits: stored as is
    assert sorted(len(r.assertion_id) for r in SeenAssertion.select()) == [64, 64, 256]


def test_a_replay_inside_a_transaction_leaves_the_transaction_usable(database):
    """On PostgreSQL an error inside a transaction aborts it; a replay must not."""
    store = DatabaseSeenStore("eid")
    expires_at = time.time() + 300
    with db.transaction():
        assert store.add("id-1", expires_at) is True
        assert store.add("id-1", expires_at) is False
        Person.create(nrn="85073003328")
    assert Person.select().count() == 1
    assert SeenAssertion.select().count() == 1


def test_an_identifier_recorded_in_a_rolled_back_transaction_is_forgotten(database):
    store = DatabaseSeenStore("eid")
    expires_at = time.time() + 300
    with db.transaction() as transaction:
        assert store.add("id-1", expires_at) is True
        transaction.rollback()
    assert store.add("id-1", expires_at) is True


# Purge


def _session(person: Person, **times) -> LoginSession:
    now = utcnow()
    values = {"expires_at": now + timedelta(hours=8), **times}
    return LoginSession.create(
        id_hash=f"{LoginSession.select().count():064d}",
        person=person,
        upstream="eid",
        acr="high",
        **values,
    )


def test_purge_removes_what_expired_and_counts_it(database):
    now = utcnow()
    for key, delta in (("old-1", -1), ("old-2", -60), ("live", 60)):
        PendingLogin.create(key=key, kind="saml", expires_at=now + timedelta(seconds=delta))
    for key, delta in (("old", 0), ("live", 1)):
        SeenAssertion.create(upstream="eid", assertion_id=key, expires_at=now + timedelta(delta))
    person = Person.create(nrn="85073003328")
    two_days_ago, an_hour_ago = now - timedelta(days=2), now - timedelta(hours=1)
    _session(person, ended_at=two_days_ago)
    _session(person, created_at=two_days_ago, expires_at=two_days_ago + timedelta(hours=8))
    kept = [
        _session(person, ended_at=an_hour_ago).id,  # ended recently: kept a day
        _session(person, expires_at=an_hour_ago).id,  # expired recently: kept a day
        _session(person).id,  # live
    ]

    assert purge_expired(now) == {"pending_login": 2, "seen_assertion": 1, "login_session": 2}
    assert [p.key for p in PendingLogin.select()] == ["live"]
    assert [s.assertion_id for s in SeenAssertion.select()] == ["live"]
    assert sorted(s.id for s in LoginSession.select()) == sorted(kept)
    assert purge_expired(now) == {"pending_login": 0, "seen_assertion": 0, "login_session": 0}


def test_the_stores_purge_at_most_once_a_minute(database, monkeypatch):
    monotonic = Clock(0.0)
    monkeypatch.setattr(db_stores, "_schedule", db_stores.PurgeSchedule(clock=monotonic))
    clock = Clock(time.time() + 60)  # every row made below has expired by this clock
    requests = DatabaseRequestStore("saml", clock=clock)
    seen = DatabaseSeenStore("eid", clock=clock)

    def expired_rows() -> int:
        PendingLogin.create(key=f"old-{time.monotonic_ns()}", kind="saml", expires_at=utcnow())
        return PendingLogin.select().where(PendingLogin.key.startswith("old-")).count()

    assert expired_rows() == 1
    requests.put("live-1", {}, ttl=60)  # first of the minute: purges
    assert expired_rows() == 1
    monotonic.now += 59
    seen.add("a", clock.now + 60)  # same minute: does not
    assert expired_rows() == 2
    monotonic.now += 1
    seen.add("b", clock.now + 60)  # next minute: purges
    assert expired_rows() == 1
    assert PendingLogin.select().where(PendingLogin.key == "live-1").exists()
