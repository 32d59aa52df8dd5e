"""Granting, changing and revoking roles: by whom, which roles, and what stays in the history."""

from __future__ import annotations

from datetime import datetime

import pytest

from authz.engine import get_engine
from authz.errors import Conflict, Forbidden, InvalidInput, NotFound
from authz.models import Person, RoleGrant
from authz.permissions import ACT_FOR, GRANT_ROLE, READ_DOSSIER
from authz.services import Caller, active_grant, change_role, grant_role, revoke_role
from tests.authz.services import actor, as_, in_days, make_bce, make_nrn, reload, yesterday

NEWCOMER = make_nrn("910523", 64)


def grants_of(person: Person) -> list[RoleGrant]:
    return list(RoleGrant.select().where(RoleGrant.person == person).order_by(RoleGrant.id))


# -- grant_role --------------------------------------------------------------------------------


def test_the_gap_grants_access_manager(world, journal):
    j = journal()
    grant = grant_role(as_(world.acme_gap), world.acme.bce, world.stranger.nrn, "access_manager")

    grant = reload(grant)
    assert (grant.person_id, grant.enterprise_id, grant.role) == (
        world.stranger.id,
        world.acme.id,
        "access_manager",
    )
    assert (grant.scope, grant.valid_until, grant.source) == ("", None, "direct")
    assert grant.granted_by_id == world.acme_gap.id
    assert (grant.ended_at, grant.ended_by, grant.end_reason) == (None, None, None)
    assert j.event() == (
        "role.grant",
        actor(world.acme_gap),
        world.acme.bce,
        {"person": world.stranger.nrn, "role": "access_manager", "valid_until": None, "scope": ""},
    )
    assert j.bumped() == {world.acme.bce: 1}
    assert get_engine().decide(world.stranger.nrn, GRANT_ROLE, world.acme.bce)


@pytest.mark.parametrize(
    ("role", "scope", "stored_scope"),
    [
        ("access_manager", None, ""),
        ("owner", None, ""),
        ("agent", "fiscalite, environnement", "environnement fiscalite"),
        ("agent", ["fiscalite", "fiscalite"], "fiscalite"),
        ("reader", ("environnement",), "environnement"),
    ],
)
def test_an_access_manager_grants_roles_up_to_their_own(world, journal, role, scope, stored_scope):
    end = in_days(90)
    j = journal()
    grant = grant_role(
        as_(world.acme_manager),
        world.acme.bce,
        world.stranger.nrn,
        role,
        valid_until=end.isoformat(),
        scope=scope,
    )
    grant = reload(grant)
    assert (grant.role, grant.scope, grant.valid_until) == (role, stored_scope, end)
    assert grant.granted_by_id == world.acme_manager.id
    assert j.event() == (
        "role.grant",
        actor(world.acme_manager),
        world.acme.bce,
        {
            "person": world.stranger.nrn,
            "role": role,
            "valid_until": end.isoformat(),
            "scope": stored_scope,
        },
    )
    assert j.bumped() == {world.acme.bce: 1}


def test_a_person_never_seen_is_recorded_by_nrn(world):
    grant = grant_role(as_(world.acme_manager), world.acme.bce, NEWCOMER, "reader")
    assert grant.person.nrn == NEWCOMER
    assert get_engine().decide(NEWCOMER, READ_DOSSIER, world.acme.bce)


def test_the_end_date_is_inclusive(world):
    grant = grant_role(
        as_(world.acme_manager),
        world.acme.bce,
        world.stranger.nrn,
        "reader",
        valid_until=in_days(0),
    )
    assert reload(grant).valid_until == in_days(0)
    assert get_engine().decide(world.stranger.nrn, READ_DOSSIER, world.acme.bce)


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("acme_owner", "owner"),
        ("acme_owner", "reader"),
        ("acme_agent", "agent"),
        ("acme_agent", "reader"),
        ("acme_reader", "reader"),
        ("acme_rep", "reader"),  # representing gives no role
        ("stranger", "reader"),
        ("globex_gap", "reader"),  # the GAP of another enterprise
        ("globex_rep", "reader"),
    ],
)
def test_who_does_not_manage_access_cannot_grant(world, refused, who, role):
    with refused(Forbidden, match="do not manage access"):
        grant_role(as_(getattr(world, who)), world.acme.bce, NEWCOMER, role)


def test_the_owner_cannot_grant_a_stronger_role(world, refused):
    with refused(Forbidden):
        grant_role(as_(world.acme_owner), world.acme.bce, NEWCOMER, "access_manager")


