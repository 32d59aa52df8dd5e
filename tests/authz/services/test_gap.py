"""Designating the GAP: only a legal representative, one designation in force at a time."""

from __future__ import annotations

import json

import pytest

from authz import audit
from authz.engine import get_engine
from authz.errors import Conflict, Forbidden, InvalidInput, NotFound
from authz.models import Enterprise, GapDesignation, LegalRepresentation, Person, today
from authz.permissions import DESIGNATE_GAP, GRANT_ROLE
from authz.services import (
    Caller,
    accept_invitation,
    current_gap,
    designate_gap,
    invite,
    invite_gap,
    pending_gap_invitations,
)
from tests.authz.services import actor, as_, make_bce, make_nrn, reload, spelled_bce, yesterday

NEWCOMER = make_nrn("870214", 42)


def designations(enterprise: Enterprise) -> list[GapDesignation]:
    return list(
        GapDesignation.select()
        .where(GapDesignation.enterprise == enterprise)
        .order_by(GapDesignation.id)
    )


def test_a_representative_designates_someone_never_seen(world, journal):
    j = journal()
    designation = designate_gap(as_(world.asbl_rep), world.asbl.bce, NEWCOMER)

    newcomer = Person.get(Person.nrn == NEWCOMER)
    assert (newcomer.given_name, newcomer.family_name) == ("", "")
    assert designation.person_id == newcomer.id
    assert designation.designated_by_id == world.asbl_rep.id
    assert designation.ended_at is None
    assert designations(world.asbl) == [designation]
    assert current_gap(world.asbl) == designation
    # The newcomer is recorded first, by the one writer of persons, audited with the caller.
    created, designated = j.events()
    assert (created.action, created.actor, created.target_id) == (
        "person.create",
        actor(world.asbl_rep),
        NEWCOMER,
    )
    assert (
        designated.action,
        designated.actor,
        designated.enterprise_bce,
        json.loads(designated.details),
    ) == (
        "gap.designate",
        actor(world.asbl_rep),
        world.asbl.bce,
        {"gap": NEWCOMER, "previous_gap": None},
    )
    assert j.bumped() == {world.asbl.bce: 1}
    assert get_engine().decide(NEWCOMER, GRANT_ROLE, world.asbl.bce)


def test_a_new_designation_ends_the_previous_one(world, journal):
    previous = current_gap(world.acme)
    j = journal()
    designation = designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn)

    previous = GapDesignation.get_by_id(previous.id)
    assert previous.ended_at is not None
    assert previous.ended_by_id == world.acme_rep.id
    assert designation.started_at == previous.ended_at
    assert designation.person_id == world.stranger.id
    assert designations(world.acme) == [previous, designation]
    assert current_gap(world.acme) == designation
    assert j.event() == (
        "gap.designate",
        actor(world.acme_rep),
        world.acme.bce,
        {"gap": world.stranger.nrn, "previous_gap": world.acme_gap.nrn},
    )
    assert j.bumped() == {world.acme.bce: 1}
    engine = get_engine()
    assert engine.decide(world.stranger.nrn, GRANT_ROLE, world.acme.bce)
    assert not engine.decide(world.acme_gap.nrn, GRANT_ROLE, world.acme.bce)


def test_the_nrn_may_be_spelled_with_dots_and_dashes(world):
    spelled = f"{NEWCOMER[:2]}.{NEWCOMER[2:4]}.{NEWCOMER[4:6]}-{NEWCOMER[6:9]}.{NEWCOMER[9:]}"
    designation = designate_gap(as_(world.asbl_rep), spelled_bce(world.asbl.bce), spelled)
    assert designation.person.nrn == NEWCOMER


def test_designating_the_gap_in_office_again_is_a_conflict(world, refused):
    with refused(Conflict, match="already the GAP"):
        designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_gap.nrn)


@pytest.mark.parametrize(
    "who",
    ["acme_gap", "acme_manager", "acme_owner", "acme_agent", "acme_reader", "stranger"],
)
def test_only_a_legal_representative_may_designate(world, refused, who):
    with refused(Forbidden, match="only a legal representative"):
        designate_gap(as_(getattr(world, who)), world.acme.bce, world.stranger.nrn)


def test_a_representative_of_another_enterprise_is_refused(world, refused):
    with refused(Forbidden):
        designate_gap(as_(world.globex_rep), world.acme.bce, world.globex_rep.nrn)


def test_a_representation_that_has_ended_gives_no_right(world, refused):
    LegalRepresentation.update(ended_on=yesterday()).where(
        LegalRepresentation.person == world.acme_rep
    ).execute()
    assert not get_engine().decide(world.acme_rep.nrn, DESIGNATE_GAP, world.acme.bce)
    with refused(Forbidden):
        designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn)


def test_a_representation_ending_today_still_counts(world):
    LegalRepresentation.update(ended_on=today()).where(
        LegalRepresentation.person == world.acme_rep
    ).execute()
    designation = designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn)
    assert current_gap(world.acme) == designation


