"""Invitations: single-use, expiring links that give a role, or the GAP post, to whoever accepts
them (logged in)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from authz import audit
from authz.engine import get_engine
from authz.errors import Conflict, Expired, Forbidden, InvalidInput, NotFound
from authz.models import (
    Enterprise,
    GapDesignation,
    Invitation,
    LegalRepresentation,
    RoleGrant,
    utcnow,
)
from authz.permissions import ACT_FOR, GRANT_ROLE, READ_DOSSIER
from authz.services import (
    Caller,
    accept_invitation,
    active_grant,
    cancel_invitation,
    check_invitation,
    current_gap,
    designate_gap,
    find_invitation,
    invite,
    invite_gap,
    pending_gap_invitations,
    revoke_role,
)
from tests.authz.services import actor, as_, in_days, make_bce, reload, yesterday

EMAIL = "nora.benali@example.be"


@pytest.fixture
def invited(world) -> tuple[Invitation, str]:
    """The access manager invites an agent for the fiscal domain until 90 days from now."""
    return invite(
        as_(world.acme_manager),
        world.acme.bce,
        EMAIL,
        "agent",
        valid_until=in_days(90),
        scope=["fiscalite"],
    )


def past_expiry(invitation: Invitation) -> None:
    """As if the 14 days of the link had passed."""
    Invitation.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        Invitation.id == invitation.id
    ).execute()


# -- invite ------------------------------------------------------------------------------------


def test_an_invitation_stores_only_the_hash_of_its_token(world, journal):
    j = journal()
    invitation, token = invite(as_(world.acme_gap), world.acme.bce, f"  {EMAIL} ", "owner")

    assert len(token) >= 40
    row = reload(invitation)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(Invitation.select().where(Invitation.id == row.id).dicts().get())
    assert (row.email, row.role, row.scope, row.valid_until, row.nrn) == (
        EMAIL,
        "owner",
        "",
        None,
        None,
    )
    assert row.invited_by_id == world.acme_gap.id
    assert row.expires_at == row.created_at + timedelta(days=14)
    assert (row.accepted_at, row.accepted_by, row.cancelled_at, row.grant) == (
        None,
        None,
        None,
        None,
    )
    action, who, bce, details = j.event()
    assert (action, who, bce) == ("invitation.create", actor(world.acme_gap), world.acme.bce)
    assert details == {
        "email": EMAIL,
        "role": "owner",
        "bound_nrn": None,
        "valid_until": None,
        "scope": "",
    }
    assert token not in j.events()[0].details
    # Nobody has any new right until someone accepts.
    assert j.bumped() == {}
    assert find_invitation(token) == invitation


def test_two_invitations_have_different_tokens(world):
    _, first = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "reader")
    _, second = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "reader")
    assert first != second


def test_an_invitation_may_be_bound_to_an_nrn(world, journal):
    nrn = world.stranger.nrn
    spelled = f"{nrn[:2]}.{nrn[2:4]}.{nrn[4:6]}-{nrn[6:9]}.{nrn[9:]}"
    j = journal()
    invitation, _ = invite(as_(world.acme_manager), world.acme.bce, EMAIL, "reader", nrn=spelled)
    assert invitation.nrn == nrn
    assert j.event()[3]["bound_nrn"] == nrn


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        None,
        "nora",
        "nora@",
        "@example.be",
        "nora@example",
        "no ra@example.be",
        "a@b@example.be",
        "x" * 65 + "@example.be",
        "nora@" + "x" * 250 + ".be",
        42,
    ],
    ids=repr,
)
def test_an_invalid_email_is_refused(world, refused, email):
    with refused(InvalidInput, match="email"):
        invite(as_(world.acme_gap), world.acme.bce, email, "reader")


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "gap"},
        {"role": "admin"},
        {"scope": "Fiscalité"},
        {"valid_until": "2031-13-01"},
        {"valid_until": yesterday()},
        {"nrn": "12345678901"},
        {"bce": "0123456789"},
    ],
    ids=repr,
)
def test_invalid_terms_are_refused(world, refused, changes):
    arguments = {"bce": world.acme.bce, "role": "reader", **changes}
    bce, role = arguments.pop("bce"), arguments.pop("role")
    with refused(InvalidInput):
        invite(as_(world.acme_gap), bce, EMAIL, role, **arguments)


def test_an_access_manager_invitation_cannot_be_scoped(world, refused):
    with refused(InvalidInput, match="cannot be limited"):
        invite(as_(world.acme_gap), world.acme.bce, EMAIL, "access_manager", scope="fiscalite")


def test_an_unknown_enterprise_is_not_found(world, refused):
    with refused(NotFound):
        invite(as_(world.acme_gap), make_bce(9876543), EMAIL, "reader")


def test_a_stopped_enterprise_sends_no_invitation(world, refused):
    with refused(Conflict, match="stopped"):
        invite(as_(world.closed_gap), world.closed.bce, EMAIL, "reader")


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("acme_owner", "access_manager"),  # stronger than theirs
        ("acme_owner", "owner"),
        ("acme_agent", "owner"),
        ("acme_reader", "agent"),
        ("acme_reader", "reader"),
        ("acme_rep", "reader"),
        ("globex_gap", "reader"),
        ("stranger", "reader"),
    ],
)
def test_who_does_not_manage_access_cannot_invite(world, refused, who, role):
    with refused(Forbidden, match="do not manage access"):
        invite(as_(getattr(world, who)), world.acme.bce, EMAIL, role)


def test_inviting_needs_a_person(world, refused):
    with refused(Forbidden):
        invite(Caller.operator(), world.acme.bce, EMAIL, "reader")


# -- accept_invitation -------------------------------------------------------------------------


def test_the_logged_in_person_accepting_gets_the_role(world, journal, invited):
    invitation, token = invited
    j = journal()
    grant = accept_invitation(as_(world.stranger), token)

    grant = reload(grant)
    assert (grant.person_id, grant.enterprise_id, grant.role) == (
        world.stranger.id,
        world.acme.id,
        "agent",
    )
    assert (grant.scope, grant.valid_until, grant.source) == (
        "fiscalite",
        in_days(90),
        "invitation",
    )
    assert grant.granted_by_id == world.acme_manager.id
    invitation = reload(invitation)
    assert (invitation.accepted_by_id, invitation.grant_id) == (world.stranger.id, grant.id)
    assert invitation.accepted_at is not None
    assert j.event() == (
        "invitation.accept",
        actor(world.stranger),
        world.acme.bce,
        {"person": world.stranger.nrn, "role": "agent", "grant": grant.id, "replaces": None},
    )
    assert j.bumped() == {world.acme.bce: 1}
    engine = get_engine()
    assert engine.decide(world.stranger.nrn, ACT_FOR, world.acme.bce, "fiscalite")
    assert not engine.decide(world.stranger.nrn, ACT_FOR, world.acme.bce, "environnement")


def test_an_invitation_is_used_once(world, refused, invited):
    _, token = invited
    accept_invitation(as_(world.stranger), token)
    with refused(Conflict, match="already been used"):
        accept_invitation(as_(world.stranger), token)
    with refused(Conflict, match="already been used"):
        accept_invitation(as_(world.globex_rep), token)


def test_an_expired_invitation_is_refused(world, refused, invited):
    invitation, token = invited
    past_expiry(invitation)
    with refused(Expired, match="ask for a new one"):
        accept_invitation(as_(world.stranger), token)


def test_a_cancelled_invitation_is_refused(world, refused, invited):
    invitation, token = invited
    cancel_invitation(as_(world.acme_gap), invitation.id)
    with refused(Conflict, match="cancelled"):
        accept_invitation(as_(world.stranger), token)


def test_an_invitation_bound_to_an_nrn_is_for_that_person_only(world, refused):
    _, token = invite(
        as_(world.acme_manager), world.acme.bce, EMAIL, "reader", nrn=world.stranger.nrn
    )
    with refused(Forbidden, match="someone else"):
        accept_invitation(as_(world.globex_rep), token)
    grant = accept_invitation(as_(world.stranger), token)
    assert grant.person_id == world.stranger.id


@pytest.mark.parametrize("token", ["", "   ", None, 42, "not-a-token"], ids=repr)
def test_an_invalid_token_is_not_found(world, refused, invited, token):
    with refused(NotFound, match="not valid"):
        accept_invitation(as_(world.stranger), token)


def test_a_token_with_one_character_changed_is_not_found(world, refused, invited):
    _, token = invited
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with refused(NotFound):
        accept_invitation(as_(world.stranger), altered)


@pytest.mark.parametrize("caller", [Caller(), Caller.operator(), Caller.system()])
def test_accepting_needs_a_person(world, refused, invited, caller):
    with refused(Forbidden, match="logged-in person"):
        accept_invitation(caller, invited[1])


def test_an_invitation_is_only_as_good_as_its_senders_rights(world, refused, invited):
    _, token = invited
    revoke_role(as_(world.acme_gap), world.manager_grant.id)
    with refused(Forbidden, match="no longer manages"):
        accept_invitation(as_(world.stranger), token)


def test_an_invitation_from_a_replaced_gap_is_refused(world, refused):
    _, token = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "owner")
    designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_rep.nrn)
    with refused(Forbidden, match="no longer manages"):
        accept_invitation(as_(world.stranger), token)


def test_an_invitation_of_a_stopped_enterprise_gives_nothing(world, refused):
    _, token = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "reader")
    Enterprise.update(status="stopped").where(Enterprise.id == world.acme.id).execute()
    with refused(Conflict, match="stopped"):
        accept_invitation(as_(world.stranger), token)


def test_accepting_replaces_a_weaker_grant(world, journal, invited):
    _, token = invited
    j = journal()
    grant = accept_invitation(as_(world.acme_reader), token)

    old = reload(world.reader_grant)
    assert (old.end_reason, old.ended_by_id) == ("replaced", world.acme_manager.id)
    assert active_grant(world.acme_reader, world.acme) == grant
    assert j.event()[3]["replaces"] == old.id


def test_accepting_with_a_stronger_role_already_is_a_conflict(world, refused, invited):
    _, token = invited
    with refused(Conflict, match="already holds the role owner"):
        accept_invitation(as_(world.acme_owner), token)
    # The link was not used up by the failed attempt.
    assert accept_invitation(as_(world.stranger), token).role == "agent"


def test_an_invitation_whose_end_date_has_passed_takes_nothing_away(world, refused):
    # Invited as an agent until tomorrow; accepted (as if) two days later by the reader.
    invitation, token = invite(
        as_(world.acme_manager), world.acme.bce, EMAIL, "agent", valid_until=in_days(1)
    )
    Invitation.update(valid_until=yesterday()).where(Invitation.id == invitation.id).execute()
    with refused(Expired):
        accept_invitation(as_(world.acme_reader), token)
    assert get_engine().decide(world.acme_reader.nrn, READ_DOSSIER, world.acme.bce)


# -- cancel_invitation -------------------------------------------------------------------------


def test_an_access_manager_cancels_an_invitation(world, journal, invited):
    invitation, _ = invited
    j = journal()
    cancelled = cancel_invitation(as_(world.acme_gap), invitation.id)

    assert reload(cancelled).cancelled_at is not None
    assert j.event() == ("invitation.cancel", actor(world.acme_gap), world.acme.bce, {})
    assert j.bumped() == {}


@pytest.mark.parametrize(
    "who", ["acme_owner", "acme_agent", "acme_reader", "acme_rep", "stranger", "globex_gap"]
)
def test_who_does_not_manage_access_cannot_cancel(world, refused, invited, who):
    with refused(Forbidden, match="do not manage access"):
        cancel_invitation(as_(getattr(world, who)), invited[0].id)


def test_cancelling_twice_or_after_acceptance_is_a_conflict(world, refused, invited):
    invitation, token = invited
    other, _ = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "reader")
    cancel_invitation(as_(world.acme_gap), other.id)
    with refused(Conflict, match="already been used or cancelled"):
        cancel_invitation(as_(world.acme_gap), other.id)
    accept_invitation(as_(world.stranger), token)
    with refused(Conflict, match="already been used or cancelled"):
        cancel_invitation(as_(world.acme_gap), invitation.id)


@pytest.mark.parametrize(("invitation_id", "error"), [("abc", InvalidInput), (999_999, NotFound)])
def test_cancelling_an_invalid_or_unknown_id_is_refused(world, refused, invitation_id, error):
    with refused(error):
        cancel_invitation(as_(world.acme_gap), invitation_id)


def test_cancelling_needs_a_person(world, refused, invited):
    with refused(Forbidden):
        cancel_invitation(Caller.system(), invited[0].id)


def test_grants_from_invitations_are_revocable_like_any_other(world):
    _, token = invite(as_(world.acme_manager), world.acme.bce, EMAIL, "reader")
    grant = accept_invitation(as_(world.stranger), token)
    revoke_role(as_(world.acme_manager), grant.id)
    assert reload(grant).end_reason == "revoked"
    assert RoleGrant.select().where(RoleGrant.person == world.stranger).count() == 1
    assert not get_engine().decide(world.stranger.nrn, READ_DOSSIER, world.acme.bce)


# -- GAP invitations ---------------------------------------------------------------------------

GAP_EMAIL = "future.gap@example.be"


@pytest.fixture
def gap_invited(world) -> tuple[Invitation, str]:
    """Acme's legal representative invites an email address to become its GAP."""
    return invite_gap(as_(world.acme_rep), world.acme.bce, GAP_EMAIL)


