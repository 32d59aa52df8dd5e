"""Representation claims (``idp_bridge/oidc/claims.py``) on the demo story.

Who holds what (README, "The demo story"): Marc is the GAP of the Boulangerie, Sophie its
owner, Luc its agent for ``fiscalite`` only, Emma its reader; Nora only asked; Claire is its
legal representative; Jean is the sole trader of the Atelier, his own legal representative
and GAP; Paul represents an ASBL with no GAP; Hugo a stopped company; Alice is a citizen.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from authz import facts as F
from authz.engine import get_engine
from authz.models import (
    Enterprise,
    GapDesignation,
    LegalRepresentation,
    Person,
    RoleGrant,
    today,
)
from authz.services import Caller, change_role, designate_gap, grant_role, revoke_role
from idp_bridge.oidc import claims
from idp_bridge.oidc.claims import (
    CBE_SUB_ID_TYPE,
    EnterpriseChoice,
    citizen_claims,
    espace_choices,
    may_represent,
    professional_claims,
    represents_claim,
)
from monespace import demo
from tests.authz.services import make_bce, make_nrn

ISSUER = "https://monespace.example.test"
BOULANGERIE, ATELIER, ASBL, BRASSERIE = "0123456749", "0888888895", "0999999922", "0777777771"
ENTERPRISES = (BOULANGERIE, ATELIER, ASBL, BRASSERIE)
NRN = {p.key: p.nrn for p in demo.PERSONS} | {"hugo": "65080800512"}
STRANGER = make_nrn("010101", 1)  # valid, never seen


@pytest.fixture
def story(database):
    demo.seed()


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
    # The check made when the chooser's answer comes back agrees, enterprise by enterprise.
    allowed = {bce for bce, _ in expected}
    for bce in ENTERPRISES:
        assert may_represent(NRN[key], bce, domain) is (bce in allowed), bce
        claim = represents_claim(NRN[key], bce, domain, ISSUER)
        assert (claim is not None) is (bce in allowed), bce
        if claim is not None:
            assert claim["basis"] == dict(expected)[bce]


def test_a_person_never_seen_has_no_choice(story):
    assert espace_choices(STRANGER, "fiscalite") == []
    assert not may_represent(STRANGER, BOULANGERIE, "fiscalite")
    assert represents_claim(STRANGER, BOULANGERIE, "fiscalite", ISSUER) is None


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


def test_a_stopped_enterprise_is_not_offered(story):
    assert chosen(NRN["jean"]) == [(ATELIER, GAP)]
    Enterprise.update(status="stopped").where(Enterprise.bce == ATELIER).execute()
    assert chosen(NRN["jean"]) == []
    assert not may_represent(NRN["jean"], ATELIER, "fiscalite")
    assert represents_claim(NRN["jean"], ATELIER, "fiscalite", ISSUER) is None


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


@pytest.fixture
def alice_gap_of_twelve(story):
    """Alice is GAP of twelve enterprises (Paul represents them), designated on shuffled dates;
    returns their BCE numbers, most recent designation first."""
    paul = Person.get(Person.nrn == NRN["paul"])
    alice = Person.get(Person.nrn == NRN["alice"])
    numbers = [make_bce(5_000_000 + i) for i in range(12)]
    for i, bce in enumerate(numbers):
        enterprise = Enterprise.create(bce=bce, name=f"Société {i:02d} Démo SRL")
        LegalRepresentation.create(
            person=paul, enterprise=enterprise, imported_at=datetime(2000, 1, 1)
        )
        designate_gap(as_("paul"), bce, alice.nrn)
    days = [40, 300, 12, 150, 220, 5, 360, 90, 181, 61, 270, 33]  # days into 2020, shuffled
    for bce, day in zip(numbers, days, strict=True):
        GapDesignation.update(started_at=datetime(2020, 1, 1) + timedelta(days=day)).where(
            (GapDesignation.person == alice)
            & (GapDesignation.enterprise == Enterprise.get(Enterprise.bce == bce))
        ).execute()
    return [bce for _, bce in sorted(zip(days, numbers, strict=True), reverse=True)]


def test_every_enterprise_in_order(alice_gap_of_twelve):
    choices = espace_choices(NRN["alice"], "fiscalite")
    assert [c.bce for c in choices] == alice_gap_of_twelve
    assert [c.since for c in choices] == sorted((c.since for c in choices), reverse=True)


def test_the_list_is_read_in_one_statement(alice_gap_of_twelve, monkeypatch):
    statements: list[str] = []
    database_class = type(Person._meta.database.obj)
    real = database_class.execute_sql

    def spy(self, sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(database_class, "execute_sql", spy)
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


def test_the_facts_read_are_those_of_every_decision(story, alice_gap_of_twelve, monkeypatch):
    """The chooser reads all of a person's facts at once; for each pair they must be exactly
    what ``authz.facts.load_pair`` gives the engine for decisions."""
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
            read = claims._mandates(nrn, day, "fiscalite")
            pairs = {c.enterprise.bce: (c.person, c.enterprise) for c in read}
            for bce in numbers:
                person, enterprise = F.load_pair(nrn, bce, day, "fiscalite")
                holds = person.grants or person.designations or person.representations
                assert pairs.get(bce) == ((person, enterprise) if holds else None), (key, bce)


# -- the represents claim ----------------------------------------------------------------------


def test_claim_of_an_owner(story):
    assert represents_claim(NRN["sophie"], BOULANGERIE, "fiscalite", ISSUER) == {
        "sub": BOULANGERIE,
        "sub_id_type": CBE_SUB_ID_TYPE,
        "iss": ISSUER,
        "name": "Boulangerie Démo SA",
        "roles": ["owner", "agent", "reader"],
        "permissions": ["act_for", "read_dossier", "edit_dossier", "submit_dossier"],
        "basis": "grant",
    }
    assert CBE_SUB_ID_TYPE == "urn:be:fgov:kbo-bce:organization:cbe-number"


def test_claim_of_a_scoped_agent(story):
    claim = represents_claim(NRN["luc"], BOULANGERIE, "fiscalite", ISSUER)
    assert claim["roles"] == ["agent", "reader"]
    assert claim["permissions"] == ["act_for", "read_dossier", "edit_dossier"]
    assert claim["basis"] == "grant" and "valid_until" not in claim
    assert represents_claim(NRN["luc"], BOULANGERIE, "environnement", ISSUER) is None


def test_claim_of_a_gap(story):
    claim = represents_claim(NRN["marc"], BOULANGERIE, "fiscalite", ISSUER)
    assert claim["basis"] == "designation" and "valid_until" not in claim
    assert claim["roles"] == ["gap", "access_manager", "owner", "agent", "reader"]
    assert "grant_role" in claim["permissions"] and "act_for" in claim["permissions"]
    assert "designate_gap" not in claim["permissions"]  # Marc is not a legal representative


def test_claim_of_a_sole_trader(story):
    claim = represents_claim(NRN["jean"], ATELIER, "fiscalite", ISSUER)
    assert claim["basis"] == "designation"  # what lets him act, not his registry entry
    assert claim["permissions"][0] == "designate_gap"  # which he also holds


def test_claim_names_the_enterprise_by_its_ten_digits_whatever_the_spelling(story):
    for spelling in ("0123.456.749", "BE 0123 456 749", "be0123456749"):
        assert represents_claim(NRN["luc"], spelling, "fiscalite", ISSUER)["sub"] == BOULANGERIE
        assert may_represent(NRN["luc"], spelling, "fiscalite")


@pytest.mark.parametrize(
    "bce",
    ["0123456748", "0123.456", "abc", "", None, 123456749, make_bce(5_999_999)],
    ids=["bad-check", "short", "letters", "empty", "none", "not-text", "unregistered"],
)
def test_a_bad_or_unknown_number_from_the_form_is_refused(story, bce):
    assert not may_represent(NRN["sophie"], bce, "fiscalite")
    assert represents_claim(NRN["sophie"], bce, "fiscalite", ISSUER) is None


def test_a_grant_with_an_end_date(story, monkeypatch):
    end = today() + timedelta(days=30)
    grant_role(as_("marc"), BOULANGERIE, NRN["alice"], "owner", valid_until=end)
    claim = represents_claim(NRN["alice"], BOULANGERIE, "fiscalite", ISSUER)
    assert claim["valid_until"] == end.isoformat()
    assert claim["basis"] == "grant"

    monkeypatch.setattr(claims, "today", lambda: end)  # its last day still counts
    assert chosen(NRN["alice"]) == [(BOULANGERIE, GRANT)]
    assert may_represent(NRN["alice"], BOULANGERIE, "fiscalite")

    monkeypatch.setattr(claims, "today", lambda: end + timedelta(days=1))
    assert chosen(NRN["alice"]) == []
    assert not may_represent(NRN["alice"], BOULANGERIE, "fiscalite")
    assert represents_claim(NRN["alice"], BOULANGERIE, "fiscalite", ISSUER) is None


def test_nothing_after_the_grant_is_revoked(story):
    luc = NRN["luc"]
    assert represents_claim(luc, BOULANGERIE, "fiscalite", ISSUER) is not None
    revoke_role(as_("marc"), grant_of("luc").id, "left the company")
    assert represents_claim(luc, BOULANGERIE, "fiscalite", ISSUER) is None
    assert not may_represent(luc, BOULANGERIE, "fiscalite")
    assert espace_choices(luc, "fiscalite") == []
    # The others keep theirs.
    assert represents_claim(NRN["sophie"], BOULANGERIE, "fiscalite", ISSUER) is not None


def test_roles_are_read_when_the_claim_is_made(story):
    before = represents_claim(NRN["luc"], BOULANGERIE, "fiscalite", ISSUER)
    change_role(as_("marc"), grant_of("luc").id, "owner", scope=["fiscalite"])
    after = represents_claim(NRN["luc"], BOULANGERIE, "fiscalite", ISSUER)
    assert before["roles"] == ["agent", "reader"]
    assert after["roles"] == ["owner", "agent", "reader"]
    assert "submit_dossier" in after["permissions"]
    assert "submit_dossier" not in before["permissions"]


# -- espace claims -----------------------------------------------------------------------------


def test_citizen_claims():
    assert citizen_claims() == {"espace": "citoyen"}


def test_professional_claims(story):
    represents = represents_claim(NRN["sophie"], BOULANGERIE, "fiscalite", ISSUER)
    assert professional_claims(represents) == {"espace": "professionnel", "represents": represents}


def test_no_professional_claims_without_a_representation(story):
    with pytest.raises(ValueError, match="citizen"):
        professional_claims(represents_claim(NRN["emma"], BOULANGERIE, "fiscalite", ISSUER))
