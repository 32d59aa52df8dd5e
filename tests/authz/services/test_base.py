"""What the services share: callers, input parsing, one transaction per call, the audit chain."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import peewee
import pytest

from authz import audit
from authz.engine import get_engine
from authz.errors import Conflict, InvalidInput, NotFound
from authz.models import AuditEvent, Person, RoleRequest, today, utcnow
from authz.services import (
    Caller,
    accept_invitation,
    accept_request,
    change_role,
    designate_gap,
    ensure_person,
    expire_requests,
    invite,
    refuse_request,
    request_role,
    revoke_role,
    withdraw_request,
)
from authz.services.base import (
    atomic,
    find_enterprise,
    parse_end_date,
    parse_id,
    parse_role,
    parse_scope,
)
from tests.authz.services import actor, as_, make_bce, make_nrn, spelled_bce

NEWCOMER = make_nrn("930317", 58)


# -- callers -----------------------------------------------------------------------------------


def test_who_the_audit_log_names_as_actor(world):
    assert Caller.for_person(world.stranger).actor == actor(world.stranger)
    assert Caller.operator().actor == "operator:cli"
    assert Caller.operator("alice").actor == "operator:alice"
    assert Caller.system().actor == "system"
    assert Caller().actor == "unknown"


def test_the_audit_event_records_the_ip_and_the_policy_version(world, journal):
    j = journal()
    request_role(as_(world.stranger, ip="192.0.2.44"), world.acme.bce, "reader")
    (event,) = j.events()
    assert (event.ip, event.policy_version) == ("192.0.2.44", get_engine().version)
    assert event.target_type == "role_request"
    assert event.target_id == str(RoleRequest.get().id)


# -- people and enterprises --------------------------------------------------------------------


def test_ensure_person_creates_once(database):
    spelled = f"{NEWCOMER[:2]}.{NEWCOMER[2:4]}.{NEWCOMER[4:6]}-{NEWCOMER[6:9]}.{NEWCOMER[9:]}"
    first = ensure_person(spelled, "Léa", "Dumont")
    again = ensure_person(NEWCOMER, "Other", "Name")
    assert first.id == again.id
    assert (again.nrn, again.given_name, again.family_name) == (NEWCOMER, "Léa", "Dumont")
    assert Person.select().count() == 1


@pytest.mark.parametrize("nrn", ["", None, "85073003362", "abc", 85073003361])
def test_ensure_person_refuses_an_invalid_nrn(database, nrn):
    with pytest.raises(InvalidInput):
        ensure_person(nrn)
    assert Person.select().count() == 0


def test_find_enterprise_by_any_spelling(world):
    for spelling in (world.acme.bce, spelled_bce(world.acme.bce), f"BE {world.acme.bce}"):
        assert find_enterprise(spelling) == world.acme


def test_find_enterprise_names_the_missing_number(world):
    with pytest.raises(NotFound, match=spelled_bce(make_bce(7777777))):
        find_enterprise(make_bce(7777777))


# -- input parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(7, 7), ("7", 7), (" 12 ", 12)])
def test_parse_id(value, expected):
    assert parse_id(value, "role grant") == expected


@pytest.mark.parametrize(
    "value", ["abc", "", None, 0, -3, "-3", True, False, "1.5", 1.5, [1], "0x10"], ids=repr
)
def test_parse_id_refuses_anything_but_a_positive_whole_number(value):
    with pytest.raises(InvalidInput, match="invalid role grant id"):
        parse_id(value, "role grant")


@pytest.mark.parametrize("role", ["access_manager", "owner", "agent", "reader"])
def test_parse_role(role):
    assert parse_role(role) == role


def test_parse_role_explains_that_the_gap_is_designated():
    with pytest.raises(InvalidInput, match="a legal representative designates the GAP"):
        parse_role("gap")


@pytest.mark.parametrize("role", ["", None, "Owner", "admin", ["owner"]], ids=repr)
def test_parse_role_refuses_unknown_roles(role):
    with pytest.raises(InvalidInput, match="expected one of access_manager, owner"):
        parse_role(role)


def test_parse_role_within_given_roles():
    assert parse_role("gap", ("gap", "owner")) == "gap"
    with pytest.raises(InvalidInput):
        parse_role("reader", ("gap", "owner"))


def test_parse_end_date():
    assert parse_end_date(None) is None
    assert parse_end_date("") is None
    assert parse_end_date("2099-12-31") == date(2099, 12, 31)
    assert parse_end_date(" 2099-12-31 ") == date(2099, 12, 31)
    assert parse_end_date(date(2099, 12, 31)) == date(2099, 12, 31)
    assert parse_end_date(today()) == today()


@pytest.mark.parametrize(
    "value",
    [
        "2099-02-30",
        "31/12/2099",
        "tomorrow",
        20991231,
        today() - timedelta(days=1),
        (today() - timedelta(days=1)).isoformat(),
        datetime(2099, 12, 31, 23, 59),
        [2099, 12, 31],
    ],
    ids=repr,
)
def test_parse_end_date_refuses_bad_or_past_dates(value):
    with pytest.raises(InvalidInput):
        parse_end_date(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ([], ""),
        ("fiscalite", "fiscalite"),
        ("fiscalite, environnement", "environnement fiscalite"),
        ("fiscalite  environnement fiscalite", "environnement fiscalite"),
        (["social_security", "emploi-2"], "emploi-2 social_security"),
        (("fiscalite",), "fiscalite"),
        ({"fiscalite"}, "fiscalite"),
    ],
    ids=repr,
)
def test_parse_scope(value, expected):
    assert parse_scope(value, "agent") == expected


@pytest.mark.parametrize(
    "value",
    [
        "Fiscalité",
        "x",
        "9lives",
        "a" * 41,
        42,
        {"fiscalite": True},
        [None],
        ["fiscalite", 42],
        ["fiscalite", None],
        [["fiscalite"]],
    ],
    ids=repr,
)
def test_parse_scope_refuses_what_is_not_a_list_of_service_domains(value):
    with pytest.raises(InvalidInput):
        parse_scope(value, "agent")


def test_an_access_manager_has_no_scope():
    assert parse_scope(None, "access_manager") == ""
    with pytest.raises(InvalidInput, match="whole enterprise"):
        parse_scope(["fiscalite"], "access_manager")


# -- one transaction per call ------------------------------------------------------------------


def test_a_lost_race_on_a_unique_index_is_a_conflict_and_writes_nothing(world, refused):
    @atomic
    def create_twice():
        Person.create(nrn=NEWCOMER)
        Person.create(nrn=NEWCOMER)

    with refused(Conflict, match="at the same moment"):
        create_twice()


def test_any_error_undoes_the_whole_call(world, refused):
    @atomic
    def fails_midway():
        ensure_person(NEWCOMER)
        raise RuntimeError("boom")

    with refused(RuntimeError):
        fails_midway()


def test_a_database_error_that_is_no_conflict_is_not_disguised(world):
    @atomic
    def bad_sql():
        Person.raw("SELECT * FROM no_such_table").execute()

    with pytest.raises(peewee.DatabaseError) as error:
        bad_sql()
    assert not isinstance(error.value, peewee.IntegrityError)


# -- the audit chain ---------------------------------------------------------------------------


@pytest.fixture
def busy_day(world):
    """The world, then a day of work through every service."""
    gap, manager, stranger = as_(world.acme_gap), as_(world.acme_manager), as_(world.stranger)
    request = request_role(stranger, world.acme.bce, "owner", "Bonjour")
    accept_request(gap, request.id, role="agent", scope="fiscalite")
    second = request_role(as_(world.globex_rep), world.acme.bce, "reader")
    refuse_request(manager, second.id, "Inconnu")
    third = request_role(as_(world.globex_rep), world.acme.bce, "reader")
    withdraw_request(as_(world.globex_rep), third.id)
    _, token = invite(manager, world.acme.bce, "asbl@example.be", "reader")
    accept_invitation(as_(world.asbl_rep), token)
    change_role(manager, world.owner_grant.id, "agent")
    revoke_role(gap, world.reader_grant.id, "parti")
    designate_gap(as_(world.asbl_rep), world.asbl.bce, world.asbl_rep.nrn)
    late = request_role(as_(world.closed_rep), world.acme.bce, "reader")
    RoleRequest.update(expires_at=utcnow() - timedelta(seconds=1)).where(
        RoleRequest.id == late.id
    ).execute()
    assert expire_requests() == 1
    return world


def test_the_chain_of_a_day_of_work_verifies(busy_day):
    result = audit.verify()
    assert result.ok, result.problem
    events = list(AuditEvent.select().order_by(AuditEvent.seq))
    assert result.rows == len(events) >= 20
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert result.head == events[-1].hash
    assert {e.action for e in events} >= {
        "gap.designate",
        "role.grant",
        "role.change",
        "role.revoke",
        "request.create",
        "request.accept",
        "request.refuse",
        "request.withdraw",
        "request.expire",
        "invitation.create",
        "invitation.accept",
    }


def test_editing_the_details_of_a_row_is_reported(busy_day):
    AuditEvent.update(details='{"person":"someone else"}').where(AuditEvent.seq == 12).execute()
    result = audit.verify()
    assert not result.ok
    assert (result.problem, result.first_bad_seq, result.rows) == ("row 12 was altered", 12, 11)


def test_editing_the_actor_of_a_row_is_reported(busy_day):
    AuditEvent.update(actor="system").where(AuditEvent.seq == 3).execute()
    result = audit.verify()
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_deleting_a_row_in_the_middle_is_reported(busy_day):
    AuditEvent.delete().where(AuditEvent.seq == 9).execute()
    result = audit.verify()
    assert not result.ok
    assert (result.problem, result.first_bad_seq, result.rows) == ("row 9 is missing", 9, 8)
