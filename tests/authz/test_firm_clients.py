"""Clients reached through a firm (``authz/firm_clients.py``, and its use by
``authz.espaces``): the demo's accounting firm (Victor its GAP, Inès its client agent, three
clients), then a firm of many clients: offered and acted for, allowed and refused, searched and
paged without reading every mandate."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from authz import espaces, firm_clients
from authz.espaces import ActingFor, Intermediary, acting_for, client_choices, espace_choices
from authz.models import Enterprise, EnterpriseMandate, LegalRepresentation, Person, today
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

FIRM = demo.FIRM_BCE
GARAGE, FLEURISTE, LIBRAIRIE = (bce for bce, _, _ in demo.FIRM_CLIENTS)
NRN = {p.key: p.nrn for p in demo.PERSONS}
INES, VICTOR, LUC = NRN["ines"], NRN["victor"], NRN["luc"]


def as_(nrn: str) -> Caller:
    return Caller.for_person(Person.get(Person.nrn == nrn))


def offered(nrn: str, domain: str = "fiscalite", **kwargs) -> list[tuple[str, str]]:
    return [(c.bce, c.firm_bce) for c in client_choices(nrn, domain, **kwargs).choices]


def mandate_of(client: str) -> EnterpriseMandate:
    return EnterpriseMandate.get(
        (EnterpriseMandate.mandator == Enterprise.get(Enterprise.bce == client).id)
        & (EnterpriseMandate.status == "accepted")
    )


# -- the demo firm: who is offered which client -------------------------------------------------


@pytest.mark.parametrize(
    ("nrn", "domain", "expected"),
    [
        (INES, "fiscalite", [FLEURISTE, GARAGE, LIBRAIRIE]),  # by name
        (INES, "social", [LIBRAIRIE]),  # only the bookshop's mandate covers it
        (INES, "environnement", []),  # no mandate covers it
        (VICTOR, "fiscalite", [FLEURISTE, GARAGE, LIBRAIRIE]),  # the firm's GAP acts too
        (LUC, "fiscalite", []),  # not in the firm
    ],
)
def test_clients_offered_through_the_firm(story, nrn, domain, expected):
    assert offered(nrn, domain) == [(bce, FIRM) for bce in expected]
    for bce in (GARAGE, FLEURISTE, LIBRAIRIE):
        assert (acting_for(nrn, bce, domain) is not None) is (bce in expected)


def test_the_firm_itself_stays_a_direct_choice(story):
    assert [(c.bce, c.basis) for c in espace_choices(INES, "fiscalite")] == [(FIRM, "grant")]


def test_acting_through_the_firm_names_it(story):
    mandate = mandate_of(FLEURISTE)
    assert acting_for(INES, FLEURISTE, "fiscalite") == ActingFor(
        FLEURISTE,
        "Fleuriste Démo SC",
        [],
        ["act_for", "read_dossier", "edit_dossier", "submit_dossier"],
        "mandate",
        date(today().year + 1, 12, 31),
        Intermediary(
            FIRM,
            "Fiduciaire Démo SRL",
            ["client_agent", "agent", "reader"],
            ["fiscalite"],
            mandate.valid_from,
            date(today().year + 1, 12, 31),
        ),
    )
    choice = client_choices(INES, "fiscalite").choices[0]
    assert (choice.basis, choice.firm_name, choice.since) == (
        "mandate",
        "Fiduciaire Démo SRL",
        mandate.valid_from,
    )


def test_an_ended_mandate_is_no_longer_offered(story):
    end_mandate(as_(VICTOR), mandate_of(GARAGE).id, "no longer a client")
    assert offered(INES) == [(FLEURISTE, FIRM), (LIBRAIRIE, FIRM)]
    assert acting_for(INES, GARAGE, "fiscalite") is None


def test_a_member_without_act_for_clients_gets_no_client(story):
    grant = grant_role(as_(VICTOR), FIRM, LUC, "agent")
    assert offered(LUC) == [] and acting_for(LUC, GARAGE, "fiscalite") is None
    revoke_role(as_(VICTOR), grant.id, "wrong role")
    grant_role(as_(VICTOR), FIRM, LUC, "client_agent", scope=["social"])
    assert offered(LUC) == []  # limited to social in the firm
    assert offered(LUC, "social") == [(LIBRAIRIE, FIRM)]


def test_a_mandate_not_yet_in_force_or_past_is_not_offered(story, monkeypatch):
    last = date(today().year + 1, 12, 31)
    monkeypatch.setattr(espaces, "today", lambda: last + timedelta(days=1))
    assert FLEURISTE not in [bce for bce, _ in offered(INES)]
    monkeypatch.setattr(espaces, "today", lambda: mandate_of(GARAGE).valid_from - timedelta(1))
    assert offered(INES) == []


def test_a_stopped_client_or_firm_gives_nothing(story):
    Enterprise.update(status="stopped").where(Enterprise.bce == GARAGE).execute()
    assert offered(INES) == [(FLEURISTE, FIRM), (LIBRAIRIE, FIRM)]
    Enterprise.update(status="stopped").where(Enterprise.bce == FIRM).execute()
    assert offered(INES) == []
    assert acting_for(INES, LIBRAIRIE, "fiscalite") is None


def test_a_client_acted_for_directly_is_listed_once(story):
    representative = Person.get(Person.nrn == demo.FIRM_CLIENTS[0][1])
    designate_gap(Caller.for_person(representative), GARAGE, INES)
    direct = espace_choices(INES, "fiscalite")
    assert (GARAGE, "designation") in [(c.bce, c.basis) for c in direct]
    assert offered(INES, exclude={c.bce for c in direct}) == [
        (FLEURISTE, FIRM),
        (LIBRAIRIE, FIRM),
    ]
    assert acting_for(INES, GARAGE, "fiscalite").basis == "designation"  # own facts first


def test_the_choosers_two_lists_read_the_mandates_once(story, monkeypatch):
    """``chooser_lists``: what the two lists give on their own, the enterprises of the first
    left out of the second, the person's mandates read once for both."""
    representative = Person.get(Person.nrn == demo.FIRM_CLIENTS[0][1])
    designate_gap(Caller.for_person(representative), GARAGE, INES)
    direct = espace_choices(INES, "fiscalite")
    alone = client_choices(INES, "fiscalite", exclude={c.bce for c in direct}, limit=20)
    read = espaces.mandates.facts_by_enterprise
    reads = []
    monkeypatch.setattr(
        espaces.mandates,
        "facts_by_enterprise",
        lambda *args, **kwargs: reads.append(args) or read(*args, **kwargs),
    )
    choices, clients = espaces.chooser_lists(INES, "fiscalite", clients_limit=20)
    assert choices == direct and clients == alone
    assert [(c.bce, c.firm_bce) for c in clients.choices] == [(FLEURISTE, FIRM), (LIBRAIRIE, FIRM)]
    assert len(reads) == 1