def test_a_representative_invites_an_email_address_to_become_gap(world, journal):
    j = journal()
    invitation, token = invite_gap(as_(world.acme_rep), world.acme.bce, f" {GAP_EMAIL} ")

    row = reload(invitation)
    assert (row.email, row.role, row.scope, row.valid_until, row.nrn) == (
        GAP_EMAIL,
        "gap",
        "",
        None,
        None,
    )
    assert row.invited_by_id == world.acme_rep.id
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.expires_at == row.created_at + timedelta(days=14)
    assert j.event() == (
        "invitation.create",
        actor(world.acme_rep),
        world.acme.bce,
        {"email": GAP_EMAIL, "role": "gap", "bound_nrn": None, "valid_until": None, "scope": ""},
    )
    # The GAP in force stays until someone accepts.
    assert j.bumped() == {}
    assert current_gap(world.acme).person_id == world.acme_gap.id
    assert pending_gap_invitations(world.acme) == [invitation]


@pytest.mark.parametrize(
    "who", ["acme_gap", "acme_manager", "acme_owner", "acme_reader", "stranger", "globex_rep"]
)
def test_only_a_legal_representative_invites_a_gap(world, refused, who):
    with refused(Forbidden, match="only a legal representative"):
        invite_gap(as_(getattr(world, who)), world.acme.bce, GAP_EMAIL)


