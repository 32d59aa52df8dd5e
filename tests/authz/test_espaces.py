"""The espace chooser and the right to act for an enterprise (``authz/espaces.py``), on the
demo story (``story`` in ``tests/authz/conftest.py``): allowed and denied, in force, expired,
revoked, on a stopped enterprise, in order, searched, and read in one statement.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from authz import espaces
from authz.engine import get_engine
from authz.espaces import ActingFor, EnterpriseChoice, acting_for, espace_choices
from authz.models import Enterprise, GapDesignation, Person, RoleGrant, today
from authz.permissions import ACT_FOR
from authz.services import Caller, grant_role, revoke_role
from monespace import demo
from tests.authz.services import make_bce, make_nrn

BOULANGERIE, ATELIER, ASBL, BRASSERIE = "0123456749", "0888888895", "0999999922", "0777777771"
ENTERPRISES = (BOULANGERIE, ATELIER, ASBL, BRASSERIE)
NRN = {p.key: p.nrn for p in demo.PERSONS} | {"hugo": "65080800512"}
STRANGER = make_nrn("010101", 1)  # valid, never seen


def as_(key: str) -> Caller:
    return Caller.for_person(Person.get(Person.nrn == NRN[key]))


def chosen(nrn: str, domain: str = "fiscalite", **kwargs) -> list[tuple[str, str]]:
    return [(c.bce, c.basis) for c in espace_choices(nrn, domain, **kwargs)]


def grant_of(key: str) -> RoleGrant:
    person = Person.get(Person.nrn == NRN[key])
    return RoleGrant.get((RoleGrant.person == person) & RoleGrant.ended_at.is_null())


# -- who sees what: allowed and denied ---------------------------------------------------------

GAP, GRANT = "designation", "grant"

# (person, service domain, what the chooser lists, why)
CHOICES = [
    ("marc", "fiscalite", [(BOULANGERIE, GAP)], "the GAP acts for the enterprise"),
    ("marc", "environnement", [(BOULANGERIE, GAP)], "a designation has no scope"),
    ("sophie", "fiscalite", [(BOULANGERIE, GRANT)], "an owner acts for it"),
    ("sophie", "environnement", [(BOULANGERIE, GRANT)], "her grant has no scope"),
    ("luc", "fiscalite", [(BOULANGERIE, GRANT)], "an agent acts for it in his scope"),
    ("luc", "environnement", [], "outside his grant's scope"),
    ("emma", "fiscalite", [], "a reader may not act for it"),
    ("nora", "fiscalite", [], "a pending request is no mandate"),
    ("claire", "fiscalite", [], "a legal representative only designates the GAP"),
    ("jean", "fiscalite", [(ATELIER, GAP)], "his own GAP: the designation, not the registry"),
    ("paul", "fiscalite", [], "legal representative of an ASBL with no GAP"),
    ("hugo", "fiscalite", [], "legal representative of a stopped company"),
    ("alice", "fiscalite", [], "a citizen with no mandate"),
]


@pytest.mark.parametrize(
    ("key", "domain", "expected"),
    [(key, domain, expected) for key, domain, expected, _ in CHOICES],
    ids=[f"{key}-{domain}" for key, domain, _, _ in CHOICES],
)
def test_choices_follow_the_policy(story, key, domain, expected):
    assert chosen(NRN[key], domain) == expected
    # The check made when the chooser's answer comes back agrees, enterprise by enterprise,
    # and so does the engine asked directly.
    allowed = {bce for bce, _ in expected}
    for bce in ENTERPRISES:
        acting = acting_for(NRN[key], bce, domain)
        assert (acting is not None) is (bce in allowed), bce
        assert get_engine().decide(NRN[key], ACT_FOR, bce, domain) is (bce in allowed), bce
        if acting is not None:
            assert acting.basis == dict(expected)[bce]
            assert ACT_FOR in acting.permissions


def test_a_person_never_seen_has_no_choice(story):
    assert espace_choices(STRANGER, "fiscalite") == []
    assert acting_for(STRANGER, BOULANGERIE, "fiscalite") is None


def test_an_unknown_enterprise_gives_nothing(story):
    assert acting_for(NRN["sophie"], make_bce(5_999_999), "fiscalite") is None


def test_a_choice_names_the_enterprise_and_its_mandate(story):
    assert espace_choices(NRN["luc"], "fiscalite") == [
        EnterpriseChoice(
            bce=BOULANGERIE,
            name="Boulangerie Démo SA",
            formatted_bce="0123.456.749",
            basis="grant",
            since=grant_of("luc").granted_at.date(),
        )
    ]
    assert acting_for(NRN["luc"], BOULANGERIE, "fiscalite") == ActingFor(
        BOULANGERIE,
        "Boulangerie Démo SA",
        ["agent", "reader"],
        ["act_for", "read_dossier", "edit_dossier"],
        "grant",
        None,
    )


def test_a_stopped_enterprise_is_not_offered(story):
    assert chosen(NRN["jean"]) == [(ATELIER, GAP)]
    Enterprise.update(status="stopped").where(Enterprise.bce == ATELIER).execute()
    assert chosen(NRN["jean"]) == []
    assert acting_for(NRN["jean"], ATELIER, "fiscalite") is None


def test_a_grant_in_force_until_its_last_day(story, monkeypatch):
    end = today() + timedelta(days=30)
    grant_role(as_("marc"), BOULANGERIE, NRN["alice"], "owner", valid_until=end)
    assert acting_for(NRN["alice"], BOULANGERIE, "fiscalite").valid_until == end

    monkeypatch.setattr(espaces, "today", lambda: end)  # its last day still counts
    assert chosen(NRN["alice"]) == [(BOULANGERIE, GRANT)]
    assert acting_for(NRN["alice"], BOULANGERIE, "fiscalite") is not None

    monkeypatch.setattr(espaces, "today", lambda: end + timedelta(days=1))  # expired
    assert chosen(NRN["alice"]) == []
    assert acting_for(NRN["alice"], BOULANGERIE, "fiscalite") is None


def test_nothing_after_the_grant_is_revoked(story):
    assert chosen(NRN["luc"]) == [(BOULANGERIE, GRANT)]
    revoke_role(as_("marc"), grant_of("luc").id, "left the company")
    assert chosen(NRN["luc"]) == []
    assert acting_for(NRN["luc"], BOULANGERIE, "fiscalite") is None
    assert chosen(NRN["sophie"]) == [(BOULANGERIE, GRANT)]  # the others keep theirs


# -- order and search --------------------------------------------------------------------------


@pytest.fixture
def marc_in_two(story):
    """Marc, GAP of the Boulangerie since 15 January 2024, is made owner of the Atelier today."""
    GapDesignation.update(started_at=datetime(2024, 1, 15, 9, 30)).where(
        GapDesignation.person == Person.get(Person.nrn == NRN["marc"])
    ).execute()
    grant_role(as_("jean"), ATELIER, NRN["marc"], "owner")
    return NRN["marc"]


def test_most_recent_mandate_first(marc_in_two):
    choices = espace_choices(marc_in_two, "fiscalite")
    assert [(c.bce, c.basis, c.since) for c in choices] == [
        (ATELIER, GRANT, today()),
        (BOULANGERIE, GAP, date(2024, 1, 15)),
    ]
    assert chosen(marc_in_two, limit=1) == [(ATELIER, GRANT)]
    with pytest.raises(ValueError, match="limit"):
        espace_choices(marc_in_two, "fiscalite", limit=0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("boulangerie", [BOULANGERIE]),
        ("BOULANGERIE démo", [BOULANGERIE]),
        ("Boulangerie Demo", [BOULANGERIE]),
        ("dubois demo", [ATELIER]),  # the hyphen of "Dubois-Démo" counts as a space
        ("DUBOIS-DÉMO", [ATELIER]),
        ("  atelier  jean ", [ATELIER]),
        ("démo", [ATELIER, BOULANGERIE]),
        ("demo", [ATELIER, BOULANGERIE]),
        ("0123.456.749", [BOULANGERIE]),
        ("0123456749", [BOULANGERIE]),
        ("BE0123456749", [BOULANGERIE]),
        ("be 0123 456 749", [BOULANGERIE]),
        ("BE 0123.456.749", [BOULANGERIE]),
        ("123456749", [BOULANGERIE]),  # the old nine-digit spelling
        ("456.749", [BOULANGERIE]),
        ("0888", [ATELIER]),
        ("0999.999.922", []),  # an enterprise he has no mandate for
        ("garage", []),
        ("", [ATELIER, BOULANGERIE]),
        ("   ", [ATELIER, BOULANGERIE]),
        (None, [ATELIER, BOULANGERIE]),
    ],
)
def test_search_by_name_or_number(marc_in_two, query, expected):
    assert [c.bce for c in espace_choices(marc_in_two, "fiscalite", query=query)] == expected


def test_the_search_only_narrows_what_the_policy_allows(marc_in_two):
    assert chosen(NRN["luc"], "environnement", query="boulangerie") == []
    assert chosen(NRN["emma"], query="0123.456.749") == []


# -- long lists: one statement, the engine asked only as far as needed -------------------------


def test_every_enterprise_in_order(alice_gap_of_twelve):
    choices = espace_choices(NRN["alice"], "fiscalite")
    assert [c.bce for c in choices] == alice_gap_of_twelve
    assert [c.since for c in choices] == sorted((c.since for c in choices), reverse=True)


def test_the_list_is_read_in_one_statement(alice_gap_of_twelve, statements):
    assert len(espace_choices(NRN["alice"], "fiscalite")) == 12
    assert len(statements) == 1


def test_the_engine_is_asked_only_until_the_page_is_full(alice_gap_of_twelve, monkeypatch):
    engine = get_engine()
    asked: list[str] = []
    real = engine.allowed

    def counting(person, action, enterprise):
        asked.append(enterprise.bce)
        return real(person, action, enterprise)

    monkeypatch.setattr(engine, "allowed", counting)
    choices = espace_choices(NRN["alice"], "fiscalite", limit=3)
    assert [c.bce for c in choices] == alice_gap_of_twelve[:3]
    assert asked == alice_gap_of_twelve[:3]


def test_a_search_within_a_long_list(alice_gap_of_twelve):
    found = espace_choices(NRN["alice"], "fiscalite", query="societe 07")
    assert [c.name for c in found] == ["Société 07 Démo SRL"]
