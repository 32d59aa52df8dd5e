"""The audit log's keyed hash chain: appends, batches, concurrent writers, verification against
a database writer without the key, key rotation, and the keying of rows written before."""

from __future__ import annotations

import itertools
import re
import threading
from pathlib import Path

import pytest
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

from authz import audit, db, schema
from authz.models import AuditEvent, EnterpriseMandate, SchemaInfo
from tests.authz import audit_tampering as tamper
from tests.conftest import TEST_AUDIT_KEY

# A key a database writer could make up: not the service's.
WRITERS_KEY = audit.AuditKey.from_text("a key of the database writer's own making " * 2)


def entry(n: int) -> dict:
    return {
        "actor": "operator:test",
        "action": "test.event",
        "target_type": "thing",
        "target_id": n,
        "policy_version": "v",
        "details": {"n": n},
    }


def test_batch_and_single_appends_form_one_chain(database):
    audit.record(**entry(0))
    events = audit.record_many([entry(1), entry(2), entry(3)])
    audit.record(**entry(4))
    assert [e.seq for e in events] == [2, 3, 4]
    rows = list(AuditEvent.select().order_by(AuditEvent.seq))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    result = audit.verify()
    assert result.ok and result.rows == 5 and result.head == rows[-1].hash


def test_empty_batch_writes_nothing(database):
    assert audit.record_many([]) == []
    assert AuditEvent.select().count() == 0


def test_a_rolled_back_batch_leaves_no_gap(database):
    audit.record(**entry(0))
    try:
        with db.transaction():
            audit.record_many([entry(1), entry(2)])
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    audit.record(**entry(3))
    assert [r.seq for r in AuditEvent.select().order_by(AuditEvent.seq)] == [1, 2]
    assert audit.verify().ok


def test_concurrent_writers_never_fork_the_chain(database, database_url):
    errors = []

    def writer(offset: int) -> None:
        try:
            for i in range(15):
                with db.transaction():
                    audit.record(**entry(offset + i))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = audit.verify()
    assert result.ok, result.problem
    assert result.rows == 60


@pytest.fixture
def log(database):
    """Five events keyed with the run's audit key."""
    return audit.record_many([entry(n) for n in range(1, 6)])


@pytest.fixture
def keys():
    """Rebinds the audit keys for one test (tests/conftest.py restores the run's after)."""
    return audit.use_keys


def the_key() -> audit.AuditKey:
    return audit.keyring().current


def test_every_row_carries_the_key_id_and_its_hmac(log):
    for row in AuditEvent.select():
        assert row.key_id == the_key().id
        assert row.mac == the_key().mac(row.hash)
    assert audit.verify().ok


def test_no_key_no_event(database, keys, monkeypatch):
    monkeypatch.setattr(audit, "_keyring", None)

    with pytest.raises(audit.AuditKeyMissing, match="MONESPACE_AUDIT_KEY_FILE"):
        audit.record(**entry(1))

    assert AuditEvent.select().count() == 0


def test_the_key_id_names_the_key_not_the_secret():
    key = audit.AuditKey.from_text(TEST_AUDIT_KEY)

    assert re.fullmatch(r"[0-9a-f]{16}", key.id)
    assert key.id == audit.AuditKey.from_text(TEST_AUDIT_KEY).id
    assert key.id != audit.AuditKey.from_text(TEST_AUDIT_KEY + "x").id
    assert TEST_AUDIT_KEY not in repr(key)


# Against a database writer without the key: each change, made the way that hides it best.


def test_a_row_rewritten_and_the_chain_recomputed_is_detected(log):
    tamper.rewrite(2, actor="operator:someone-else")

    result = audit.verify()

    assert not result.ok
    assert result.problem == (
        "row 2 was altered: its hashes were recomputed without the audit key "
        "(its HMAC does not match)"
    )
    assert (result.rows, result.first_bad_seq) == (1, 2)


def test_the_same_with_an_hmac_under_another_key_is_detected(log):
    tamper.rewrite(2, WRITERS_KEY, actor="operator:someone-else")

    result = audit.verify()

    assert not result.ok
    assert result.problem.startswith(f"row 2 was keyed with audit key {WRITERS_KEY.id}, which")


def test_the_same_with_the_services_key_id_and_another_key_is_detected(log):
    forged = audit.AuditKey(the_key().id, WRITERS_KEY.secret)
    tamper.rewrite(2, forged, actor="operator:someone-else")

    assert audit.verify().problem.startswith("row 2 was altered: its hashes were recomputed")


def test_the_holder_of_the_key_is_not_detected(log):
    """The trust boundary: whoever holds the audit key can rewrite the log."""
    tamper.rewrite(2, the_key(), actor="operator:someone-else")

    result = audit.verify()

    assert result.ok and result.rows == 5