def test_the_gap_role_is_never_offered_by_a_role_invitation(world, refused):
    with refused(InvalidInput, match="a legal representative designates the GAP"):
        invite(as_(world.acme_gap), world.acme.bce, EMAIL, "gap")


@pytest.mark.parametrize(
    ("bce", "email", "nrn", "error"),
    [
        ("acme", "nora", None, InvalidInput),
        ("acme", GAP_EMAIL, "12345678901", InvalidInput),
        (make_bce(9876543), GAP_EMAIL, None, NotFound),
        ("closed", GAP_EMAIL, None, Conflict),
    ],
    ids=["bad-email", "bad-nrn", "unknown-enterprise", "stopped-enterprise"],
)
def test_a_bad_gap_invitation_writes_nothing(world, refused, bce, email, nrn, error):
    caller = as_(world.closed_rep if bce == "closed" else world.acme_rep)
    bce = getattr(world, bce).bce if bce in ("acme", "closed") else bce
    with refused(error):
        invite_gap(caller, bce, email, nrn=nrn)


def test_inviting_the_gap_in_office_by_nrn_is_a_conflict(world, refused):
    with refused(Conflict, match="already the GAP"):
        invite_gap(as_(world.acme_rep), world.acme.bce, GAP_EMAIL, nrn=world.acme_gap.nrn)