@pytest.mark.parametrize("who", ["acme_gap", "acme_manager"])
def test_nobody_grants_the_gap_role(world, refused, who):
    with refused(InvalidInput, match="legal representative designates the GAP"):
        grant_role(as_(getattr(world, who)), world.acme.bce, NEWCOMER, "gap")


@pytest.mark.parametrize("caller", [Caller(), Caller.operator(), Caller.system()])
def test_a_caller_without_a_person_is_refused(world, refused, caller):
    with refused(Forbidden, match="logged-in person"):
        grant_role(caller, world.acme.bce, NEWCOMER, "reader")


def test_an_access_manager_role_cannot_be_scoped(world, refused):
    with refused(InvalidInput, match="cannot be limited"):
        grant_role(
            as_(world.acme_gap), world.acme.bce, NEWCOMER, "access_manager", scope=["fiscalite"]
        )


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "admin"},
        {"role": "Owner"},
        {"role": None},
        {"role": ""},
        {"scope": ["Fiscalité"]},
        {"scope": "x"},
        {"scope": "fiscalite;environnement"},
        {"scope": 42},
        {"scope": ["fiscalite", 42]},
        {"valid_until": "2031-02-30"},
        {"valid_until": "31/12/2031"},
        {"valid_until": 20311231},
        {"valid_until": datetime(2031, 12, 31, 12, 0)},
        {"valid_until": yesterday()},
        {"valid_until": yesterday().isoformat()},
        {"nrn": "12345678901"},
        {"bce": "0123456789"},
    ],
    ids=repr,
)
def test_invalid_input_is_refused(world, refused, changes):
    arguments = {
        "bce": world.acme.bce,
        "nrn": NEWCOMER,
        "role": "agent",
        "valid_until": None,
        "scope": None,
        **changes,
    }
    with refused(InvalidInput):
        grant_role(
            as_(world.acme_manager),
            arguments["bce"],
            arguments["nrn"],
            arguments["role"],
            valid_until=arguments["valid_until"],
            scope=arguments["scope"],
        )


def test_an_unknown_enterprise_is_not_found(world, refused):
    with refused(NotFound):
        grant_role(as_(world.acme_manager), make_bce(9876543), NEWCOMER, "reader")


def test_a_stopped_enterprise_gets_no_new_grant(world, refused):
    with refused(Conflict, match="stopped"):
        grant_role(as_(world.closed_gap), world.closed.bce, NEWCOMER, "reader")


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("acme_owner", "reader"),
        ("acme_reader", "reader"),
        ("acme_agent", "owner"),
        ("acme_manager", "access_manager"),
    ],
)
def test_someone_who_holds_a_role_already_is_a_conflict(world, refused, who, role):
    with refused(Conflict, match="already holds the role"):
        grant_role(as_(world.acme_gap), world.acme.bce, getattr(world, who).nrn, role)


def test_a_grant_past_its_end_date_is_closed_as_expired(world, journal):
    # The reader's grant ran until yesterday (as if time had passed since it was given).
    RoleGrant.update(valid_until=yesterday()).where(RoleGrant.id == world.reader_grant.id).execute()
    assert not get_engine().decide(world.acme_reader.nrn, READ_DOSSIER, world.acme.bce)
    j = journal()

    grant = grant_role(as_(world.acme_manager), world.acme.bce, world.acme_reader.nrn, "agent")

    old = reload(world.reader_grant)
    assert (old.end_reason, old.ended_by_id) == ("expired", world.acme_manager.id)
    assert old.ended_at is not None
    assert grants_of(world.acme_reader) == [old, grant]
    assert active_grant(world.acme_reader, world.acme) == grant
    assert j.event()[0] == "role.grant"
    assert j.bumped() == {world.acme.bce: 1}
    assert get_engine().decide(world.acme_reader.nrn, ACT_FOR, world.acme.bce)


def test_grants_on_one_enterprise_leave_the_others_alone(world, journal):
    j = journal()
    grant_role(as_(world.globex_gap), world.globex.bce, world.acme_owner.nrn, "reader")
    assert j.bumped() == {world.globex.bce: 1}
    assert active_grant(world.acme_owner, world.acme) == world.owner_grant


# -- change_role -------------------------------------------------------------------------------


