"""pyop's storage in the database: the mapping, time to live, long keys, write-back of records
edited in place, compare-and-swap, single-use codes, and pyop's own AuthorizationState run
across "nodes" (new storage instances on the same database). Every test runs on SQLite and on
PostgreSQL."""

from __future__ import annotations

import copy
import threading
import time

import pytest
from pyop.authz_state import AuthorizationState
from pyop.exceptions import InvalidAuthorizationCode, InvalidRefreshToken
from pyop.message import AuthorizationRequest
from pyop.subject_identifier import HashBasedSubjectIdentifierFactory

from idp_bridge.oidc import storage as storage_module
from idp_bridge.oidc.models import ProviderState
from idp_bridge.oidc.storage import DatabaseStorage, StaleRecordError, StoredRecord


class Clock:
    def __init__(self, now: float | None = None):
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_background_purge(monkeypatch):
    """The storage's own purge would hide what a test looks at: it is off unless a test says."""
    schedule = storage_module.PurgeSchedule(clock=lambda: 0.0)
    assert schedule.due()  # the one purge of this interval, which never ends
    monkeypatch.setattr(storage_module, "_schedule", schedule)


def run_together(*calls):
    """Run each call in its own thread (own pooled connection); return results and errors."""
    results, errors = [None] * len(calls), [None] * len(calls)

    def run(index, call):
        try:
            results[index] = call()
        except Exception as exc:
            errors[index] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


# The mapping


def test_the_storage_is_a_mapping_of_json_records(database):
    codes = DatabaseStorage("codes")
    assert "c1" not in codes
    with pytest.raises(KeyError):
        codes["c1"]
    codes["c1"] = {"used": False, "sub": "s"}
    assert "c1" in codes
    assert codes["c1"] == {"used": False, "sub": "s"}
    assert codes.get("c1") == {"used": False, "sub": "s"}
    assert codes.get("c2") is None
    assert codes.get("c2", {}) == {}
    codes["c1"] = {"used": True}
    assert codes["c1"] == {"used": True}
    assert ProviderState.select().count() == 1
    del codes["c1"]
    assert "c1" not in codes
    with pytest.raises(KeyError):
        del codes["c1"]


def test_pop_returns_the_value_once_then_the_default(database):
    tokens = DatabaseStorage("access_tokens")
    tokens["t1"] = {"sub": "s"}
    assert tokens.pop("t1") == {"sub": "s"}
    assert tokens.pop("t1") is None
    assert tokens.pop("t1", "gone") == "gone"
    assert ProviderState.select().count() == 0


def test_items_lists_live_records_of_its_collection_across_pages(database, monkeypatch):
    monkeypatch.setattr(storage_module, "ITEMS_PAGE", 3)
    clock = Clock()
    subjects = DatabaseStorage("subject_identifiers", clock=clock)
    for n in range(7):
        subjects[f"user-{n}"] = {"public": f"sub-{n}"}
    DatabaseStorage("codes")["user-0"] = {"other": "collection"}
    DatabaseStorage("subject_identifiers", ttl=10, clock=clock)["user-9"] = {"public": "x"}
    clock.now += 10
    assert list(subjects.items()) == [(f"user-{n}", {"public": f"sub-{n}"}) for n in range(7)]


def test_collections_are_separate(database):
    DatabaseStorage("codes")["k"] = {"v": 1}
    DatabaseStorage("access_tokens")["k"] = {"v": 2}
    assert DatabaseStorage("codes")["k"] == {"v": 1}
    del DatabaseStorage("codes")["k"]
    assert DatabaseStorage("access_tokens")["k"] == {"v": 2}


def test_values_come_back_as_they_went_in_through_json(database):
    value = {
        "used": False,
        "exp": 1_900_000_000,
        "scope": "openid profile",
        "aud": ["client-1"],
        "nested": {"claims": {"given_name": "Émilie", "nrn": None}, "ok": True},
        "ratio": 0.5,
    }
    storage = DatabaseStorage("codes")
    storage["c1"] = value
    assert DatabaseStorage("codes")["c1"] == value
    storage["c2"] = {"tuple": (1, 2)}
    assert storage["c2"] == {"tuple": [1, 2]}


