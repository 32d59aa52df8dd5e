"""The read side of mandates (``authz/mandates.py``) on the demo story (``story`` in
``tests/authz/conftest.py``): standing and in force, one statement per read, and the same facts
whichever way they are read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from authz import mandates
from authz.espaces import direct_facts
from authz.mandates import (
    BASIS_DESIGNATION,
    BASIS_GRANT,
    BASIS_REPRESENTATION,
    EnterpriseRef,
    PersonRef,
    enterprises_held,
    facts_by_enterprise,
    holders_for,
    in_force,
    load_pair,
    mandates_of,
)
from authz.models import Enterprise, LegalRepresentation, Person, RoleGrant, today
from authz.services import (
    Caller,
    accept_mandate,
    designate_gap,
    end_mandate,
    grant_role,
    propose_mandate,
    revoke_role,
)
from monespace import demo
from tests.authz.services import make_bce, make_nrn

BOULANGERIE, ATELIER, ASBL, BRASSERIE = "0123456749", "0888888895", "0999999922", "0777777771"
ENTERPRISES = (BOULANGERIE, ATELIER, ASBL, BRASSERIE)
NRN = {p.key: p.nrn for p in demo.PERSONS} | {"hugo": "65080800512"}
STRANGER = make_nrn("010101", 1)


def as_(key: str) -> Caller:
    return Caller.for_person(Person.get(Person.nrn == NRN[key]))


def grant_of(key: str) -> RoleGrant:
    person = Person.get(Person.nrn == NRN[key])
    return RoleGrant.get((RoleGrant.person == person) & RoleGrant.ended_at.is_null())


def held(key: str, **kwargs) -> list[tuple[str, str, str]]:
    return [(m.enterprise.bce, m.basis, m.role) for m in mandates_of(NRN[key], **kwargs)]


# -- in force ----------------------------------------------------------------------------------


def test_in_force_until_the_last_day():
    day = today()
    assert in_force(None, day)
    assert in_force(day, day)
    assert in_force(day + timedelta(days=1), day)
    assert not in_force(day - timedelta(days=1), day)


def test_the_mandates_of_the_story(story):
    assert held("marc") == [(BOULANGERIE, BASIS_DESIGNATION, "gap")]
    assert held("luc") == [(BOULANGERIE, BASIS_GRANT, "agent")]
    assert held("claire") == [(BOULANGERIE, BASIS_REPRESENTATION, "representative")]
    assert held("jean") == [
        (ATELIER, BASIS_DESIGNATION, "gap"),
        (ATELIER, BASIS_REPRESENTATION, "representative"),
    ]
    assert held("nora") == []  # a pending request is no mandate
    assert held("alice") == []
    assert mandates_of(STRANGER) == []


def test_a_mandate_says_where_it_came_from(story):
    (luc,) = mandates_of(NRN["luc"])
    grant = grant_of("luc")
    marc = Person.get(Person.nrn == NRN["marc"])
    assert luc.enterprise == EnterpriseRef(BOULANGERIE, "Boulangerie Démo SA", True)
    assert (luc.id, luc.detail, luc.scope, luc.until) == (
        grant.id,
        grant.source,
        ("fiscalite",),
        None,
    )
    assert luc.by == PersonRef(marc.nrn, marc.given_name, marc.family_name)
    assert luc.since == grant.granted_at
    (claire,) = mandates_of(NRN["claire"])
    assert claire.by is None and claire.scope == ()


def test_expired_future_and_revoked_grants(story):
    """A grant past its last day is no longer in force (though still standing until the
    nightly job ends it); one ending later is; a revoked one is neither."""
    end = today() + timedelta(days=10)
    grant_role(as_("marc"), BOULANGERIE, NRN["alice"], "reader", valid_until=end)
    assert held("alice") == [(BOULANGERIE, BASIS_GRANT, "reader")]
    assert held("alice", day=end) == [(BOULANGERIE, BASIS_GRANT, "reader")]
    assert held("alice", day=end + timedelta(days=1)) == []
    # Standing still: the policy is given it, and refuses everything through it.
    (holding,) = facts_by_enterprise(NRN["alice"], end + timedelta(days=1))
    assert [g.valid_until for g in holding.person.grants] == [end]

    revoke_role(as_("marc"), grant_of("luc").id)
    assert held("luc") == []
    assert facts_by_enterprise(NRN["luc"], today()) == []
    person, _ = load_pair(NRN["luc"], BOULANGERIE, today())
    assert person.grants == []


def test_a_representation_counts_until_its_last_day(story):
    claire = Person.get(Person.nrn == NRN["claire"])
    end = today() + timedelta(days=3)
    LegalRepresentation.update(ended_on=end).where(LegalRepresentation.person == claire).execute()
    assert [m.until for m in mandates_of(NRN["claire"])] == [end]
    assert held("claire", day=end) == [(BOULANGERIE, BASIS_REPRESENTATION, "representative")]
    assert held("claire", day=end + timedelta(days=1)) == []
    assert facts_by_enterprise(NRN["claire"], end + timedelta(days=1)) == []


def test_a_mandate_on_a_stopped_enterprise_is_shown_stopped(story):
    """In force, but the enterprise has stopped: it is listed as such, and the policy gives
    nothing through it (``tests/authz/test_espaces.py``)."""
    Enterprise.update(status="stopped").where(Enterprise.bce == ATELIER).execute()
    assert {m.enterprise.active for m in mandates_of(NRN["jean"])} == {False}
    (holding,) = facts_by_enterprise(NRN["jean"], today())
    assert holding.enterprise.active is False


def test_mandates_are_ordered_by_enterprise_then_strongest(story):
    grant_role(as_("jean"), ATELIER, NRN["marc"], "owner")
    assert held("marc") == [
        (ATELIER, BASIS_GRANT, "owner"),  # "Atelier ..." before "Boulangerie ..."
        (BOULANGERIE, BASIS_DESIGNATION, "gap"),
    ]


# -- one statement -----------------------------------------------------------------------------


def test_a_persons_mandates_are_read_in_one_statement(alice_gap_of_twelve, statements):
    assert len(mandates_of(NRN["alice"])) == 12
    assert len(statements) == 1
    assert len(facts_by_enterprise(NRN["alice"], today())) == 12
    assert len(statements) == 2


# -- the same facts, whichever way they are read -----------------------------------------------


def test_the_facts_read_together_are_those_of_every_decision(story, alice_gap_of_twelve):
    """A person's facts read at once must be exactly what ``load_pair`` gives the policy for
    each pair, and the mandates in force a subset of them."""
    claire = Person.get(Person.nrn == NRN["claire"])
    LegalRepresentation.update(ended_on=today() + timedelta(days=3)).where(
        LegalRepresentation.person == claire
    ).execute()
    LegalRepresentation.update(ended_on=today() - timedelta(days=1)).where(
        LegalRepresentation.person == Person.get(Person.nrn == NRN["hugo"])
    ).execute()
    grant_role(as_("marc"), BOULANGERIE, NRN["claire"], "agent", valid_until=today())
    revoke_role(as_("marc"), grant_of("emma").id)
    numbers = ENTERPRISES + tuple(alice_gap_of_twelve)
    for key, nrn in NRN.items():
        for day in (today(), today() + timedelta(days=5)):
            pairs = {
                h.enterprise.bce: (h.person, h.enterprise)
                for h in facts_by_enterprise(nrn, day, "fiscalite")
            }
            shown = {(m.basis, m.id) for m in mandates_of(nrn, day)}
            for bce in numbers:
                person, enterprise = load_pair(nrn, bce, day, "fiscalite")
                holds = person.grants or person.designations or person.representations
                assert pairs.get(bce) == ((person, enterprise) if holds else None), (key, bce)
                standing = {
                    *((BASIS_GRANT, g.id) for g in person.grants),
                    *((BASIS_DESIGNATION, d.id) for d in person.designations),
                    *((BASIS_REPRESENTATION, r.id) for r in person.representations),
                }
                on_pair = {
                    (m.basis, m.id) for m in mandates_of(nrn, day) if m.enterprise.bce == bce
                }
                assert on_pair <= standing and on_pair <= shown, (key, bce)


def test_an_unknown_enterprise_has_no_facts(story):
    assert load_pair(NRN["marc"], make_bce(5_999_999), today()) is None
    person, _ = load_pair(STRANGER, BOULANGERIE, today())
    assert (person.grants, person.designations, person.representations) == ([], [], [])


def test_ended_facts_are_described_apart(story):
    revoke_role(as_("marc"), grant_of("luc").id)
    lines = mandates.ended_facts_description(NRN["luc"], BOULANGERIE)
    assert [scope for _, scope in lines] == [["fiscalite"]]
    assert "revoked" in lines[0][0]
    assert mandates.ended_facts_description(STRANGER, BOULANGERIE) == []


# -- holders (the decision API's searches) -----------------------------------------------------


def flat(chunks) -> list[str]:
    return [name for chunk in chunks for _, name in chunk]


def test_holders_of_an_enterprise(story):
    holders = flat(holders_for(BOULANGERIE, today()))
    for key in ("marc", "sophie", "luc", "emma", "claire"):
        assert NRN[key] in holders, key
    assert NRN["nora"] not in holders and NRN["alice"] not in holders
    assert flat(holders_for(make_bce(5_999_999), today())) == []


def test_holders_are_those_of_standing_facts(story):
    revoke_role(as_("marc"), grant_of("emma").id)
    claire = Person.get(Person.nrn == NRN["claire"])
    LegalRepresentation.update(ended_on=today() - timedelta(days=1)).where(
        LegalRepresentation.person == claire
    ).execute()
    holders = flat(holders_for(BOULANGERIE, today()))
    assert NRN["emma"] not in holders and NRN["claire"] not in holders
    assert NRN["sophie"] in holders


def test_holders_walk_by_id_from_a_cursor(story):
    chunks = list(holders_for(BOULANGERIE, today()))
    ids = [row_id for chunk in chunks for row_id, _ in chunk]
    assert ids == sorted(ids)
    after = list(holders_for(BOULANGERIE, today(), after=ids[1]))
    assert [row_id for chunk in after for row_id, _ in chunk] == ids[2:]


def test_enterprises_held(story, alice_gap_of_twelve):
    assert flat(enterprises_held(NRN["marc"], today())) == [BOULANGERIE]
    assert sorted(flat(enterprises_held(NRN["alice"], today()))) == sorted(alice_gap_of_twelve)
    assert flat(enterprises_held(NRN["nora"], today())) == []
    assert flat(enterprises_held(STRANGER, today())) == []


# -- every pair at once ------------------------------------------------------------------------


def test_all_pairs_are_those_of_every_decision_in_a_few_queries(
    story, alice_gap_of_twelve, statements
):
    """``all_pairs`` gives each holding pair as ``load_pair`` does, without what comes through
    intermediaries (the enterprise's mandates to firms, the person's facts in them), with
    three queries and one for the enterprises per chunk."""
    revoke_role(as_("marc"), grant_of("emma").id)
    day = today()
    statements.clear()
    batches = list(mandates.all_pairs(day, chunk=5))
    queries = len(statements)

    enterprises = Enterprise.select().count()
    assert sum(len({e.bce for _p, e in batch}) for batch in batches) == enterprises
    assert queries == len(batches) * 4 + 1  # the last, empty, chunk of enterprises
    pairs = {(p.nrn, e.bce): (p, e) for batch in batches for p, e in batch if p is not None}
    assert (NRN["emma"], BOULANGERIE) not in pairs  # revoked: no standing fact left
    for (nrn, bce), (person, enterprise) in pairs.items():
        loaded_person, loaded = direct_facts(*load_pair(nrn, bce, day))
        assert person == loaded_person
        assert enterprise == replace(loaded, epoch=enterprise.epoch)
        assert enterprise.epoch == loaded.epoch
    on_boulangerie = {nrn for nrn, bce in pairs if bce == BOULANGERIE}
    assert on_boulangerie >= {NRN["marc"], NRN["sophie"], NRN["luc"], NRN["claire"]}
    assert mandates.scoped_service_domains(day) == {"fiscalite"}


# -- clients reached through a firm ------------------------------------------------------------


def test_clients_through_firms_are_the_accepted_mandates_in_force_of_the_persons_firms(
    story, statements
):
    firm = Enterprise.create(bce=make_bce(4455667), name="Fidu Comptable SRL")
    rep = Person.create(nrn=make_nrn("700707", 131), given_name="Rita")
    LegalRepresentation.create(person=rep, enterprise=firm, capacity="gérant")
    designate_gap(Caller.for_person(rep), firm.bce, NRN["jean"])
    grant_role(as_("jean"), firm.bce, NRN["alice"], "client_agent", scope="social")
    accepted = propose_mandate(as_("marc"), BOULANGERIE, firm.bce, ["fiscalite", "social"])
    accept_mandate(as_("jean"), accepted.id)
    later = propose_mandate(
        as_("jean"), ATELIER, firm.bce, ["social"], valid_from=today() + timedelta(days=3)
    )
    accept_mandate(as_("jean"), later.id)
    statements.clear()
    (found,) = mandates.clients_through_firms(NRN["alice"])
    assert len(statements) == 1
    assert (found.client.bce, found.firm.name, found.domains) == (
        BOULANGERIE,
        "Fidu Comptable SRL",
        ("fiscalite", "social"),
    )
    # A mandate starting later is there from its first day; an ended one never.
    in_three_days = mandates.clients_through_firms(NRN["jean"], today() + timedelta(days=3))
    assert {t.client.bce for t in in_three_days} == {ATELIER, BOULANGERIE}
    end_mandate(as_("marc"), accepted.id)
    assert mandates.clients_through_firms(NRN["alice"]) == []
    assert mandates.clients_through_firms(STRANGER) == []