def test_change_role_ends_the_grant_and_creates_its_replacement(world, journal):
    end = in_days(30)
    j = journal()
    new = change_role(
        as_(world.acme_manager),
        world.reader_grant.id,
        "agent",
        valid_until=end,
        scope=["environnement"],
    )

    old = reload(world.reader_grant)
    assert (old.role, old.end_reason, old.ended_by_id) == (
        "reader",
        "replaced",
        world.acme_manager.id,
    )
    assert old.ended_at is not None
    new = reload(new)
    assert (new.role, new.valid_until, new.scope, new.source) == (
        "agent",
        end,
        "environnement",
        "direct",
    )
    assert (new.person_id, new.granted_by_id, new.ended_at) == (
        world.acme_reader.id,
        world.acme_manager.id,
        None,
    )
    assert grants_of(world.acme_reader) == [old, new]
    assert j.event() == (
        "role.change",
        actor(world.acme_manager),
        world.acme.bce,
        {
            "person": world.acme_reader.nrn,
            "replaces": old.id,
            "old_role": "reader",
            "role": "agent",
            "valid_until": end.isoformat(),
            "scope": "environnement",
        },
    )
    assert j.bumped() == {world.acme.bce: 1}
    engine = get_engine()
    assert engine.decide(world.acme_reader.nrn, ACT_FOR, world.acme.bce, "environnement")
    assert not engine.decide(world.acme_reader.nrn, ACT_FOR, world.acme.bce, "fiscalite")


def test_change_role_may_lower_a_role(world):
    new = change_role(as_(world.acme_gap), world.manager_grant.id, "reader")
    assert new.role == "reader"
    assert not get_engine().decide(world.acme_manager.nrn, GRANT_ROLE, world.acme.bce)


def test_change_role_with_nothing_to_change_is_a_conflict(world, refused):
    with refused(Conflict, match="nothing to change"):
        change_role(as_(world.acme_manager), world.agent_grant.id, "agent", scope="fiscalite")


@pytest.mark.parametrize(
    ("who", "grant", "role"),
    [
        ("acme_owner", "reader_grant", "agent"),
        ("acme_agent", "reader_grant", "reader"),
        ("acme_reader", "reader_grant", "owner"),
        ("globex_gap", "reader_grant", "agent"),
        ("stranger", "owner_grant", "reader"),
    ],
)
def test_who_does_not_manage_access_cannot_change_a_role(world, refused, who, grant, role):
    with refused(Forbidden):
        change_role(as_(getattr(world, who)), getattr(world, grant).id, role)


def test_change_role_to_gap_is_refused(world, refused):
    with refused(InvalidInput):
        change_role(as_(world.acme_gap), world.manager_grant.id, "gap")


def test_change_role_to_a_scoped_access_manager_is_refused(world, refused):
    with refused(InvalidInput):
        change_role(as_(world.acme_gap), world.owner_grant.id, "access_manager", scope="fiscalite")


def test_change_role_of_an_ended_grant_is_a_conflict(world, refused):
    revoke_role(as_(world.acme_manager), world.reader_grant.id)
    with refused(Conflict, match="already ended"):
        change_role(as_(world.acme_manager), world.reader_grant.id, "agent")


@pytest.mark.parametrize(
    ("grant_id", "error"),
    [("abc", InvalidInput), ("", InvalidInput), (None, InvalidInput), (0, InvalidInput)],
)
def test_change_role_of_an_invalid_id_is_refused(world, refused, grant_id, error):
    with refused(error):
        change_role(as_(world.acme_manager), grant_id, "agent")


def test_change_role_of_an_unknown_grant_is_not_found(world, refused):
    with refused(NotFound):
        change_role(as_(world.acme_manager), 999_999, "agent")


# -- revoke_role -------------------------------------------------------------------------------


def test_revocation_ends_the_grant_and_denies_at_once(world, journal):
    engine = get_engine()
    agent = world.acme_agent.nrn
    assert engine.decide(agent, ACT_FOR, world.acme.bce, "fiscalite")
    j = journal()

    grant = revoke_role(as_(world.acme_manager), world.agent_grant.id, reason="left the firm")

    assert not engine.decide(agent, ACT_FOR, world.acme.bce, "fiscalite")
    grant = reload(grant)
    assert (grant.end_reason, grant.ended_by_id) == ("revoked", world.acme_manager.id)
    assert grant.ended_at is not None
    assert active_grant(world.acme_agent, world.acme) is None
    assert j.event() == (
        "role.revoke",
        actor(world.acme_manager),
        world.acme.bce,
        {"person": agent, "role": "agent", "reason": "left the firm"},
    )
    assert j.bumped() == {world.acme.bce: 1}


