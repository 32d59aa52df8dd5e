"""Role requests ("Ajouter une entreprise"): asked, withdrawn, accepted, refused, expired."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authz.engine import get_engine
from authz.errors import Conflict, Expired, Forbidden, InvalidInput, NoGap, NotFound
from authz.models import RoleGrant, RoleRequest, utcnow
from authz.permissions import ACT_FOR, SUBMIT_DOSSIER
from authz.services import (
    Caller,
    accept_request,
    active_grant,
    change_role,
    expire_requests,
    grant_role,
    refuse_request,
    request_role,
    withdraw_request,
)
from tests.authz.services import actor, as_, in_days, make_bce, reload, spelled_bce


@pytest.fixture
def pending(world) -> RoleRequest:
    """The stranger asks to be an agent of Acme."""
    return request_role(as_(world.stranger), world.acme.bce, "agent", "Je reprends la compta.")


def overdue(request: RoleRequest) -> None:
    """As if 30 days had passed since the request."""
    RoleRequest.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        RoleRequest.id == request.id
    ).execute()


# -- request_role ------------------------------------------------------------------------------


def test_a_person_asks_for_a_role(world, journal):
    j = journal()
    request = request_role(as_(world.stranger), world.acme.bce, "owner", "  Bonjour Marc !  ")

    request = reload(request)
    assert (request.person_id, request.enterprise_id, request.role) == (
        world.stranger.id,
        world.acme.id,
        "owner",
    )
    assert (request.status, request.message, request.reason) == ("pending", "Bonjour Marc !", "")
    assert request.expires_at == request.created_at + timedelta(days=30)
    assert (request.decided_at, request.decided_by, request.grant) == (None, None, None)
    assert j.event() == ("request.create", actor(world.stranger), world.acme.bce, {"role": "owner"})
    # Nothing changes access yet.
    assert j.bumped() == {}
    assert active_grant(world.stranger, world.acme) is None


def test_an_enterprise_without_gap_cannot_receive_requests(world, refused):
    with refused(NoGap) as error:
        request_role(as_(world.stranger), world.asbl.bce, "reader")
    message = error.value.message
    assert "no principal access manager" in message
    assert "legal representative" in message
    assert "designate a GAP" in message
    assert spelled_bce(world.asbl.bce) in message


def test_an_unknown_enterprise_is_not_found(world, refused):
    with refused(NotFound, match=spelled_bce(make_bce(9876543))):
        request_role(as_(world.stranger), make_bce(9876543), "reader")


@pytest.mark.parametrize("bce", ["0123456789", "BE 0123", "", None, "acme"])
def test_an_invalid_bce_number_is_refused(world, refused, bce):
    with refused(InvalidInput):
        request_role(as_(world.stranger), bce, "reader")


@pytest.mark.parametrize(
    "spelling",
    [
        "BE {dotted}",
        "BE{plain}",
        "be {dotted}",
        "{dotted}",
        " {plain} ",
        "{spaced}",
    ],
)
def test_the_usual_spellings_of_a_bce_number_are_accepted(world, spelling):
    bce = world.acme.bce
    number = spelling.format(
        dotted=spelled_bce(bce), plain=bce, spaced=f"{bce[:4]} {bce[4:7]} {bce[7:]}"
    )
    request = request_role(as_(world.stranger), number, "reader")
    assert request.enterprise_id == world.acme.id


@pytest.mark.parametrize("role", ["gap", "admin", None, ""])
def test_an_invalid_role_is_refused(world, refused, role):
    with refused(InvalidInput):
        request_role(as_(world.stranger), world.acme.bce, role)


def test_a_message_over_2000_characters_is_refused(world, refused):
    with refused(InvalidInput, match="too long"):
        request_role(as_(world.stranger), world.acme.bce, "reader", "x" * 2001)
    request_role(as_(world.stranger), world.acme.bce, "reader", "x" * 2000)


def test_a_stopped_enterprise_takes_no_request(world, refused):
    with refused(Conflict, match="stopped"):
        request_role(as_(world.stranger), world.closed.bce, "reader")


@pytest.mark.parametrize("caller", [Caller(), Caller.operator(), Caller.system()])
def test_asking_needs_a_person(world, refused, caller):
    with refused(Forbidden):
        request_role(caller, world.acme.bce, "reader")


@pytest.mark.parametrize("role", ["agent", "reader", "owner"])
def test_a_second_pending_request_is_a_conflict(world, refused, pending, role):
    with refused(Conflict, match="pending request"):
        request_role(as_(world.stranger), world.acme.bce, role)


def test_a_pending_request_elsewhere_does_not_count(world, pending):
    request = request_role(as_(world.stranger), world.globex.bce, "agent")
    assert request.status == "pending"


@pytest.mark.parametrize(
    ("who", "role"),
    [
        ("acme_reader", "reader"),
        ("acme_owner", "owner"),
        ("acme_owner", "agent"),
        ("acme_owner", "reader"),
        ("acme_manager", "access_manager"),
        ("acme_manager", "owner"),
        ("acme_gap", "access_manager"),
        ("acme_gap", "reader"),
        ("acme_agent", "reader"),  # a scoped grant is a grant all the same
    ],
)
def test_holding_the_role_or_a_stronger_one_is_a_conflict(world, refused, who, role):
    with refused(Conflict, match="already hold"):
        request_role(as_(getattr(world, who)), world.acme.bce, role)


@pytest.mark.parametrize(
    ("who", "role"), [("acme_reader", "agent"), ("acme_owner", "access_manager")]
)
def test_a_stronger_role_may_be_asked(world, who, role):
    assert request_role(as_(getattr(world, who)), world.acme.bce, role).status == "pending"


def test_a_scoped_agent_may_ask_for_the_role_in_every_domain(world):
    request = request_role(as_(world.acme_agent), world.acme.bce, "agent")
    grant = accept_request(as_(world.acme_manager), request.id)
    assert (grant.role, grant.scope) == ("agent", "")
    assert reload(world.agent_grant).end_reason == "replaced"


# -- withdraw_request --------------------------------------------------------------------------


def test_the_requester_withdraws(world, journal, pending):
    j = journal()
    request = withdraw_request(as_(world.stranger), pending.id)

    assert request.status == "withdrawn"
    assert request.decided_by_id == world.stranger.id
    assert request.decided_at is not None
    assert request.grant is None
    assert j.event() == ("request.withdraw", actor(world.stranger), world.acme.bce, {})
    assert j.bumped() == {}
    # They may ask again.
    assert request_role(as_(world.stranger), world.acme.bce, "reader").status == "pending"


@pytest.mark.parametrize("who", ["acme_gap", "acme_manager", "acme_reader", "globex_gap"])
def test_nobody_else_withdraws(world, refused, pending, who):
    with refused(Forbidden, match="only the person who made"):
        withdraw_request(as_(getattr(world, who)), pending.id)


def test_a_withdrawn_request_cannot_be_withdrawn_or_accepted(world, refused, pending):
    withdraw_request(as_(world.stranger), pending.id)
    with refused(Conflict, match="already withdrawn"):
        withdraw_request(as_(world.stranger), pending.id)
    with refused(Conflict, match="already withdrawn"):
        accept_request(as_(world.acme_gap), pending.id)


# -- accept_request ----------------------------------------------------------------------------


def test_the_gap_accepts_a_request(world, journal, pending):
    j = journal()
    grant = accept_request(as_(world.acme_gap), pending.id)

    grant = reload(grant)
    assert (grant.person_id, grant.role, grant.scope, grant.valid_until) == (
        world.stranger.id,
        "agent",
        "",
        None,
    )
    assert (grant.source, grant.granted_by_id) == ("request", world.acme_gap.id)
    request = reload(pending)
    assert (request.status, request.decided_by_id, request.grant_id) == (
        "accepted",
        world.acme_gap.id,
        grant.id,
    )
    assert request.decided_at is not None
    assert j.event() == (
        "request.accept",
        actor(world.acme_gap),
        world.acme.bce,
        {
            "person": world.stranger.nrn,
            "requested_role": "agent",
            "role": "agent",
            "grant": grant.id,
            "replaces": None,
            "valid_until": None,
            "scope": "",
        },
    )
    assert j.bumped() == {world.acme.bce: 1}
    assert get_engine().decide(world.stranger.nrn, ACT_FOR, world.acme.bce, "fiscalite")


def test_an_access_manager_accepts_with_a_lesser_role_an_end_date_and_a_scope(
    world, journal, pending
):
    end = in_days(60)
    j = journal()
    grant = accept_request(
        as_(world.acme_manager),
        pending.id,
        role="reader",
        valid_until=end.isoformat(),
        scope="environnement fiscalite",
    )
    grant = reload(grant)
    assert (grant.role, grant.valid_until, grant.scope) == (
        "reader",
        end,
        "environnement fiscalite",
    )
    assert grant.granted_by_id == world.acme_manager.id
    action, who, bce, details = j.event()
    assert (action, who, bce) == ("request.accept", actor(world.acme_manager), world.acme.bce)
    assert (details["requested_role"], details["role"]) == ("agent", "reader")
    assert (details["valid_until"], details["scope"]) == (
        end.isoformat(),
        "environnement fiscalite",
    )
    assert j.bumped() == {world.acme.bce: 1}


def test_a_request_for_access_manager_is_accepted_by_an_access_manager(world):
    request = request_role(as_(world.stranger), world.acme.bce, "access_manager")
    grant = accept_request(as_(world.acme_manager), request.id)
    assert grant.role == "access_manager"


@pytest.mark.parametrize("role", ["owner", "access_manager"])
def test_accepting_with_a_stronger_role_than_asked_is_refused(world, refused, pending, role):
    with refused(InvalidInput, match="stronger"):
        accept_request(as_(world.acme_gap), pending.id, role=role)


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "gap"},
        {"role": "boss"},
        {"scope": ["Fiscalité"]},
        {"valid_until": "demain"},
        {"valid_until": in_days(-1)},
    ],
    ids=repr,
)
def test_accepting_with_invalid_terms_is_refused(world, refused, pending, changes):
    with refused(InvalidInput):
        accept_request(as_(world.acme_gap), pending.id, **changes)


def test_a_request_for_access_manager_cannot_be_accepted_scoped(world, refused):
    request = request_role(as_(world.stranger), world.acme.bce, "access_manager")
    with refused(InvalidInput, match="cannot be limited"):
        accept_request(as_(world.acme_gap), request.id, scope=["fiscalite"])


@pytest.mark.parametrize(
    "who",
    ["globex_gap", "acme_owner", "acme_agent", "acme_reader", "acme_rep", "stranger"],
)
def test_who_does_not_manage_access_cannot_accept(world, refused, pending, who):
    with refused(Forbidden, match="do not manage access"):
        accept_request(as_(getattr(world, who)), pending.id)


def test_accepting_needs_a_person(world, refused, pending):
    with refused(Forbidden):
        accept_request(Caller.operator(), pending.id)


def test_a_request_is_accepted_once(world, refused, pending):
    accept_request(as_(world.acme_gap), pending.id)
    with refused(Conflict, match="already accepted"):
        accept_request(as_(world.acme_manager), pending.id)
    with refused(Conflict, match="already accepted"):
        refuse_request(as_(world.acme_manager), pending.id)


def test_a_request_past_30_days_cannot_be_accepted(world, refused, pending):
    overdue(pending)
    with refused(Expired, match="ask again"):
        accept_request(as_(world.acme_gap), pending.id)
    assert reload(pending).status == "pending"


def test_an_expired_request_cannot_be_refused_or_withdrawn(world, refused, pending):
    overdue(pending)
    with refused(Expired):
        refuse_request(as_(world.acme_gap), pending.id)
    with refused(Expired):
        withdraw_request(as_(world.stranger), pending.id)


def test_accepting_replaces_a_weaker_grant_of_the_requester(world, journal):
    request = request_role(as_(world.acme_reader), world.acme.bce, "owner")
    j = journal()
    grant = accept_request(as_(world.acme_manager), request.id)

    old = reload(world.reader_grant)
    assert (old.end_reason, old.ended_by_id) == ("replaced", world.acme_manager.id)
    assert active_grant(world.acme_reader, world.acme) == grant
    assert grant.role == "owner"
    assert j.event()[3]["replaces"] == old.id
    assert j.bumped() == {world.acme.bce: 1}
    assert get_engine().decide(world.acme_reader.nrn, SUBMIT_DOSSIER, world.acme.bce)


def test_accepting_for_someone_now_holding_a_stronger_role_is_a_conflict(world, refused):
    request = request_role(as_(world.acme_reader), world.acme.bce, "agent")
    # Meanwhile, the GAP made them an owner.
    change_role(as_(world.acme_gap), world.reader_grant.id, "owner")
    with refused(Conflict, match="already holds the role owner"):
        accept_request(as_(world.acme_manager), request.id)
    assert reload(request).status == "pending"


def test_an_expired_grant_of_the_requester_is_closed_on_acceptance(world):
    RoleGrant.update(valid_until=in_days(-1)).where(RoleGrant.id == world.reader_grant.id).execute()
    request = request_role(as_(world.acme_reader), world.acme.bce, "reader")
    grant = accept_request(as_(world.acme_manager), request.id)
    assert reload(world.reader_grant).end_reason == "expired"
    assert active_grant(world.acme_reader, world.acme) == grant


@pytest.mark.parametrize(("request_id", "error"), [("abc", InvalidInput), (999_999, NotFound)])
def test_an_invalid_or_unknown_request_id_is_refused(world, refused, request_id, error):
    with refused(error):
        accept_request(as_(world.acme_gap), request_id)
    with refused(error):
        refuse_request(as_(world.acme_gap), request_id)
    with refused(error):
        withdraw_request(as_(world.stranger), request_id)


# -- refuse_request ----------------------------------------------------------------------------


def test_the_gap_refuses_with_a_reason(world, journal, pending):
    j = journal()
    request = refuse_request(as_(world.acme_gap), pending.id, "  Nous ne vous connaissons pas. ")

    assert (request.status, request.reason) == ("refused", "Nous ne vous connaissons pas.")
    assert (request.decided_by_id, request.grant) == (world.acme_gap.id, None)
    assert request.decided_at is not None
    assert j.event() == (
        "request.refuse",
        actor(world.acme_gap),
        world.acme.bce,
        {"person": world.stranger.nrn, "reason": "Nous ne vous connaissons pas."},
    )
    assert j.bumped() == {}
    assert active_grant(world.stranger, world.acme) is None


@pytest.mark.parametrize("who", ["globex_gap", "acme_owner", "stranger"])
def test_who_does_not_manage_access_cannot_refuse(world, refused, pending, who):
    with refused(Forbidden):
        refuse_request(as_(getattr(world, who)), pending.id)


def test_a_reason_over_2000_characters_is_refused(world, refused, pending):
    with refused(InvalidInput, match="too long"):
        refuse_request(as_(world.acme_gap), pending.id, "x" * 2001)


# -- expire_requests ---------------------------------------------------------------------------


def test_overdue_requests_expire_and_fresh_ones_stay(world, journal, pending):
    fresh = request_role(as_(world.acme_reader), world.acme.bce, "owner")
    overdue(pending)
    j = journal()

    assert expire_requests() == 1

    expired = reload(pending)
    assert expired.status == "expired"
    assert expired.decided_at is not None
    assert expired.decided_by is None
    assert reload(fresh).status == "pending"
    assert j.event() == ("request.expire", "system", world.acme.bce, {})
    assert j.bumped() == {}
    # Nothing left to do.
    again = journal()
    assert expire_requests() == 0
    assert again.events() == []


def test_expire_requests_at_a_given_moment(world, pending):
    assert expire_requests(utcnow() + timedelta(days=29)) == 0
    assert expire_requests(utcnow() + timedelta(days=30, seconds=1)) == 1
    assert reload(pending).status == "expired"


def test_an_expired_request_may_be_asked_again(world, pending):
    overdue(pending)
    expire_requests()
    assert request_role(as_(world.stranger), world.acme.bce, "agent").status == "pending"


def test_decided_requests_never_expire(world, pending):
    accept_request(as_(world.acme_gap), pending.id)
    overdue(pending)
    assert expire_requests() == 0
    assert reload(pending).status == "accepted"


def test_granting_directly_does_not_touch_pending_requests(world, pending):
    grant_role(as_(world.acme_gap), world.acme.bce, world.stranger.nrn, "reader")
    assert reload(pending).status == "pending"
