"""The one writer of persons (``authz/persons.py``): created by NRN, brought up to date with
what a source says, every creation and change audited; nothing else writes Person rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from authz import audit
from authz.engine import get_engine
from authz.epochs import tracker_for
from authz.models import AuditEvent, Person
from authz.persons import PersonData, record_person, record_persons
from tests.authz.services import make_nrn

ANNE, BOB, CLAIRE = make_nrn("800101", 1), make_nrn("800101", 2), make_nrn("800101", 3)
ROOT = Path(__file__).resolve().parents[2]


def record(data: PersonData, **kwargs):
    return record_person(data, actor="operator:test", policy_version="v1", **kwargs)


def events() -> list[tuple[str, str, dict]]:
    return [
        (e.action, e.target_id, json.loads(e.details))
        for e in AuditEvent.select().order_by(AuditEvent.seq)
    ]


def test_a_person_is_created_once_and_audited(database):
    person, created = record(PersonData(ANNE, "Anne", "Dupont", "anne@example.be", "nl"))
    assert created
    stored = Person.get(Person.nrn == ANNE)
    assert (stored.id, stored.given_name, stored.family_name) == (person.id, "Anne", "Dupont")
    assert (stored.email, stored.language) == ("anne@example.be", "nl")
    again, created = record(PersonData(ANNE, "Anne", "Dupont"))
    assert (again.id, created) == (person.id, False)
    assert events() == [("person.create", ANNE, {})]
    event = AuditEvent.get()
    assert (event.actor, event.target_type, event.policy_version) == (
        "operator:test",
        "person",
        "v1",
    )
    assert audit.verify().ok


def test_a_change_is_audited_with_the_fields_changed(database):
    record(PersonData(ANNE, "Anne", "Dupont"))
    record(PersonData(ANNE, "Anne-Marie", "Dupont", language="de"))
    stored = Person.get(Person.nrn == ANNE)
    assert (stored.given_name, stored.language) == ("Anne-Marie", "de")
    assert events()[-1] == ("person.update", ANNE, {"fields": ["given_name", "language"]})


def test_what_a_source_does_not_say_is_kept(database):
    record(PersonData(ANNE, "Anne", "Dupont", "anne@example.be", "nl"))
    record(PersonData(ANNE))
    stored = Person.get(Person.nrn == ANNE)
    assert (stored.given_name, stored.email, stored.language) == ("Anne", "anne@example.be", "nl")
    assert len(events()) == 1


def test_without_update_a_known_person_is_left_as_is(database):
    record(PersonData(ANNE, "Anne", "Dupont"))
    person, created = record(PersonData(ANNE, "Other", "Name"), update=False)
    assert not created and (person.given_name, person.family_name) == ("Anne", "Dupont")
    assert len(events()) == 1


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="language"):
        PersonData(ANNE, language="pt")


def test_a_batch_creates_renames_and_keeps(database):
    record(PersonData(ANNE, "Anne", "Dupont"))
    record(PersonData(BOB, "Bob", "Martin"))
    persons, changed = record_persons(
        [
            PersonData(ANNE, "Anne", "Dupont-Martin"),  # renamed
            PersonData(BOB, None, None),  # an empty name in a file erases nothing
            PersonData(CLAIRE, "Claire", "Lambert"),  # new
            PersonData(CLAIRE, "Claire", "Lambert"),  # twice in the batch: once
        ],
        actor="operator:import",
        policy_version="v1",
    )
    assert sorted(persons) == [ANNE, BOB, CLAIRE]
    assert changed == {ANNE}
    assert Person.get(Person.nrn == ANNE).family_name == "Dupont-Martin"
    assert Person.get(Person.nrn == BOB).given_name == "Bob"
    assert persons[CLAIRE].id == Person.get(Person.nrn == CLAIRE).id
    assert events()[2:] == [
        ("person.create", CLAIRE, {}),
        ("person.update", ANNE, {"fields": ["family_name"]}),
    ]
    assert audit.verify().ok


def test_a_change_is_announced_to_the_processes_that_keep_persons(database, database_url):
    """authz.kept: a process keeping a person's claims drops them when a change commits; a
    creation or a record that changes nothing is not announced (absences are never kept)."""
    tracker = tracker_for(database_url)  # this process's tracker, counting revocations
    try:
        record(PersonData(ANNE, "Anne", "Dupont"))
        record(PersonData(ANNE, "Anne", "Dupont"))
        record_persons([PersonData(BOB, "Bob")], actor="operator:test", policy_version="v1")
        record_persons([PersonData(BOB, "Bob")], actor="operator:test", policy_version="v1")
        assert tracker.revocations == 0
        record(PersonData(ANNE, "Anne", "Lambert"))
        assert tracker.revocations == 1
        record_persons(
            [PersonData(BOB, "Robert"), PersonData(CLAIRE, "Claire")],
            actor="operator:test",
            policy_version="v1",
        )
        assert tracker.revocations == 2
    finally:
        tracker.stop()


def test_a_mandate_service_naming_someone_new_records_them(database):
    """Granting a role to someone never seen records them, audited with the granter."""
    from monespace import demo

    demo.seed()
    marc = Person.get(Person.nrn == "85020200387")
    from authz.services import Caller, grant_role

    grant_role(Caller.for_person(marc), "0123456749", ANNE, "reader")
    created = AuditEvent.get(
        (AuditEvent.action == "person.create") & (AuditEvent.target_id == ANNE)
    )
    assert created.actor == f"person:{marc.nrn}"
    assert created.policy_version == get_engine().version


def test_the_demo_and_the_registry_import_record_their_persons(database):
    from monespace import demo

    demo.seed()
    created = {
        e.target_id: e.actor
        for e in AuditEvent.select().where(AuditEvent.action == "person.create")
    }
    assert created["85020200387"] == "operator:demo-seed"  # Marc
    assert Person.select().count() == len(created)


# The writes peewee offers on a model; only authz/persons.py may apply them to Person.
_WRITES = re.compile(
    r"\bPerson\.(create|insert|insert_many|insert_from|update|replace|get_or_create|delete)\b"
    r"|\bperson\.save\("
)


# The writer, and the policy tests' world: written whole (persons, enterprises, grants) into
# an empty throw-away database, with nothing to audit.
_EXEMPT = {"authz/persons.py", "authz/policytest.py"}


def test_nothing_else_writes_persons():
    writers = []
    for package in ("authz", "idp_bridge", "admin_ui", "monespace", "loadtests"):
        for path in (ROOT / package).rglob("*.py"):
            if path.relative_to(ROOT).as_posix() in _EXEMPT:
                continue
            if _WRITES.search(path.read_text(encoding="utf-8")):
                writers.append(path.relative_to(ROOT).as_posix())
    assert writers == []