def test_the_accepter_becomes_gap_and_the_previous_designation_ends(world, journal, gap_invited):
    invitation, token = gap_invited
    previous = current_gap(world.acme)
    engine = get_engine()
    assert not engine.decide(world.stranger.nrn, GRANT_ROLE, world.acme.bce)
    j = journal()

    designation = accept_invitation(as_(world.stranger), token)

    assert isinstance(designation, GapDesignation)
    assert (designation.person_id, designation.designated_by_id) == (
        world.stranger.id,
        world.acme_rep.id,
    )
    assert current_gap(world.acme) == designation
    previous = reload(previous)
    assert (previous.ended_at, previous.ended_by_id) == (designation.started_at, world.acme_rep.id)
    invitation = reload(invitation)
    assert invitation.accepted_by_id == world.stranger.id and invitation.accepted_at is not None
    assert invitation.grant is None  # the GAP role comes from the designation, never a grant
    accepted, designated = j.events()
    assert (accepted.action, accepted.actor, json.loads(accepted.details)) == (
        "invitation.accept",
        actor(world.stranger),
        {"person": world.stranger.nrn, "role": "gap"},
    )
    assert (designated.action, designated.actor, designated.target_id) == (
        "gap.designate",
        actor(world.stranger),
        str(designation.id),
    )
    assert json.loads(designated.details) == {
        "gap": world.stranger.nrn,
        "previous_gap": world.acme_gap.nrn,
        "invitation": invitation.id,
        "designated_by": world.acme_rep.nrn,
    }
    assert j.bumped() == {world.acme.bce: 1}
    assert engine.decide(world.stranger.nrn, GRANT_ROLE, world.acme.bce)
    assert not engine.decide(world.acme_gap.nrn, GRANT_ROLE, world.acme.bce)
    assert pending_gap_invitations(world.acme) == []
    assert audit.verify().ok