def test_bad_keys_and_values_are_refused_and_nothing_is_written(database):
    storage = DatabaseStorage("codes")
    with pytest.raises(TypeError, match="mappings"):
        storage["c1"] = ["not", "a", "dict"]
    with pytest.raises(TypeError, match="strings"):
        storage[1] = {}
    with pytest.raises(TypeError):
        storage["c1"] = {"when": object()}
    with pytest.raises(ValueError):
        storage["c1"] = {"nan": float("nan")}
    assert 1 not in storage
    assert ProviderState.select().count() == 0


def test_collection_and_ttl_are_checked():
    with pytest.raises(ValueError, match="collection"):
        DatabaseStorage("")
    with pytest.raises(ValueError, match="collection"):
        DatabaseStorage("c" * 33)
    for ttl in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="ttl"):
            DatabaseStorage("codes", ttl=ttl)
    assert DatabaseStorage("codes", ttl=600).ttl == 600


def test_a_long_key_is_stored_by_its_hash(database):
    storage = DatabaseStorage("subject_identifiers")
    key = "k" * 300
    storage[key] = {"public": "s"}
    assert len(ProviderState.get().key) == 64
    assert storage[key] == {"public": "s"}
    assert key in storage
    assert key + "x" not in storage
    storage[key]["public"] = "t"
    assert storage[key] == {"public": "t"}
    assert storage.pop(key) == {"public": "t"}
    fits = "f" * 256
    storage[fits] = {}
    assert ProviderState.get().key == fits


# Time to live


def test_a_record_past_its_ttl_is_invisible(database):
    clock = Clock()
    codes = DatabaseStorage("codes", ttl=600, clock=clock)
    codes["c1"] = {"used": False}
    clock.now += 599
    assert codes["c1"] == {"used": False}
    clock.now += 1
    assert "c1" not in codes
    assert codes.get("c1") is None
    with pytest.raises(KeyError):
        codes["c1"]
    with pytest.raises(KeyError):
        del codes["c1"]
    assert list(codes.items()) == []
    assert codes.pop("c1", "expired") == "expired"
    assert codes.consume_code("c1") is None


def test_setting_a_key_again_restarts_its_time_but_editing_it_does_not(database):
    clock = Clock()
    tokens = DatabaseStorage("refresh_tokens", ttl=100, clock=clock)
    tokens["r1"] = {"access_token": "a1"}
    clock.now += 50
    tokens["r1"] = {"access_token": "a2"}  # a new value: lives 100 s from now
    clock.now += 90
    tokens["r1"]["access_token"] = "a3"  # an edit: keeps its expiry
    clock.now += 10
    assert "r1" not in tokens


def test_without_ttl_a_record_never_expires(database):
    clock = Clock()
    subjects = DatabaseStorage("subject_identifiers", clock=clock)
    subjects["u1"] = {"public": "s"}
    assert ProviderState.get().expires_at is None
    clock.now += 10 * 365 * 86400
    assert subjects["u1"] == {"public": "s"}


def test_expired_rows_are_purged_in_bounded_batches_at_most_once_an_interval(database, monkeypatch):
    clock, ticks = Clock(), Clock(0.0)
    monkeypatch.setattr(storage_module, "_schedule", storage_module.PurgeSchedule(clock=ticks))
    monkeypatch.setattr(storage_module, "PURGE_BATCH", 2)
    codes = DatabaseStorage("codes", ttl=60, clock=clock)
    subjects = DatabaseStorage("subject_identifiers", clock=clock)
    codes["c0"] = {}  # this first write's purge found nothing
    for n in range(1, 4):
        codes[f"c{n}"] = {}
    subjects["u1"] = {}
    clock.now += 60
    codes["c4"] = {}  # within the interval: no purge
    assert ProviderState.select().count() == 6
    ticks.now += 60
    codes["c5"] = {}  # purges two of the four expired
    assert ProviderState.select().count() == 5
    ticks.now += 60
    codes["c6"] = {}
    ticks.now += 60
    codes["c7"] = {}
    rows = sorted(ProviderState.select(ProviderState.key).tuples())
    assert rows == [("c4",), ("c5",), ("c6",), ("c7",), ("u1",)]
    assert storage_module.purge_expired(storage_module._as_datetime(clock.now + 1e6)) == 2


# Write-back of records edited in place


def test_an_edit_of_a_record_reaches_the_database(database):
    """pyop's use_refresh_token: ``self.refresh_tokens[token]['access_token'] = new``."""
    DatabaseStorage("refresh_tokens")["r1"] = {"access_token": "a1", "exp": 1}
    DatabaseStorage("refresh_tokens")["r1"]["access_token"] = "a2"
    assert DatabaseStorage("refresh_tokens")["r1"] == {"access_token": "a2", "exp": 1}