def test_a_row_deleted_in_the_middle_is_detected(log):
    AuditEvent.delete().where(AuditEvent.seq == 3).execute()

    assert audit.verify().problem == "row 3 is missing"


def test_a_row_deleted_in_the_middle_and_the_rest_renumbered_is_detected(log):
    tamper.delete(3)

    result = audit.verify()

    assert result.problem.startswith("row 3 was altered: its hashes were recomputed")
    assert AuditEvent.select().count() == 4


def test_a_row_inserted_in_the_middle_is_detected(log):
    tamper.insert(3, actor="operator:someone-else")

    result = audit.verify()

    assert result.problem.startswith("row 3 was altered: its hashes were recomputed")
    assert AuditEvent.select().count() == 6


def test_a_row_inserted_without_an_hmac_is_detected(log):
    tamper.insert(3, key_id=None, mac=None)

    assert audit.verify().problem == ("row 3 has no HMAC: it was written without the audit key")


def test_a_row_appended_at_the_end_is_detected(log):
    tamper.append(actor="operator:someone-else")

    result = audit.verify()

    assert result.problem == "row 6 has no HMAC: it was written without the audit key"
    assert result.rows == 5


def test_removing_the_hmacs_is_detected(log):
    """No way back to an unkeyed log: a row without its HMAC is refused, not read as old."""
    AuditEvent.update(key_id=None, mac=None).execute()
    tamper.rewrite(2, actor="operator:someone-else")

    assert audit.verify().problem == "row 1 has no HMAC: it was written without the audit key"


def test_an_unknown_key_id_is_reported(log):
    AuditEvent.update(key_id="0123456789abcdef").where(AuditEvent.seq == 4).execute()

    assert audit.verify().problem == (
        "row 4 was keyed with audit key 0123456789abcdef, which is not configured "
        "(a retired key belongs in MONESPACE_AUDIT_PREVIOUS_KEYS_FILE)"
    )


# The recorded head.


def test_a_truncated_tail_is_detected_with_the_head_only(log):
    head = audit.Head(5, log[-1].hash)
    AuditEvent.delete().where(AuditEvent.seq >= 4).execute()

    assert audit.verify().ok  # a shorter log is a sound log...
    result = audit.verify(head)

    assert not result.ok  # ...that no longer reaches the recorded head
    assert (
        result.problem
        == "rows 4 to 5 were removed from the end (the log has 3 rows, the head was row 5)"
    )
    assert not result.chain_broken


def test_one_row_removed_from_the_end(log):
    head = audit.Head(5, log[-1].hash)
    AuditEvent.delete().where(AuditEvent.seq == 5).execute()

    assert audit.verify(head).problem == (
        "row 5 was removed from the end (the log has 4 rows, the head was row 5)"
    )


def test_rows_appended_after_the_head_are_counted(log):
    result = audit.verify(audit.Head(3, log[2].hash))

    assert result.ok and result.appended == 2


def test_a_bare_hash_as_earlier_versions_printed_it(log):
    assert audit.verify(audit.Head(None, log[2].hash)).appended == 2
    AuditEvent.delete().where(AuditEvent.seq >= 3).execute()

    result = audit.verify(audit.Head(None, log[2].hash))

    assert result.problem.startswith(f"the recorded head {log[2].hash[:16]}... is not in the log")
    assert "rows were removed from its end, or rewritten by someone holding the audit key" in (
        result.problem
    )


def test_a_rewrite_by_the_key_holder_shows_against_the_head(log):
    head = audit.Head(5, log[-1].hash)
    tamper.rewrite(2, the_key(), actor="operator:someone-else")

    result = audit.verify(head)

    assert not result.ok and not result.chain_broken
    assert result.problem.startswith(
        f"row 5 is not the recorded head {log[-1].hash[:16]}...: the rows up to it were "
        "rewritten by someone holding the audit key"
    )


def test_the_empty_log_and_its_head(database):
    result = audit.verify()

    assert result.ok and result.head_token == f"0:{audit.GENESIS_HASH}"
    audit.record(**entry(1))
    assert audit.verify(audit.Head(0, audit.GENESIS_HASH)).appended == 1


# Key rotation.


def test_rows_keyed_with_a_retired_key_verify_with_it(database, keys):
    old, new = "the old audit key " * 3, "the new audit key " * 3
    keys(old)
    audit.record(**entry(1))
    keys(new, [old])
    audit.record(**entry(2))

    rows = list(AuditEvent.select().order_by(AuditEvent.seq))
    assert rows[0].key_id != rows[1].key_id
    assert audit.verify().ok

    keys(new)  # the retired key dropped: its rows can no longer be checked
    assert audit.verify().problem.startswith(
        f"row 1 was keyed with audit key {rows[0].key_id}, which is not configured"
    )


