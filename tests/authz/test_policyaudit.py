"""authz/policyaudit.py: one ``policy.in_force`` audit event per change of the policy."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from authz import audit, db, policyaudit
from authz.engine import PolicyEngine, file_digest, get_engine
from authz.models import AuditEvent
from policies import POLICY_DIR


@pytest.fixture
def changed_engine(tmp_path) -> PolicyEngine:
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "enterprise.polar"
    path.write_text(path.read_text().replace('"act_for" if "agent";', '"act_for" if "owner";'))
    return PolicyEngine(target)


def events() -> list[AuditEvent]:
    query = AuditEvent.select().where(AuditEvent.action == policyaudit.ACTION)
    return list(query.order_by(AuditEvent.seq))


def test_the_first_start_records_the_policy_with_its_files(database):
    event = policyaudit.record_in_force(get_engine(), node="node-a:1")

    assert event is not None
    assert (event.actor, event.target_type, event.target_id) == (
        "system:start-up",
        "policy",
        get_engine().version,
    )
    details = json.loads(event.details)
    assert details == {
        "previous": None,
        "files": {"enterprise.polar": file_digest(POLICY_DIR / "enterprise.polar")},
        "node": "node-a:1",
    }
    assert policyaudit.last_recorded() == get_engine().version


def test_the_same_policy_again_records_nothing(database):
    policyaudit.record_in_force(get_engine())

    assert policyaudit.record_in_force(get_engine()) is None
    assert len(events()) == 1


def test_a_changed_policy_is_recorded_with_the_previous_one(database, changed_engine):
    policyaudit.record_in_force(get_engine())

    event = policyaudit.record_in_force(changed_engine)
    back = policyaudit.record_in_force(get_engine())  # a rollback is a change too

    assert event is not None and back is not None
    assert json.loads(event.details)["previous"] == get_engine().version
    assert [e.target_id for e in events()] == [
        get_engine().version,
        changed_engine.version,
        get_engine().version,
    ]
    assert audit.verify().ok


def test_nodes_starting_together_write_one_event(database):
    engine, errors, written = get_engine(), [], []
    start = threading.Barrier(4)

    def node(number: int) -> None:
        try:
            start.wait()
            with db.connection():
                written.append(policyaudit.record_in_force(engine, node=f"node-{number}"))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=node, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(event is not None for event in written) == 1
    assert len(events()) == 1
    assert audit.verify().ok