def test_a_stopped_enterprise_cannot_change_its_gap(world, refused):
    with refused(Conflict, match="stopped"):
        designate_gap(as_(world.closed_rep), world.closed.bce, world.stranger.nrn)


@pytest.mark.parametrize(
    "bce",
    [
        "0123456789",  # bad check digits
        "2123456749",  # a BCE number starts with 0 or 1
        "01234567",
        "BE 0123 456 74X",
        "",
        None,
        123456749,
    ],
)
def test_an_invalid_bce_number_is_refused(world, refused, bce):
    with refused(InvalidInput):
        designate_gap(as_(world.asbl_rep), bce, NEWCOMER)


@pytest.mark.parametrize(
    "nrn",
    [
        NEWCOMER[:-2] + f"{(int(NEWCOMER[-2:]) + 1) % 100:02d}",  # bad check digits
        make_nrn("851330", 33),  # month 13, check digits right
        NEWCOMER[:-1],
        "",
        None,
        int(NEWCOMER),
    ],
)
def test_an_invalid_nrn_is_refused(world, refused, nrn):
    with refused(InvalidInput, match="national register number"):
        designate_gap(as_(world.asbl_rep), world.asbl.bce, nrn)


def test_an_unknown_enterprise_is_not_found(world, refused):
    with refused(NotFound, match=spelled_bce(make_bce(9876543))):
        designate_gap(as_(world.asbl_rep), make_bce(9876543), NEWCOMER)


@pytest.mark.parametrize("caller", [Caller(), Caller.operator(), Caller.system()])
def test_a_caller_without_a_person_is_refused(world, refused, caller):
    with refused(Forbidden, match="logged-in person"):
        designate_gap(caller, world.asbl.bce, NEWCOMER)


def test_a_sole_trader_designates_themself(world, journal):
    trader = Person.create(nrn=make_nrn("690817", 77), given_name="Rita", family_name="Collin")
    shop = Enterprise.create(bce=make_bce(5678901), name="Rita Collin", legal_form="sole_trader")
    LegalRepresentation.create(person=trader, enterprise=shop, capacity="personne physique")
    j = journal()

    designation = designate_gap(as_(trader), shop.bce, trader.nrn)

    assert (designation.person_id, designation.designated_by_id) == (trader.id, trader.id)
    assert j.event() == (
        "gap.designate",
        actor(trader),
        shop.bce,
        {"gap": trader.nrn, "previous_gap": None},
    )
    assert j.bumped() == {shop.bce: 1}
    assert get_engine().decide(trader.nrn, "submit_dossier", shop.bce)


def test_a_representative_may_take_back_the_gap_role(world):
    designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_rep.nrn)
    assert current_gap(world.acme).person_id == world.acme_rep.id
    designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_gap.nrn)
    assert current_gap(world.acme).person_id == world.acme_gap.id
    assert len(designations(world.acme)) == 3


def test_current_gap_is_none_without_a_designation(world):
    assert current_gap(world.asbl) is None
    assert current_gap(world.acme).person_id == world.acme_gap.id


def test_a_replacement_confirmed_for_one_gap_never_ends_another(world, refused):
    seen = current_gap(world.acme)
    designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_rep.nrn)  # meanwhile
    with refused(Conflict, match="changed in the meantime"):
        designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn, replacing=seen.id)
    with refused(Conflict, match="changed in the meantime"):
        designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn, replacing=None)
    designation = designate_gap(
        as_(world.acme_rep),
        world.acme.bce,
        world.stranger.nrn,
        replacing=current_gap(world.acme).id,
    )
    assert current_gap(world.acme) == designation


def test_a_first_designation_expected_without_gap(world, refused):
    designation = designate_gap(as_(world.asbl_rep), world.asbl.bce, NEWCOMER, replacing=None)
    assert current_gap(world.asbl) == designation
    with refused(Conflict, match="changed in the meantime"):
        designate_gap(as_(world.asbl_rep), world.asbl.bce, world.stranger.nrn, replacing=None)


def test_a_designation_cancels_the_pending_gap_invitations(world, journal):
    invitation, token = invite_gap(as_(world.acme_rep), world.acme.bce, "gap@example.be")
    role_invitation, _ = invite(as_(world.acme_gap), world.acme.bce, "x@example.be", "reader")
    j = journal()
    designation = designate_gap(as_(world.acme_rep), world.acme.bce, world.stranger.nrn)

    designated, cancelled = j.events()
    assert designated.action == "gap.designate"
    assert json.loads(designated.details) == {
        "gap": world.stranger.nrn,
        "previous_gap": world.acme_gap.nrn,
    }
    assert (cancelled.action, cancelled.target_id, json.loads(cancelled.details)) == (
        "invitation.cancel",
        str(invitation.id),
        {"reason": "superseded", "superseded_by": f"gap_designation:{designation.id}"},
    )
    assert pending_gap_invitations(world.acme) == []
    assert reload(role_invitation).cancelled_at is None
    with pytest.raises(Conflict, match="cancelled"):
        accept_invitation(as_(world.globex_rep), token)
    assert audit.verify().ok