# Rows written before the log was keyed (schema version 3).


@pytest.fixture
def version_3(database):
    """The database as schema version 3 left it: no key id, no HMAC."""

    def downgrade() -> None:
        migrator = (
            PostgresqlMigrator(db.database.obj)
            if db.is_postgresql()
            else SqliteMigrator(db.database.obj)
        )
        migrate(
            migrator.drop_column("audit_event", "key_id"),
            migrator.drop_column("audit_event", "mac"),
            migrator.drop_column("client", "catalogue"),  # came with version 6
        )
        db.database.drop_tables([EnterpriseMandate])  # came with version 5
        SchemaInfo.update(version=3).execute()

    return downgrade


def legacy_log(count: int) -> list[AuditEvent]:
    events = audit.record_many([entry(n) for n in range(1, count + 1)])
    AuditEvent.update(key_id=None, mac=None).execute()
    return events


def test_upgrading_keys_the_rows_written_before(version_3):
    events = legacy_log(3)
    version_3()

    assert schema.upgrade() == list(range(4, schema.CURRENT_VERSION + 1))  # every step since 3

    rows = list(AuditEvent.select().order_by(AuditEvent.seq))
    assert [row.hash for row in rows] == [e.hash for e in events]  # recorded heads stay valid
    assert all(row.key_id == the_key().id for row in rows)
    result = audit.verify(audit.Head(None, events[-1].hash))
    assert result.ok and result.rows == 3


def test_upgrading_leaves_a_broken_row_unkeyed(version_3):
    """Keying a row altered before the upgrade would vouch for it: it stays named."""
    legacy_log(4)
    AuditEvent.update(actor="operator:someone-else").where(AuditEvent.seq == 3).execute()
    version_3()

    schema.upgrade()

    keyed = [row.key_id is not None for row in AuditEvent.select().order_by(AuditEvent.seq)]
    assert keyed == [True, True, False, False]
    assert audit.verify().problem == "row 3 was altered"


def test_upgrading_needs_the_key(version_3, keys, monkeypatch):
    legacy_log(2)
    version_3()
    monkeypatch.setattr(audit, "_keyring", None)

    with pytest.raises(audit.AuditKeyMissing):
        schema.upgrade()

    assert schema.current_version() == 3
    assert "key_id" not in {column.name for column in db.database.get_columns("audit_event")}


# Every writer goes through authz.audit.


def test_audit_events_are_written_by_authz_audit_only():
    """Rows written any other way would lack the HMAC; verify would flag them, but the
    service itself must never write one."""
    root = Path(__file__).resolve().parents[2]
    direct_write = re.compile(
        r"AuditEvent\s*\.\s*(create|insert|insert_many|insert_from|replace|update|delete|"
        r"bulk_create|bulk_update|get_or_create)\b|\.save\(|INSERT\s+INTO\s+\"?audit_event",
        re.IGNORECASE,
    )
    writers = []
    for package in ("authz", "idp_bridge", "admin_ui", "monespace"):
        for path in (root / package).rglob("*.py"):
            if path == root / "authz" / "audit.py":
                continue
            text = path.read_text(encoding="utf-8")
            if "AuditEvent" in text or "audit_event" in text:
                for number, line in enumerate(text.splitlines(), 1):
                    if direct_write.search(line) and re.search("AuditEvent|audit_event", line):
                        writers.append(f"{path.relative_to(root)}:{number}")
    assert writers == []


# -- the persons an event names (AuditMention) ------------------------------------------------

NRN_A, NRN_B, NRN_C = "85073003361", "90010100123", "70030300538"


def test_the_persons_an_event_names_are_indexed_with_it(database):
    from authz.models import AuditMention

    (event,) = audit.record_many(
        [
            {
                "actor": f"person:{NRN_A}",
                "action": "role.grant",
                "target_type": "role_grant",
                "target_id": 7,
                "details": {"person": NRN_B, "seen": [{"nrn": NRN_C}], "count": 12345678901},
                "policy_version": "test",
            }
        ]
    )
    assert audit.mentions(event) == {NRN_A, NRN_B, NRN_C}
    assert {(m.nrn, m.seq) for m in AuditMention.select()} == {
        (NRN_A, event.seq),
        (NRN_B, event.seq),
        (NRN_C, event.seq),
    }
    audit.record(
        actor="cli",
        action="person.update",
        target_type="person",
        target_id=NRN_B,
        details={"file": "x.csv"},
        policy_version="test",
    )
    before = {(m.nrn, m.seq) for m in AuditMention.select()}
    assert (NRN_B, event.seq + 1) in before and len(before) == 4
    # The upgrade rebuilds the same index from the log alone.
    assert audit.rebuild_mentions(batch=1) == 4
    assert {(m.nrn, m.seq) for m in AuditMention.select()} == before