def test_an_enterprise_without_gap_gets_one_by_invitation(world, journal):
    _, token = invite_gap(as_(world.asbl_rep), world.asbl.bce, GAP_EMAIL)
    j = journal()
    designation = accept_invitation(as_(world.stranger), token)
    assert current_gap(world.asbl) == designation
    assert json.loads(j.events()[1].details)["previous_gap"] is None
    assert j.bumped() == {world.asbl.bce: 1}


def test_a_gap_invitation_is_used_once(world, refused, gap_invited):
    _, token = gap_invited
    accept_invitation(as_(world.stranger), token)
    with refused(Conflict, match="already been used"):
        accept_invitation(as_(world.stranger), token)
    with refused(Conflict, match="already been used"):
        accept_invitation(as_(world.globex_rep), token)


def test_a_representative_who_lost_the_representation_makes_the_link_unusable(
    world, refused, gap_invited
):
    invitation, token = gap_invited
    LegalRepresentation.update(ended_on=yesterday()).where(
        LegalRepresentation.person == world.acme_rep
    ).execute()
    with refused(Forbidden, match="no longer a legal representative"):
        accept_invitation(as_(world.stranger), token)
    with refused(Forbidden, match="no longer a legal representative"):
        check_invitation(as_(world.stranger), token)
    assert reload(invitation).accepted_at is None
    assert current_gap(world.acme).person_id == world.acme_gap.id


def test_a_gap_invitation_bound_to_an_nrn_is_for_that_person_only(world, refused):
    _, token = invite_gap(as_(world.acme_rep), world.acme.bce, GAP_EMAIL, nrn=world.stranger.nrn)
    with refused(Forbidden, match="someone else"):
        accept_invitation(as_(world.globex_rep), token)
    assert accept_invitation(as_(world.stranger), token).person_id == world.stranger.id


def test_an_expired_gap_invitation_is_refused(world, refused, gap_invited):
    invitation, token = gap_invited
    past_expiry(invitation)
    with refused(Expired):
        accept_invitation(as_(world.stranger), token)
    assert pending_gap_invitations(world.acme) == []


