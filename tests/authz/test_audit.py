"""The audit log's hash chain: appends, batches, concurrent writers, and verification."""

from __future__ import annotations

import itertools
import threading

from authz import audit, db
from authz.models import AuditEvent


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