# -- a firm of many clients: searched and paged -----------------------------------------------


@pytest.fixture
def big_firm(story) -> list[str]:
    """Thirty more clients of the demo firm, named ``Client NN Démo`` (one ``Café``), each
    mandate proposed by a legal representative and accepted by Victor."""
    representative = Person.create(nrn=make_nrn("600101", 7), given_name="Rep")
    numbers = []
    for i in range(30):
        name = "Café Démo SRL" if i == 7 else f"Client {i:02d} Démo SRL"
        client = Enterprise.create(bce=make_bce(6_000_000 + i), name=name)
        LegalRepresentation.create(person=representative, enterprise=client)
        mandate = propose_mandate(
            Caller.for_person(representative), client.bce, FIRM, ["fiscalite"]
        )
        accept_mandate(as_(VICTOR), mandate.id)
        numbers.append(client.bce)
    return numbers


def every_page(nrn: str, limit: int, **kwargs) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = client_choices(nrn, "fiscalite", limit=limit, after=after, **kwargs)
        pages.append([c.bce for c in page.choices])
        if page.next_after is None:
            return pages
        after = page.next_after


def test_pages_cover_every_client_once(big_firm):
    pages = every_page(INES, 7)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 5]
    flat = [bce for page in pages for bce in page]
    assert sorted(flat) == sorted([*big_firm, GARAGE, FLEURISTE, LIBRAIRIE])
    names = [Enterprise.get(Enterprise.bce == bce).name.casefold() for bce in flat]
    assert names[:3] == ["café démo srl", "client 00 démo srl", "client 01 démo srl"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cafe", ["Café Démo SRL"]),  # accents ignored
        ("CLIENT 1", [f"Client 1{i} Démo SRL" for i in range(10)]),
        ("fleuriste-demo", ["Fleuriste Démo SC"]),  # punctuation ignored
        ("0600.0012", ["Client 12 Démo SRL"]),  # BCE digits
        ("nothing like it", []),
    ],
)
def test_search_by_name_or_number(big_firm, query, expected):
    shown = [c.name for c in client_choices(INES, "fiscalite", query=query, limit=50).choices]
    assert shown == expected


def test_a_page_reads_only_a_chunk_of_mandates(big_firm, monkeypatch):
    monkeypatch.setattr(firm_clients, "PAGE_CHUNK", 4)
    read = []
    original = firm_clients.held_mandates

    def counting(*args, **kwargs):
        found = original(*args, **kwargs)
        read.append(len(found))
        return found

    monkeypatch.setattr(firm_clients, "held_mandates", counting)
    page = client_choices(INES, "fiscalite", limit=3)
    assert len(page.choices) == 3 and page.next_after is not None
    assert read == [4]  # one chunk filled the page (and told that more remain)


def test_sql_search_is_wider_than_the_match():
    # Letters that may carry accents become single-character wildcards; punctuation, gaps.
    assert espaces._sql_search("Dé_mo 100%") == ("%d_%m_%100%", None)
    assert espaces._sql_search(" ") == (None, None)
    assert espaces._sql_search("0444.666") == ("%0444%666%", "0444666")
