"""Login sessions and the person behind them: issue, find, time out, end, replace; the person
created or brought up to date at login, each change audited."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from authz import audit, db, persons
from authz.engine import get_engine
from authz.models import AuditEvent, Person, utcnow
from idp_bridge import sessions
from idp_bridge.models import LoginSession
from idp_bridge.sessions import (
    SessionPolicy,
    current_session,
    end_session,
    open_session,
    upsert_person,
)
from idp_bridge.shared.identity import LOA_HIGH, VerifiedIdentity

NRN = "85073003328"
ANNE = VerifiedIdentity(
    nrn=NRN,
    given_name="Anne",
    family_name="Dupont",
    acr=LOA_HIGH,
    amr=("eid", "pin"),
    upstream="eid",
    session_ref="upstream-session-1",
    email="anne@example.be",
    language="NL",
)
POLICY = SessionPolicy(idle_timeout=1800, absolute_timeout=3600)


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(sessions, "utcnow", clock)
    monkeypatch.setattr(persons, "utcnow", clock)  # the writer of persons keeps its own time
    return clock


# Policy


def test_the_default_policy_is_half_an_hour_idle_eight_hours_at_most():
    assert SessionPolicy() == SessionPolicy(idle_timeout=1800, absolute_timeout=8 * 3600)


@pytest.mark.parametrize(("idle", "absolute"), [(0, 3600), (-1, 3600), (1800, 0), (3601, 3600)])
def test_a_policy_with_impossible_timeouts_is_refused(idle, absolute):
    with pytest.raises(ValueError):
        SessionPolicy(idle_timeout=idle, absolute_timeout=absolute)


# Person


def test_the_first_login_creates_the_person_and_audits_it(database):
    person, created = upsert_person(ANNE)
    assert created is True
    stored = Person.get(Person.nrn == NRN)
    assert stored.id == person.id
    assert (stored.given_name, stored.family_name) == ("Anne", "Dupont")
    assert (stored.email, stored.language) == ("anne@example.be", "nl")
    event = AuditEvent.get()
    assert (event.action, event.actor, event.target_type, event.target_id) == (
        "person.create",
        f"person:{NRN}",
        "person",
        NRN,
    )
    assert event.policy_version == get_engine().version
    assert audit.verify().ok


def test_a_later_login_updates_what_changed_and_audits_which_fields(database, clock):
    person, _ = upsert_person(ANNE)
    clock.advance(3600)

    same, created = upsert_person(ANNE)
    assert (same.id, created) == (person.id, False)
    assert AuditEvent.select().count() == 1  # nothing changed, nothing recorded

    renamed = replace(ANNE, given_name="Anne-Marie", family_name="Dupont-Martin")
    _person, created = upsert_person(renamed)
    assert created is False
    stored = Person.get_by_id(person.id)
    assert (stored.given_name, stored.family_name) == ("Anne-Marie", "Dupont-Martin")
    assert stored.updated_at == clock.now
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).get()
    assert (event.action, event.actor, event.target_id) == ("person.update", f"person:{NRN}", NRN)
    assert json.loads(event.details) == {"fields": ["family_name", "given_name"]}
    assert audit.verify().ok


def test_what_the_upstream_does_not_say_is_kept(database):
    upsert_person(ANNE)
    _person, created = upsert_person(replace(ANNE, email=None, language="xx"))
    assert created is False
    stored = Person.get(Person.nrn == NRN)
    assert (stored.email, stored.language) == ("anne@example.be", "nl")
    assert AuditEvent.select().count() == 1


def test_an_unknown_language_at_first_login_leaves_the_default(database):
    person, _ = upsert_person(replace(ANNE, language="pt", email=None))
    assert (Person.get_by_id(person.id).language, person.email) == ("fr", None)


def test_the_person_and_its_audit_event_share_the_callers_transaction(database):
    with db.transaction() as transaction:
        upsert_person(ANNE)
        transaction.rollback()
    assert Person.select().count() == 0
    assert AuditEvent.select().count() == 0


# Sessions


def test_a_login_opens_a_session_found_by_its_id(database, clock, statements):
    raw_id, opened = open_session(ANNE, POLICY)
    row = LoginSession.get_by_id(opened.id)
    assert row.id_hash == hashlib.sha256(raw_id.encode()).hexdigest()
    assert raw_id not in json.dumps([str(v) for v in row.__data__.values()])
    assert (row.upstream, row.upstream_session_ref, row.acr, row.amr) == (
        "eid",
        "upstream-session-1",
        LOA_HIGH,
        "eid pin",
    )
    assert row.expires_at == clock.now + timedelta(seconds=3600)

    statements.clear()
    found = current_session(raw_id, POLICY)
    assert found is not None and found.id == opened.id
    assert (found.person.nrn, found.person.given_name) == (NRN, "Anne")
    assert len(statements) == 1  # the person came with the session


def test_each_login_issues_a_new_id(database):
    first, _ = open_session(ANNE, POLICY)
    second, _ = open_session(ANNE, POLICY)
    assert first != second
    assert current_session(first, POLICY) is not None
    assert current_session(second, POLICY) is not None


def test_a_login_ends_the_session_it_replaces(database):
    old_id, _ = open_session(ANNE, POLICY)
    new_id, _ = open_session(ANNE, POLICY, replaces=old_id)
    assert current_session(old_id, POLICY) is None
    assert current_session(new_id, POLICY) is not None
    assert end_session(old_id) is False


def test_the_replaced_session_is_reported_once_the_login_is_done(database):
    old_id, old = open_session(ANNE, POLICY)
    reported: list[LoginSession] = []
    # The same session named by its id and by its hash: reported once.
    new_id, _ = open_session(
        ANNE, POLICY, replaces=old_id, replaces_hash=old.id_hash, on_replaced=reported.append
    )
    assert [session.id_hash for session in reported] == [old.id_hash]
    assert reported[0].ended_at is not None
    # Nothing live replaced, nothing reported: an ended session, a garbage id.
    again: list[LoginSession] = []
    open_session(ANNE, POLICY, replaces=old_id, on_replaced=again.append)
    open_session(ANNE, POLICY, replaces="x" * 43, on_replaced=again.append)
    assert again == [] and current_session(new_id, POLICY) is not None


def test_replacing_an_unknown_or_garbage_id_still_logs_in(database):
    for replaces in ("x" * 43, "not an id", ""):
        raw_id, _ = open_session(ANNE, POLICY, replaces=replaces)
        assert current_session(raw_id, POLICY) is not None


def test_a_failed_login_leaves_nothing_behind(database, monkeypatch):
    old_id, _ = open_session(ANNE, POLICY)

    written = db.execute_built

    def fail(shape, build, values):  # the session's row cannot be written
        if shape == ("login_session", "open"):
            raise RuntimeError("disk full")
        return written(shape, build, values)

    monkeypatch.setattr(db, "execute_built", fail)
    with pytest.raises(RuntimeError):
        open_session(replace(ANNE, nrn="90010100123"), POLICY, replaces=old_id)
    assert current_session(old_id, POLICY) is not None
    assert not Person.select().where(Person.nrn == "90010100123").exists()
    assert AuditEvent.select().count() == 1


def test_a_session_idle_too_long_is_over(database, clock):
    raw_id, _ = open_session(ANNE, POLICY)
    clock.advance(1799)
    assert current_session(raw_id, POLICY) is not None  # and counts as activity
    clock.advance(1799)
    assert current_session(raw_id, POLICY) is not None
    clock.advance(1800)
    assert current_session(raw_id, POLICY) is None


def test_activity_is_written_at_most_once_a_minute(database, clock):
    raw_id, opened = open_session(ANNE, POLICY)
    opened_at = clock.now

    def last_seen():
        return LoginSession.get_by_id(opened.id).last_seen_at

    clock.advance(59)
    assert current_session(raw_id, POLICY).last_seen_at == opened_at
    assert last_seen() == opened_at
    clock.advance(1)
    assert current_session(raw_id, POLICY).last_seen_at == clock.now
    assert last_seen() == clock.now


def test_an_active_session_ends_at_its_absolute_timeout(database, clock):
    raw_id, _ = open_session(ANNE, POLICY)
    for _ in range(5):
        clock.advance(719)
        assert current_session(raw_id, POLICY) is not None
    clock.advance(5)  # 3600 s after the login
    assert current_session(raw_id, POLICY) is None


def test_a_shorter_absolute_timeout_applies_to_open_sessions(database, clock):
    raw_id, _ = open_session(ANNE, SessionPolicy())
    clock.advance(1200)
    assert current_session(raw_id, SessionPolicy()) is not None
    assert current_session(raw_id, SessionPolicy(idle_timeout=600, absolute_timeout=1200)) is None


def test_logging_out_ends_the_session_once(database):
    raw_id, _ = open_session(ANNE, POLICY)
    assert end_session(raw_id) is True
    assert current_session(raw_id, POLICY) is None
    assert end_session(raw_id) is False


@pytest.mark.parametrize(
    "cookie",
    [None, "", "x", "a" * 43, "é" * 43, "\x00" * 43, "\udc80" * 43, "a" * 10_000, 12345, b"a" * 43],
)
def test_anything_but_a_live_session_id_finds_nothing(database, cookie):
    open_session(ANNE, POLICY)
    assert current_session(cookie, POLICY) is None
    assert end_session(cookie) is False