def test_a_revocation_reason_over_500_characters_is_refused(world, refused):
    with refused(InvalidInput, match="too long"):
        revoke_role(as_(world.acme_manager), world.reader_grant.id, reason="x" * 501)


def test_the_reason_of_a_revocation_is_recorded(world, journal):
    j = journal()
    revoke_role(as_(world.acme_manager), world.reader_grant.id, reason="  left the company ")
    assert j.event()[3]["reason"] == "left the company"


def test_an_access_manager_may_revoke_another_access_manager(world):
    grant = grant_role(as_(world.acme_gap), world.acme.bce, world.stranger.nrn, "access_manager")
    revoke_role(as_(world.acme_manager), grant.id)
    assert not get_engine().decide(world.stranger.nrn, GRANT_ROLE, world.acme.bce)


def test_the_gap_revokes_an_access_manager(world):
    revoke_role(as_(world.acme_gap), world.manager_grant.id)
    assert not get_engine().decide(world.acme_manager.nrn, GRANT_ROLE, world.acme.bce)


@pytest.mark.parametrize(
    ("who", "grant"),
    [
        ("acme_owner", "manager_grant"),
        ("acme_owner", "reader_grant"),
        ("acme_agent", "owner_grant"),
        ("acme_agent", "reader_grant"),
        ("acme_reader", "agent_grant"),
        ("acme_rep", "reader_grant"),
        ("stranger", "reader_grant"),
        ("globex_gap", "reader_grant"),
    ],
)
def test_who_does_not_manage_access_cannot_revoke(world, refused, who, grant):
    with refused(Forbidden):
        revoke_role(as_(getattr(world, who)), getattr(world, grant).id)


def test_a_revoked_access_manager_can_no_longer_revoke(world, refused):
    revoke_role(as_(world.acme_gap), world.manager_grant.id)
    with refused(Forbidden):
        revoke_role(as_(world.acme_manager), world.reader_grant.id)


def test_revoking_an_ended_grant_is_a_conflict(world, refused):
    revoke_role(as_(world.acme_manager), world.reader_grant.id)
    with refused(Conflict, match="already ended"):
        revoke_role(as_(world.acme_manager), world.reader_grant.id)


@pytest.mark.parametrize("grant_id", ["abc", "", None, 0, -1, "1.5", True, [1]], ids=repr)
def test_revoking_an_invalid_id_is_refused(world, refused, grant_id):
    with refused(InvalidInput, match="invalid role grant id"):
        revoke_role(as_(world.acme_manager), grant_id)


def test_an_id_given_as_text_is_accepted(world):
    revoke_role(as_(world.acme_manager), str(world.reader_grant.id))
    assert reload(world.reader_grant).end_reason == "revoked"


@pytest.mark.parametrize("grant_id", [999_999, "999999", 2**31, "9" * 20], ids=repr)
def test_revoking_an_unknown_grant_is_not_found(world, refused, grant_id):
    with refused(NotFound):
        revoke_role(as_(world.acme_manager), grant_id)


@pytest.mark.parametrize("caller", [Caller(), Caller.operator()])
def test_revoking_needs_a_person(world, refused, caller):
    with refused(Forbidden):
        revoke_role(caller, world.reader_grant.id)


def test_active_grant_ignores_ended_grants(world):
    assert active_grant(world.acme_reader, world.acme) == world.reader_grant
    revoke_role(as_(world.acme_manager), world.reader_grant.id)
    assert active_grant(world.acme_reader, world.acme) is None
    assert active_grant(world.stranger, world.acme) is None


def test_a_revocation_racing_a_change_does_not_report_success(world, monkeypatch):
    """Two managers act on one grant at once: the second, which read it before the first
    committed, is refused instead of ending a grant that was already replaced."""
    from authz.services import grants

    grant = grant_role(as_(world.acme_gap), world.acme.bce, world.stranger.nrn, "reader")
    stale = RoleGrant.get_by_id(grant.id)  # what the revoking transaction read
    replacement = change_role(as_(world.acme_gap), grant.id, "agent")
    monkeypatch.setattr(grants, "_grant_in_force", lambda _grant_id: stale)

    with pytest.raises(Conflict, match="meanwhile"):
        revoke_role(as_(world.acme_gap), grant.id)
    assert reload(grant).end_reason == "replaced"
    assert reload(replacement).ended_at is None  # the agent role stays, and says so