def test_every_kind_of_edit_is_written_back(database):
    storage = DatabaseStorage("subject_identifiers")
    storage["u1"] = {"public": "p"}

    def fresh():
        return DatabaseStorage("subject_identifiers")["u1"]

    record = storage["u1"]
    assert isinstance(record, StoredRecord)
    record["pairwise"] = ["a"]
    assert fresh() == {"public": "p", "pairwise": ["a"]}
    record.update(extra=1)
    assert fresh() == {"public": "p", "pairwise": ["a"], "extra": 1}
    record |= {"more": 2}
    assert fresh()["more"] == 2
    assert record.setdefault("more", 3) == 2
    assert record.setdefault("other", 4) == 4
    assert fresh()["other"] == 4
    del record["extra"]
    assert record.pop("more") == 2
    assert record.pop("absent", None) is None
    assert fresh() == {"public": "p", "pairwise": ["a"], "other": 4}
    record.popitem()
    assert fresh() == {"public": "p", "pairwise": ["a"]}
    record.clear()
    assert fresh() == {}


def test_copies_of_a_record_are_plain_dicts_that_write_nothing(database):
    storage = DatabaseStorage("codes")
    storage["c1"] = {"used": False, "auth_req": {"scope": "openid"}}
    record = storage["c1"]
    for detached in (copy.copy(record), copy.deepcopy(record)):
        assert type(detached) is dict
        assert detached == record
        detached["used"] = True
    assert storage["c1"]["used"] is False


def test_of_two_edits_from_the_same_read_the_second_is_refused_and_undone(database):
    """The lost update pyop's read-check-write would make: two nodes redeem one code."""
    DatabaseStorage("codes")["c1"] = {"used": False, "sub": "s"}
    on_node_1 = DatabaseStorage("codes")["c1"]
    on_node_2 = DatabaseStorage("codes")["c1"]
    on_node_1["used"] = True
    with pytest.raises(StaleRecordError):
        on_node_2["used"] = True
    assert on_node_2 == {"used": False, "sub": "s"}
    with pytest.raises(StaleRecordError):
        DatabaseStorage("codes")["c1"] = on_node_2  # assigning it back is checked too
    on_node_1["sub"] = "t"  # the winner goes on editing
    assert DatabaseStorage("codes")["c1"] == {"used": True, "sub": "t"}


def test_an_edit_of_a_record_deleted_or_expired_since_it_was_read_is_refused(database):
    clock = Clock()
    storage = DatabaseStorage("refresh_tokens", ttl=60, clock=clock)
    storage["r1"] = {"access_token": "a1"}
    storage["r2"] = {"access_token": "a1"}
    deleted, expired = storage["r1"], storage["r2"]
    del storage["r1"]
    with pytest.raises(StaleRecordError):
        deleted["access_token"] = "a2"
    assert "r1" not in storage
    clock.now += 60
    with pytest.raises(StaleRecordError):
        expired["access_token"] = "a2"


def test_assigning_a_record_to_another_key_copies_it(database):
    storage = DatabaseStorage("codes", ttl=60)
    storage["c1"] = {"used": False}
    storage["c2"] = storage["c1"]
    storage["c2"]["used"] = True
    assert storage["c1"] == {"used": False}
    DatabaseStorage("other")["c1"] = storage["c1"]
    assert DatabaseStorage("other")["c1"] == {"used": False}


# Single-use codes


def test_a_code_is_consumed_exactly_once(database):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"used": False, "sub": "s", "exp": int(time.time()) + 600}
    record = codes.consume_code("c1")
    assert record == {"used": True, "sub": "s", "exp": record["exp"]}
    assert type(record) is dict
    assert DatabaseStorage("codes")["c1"]["used"] is True
    assert codes.consume_code("c1") is None
    assert codes.consume_code("unknown") is None


def test_an_expired_code_or_a_record_that_is_no_code_is_not_consumed(database):
    clock = Clock()
    codes = DatabaseStorage("codes", clock=clock)
    codes["past-exp"] = {"used": False, "exp": int(clock.now) - 1}
    codes["at-exp"] = {"used": False, "exp": int(clock.now)}
    codes["no-flag"] = {"sub": "s"}
    assert codes.consume_code("past-exp") is None
    assert codes["past-exp"]["used"] is False
    assert codes.consume_code("no-flag") is None
    assert codes.consume_code("at-exp")["used"] is True


