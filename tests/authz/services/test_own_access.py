"""Nobody decides on their own access, and nobody gives more than they hold.

The policy's rules ``may_decide`` and ``may_give`` (``policies/enterprise.polar``), on every
path that gives a grant: granting, changing, inviting, accepting an invitation, accepting a
role request. Each refusal writes nothing; each rule is also shown allowing.
"""

from __future__ import annotations

import pytest

from authz.errors import BeyondOwnGrant, Forbidden, OwnAccess
from authz.models import RoleGrant
from authz.services import (
    accept_invitation,
    accept_request,
    active_grant,
    change_role,
    designate_gap,
    grant_role,
    invite,
    invite_gap,
    refuse_request,
    request_role,
)
from tests.authz.services import as_, in_days, make_nrn, reload

NEWCOMER = make_nrn("910523", 64)


@pytest.fixture
def limited(world) -> RoleGrant:
    """Sophie, access manager of Acme, only for the next 30 days (set by the GAP)."""
    return change_role(
        as_(world.acme_gap), world.manager_grant.id, "access_manager", valid_until=in_days(30)
    )


# -- nobody accepts their own invitation ---------------------------------------------------------


def test_an_access_manager_cannot_invite_themself_by_nrn(world, refused, limited):
    with refused(OwnAccess, match="nobody gives themselves"):
        invite(
            as_(world.acme_manager),
            world.acme.bce,
            "sophie@example.test",
            "access_manager",
            valid_until=in_days(30),
            nrn=world.acme_manager.nrn,
        )


def test_nobody_accepts_an_invitation_they_sent(world, refused, limited):
    # Sent to an address without an NRN: nothing tells who will open it, until then.
    _, token = invite(
        as_(world.acme_manager),
        world.acme.bce,
        "sophie.perso@example.test",
        "access_manager",
        valid_until=in_days(30),
    )
    with refused(OwnAccess, match="nobody accepts their own"):
        accept_invitation(as_(world.acme_manager), token)
    # Anyone else may use it.
    grant = accept_invitation(as_(world.stranger), token)
    assert (grant.person_id, grant.role, grant.valid_until) == (
        world.stranger.id,
        "access_manager",
        in_days(30),
    )


def test_a_representative_cannot_accept_their_own_gap_invitation(world, refused):
    _, token = invite_gap(as_(world.acme_rep), world.acme.bce, "anne@example.test")
    with refused(OwnAccess):
        accept_invitation(as_(world.acme_rep), token)
    # Designating themself directly stays possible (a sole trader's case).
    designation = designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_rep.nrn)
    assert designation.person_id == world.acme_rep.id


# -- nobody decides their own role request ----------------------------------------------------


@pytest.fixture
def own_request(world):
    """Paul (owner) asks to become access manager; the GAP then makes him access manager until
    a date, so that his own request lands in his list of pending requests."""
    request = request_role(as_(world.acme_owner), world.acme.bce, "access_manager")
    change_role(
        as_(world.acme_gap), world.owner_grant.id, "access_manager", valid_until=in_days(30)
    )
    return request


def test_nobody_accepts_their_own_role_request(world, refused, own_request):
    with refused(OwnAccess, match="nobody decides their own role request"):
        accept_request(as_(world.acme_owner), own_request.id)


def test_nobody_refuses_their_own_role_request(world, refused, own_request):
    with refused(OwnAccess, match="withdraw"):
        refuse_request(as_(world.acme_owner), own_request.id, "non")


def test_someone_else_decides_the_request(world, own_request):
    grant = accept_request(as_(world.acme_gap), own_request.id)
    assert (grant.person_id, grant.role, grant.valid_until) == (
        world.acme_owner.id,
        "access_manager",
        None,
    )


# -- a grant given is bounded by the giver's own grant -----------------------------------------

# (role, end date) a time-limited access manager (30 days) may not give to someone else.
BEYOND = [("access_manager", None), ("owner", None), ("reader", 31), ("agent", 400)]
WITHIN = [("access_manager", 30), ("owner", 30), ("reader", 1)]


def _until(days):
    return None if days is None else in_days(days)


@pytest.mark.parametrize(("role", "days"), BEYOND)
def test_a_limited_access_manager_grants_no_further_than_their_own_end(
    world, refused, limited, role, days
):
    with refused(BeyondOwnGrant, match="more than your own grant"):
        grant_role(
            as_(world.acme_manager), world.acme.bce, NEWCOMER, role, valid_until=_until(days)
        )


@pytest.mark.parametrize(("role", "days"), WITHIN)
def test_a_limited_access_manager_grants_up_to_their_own_end(world, limited, role, days):
    grant = grant_role(
        as_(world.acme_manager), world.acme.bce, NEWCOMER, role, valid_until=_until(days)
    )
    assert (grant.role, grant.valid_until) == (role, _until(days))


@pytest.mark.parametrize(("role", "days"), BEYOND)
def test_a_limited_access_manager_invites_no_further_than_their_own_end(
    world, refused, limited, role, days
):
    with refused(BeyondOwnGrant):
        invite(
            as_(world.acme_manager),
            world.acme.bce,
            "new@example.test",
            role,
            valid_until=_until(days),
        )


