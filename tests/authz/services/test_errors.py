"""Each refusal names its precise reason (authz/errors.py), so that a page words it without
reading rows again; each stays a kind of the broader error it always was."""

from __future__ import annotations

import pytest

from authz.errors import (
    AlreadyDecided,
    AlreadyGap,
    BeyondOwnGrant,
    ChangedMeanwhile,
    Conflict,
    EnterpriseStopped,
    Forbidden,
    InvitationCancelled,
    InvitationUsed,
    NoGap,
    NotTheInvitee,
    RequestPending,
    RoleAlreadyHeld,
    SenderBeyondOwnGrant,
    SenderNotEntitled,
)
from authz.models import LegalRepresentation
from authz.services import (
    accept_invitation,
    cancel_invitation,
    change_role,
    check_invitation,
    designate_gap,
    invite,
    invite_gap,
    refuse_request,
    request_role,
    revoke_role,
    withdraw_request,
)
from tests.authz.services import as_, in_days

EMAIL = "someone@example.test"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (AlreadyDecided, Conflict),
        (AlreadyGap, Conflict),
        (ChangedMeanwhile, Conflict),
        (EnterpriseStopped, Conflict),
        (InvitationCancelled, Conflict),
        (InvitationUsed, Conflict),
        (RequestPending, Conflict),
        (RoleAlreadyHeld, Conflict),
        (NotTheInvitee, Forbidden),
        (SenderNotEntitled, Forbidden),
        (SenderBeyondOwnGrant, SenderNotEntitled),
        (SenderBeyondOwnGrant, BeyondOwnGrant),
    ],
)
def test_each_reason_is_a_kind_of_the_error_it_refines(error, kind):
    assert issubclass(error, kind)
    assert error.code != kind.code


def test_a_used_invitation_is_not_a_cancelled_one(world, refused):
    used, used_token = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "reader")
    cancelled, cancelled_token = invite(as_(world.acme_gap), world.acme.bce, EMAIL, "reader")
    accept_invitation(as_(world.stranger), used_token)
    cancel_invitation(as_(world.acme_gap), cancelled.id)

    with refused(InvitationUsed) as info:
        accept_invitation(as_(world.globex_gap), used_token)
    assert info.value.by_caller is False
    with refused(InvitationUsed) as info:
        check_invitation(as_(world.stranger), used_token)
    assert info.value.by_caller is True
    with refused(InvitationCancelled):
        accept_invitation(as_(world.stranger), cancelled_token)
    with refused(InvitationUsed):
        cancel_invitation(as_(world.acme_gap), used.id)
    with refused(InvitationCancelled):
        cancel_invitation(as_(world.acme_gap), cancelled.id)


def test_an_invitation_meant_for_someone_else(world, refused):
    _invitation, token = invite(
        as_(world.acme_gap), world.acme.bce, EMAIL, "reader", nrn=world.globex_gap.nrn
    )
    with refused(NotTheInvitee):
        accept_invitation(as_(world.stranger), token)


def test_a_sender_no_longer_entitled(world, refused):
    _gap_invitation, gap_token = invite_gap(as_(world.acme_rep), world.acme.bce, EMAIL)
    _invitation, token = invite(as_(world.acme_manager), world.acme.bce, EMAIL, "owner")
    LegalRepresentation.delete().where(LegalRepresentation.person == world.acme_rep).execute()
    revoke_role(as_(world.acme_gap), world.manager_grant.id)
    with refused(SenderNotEntitled, match="no longer a legal representative"):
        accept_invitation(as_(world.stranger), gap_token)
    with refused(SenderNotEntitled, match="no longer manages"):
        accept_invitation(as_(world.stranger), token)


def test_a_sender_whose_own_grant_now_ends_earlier(world, refused):
    _invitation, token = invite(as_(world.acme_manager), world.acme.bce, EMAIL, "reader")
    change_role(
        as_(world.acme_gap), world.manager_grant.id, "access_manager", valid_until=in_days(3)
    )
    with refused(SenderBeyondOwnGrant):
        accept_invitation(as_(world.stranger), token)


def test_an_already_decided_request_names_its_status(world, refused):
    made = request_role(as_(world.stranger), world.acme.bce, "agent")
    refuse_request(as_(world.acme_gap), made.id)
    with refused(AlreadyDecided) as info:
        withdraw_request(as_(world.stranger), made.id)
    assert info.value.status == "refused"
    again = request_role(as_(world.stranger), world.acme.bce, "agent")
    withdraw_request(as_(world.stranger), again.id)
    with refused(AlreadyDecided) as info:
        refuse_request(as_(world.acme_gap), again.id)
    assert info.value.status == "withdrawn"


def test_what_a_role_request_clashes_with(world, refused):
    with refused(EnterpriseStopped):
        request_role(as_(world.stranger), world.closed.bce, "agent")
    with refused(AlreadyGap):
        request_role(as_(world.acme_gap), world.acme.bce, "owner")
    with refused(RoleAlreadyHeld) as info:
        request_role(as_(world.acme_owner), world.acme.bce, "agent")
    assert info.value.role == "owner"
    request_role(as_(world.stranger), world.acme.bce, "agent")
    with refused(RequestPending):
        request_role(as_(world.stranger), world.acme.bce, "reader")
    with refused(NoGap) as info:
        request_role(as_(world.stranger), world.asbl.bce, "agent")
    assert info.value.enterprise_name == "Les Amis du Rail ASBL"


def test_the_gap_already_in_place_and_a_gap_changed_meanwhile(world, refused):
    with refused(AlreadyGap):
        designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_gap.nrn)
    with refused(AlreadyGap):
        invite_gap(as_(world.acme_rep), world.acme.bce, EMAIL, nrn=world.acme_gap.nrn)
    with refused(ChangedMeanwhile):
        designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn, replacing=None)
    with refused(EnterpriseStopped):
        designate_gap(as_(world.closed_rep), world.closed.bce, world.stranger.nrn)