def test_a_code_edited_meanwhile_but_still_unused_is_consumed(database, monkeypatch):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"used": False, "n": 0}
    swap, edits = DatabaseStorage._swap, []

    def edited_just_before(self, key, old, new):
        if not edits:
            edits.append(key)
            codes["c1"]["n"] = 1  # another node's edit between the read and the update
        return swap(self, key, old, new)

    monkeypatch.setattr(DatabaseStorage, "_swap", edited_just_before)
    assert codes.consume_code("c1") == {"used": True, "n": 1}


def test_of_racing_redemptions_of_a_code_exactly_one_wins(database):
    DatabaseStorage("codes")["c1"] = {"used": False, "sub": "s"}
    barrier = threading.Barrier(8)

    def redeem():
        barrier.wait()
        return DatabaseStorage("codes").consume_code("c1")

    results, errors = run_together(*[redeem] * 8)
    assert errors == [None] * 8
    assert [r for r in results if r is not None] == [{"used": True, "sub": "s"}]


# Atomic insert and compare-and-set


def test_add_sets_a_key_only_when_it_has_no_live_value(database):
    clock = Clock()
    users = DatabaseStorage("subject_users", ttl=60, clock=clock)
    assert users.add("s1", {"user_id": "u1"}) is True
    assert users.add("s1", {"user_id": "u2"}) is False
    assert users["s1"] == {"user_id": "u1"}
    clock.now += 60  # expired, not yet purged: the key is free again, with a new time to live
    assert users.add("s1", {"user_id": "u3"}) is True
    clock.now += 59
    assert users["s1"] == {"user_id": "u3"}
    assert ProviderState.select().count() == 1
    with pytest.raises(TypeError, match="mappings"):
        users.add("s2", ["not", "a", "dict"])


def test_of_racing_adds_of_a_key_exactly_one_wins(database):
    barrier = threading.Barrier(8)

    def add(n):
        barrier.wait()
        return DatabaseStorage("subject_users").add("s1", {"user_id": f"u{n}"})

    results, errors = run_together(*[lambda n=n: add(n) for n in range(8)])
    assert errors == [None] * 8
    assert results.count(True) == 1
    winner = results.index(True)
    assert DatabaseStorage("subject_users")["s1"] == {"user_id": f"u{winner}"}


def test_compare_and_set_replaces_the_record_read_and_restarts_its_time(database):
    clock = Clock()
    families = DatabaseStorage("families", ttl=100, clock=clock)
    families["f1"] = {"tokens": ["a1"]}
    clock.now += 90
    read = families["f1"]
    written = families.compare_and_set("f1", read, {"tokens": ["a1", "a2"]})
    assert isinstance(written, StoredRecord)
    assert written == {"tokens": ["a1", "a2"]}
    clock.now += 99  # lives 100 s from the compare-and-set
    assert families["f1"] == {"tokens": ["a1", "a2"]}
    written["tokens"] = ["a3"]  # the returned record writes back like any other
    assert DatabaseStorage("families", clock=clock)["f1"] == {"tokens": ["a3"]}


def test_compare_and_set_refuses_a_record_changed_or_gone_since_read(database):
    families = DatabaseStorage("families")
    families["f1"] = {"n": 0}
    on_node_1, on_node_2 = families["f1"], DatabaseStorage("families")["f1"]
    families.compare_and_set("f1", on_node_1, {"n": 1})
    with pytest.raises(StaleRecordError):
        families.compare_and_set("f1", on_node_2, {"n": 2})
    assert families["f1"] == {"n": 1}
    read = families["f1"]
    del families["f1"]
    with pytest.raises(StaleRecordError):
        families.compare_and_set("f1", read, {"n": 3})
    assert "f1" not in families
    families["f2"] = {"n": 0}
    with pytest.raises(ValueError, match="expected"):
        families.compare_and_set("f2", {"n": 0}, {"n": 1})  # not a record read
    with pytest.raises(ValueError, match="expected"):
        families.compare_and_set("f1", families["f2"], {"n": 1})