def test_the_gap_in_office_accepting_is_a_conflict_and_keeps_the_link(world, refused, gap_invited):
    _, token = gap_invited
    with refused(Conflict, match="already the GAP"):
        accept_invitation(as_(world.acme_gap), token)
    assert accept_invitation(as_(world.stranger), token).person_id == world.stranger.id


def test_a_gap_invitation_of_a_stopped_enterprise_gives_nothing(world, refused, gap_invited):
    _, token = gap_invited
    Enterprise.update(status="stopped").where(Enterprise.id == world.acme.id).execute()
    with refused(Conflict, match="stopped"):
        accept_invitation(as_(world.stranger), token)


def test_a_newer_gap_invitation_cancels_the_older_one(world, journal, gap_invited):
    older, older_token = gap_invited
    j = journal()
    newer, _ = invite_gap(as_(world.acme_rep), world.acme.bce, "other@example.be")

    created, cancelled = j.events()
    assert (created.action, created.target_id) == ("invitation.create", str(newer.id))
    assert (cancelled.action, cancelled.target_id, cancelled.actor) == (
        "invitation.cancel",
        str(older.id),
        actor(world.acme_rep),
    )
    assert json.loads(cancelled.details) == {
        "reason": "superseded",
        "superseded_by": f"invitation:{newer.id}",
    }
    assert reload(older).cancelled_at is not None
    assert pending_gap_invitations(world.acme) == [newer]
    with pytest.raises(Conflict, match="cancelled"):
        accept_invitation(as_(world.stranger), older_token)


def test_accepting_a_gap_invitation_leaves_role_invitations_alone(world, gap_invited, invited):
    role_invitation, role_token = invited
    accept_invitation(as_(world.stranger), gap_invited[1])
    assert reload(role_invitation).cancelled_at is None
    # The role invitation's sender (an access manager) still manages the role.
    assert accept_invitation(as_(world.globex_rep), role_token).role == "agent"


def test_check_invitation_tells_what_accepting_would_and_writes_nothing(
    world, gap_invited, invited, refused
):
    invitation, token = gap_invited
    with refused(NotFound):
        check_invitation(as_(world.stranger), "not-a-token")
    assert check_invitation(as_(world.stranger), token) == invitation
    assert reload(invitation).accepted_at is None
    # A role invitation (agent) to someone holding a stronger role (owner).
    with refused(Conflict, match="already holds the role owner"):
        check_invitation(as_(world.acme_owner), invited[1])
    assert check_invitation(as_(world.acme_reader), invited[1]) == invited[0]


def test_a_representative_cancels_a_gap_invitation(world, journal, gap_invited):
    invitation, token = gap_invited
    j = journal()
    cancel_invitation(as_(world.acme_rep), invitation.id)
    assert j.event() == ("invitation.cancel", actor(world.acme_rep), world.acme.bce, {})
    assert j.bumped() == {}
    with pytest.raises(Conflict, match="cancelled"):
        accept_invitation(as_(world.stranger), token)


@pytest.mark.parametrize(
    "who", ["acme_gap", "acme_manager", "acme_owner", "stranger", "globex_rep"]
)
def test_only_a_legal_representative_cancels_a_gap_invitation(world, refused, gap_invited, who):
    with refused(Forbidden, match="only a legal representative"):
        cancel_invitation(as_(getattr(world, who)), gap_invited[0].id)


def test_cancelling_an_invitation_accepted_meanwhile_is_refused(world, invited, monkeypatch):
    """The canceller read the invitation before the acceptance committed: the acceptance
    stands, with its grant, and the cancellation is refused."""
    invitation, token = invited
    stale = Invitation.get_by_id(invitation.id)
    grant = accept_invitation(as_(world.stranger), token)
    monkeypatch.setattr(Invitation, "get_or_none", classmethod(lambda cls, *_a: stale))

    with pytest.raises(Conflict, match="already been used or cancelled"):
        cancel_invitation(as_(world.acme_gap), invitation.id)
    stored = Invitation.get_by_id(invitation.id)
    assert stored.accepted_at is not None and stored.cancelled_at is None
    assert stored.grant_id == grant.id