@pytest.mark.parametrize(("role", "days"), BEYOND)
def test_a_limited_access_manager_changes_no_grant_beyond_their_own_end(
    world, refused, limited, role, days
):
    with refused(BeyondOwnGrant):
        change_role(as_(world.acme_manager), world.reader_grant.id, role, valid_until=_until(days))


@pytest.mark.parametrize(("role", "days"), BEYOND)
def test_a_limited_access_manager_accepts_requests_no_further_than_their_own_end(
    world, refused, limited, role, days
):
    request = request_role(as_(world.stranger), world.acme.bce, "access_manager")
    with refused(BeyondOwnGrant):
        accept_request(as_(world.acme_manager), request.id, role=role, valid_until=_until(days))


def test_a_limited_access_manager_accepts_a_request_up_to_their_own_end(world, limited):
    request = request_role(as_(world.stranger), world.acme.bce, "owner")
    grant = accept_request(as_(world.acme_manager), request.id, valid_until=in_days(30))
    assert (grant.role, grant.valid_until) == ("owner", in_days(30))


def test_a_second_manager_cannot_lift_the_first_ones_end_date(world, refused, limited):
    # Sophie (until day 30) makes a second access manager, who can hold no more than she does...
    second = grant_role(
        as_(world.acme_manager),
        world.acme.bce,
        world.stranger.nrn,
        "access_manager",
        valid_until=in_days(30),
    )
    # ...and so cannot take Sophie's end date away, nor push it later.
    for later in (None, in_days(31)):
        with refused(BeyondOwnGrant):
            change_role(as_(world.stranger), limited.id, "access_manager", valid_until=later)
    # Within the second manager's own grant, the change goes through.
    changed = change_role(as_(world.stranger), limited.id, "access_manager", valid_until=in_days(5))
    assert changed.valid_until == in_days(5)
    assert reload(second).ended_at is None


def test_the_gap_is_not_bounded(world):
    grant = grant_role(as_(world.acme_gap), world.acme.bce, NEWCOMER, "access_manager")
    assert (grant.role, grant.valid_until) == ("access_manager", None)


# -- at acceptance, the sender's grant as it is then --------------------------------------------


def test_an_invitation_is_bounded_by_its_senders_grant_at_acceptance(world, refused):
    manager = as_(world.acme_manager)
    _, beyond = invite(manager, world.acme.bce, "a@example.test", "owner", valid_until=in_days(60))
    _, within = invite(manager, world.acme.bce, "b@example.test", "owner", valid_until=in_days(9))
    # Meanwhile the GAP shortens Sophie's grant to 10 days.
    change_role(
        as_(world.acme_gap), world.manager_grant.id, "access_manager", valid_until=in_days(10)
    )
    with refused(BeyondOwnGrant, match="person who invited you can no longer give"):
        accept_invitation(as_(world.stranger), beyond)
    grant = accept_invitation(as_(world.stranger), within)
    assert (grant.role, grant.valid_until) == ("owner", in_days(9))


def test_an_invitation_whose_sender_lost_the_right_to_give_is_refused(world, refused):
    _, token = invite(as_(world.acme_manager), world.acme.bce, "a@example.test", "reader")
    change_role(as_(world.acme_gap), world.manager_grant.id, "owner")
    with refused(Forbidden, match="no longer manages this role"):
        accept_invitation(as_(world.stranger), token)


# -- what a person may do to their own grant ------------------------------------------------


@pytest.mark.parametrize(
    ("role", "days"),
    [("access_manager", None), ("access_manager", 31), ("access_manager", 400)],
)
def test_an_access_manager_cannot_extend_their_own_grant(world, refused, limited, role, days):
    with refused(BeyondOwnGrant):
        change_role(as_(world.acme_manager), limited.id, role, valid_until=_until(days))


@pytest.mark.parametrize(("role", "days"), [("access_manager", 10), ("owner", 30), ("reader", 2)])
def test_an_access_manager_may_shorten_or_weaken_their_own_grant(world, limited, role, days):
    changed = change_role(as_(world.acme_manager), limited.id, role, valid_until=_until(days))
    assert (changed.person_id, changed.role, changed.valid_until) == (
        world.acme_manager.id,
        role,
        _until(days),
    )


def test_the_gap_gives_themself_no_grant(world, refused):
    with refused(OwnAccess):
        grant_role(as_(world.acme_gap), world.acme.bce, world.acme_gap.nrn, "access_manager")
    assert active_grant(world.acme_gap, world.acme) is None


def test_the_gap_cannot_change_a_grant_of_their_own(world, refused):
    # A grant the GAP received before being designated: not theirs to change.
    grant = grant_role(
        as_(world.acme_manager), world.acme.bce, world.stranger.nrn, "owner", valid_until=in_days(3)
    )
    designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn)
    with refused(OwnAccess):
        change_role(as_(world.stranger), grant.id, "access_manager")