def test_swap_then_store_swaps_in_order_and_stores_only_when_every_swap_was_made(database):
    """PostgreSQL's one-statement grant: the swaps in order, each only after the one before
    it, the values only after all of them; a swap whose row changed since it was read stops
    the rest (the ones before it stay made)."""
    from authz import db

    clock = Clock()
    families = DatabaseStorage("families", ttl=100, clock=clock)
    codes = DatabaseStorage("codes", ttl=100, clock=clock)
    tokens = DatabaseStorage("tokens", ttl=50, clock=clock, write_once=True)
    families["f"], codes["c"] = {"n": 0}, {"used": False}
    if not db.is_postgresql():
        with pytest.raises(ValueError, match="PostgreSQL"):
            storage_module.swap_then_store([(codes, "c", codes["c"], {"used": True}, False)], [])
        return

    def grant(family, code, token: str) -> bool:
        return storage_module.swap_then_store(
            [
                (families, "f", family, {"n": family["n"] + 1}, True),
                (codes, "c", code, {"used": True}, False),
            ],
            [(tokens, token, {"t": token})],
        )

    clock.now += 90
    assert grant(families["f"], codes["c"], "t1")
    assert (families["f"], codes["c"], tokens["t1"]) == ({"n": 1}, {"used": True}, {"t": "t1"})
    clock.now += 99  # the family's time restarted with its swap; the code's did not
    assert families["f"] == {"n": 1} and "c" not in codes

    # The first swap's row changed since read: nothing is written.
    codes["c"], stale_family = {"used": False}, families["f"]
    families["f"] = {"n": 5}
    assert not grant(stale_family, codes["c"], "t2")
    assert (families["f"], codes["c"], "t2" in tokens) == ({"n": 5}, {"used": False}, False)

    # The second's changed: the first stays made, nothing after it.
    stale_code = codes["c"]
    codes["c"] = {"used": False, "edited": True}
    assert not grant(families["f"], stale_code, "t3")
    assert (families["f"], codes["c"], "t3" in tokens) == (
        {"n": 6},
        {"used": False, "edited": True},
        False,
    )
    with db.transaction(), pytest.raises(ValueError, match="transaction"):
        grant(families["f"], codes["c"], "t4")


def test_read_linked_reads_a_record_and_the_one_it_names_in_one_statement(database, statements):
    """Within ``reads_remembered``: the code and its family in one statement, each then read
    without a round trip; a family that is gone is remembered as gone; outside the block,
    nothing is read."""
    codes, families = DatabaseStorage("codes"), DatabaseStorage("families")
    codes["c1"], families["f1"] = {"family": "f1", "used": False}, {"revoked": False}
    codes["c2"] = {"family": "gone"}
    codes["c3"] = {"family": "f" * 300}  # a key stored by its hash: not read this way
    families["f" * 300] = {"revoked": True}
    statements.clear()
    codes.read_linked("c1", families, "family")
    assert statements == []
    with storage_module.reads_remembered():
        codes.read_linked("c1", families, "family")
        assert len(statements) == 1
        assert codes["c1"]["family"] == "f1" and families["f1"] == {"revoked": False}
        codes.read_linked("c2", families, "family")
        codes.read_linked("c1", families, "family")  # read already
        assert "gone" not in families and codes["c2"] == {"family": "gone"}
        codes.read_linked("c3", families, "family")
        codes.read_linked("unknown", families, "family")
        assert "unknown" not in codes and len(statements) == 4
        assert families["f" * 300] == {"revoked": True}  # read by itself
        assert len(statements) == 5
    # A family past its time, a record past its time: read as gone.
    clock = Clock()
    short_codes = DatabaseStorage("codes", ttl=10, clock=clock)
    short_families = DatabaseStorage("families", ttl=10, clock=clock)
    short_codes["c4"], short_families["f4"] = {"family": "f4"}, {"revoked": False}
    short_codes["c5"] = {"family": "f1"}
    clock.now += 11
    short_codes["c6"] = {"family": "f4"}  # live, its family past its time
    with storage_module.reads_remembered():
        short_codes.read_linked("c6", short_families, "family")
        short_codes.read_linked("c4", short_families, "family")
        statements.clear()
        assert short_codes.get("c6") == {"family": "f4"} and "f4" not in short_families
        assert "c4" not in short_codes and statements == []  # remembered as gone
    with pytest.raises(ValueError, match="field"), storage_module.reads_remembered():
        codes.read_linked("c9", families, "family'; --")


