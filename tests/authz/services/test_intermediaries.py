"""Mandates between enterprises (authz/services/intermediaries.py): propose, accept, refuse,
end; each allowed and refused, audited, atomic, published; and what they change for
decisions about the client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from authz import events
from authz.engine import get_engine
from authz.errors import (
    AlreadyDecided,
    EnterpriseStopped,
    Forbidden,
    InvalidInput,
    MandateOpen,
    NotFound,
)
from authz.events import Contact, EnterpriseRef
from authz.models import Enterprise, LegalRepresentation, Person, RoleGrant, today
from authz.services import (
    accept_mandate,
    change_role,
    designate_gap,
    end_mandate,
    grant_role,
    mandates_of_enterprise,
    propose_mandate,
    refuse_mandate,
)
from tests.authz.services import as_, in_days, make_bce, make_nrn, reload, yesterday


@dataclass
class Firm:
    firm: Enterprise
    gap: Person
    accountant: Person  # client agent of the firm
    clerk: Person  # agent of the firm: acts for the firm, not for its clients


@pytest.fixture
def fidu(world) -> Firm:
    """An accounting firm with its GAP, a client agent and a plain agent."""
    firm = Enterprise.create(bce=make_bce(5678901), name="Fidu Comptable SRL")
    rep = Person.create(nrn=make_nrn("700707", 131), given_name="Rita")
    gap = Person.create(nrn=make_nrn("710707", 133), given_name="Gérard", email="g@fidu.test")
    accountant = Person.create(nrn=make_nrn("720707", 135), given_name="Ana")
    clerk = Person.create(nrn=make_nrn("730707", 137), given_name="Cléo")
    LegalRepresentation.create(person=rep, enterprise=firm, capacity="gérant")
    designate_gap(as_(rep), firm.bce, gap.nrn)
    grant_role(as_(gap), firm.bce, accountant.nrn, "client_agent")
    grant_role(as_(gap), firm.bce, clerk.nrn, "agent")
    return Firm(reload(firm), gap, accountant, clerk)


def acts_for(person: Person, client: Enterprise, domain: str = "fiscalite") -> bool:
    return get_engine().decide(person.nrn, "act_for", client.bce, domain)


def proposed(world, fidu, **terms):
    terms.setdefault("domains", ["fiscalite", "social"])
    return propose_mandate(as_(world.acme_gap), world.acme.bce, fidu.firm.bce, **terms)


# -- proposing ---------------------------------------------------------------------------------


def test_the_clients_gap_proposes_audited_and_nothing_given_yet(world, fidu, journal):
    watch = journal()
    mandate = proposed(world, fidu, message=" Pour la TVA ")
    assert (mandate.status, mandate.domains, mandate.valid_from) == (
        "pending",
        "fiscalite social",
        today(),
    )
    action, actor, bce, details = watch.event()
    assert (action, actor, bce) == (
        "mandate.propose",
        f"person:{world.acme_gap.nrn}",
        world.acme.bce,
    )
    assert details["mandatee"] == fidu.firm.bce and details["domains"] == ["fiscalite", "social"]
    assert watch.bumped() == {}  # a proposal gives nothing
    assert not acts_for(fidu.accountant, world.acme)


def test_a_legal_representative_proposes_too(world, fidu):
    mandate = propose_mandate(
        as_(world.acme_rep), world.acme.bce, fidu.firm.bce, ["fiscalite"], valid_until=in_days(30)
    )
    assert mandate.valid_until == in_days(30)


@pytest.mark.parametrize("who", ["acme_manager", "acme_owner", "acme_agent", "stranger"])
def test_nobody_else_of_the_client_proposes(world, fidu, refused, who):
    with refused(Forbidden, match="GAP or a legal representative"):
        propose_mandate(as_(getattr(world, who)), world.acme.bce, fidu.firm.bce, ["fiscalite"])


def test_the_firm_cannot_give_itself_a_clients_mandate(world, fidu, refused):
    with refused(Forbidden):
        propose_mandate(as_(fidu.gap), world.acme.bce, fidu.firm.bce, ["fiscalite"])


@pytest.mark.parametrize(
    ("terms", "match"),
    [
        ({"domains": []}, "at least one service domain"),
        ({"domains": ["Fiscalité"]}, "invalid service domain"),
        ({"domains": 42}, "list of names"),
        ({"valid_from": yesterday()}, "in the past"),
        ({"valid_from": "2030-13-01"}, "YYYY-MM-DD"),
        ({"valid_from": in_days(10), "valid_until": in_days(9)}, "before the start date"),
        ({"message": "x" * 2001}, "too long"),
    ],
)
def test_bad_terms_are_refused(world, fidu, refused, terms, match):
    with refused(InvalidInput, match=match):
        proposed(world, fidu, **terms)


def test_unknown_or_same_enterprise_is_refused(world, fidu, refused):
    with refused(InvalidInput, match="to itself"):
        propose_mandate(as_(world.acme_gap), world.acme.bce, world.acme.bce, ["fiscalite"])
    with refused(InvalidInput, match="invalid BCE number"):
        propose_mandate(as_(world.acme_gap), world.acme.bce, "0123456789", ["fiscalite"])
    with refused(NotFound):
        propose_mandate(as_(world.acme_gap), world.acme.bce, make_bce(7777777), ["fiscalite"])


def test_stopped_client_or_firm_is_refused(world, fidu, refused):
    with refused(EnterpriseStopped, match="the client"):
        propose_mandate(as_(world.closed_gap), world.closed.bce, fidu.firm.bce, ["fiscalite"])
    with refused(EnterpriseStopped, match="the intermediary"):
        propose_mandate(as_(world.acme_gap), world.acme.bce, world.closed.bce, ["fiscalite"])


def test_one_open_mandate_per_client_and_firm(world, fidu, refused):
    first = proposed(world, fidu)
    with refused(MandateOpen):
        proposed(world, fidu, domains=["environnement"])
    end_mandate(as_(world.acme_gap), first.id)  # withdrawn: another may follow
    assert proposed(world, fidu, domains=["environnement"]).status == "pending"


# -- accepting and refusing --------------------------------------------------------------------


def test_the_firms_gap_accepts_and_its_client_agents_act(world, fidu, journal):
    mandate = proposed(world, fidu)
    watch = journal()
    accept_mandate(as_(fidu.gap), mandate.id)
    action, _actor, bce, _details = watch.event()
    assert (action, bce) == ("mandate.accept", world.acme.bce)
    assert watch.bumped() == {world.acme.bce: 1}  # decisions about the client move
    assert reload(mandate).status == "accepted"
    assert acts_for(fidu.accountant, world.acme)
    assert acts_for(fidu.gap, world.acme, "social")
    assert not acts_for(fidu.clerk, world.acme)  # no act_for_clients in the firm
    assert not acts_for(fidu.accountant, world.acme, "environnement")  # not in the mandate
    assert not get_engine().decide(fidu.accountant.nrn, "view_members", world.acme.bce)


def test_a_mandate_starting_later_gives_nothing_before(world, fidu):
    mandate = proposed(world, fidu, valid_from=in_days(3))
    accept_mandate(as_(fidu.gap), mandate.id)
    assert not acts_for(fidu.accountant, world.acme)
    later = today() + timedelta(days=3)
    assert get_engine().decide(fidu.accountant.nrn, "act_for", world.acme.bce, "fiscalite", later)


@pytest.mark.parametrize("who", ["accountant", "clerk"])
def test_only_the_firms_gap_accepts(world, fidu, refused, who):
    mandate = proposed(world, fidu)
    with refused(Forbidden, match="only the GAP of Fidu"):
        accept_mandate(as_(getattr(fidu, who)), mandate.id)
    with refused(Forbidden):
        accept_mandate(as_(world.acme_gap), mandate.id)  # the client does not accept for the firm


def test_the_firms_gap_refuses_and_it_stays_refused(world, fidu, journal, refused):
    mandate = proposed(world, fidu)
    watch = journal()
    refuse_mandate(as_(fidu.gap), mandate.id, "Pas de place")
    assert watch.event()[0] == "mandate.refuse" and watch.bumped() == {}
    assert (reload(mandate).status, reload(mandate).reason) == ("refused", "Pas de place")
    with refused(AlreadyDecided):
        accept_mandate(as_(fidu.gap), mandate.id)
    with refused(AlreadyDecided):
        end_mandate(as_(world.acme_gap), mandate.id)
    with refused(Forbidden):
        refuse_mandate(as_(fidu.accountant), mandate.id)
    assert not acts_for(fidu.accountant, world.acme)


def test_a_stopped_side_cannot_accept(world, fidu, refused):
    mandate = proposed(world, fidu)
    Enterprise.update(status="stopped").where(Enterprise.id == fidu.firm.id).execute()
    with refused(EnterpriseStopped):
        accept_mandate(as_(fidu.gap), mandate.id)


def test_unknown_mandate(world, fidu, refused):
    with refused(NotFound):
        accept_mandate(as_(fidu.gap), 999_999)
    with refused(InvalidInput):
        end_mandate(as_(fidu.gap), "abc")


# -- ending ------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["mandator", "mandatee"])
def test_either_side_ends_an_accepted_mandate(world, fidu, journal, side):
    mandate = proposed(world, fidu)
    accept_mandate(as_(fidu.gap), mandate.id)
    assert acts_for(fidu.accountant, world.acme)
    watch = journal()
    by = world.acme_rep if side == "mandator" else fidu.gap
    end_mandate(as_(by), mandate.id, "fin de collaboration")
    action, _actor, bce, details = watch.event()
    assert (action, bce, details["side"]) == ("mandate.end", world.acme.bce, side)
    assert watch.bumped() == {world.acme.bce: 1}
    assert reload(mandate).status == "ended"
    assert not acts_for(fidu.accountant, world.acme)


def test_the_client_withdraws_a_pending_one_the_firm_refuses_it(world, fidu, journal, refused):
    mandate = proposed(world, fidu)
    with refused(AlreadyDecided, match="refuse it instead"):
        end_mandate(as_(fidu.gap), mandate.id)
    watch = journal()
    end_mandate(as_(world.acme_gap), mandate.id)
    assert watch.event()[0] == "mandate.withdraw" and watch.bumped() == {}
    assert reload(mandate).status == "withdrawn"


def test_nobody_else_ends_a_mandate(world, fidu, refused):
    mandate = proposed(world, fidu)
    accept_mandate(as_(fidu.gap), mandate.id)
    for someone in (world.acme_manager, fidu.accountant, world.stranger, world.globex_gap):
        with refused(Forbidden):
            end_mandate(as_(someone), mandate.id)
    assert acts_for(fidu.accountant, world.acme)


def test_changes_in_the_firm_reach_the_client(world, fidu):
    mandate = proposed(world, fidu)
    accept_mandate(as_(fidu.gap), mandate.id)
    assert not acts_for(fidu.clerk, world.acme)
    clerk_grant = RoleGrant.get(RoleGrant.person == fidu.clerk)
    change_role(as_(fidu.gap), clerk_grant.id, "client_agent")
    assert acts_for(fidu.clerk, world.acme)
    Enterprise.update(status="stopped").where(Enterprise.id == fidu.firm.id).execute()
    assert not acts_for(fidu.accountant, world.acme)


def test_the_lists_of_each_side(world, fidu):
    mandate = proposed(world, fidu)
    assert [m.id for m in mandates_of_enterprise(world.acme.bce, "mandator")] == [mandate.id]
    assert [m.id for m in mandates_of_enterprise(fidu.firm.bce, "mandatee")] == [mandate.id]
    assert mandates_of_enterprise(fidu.firm.bce, "mandator") == []
    with pytest.raises(InvalidInput):
        mandates_of_enterprise(fidu.firm.bce, "both")


# -- what both sides hear ----------------------------------------------------------------------


def test_each_step_is_published_with_both_sides_gaps(world, fidu):
    heard: list[events.Event] = []
    events.subscribe(events.MandateEvent, heard.append)
    try:
        mandate = proposed(world, fidu, message="Bonjour")
        accept_mandate(as_(fidu.gap), mandate.id)
        end_mandate(as_(fidu.gap), mandate.id, "fin")
    finally:
        events.unsubscribe(events.MandateEvent, heard.append)
    assert [type(e) for e in heard] == [
        events.MandateProposed,
        events.MandateAccepted,
        events.MandateEnded,
    ]
    first = heard[0]
    assert first.enterprise == EnterpriseRef(world.acme.bce, "Acme Demo SA")
    assert first.firm == EnterpriseRef(fidu.firm.bce, "Fidu Comptable SRL")
    assert first.firm_gap == Contact("Gérard", "g@fidu.test", "fr")
    assert first.client_gap is not None and first.message == "Bonjour"
    assert heard[2].side == "mandatee" and heard[2].reason == "fin"