def test_modify_changes_a_record_or_creates_it(database):
    clock = Clock()
    index = DatabaseStorage("subject_families", ttl=100, clock=clock)

    def add(name):
        def change(record):
            if name in record["families"]:
                return None
            record["families"].append(name)
            return record

        return change

    assert index.modify("s1", add("f1")) is None  # no record, nothing to create from
    assert "s1" not in index
    assert index.modify("s1", add("f1"), create={"families": []}) == {"families": ["f1"]}
    clock.now += 90
    assert index.modify("s1", add("f2"), create={"families": []}) == {"families": ["f1", "f2"]}
    clock.now += 99  # the change restarted its time
    assert index.modify("s1", add("f2")) == {"families": ["f1", "f2"]}  # unchanged
    assert index["s1"] == {"families": ["f1", "f2"]}


def test_modify_new_first_adds_a_new_record_in_one_statement_and_changes_one_there(
    database, statements
):
    clock = Clock()
    clients = DatabaseStorage("session_clients", ttl=100, clock=clock)

    def add(name):
        return lambda record: {"clients": [*record["clients"], name]}

    statements.clear()
    assert clients.modify("s1", add("a"), create={"clients": []}, new_first=True) == {
        "clients": ["a"]
    }
    assert [s.split()[0] for s in statements if not s.startswith("DELETE")] == ["INSERT"]
    # A record there already: read and changed, never replaced by the one created.
    assert clients.modify("s1", add("b"), create={"clients": []}, new_first=True) == {
        "clients": ["a", "b"]
    }
    assert clients["s1"] == {"clients": ["a", "b"]}
    clock.now += 101  # expired: as good as absent, the created one takes its place
    assert clients.modify("s1", add("c"), create={"clients": []}, new_first=True) == {
        "clients": ["c"]
    }
    assert clients["s1"] == {"clients": ["c"]}


def test_modify_gets_a_copy_so_a_refused_change_leaves_no_trace(database):
    index = DatabaseStorage("subject_families")
    index["s1"] = {"families": ["f1"]}

    def refuse(record):
        record["families"].append("f2")
        raise LookupError("refused")

    with pytest.raises(LookupError):
        index.modify("s1", refuse)
    assert index["s1"] == {"families": ["f1"]}


def test_of_racing_modifications_none_is_lost(database):
    barrier = threading.Barrier(8)

    def append(n):
        def change(record):
            record["families"].append(n)
            return record

        barrier.wait()
        return DatabaseStorage("subject_families").modify("s1", change, create={"families": []})

    _, errors = run_together(*[lambda n=n: append(n) for n in range(8)])
    assert errors == [None] * 8
    assert sorted(DatabaseStorage("subject_families")["s1"]["families"]) == list(range(8))


def test_modify_gives_up_when_the_record_never_stays_still(database):
    index = DatabaseStorage("subject_families")
    index["s1"] = {"n": 0}
    writes = []

    def change(record):
        writes.append(1)
        DatabaseStorage("subject_families")["s1"] = {"n": len(writes)}  # another node, always
        return {"n": -1}

    with pytest.raises(StaleRecordError, match="still changing"):
        index.modify("s1", change)
    assert len(writes) == storage_module.MODIFY_ATTEMPTS
    assert index["s1"] == {"n": storage_module.MODIFY_ATTEMPTS}


# pyop's AuthorizationState, one node after another


SALT = "test-salt"
CLIENT = "client-1"
REDIRECT_URI = "https://rp.example/callback"


def node(**lifetimes) -> AuthorizationState:
    """What one node of the provider builds: pyop's state over new storage instances."""
    return AuthorizationState(
        HashBasedSubjectIdentifierFactory(SALT),
        DatabaseStorage("authorization_codes", ttl=600),
        DatabaseStorage("access_tokens", ttl=86400),
        DatabaseStorage("refresh_tokens", ttl=86400),
        DatabaseStorage("subject_identifiers"),
        **{"refresh_token_lifetime": 86400, **lifetimes},
    )


def authorization_request() -> AuthorizationRequest:
    return AuthorizationRequest(
        response_type="code",
        client_id=CLIENT,
        redirect_uri=REDIRECT_URI,
        scope="openid profile",
        state="st",
        nonce="nonce-1",
    )


def test_pyop_flow_survives_every_step_on_another_node(database):
    sub = node().get_subject_identifier("pairwise", "user-1", "rp.example")
    code = node().create_authorization_code(authorization_request(), sub)

    state = node()
    assert state.get_authorization_request_for_code(code)["redirect_uri"] == REDIRECT_URI
    assert state.get_subject_identifier_for_code(code) == sub
    assert state.get_user_id_for_subject_identifier(sub) == "user-1"
    access_token = state.exchange_code_for_token(code)
    refresh_token = state.create_refresh_token(access_token.value)

    with pytest.raises(InvalidAuthorizationCode, match="already been used"):
        node().exchange_code_for_token(code)

    introspection = node().introspect_access_token(access_token.value)
    assert introspection["active"] is True
    assert introspection["sub"] == sub
    assert introspection["client_id"] == CLIENT
    assert introspection["scope"] == "openid profile"
    request = node().get_authorization_request_for_access_token(access_token.value)
    assert request["nonce"] == "nonce-1"

    new_access_token, new_refresh_token = node().use_refresh_token(refresh_token)
    assert new_refresh_token is None  # no rotation: the refresh token now stands for the new one
    assert new_access_token.value != access_token.value
    # pyop edits the refresh token's record in place: another node must see the edit.
    assert node().refresh_tokens[refresh_token]["access_token"] == new_access_token.value
    assert node().introspect_access_token(new_access_token.value)["sub"] == sub

    narrower, _ = node().use_refresh_token(refresh_token, scope=["openid"])
    assert node().introspect_access_token(narrower.value)["scope"] == "openid"
    assert node().refresh_tokens[refresh_token]["access_token"] == narrower.value


def test_pyop_refresh_token_rotation_works_across_nodes(database):
    sub = node().get_subject_identifier("public", "user-1")
    code = node().create_authorization_code(authorization_request(), sub)
    access_token = node().exchange_code_for_token(code)
    refresh_token = node().create_refresh_token(access_token.value)

    rotating = {"refresh_token_threshold": 86400 + 1}
    new_access_token, new_refresh_token = node(**rotating).use_refresh_token(refresh_token)
    assert new_refresh_token not in (None, refresh_token)
    assert node().refresh_tokens[new_refresh_token]["access_token"] == new_access_token.value
    third_access_token, _ = node(**rotating).use_refresh_token(new_refresh_token)
    assert node().introspect_access_token(third_access_token.value)["active"] is True
    with pytest.raises(InvalidRefreshToken):
        node().use_refresh_token("unknown")


def test_pyop_subject_identifiers_are_kept_on_every_node(database):
    first = node().get_subject_identifier("pairwise", "user-1", "rp-a.example")
    second = node().get_subject_identifier("pairwise", "user-1", "rp-b.example")
    assert first != second
    assert sorted(node().subject_identifiers["user-1"]["pairwise"]) == sorted([first, second])
    assert node().get_user_id_for_subject_identifier(first) == "user-1"
    assert node().get_user_id_for_subject_identifier(second) == "user-1"


def test_pyop_redeeming_one_code_on_two_nodes_at_once_gives_one_token(database):
    """pyop reads the code, checks ``used``, then sets it: both nodes read before either writes
    (forced here); the write-back's compare-and-swap refuses the second."""
    sub = node().get_subject_identifier("public", "user-1")
    code = node().create_authorization_code(authorization_request(), sub)
    barrier = threading.Barrier(2)

    class BothReadFirst(DatabaseStorage):
        def __getitem__(self, key):
            record = super().__getitem__(key)
            barrier.wait(timeout=10)
            return record

    def redeem():
        state = node()
        state.authorization_codes = BothReadFirst("authorization_codes", ttl=600)
        return state.exchange_code_for_token(code)

    results, errors = run_together(redeem, redeem)
    assert len([r for r in results if r is not None]) == 1
    assert [type(e) for e in errors if e is not None] == [StaleRecordError]
    assert ProviderState.select().where(ProviderState.collection == "access_tokens").count() == 1


def test_pyop_needs_an_access_token_row_as_long_as_its_refresh_token(database):
    """pyop reads the access token's record on refresh (``self.access_tokens[...]``, no check):
    an access-token storage whose rows die first makes a refresh fail with a bare KeyError."""
    clock = Clock()
    state = node()
    state.access_tokens = DatabaseStorage("access_tokens", ttl=3600, clock=clock)
    sub = state.get_subject_identifier("public", "user-1")
    access_token = state.exchange_code_for_token(
        state.create_authorization_code(authorization_request(), sub)
    )
    refresh_token = state.create_refresh_token(access_token.value)
    clock.now += 3660
    with pytest.raises(KeyError):
        state.use_refresh_token(refresh_token)


# Reads remembered, writes together


def test_within_reads_remembered_a_record_is_read_once(database, sql_log):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"n": 1}
    sql_log.clear()
    with storage_module.reads_remembered():
        assert codes["c1"] == {"n": 1}
        assert "c1" in codes
        assert DatabaseStorage("codes").get("c1") == {"n": 1}
        assert codes.get("unknown") is None and "unknown" not in codes
    assert len(sql_log.statements) == 2  # c1, unknown
    sql_log.clear()
    assert codes["c1"] == {"n": 1}  # outside the block: read each time
    assert codes["c1"] == {"n": 1}
    assert len(sql_log.statements) == 2


def test_within_reads_remembered_a_write_is_what_the_next_read_answers(database, sql_log):
    codes = DatabaseStorage("codes")
    with storage_module.reads_remembered():
        codes["c1"] = {"n": 1}
        record = codes["c1"]
        record["n"] = 2  # written back (a swap)
        assert codes["c1"] == {"n": 2}
        assert codes.add("c2", {"n": 3}) and codes["c2"] == {"n": 3}
        assert codes.pop("c2") == {"n": 3} and "c2" not in codes
        reads = [
            sql
            for sql, _ in sql_log.statements
            if sql.lstrip().startswith("SELECT") and "pg_notify" not in sql  # the pop's
        ]
        assert reads == []
    assert DatabaseStorage("codes")["c1"] == {"n": 2}


def test_a_swap_that_fails_forgets_the_remembered_record(database):
    """Another node changed the record: the failed swap makes the next read fetch it."""
    codes = DatabaseStorage("codes")
    codes["c1"] = {"used": False}
    with storage_module.reads_remembered():
        record = codes["c1"]
        _results, errors = run_together(  # another node: another thread, its own memory
            lambda: DatabaseStorage("codes").__setitem__("c1", {"used": True})
        )
        assert errors == [None]
        assert codes["c1"] == {"used": False}  # remembered
        assert codes.consume("c1", record) is False
        assert codes["c1"] == {"used": True}


def test_what_a_failed_block_wrote_is_neither_stored_nor_remembered(database):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"used": False}
    with storage_module.reads_remembered():
        assert codes["c1"] == {"used": False}
        with pytest.raises(RuntimeError), storage_module.written_together():
            storage_module.store_all([(codes, "c2", {"n": 2})])
            assert codes.consume("c1", codes["c1"]) is True
            raise RuntimeError("the grant failed")
        assert "c2" not in codes
        assert codes["c1"] == {"used": False}
    assert "c2" not in DatabaseStorage("codes")
    assert DatabaseStorage("codes")["c1"] == {"used": False}


def test_writes_together_are_one_commit(database, sql_log):
    codes, tokens = DatabaseStorage("codes"), DatabaseStorage("tokens", ttl=60)
    codes["c1"] = {"used": False}
    record = codes["c1"]
    sql_log.clear()
    with storage_module.written_together():
        storage_module.store_all([(tokens, "t1", {"n": 1}), (tokens, "t2", {"n": 2})])
        assert codes.consume("c1", record) is True
    assert sql_log.commits == 1
    assert len(sql_log.statements) == 2  # one insert of both rows, one update
    assert sql_log.writes(in_transaction=False) == []
    assert tokens["t1"] == {"n": 1} and tokens["t2"] == {"n": 2}
    assert codes["c1"] == {"used": True}


def test_store_all_sets_each_value_with_its_storage_time_to_live(database):
    clock = Clock()
    short, lasting = DatabaseStorage("a", ttl=10, clock=clock), DatabaseStorage("b", clock=clock)
    lasting["k"] = {"old": True}
    storage_module.store_all([(short, "k", {"n": 1}), (lasting, "k", {"n": 2})])
    assert short["k"] == {"n": 1} and lasting["k"] == {"n": 2}
    clock.now += 11
    assert "k" not in short and lasting["k"] == {"n": 2}
    with pytest.raises(TypeError):
        storage_module.store_all([(short, "k", ["not", "a", "mapping"])])
    storage_module.store_all([])


def test_consume_marks_the_record_read_used_once(database):
    codes = DatabaseStorage("codes")
    codes["c1"] = {"used": False, "sub": "s"}
    first, second = DatabaseStorage("codes")["c1"], DatabaseStorage("codes")["c1"]
    assert codes.consume("c1", first) is True
    assert codes.consume("c1", second) is False  # read before the first use: stale
    assert codes["c1"] == {"used": True, "sub": "s"}
    with pytest.raises(ValueError):
        codes.consume("c1", codes["c1"])  # a used record
    with pytest.raises(ValueError):
        codes.consume("c1", {"used": False, "sub": "s"})  # not a record read from it
