"""Representation claims (``idp_bridge/oidc/claims.py``) on the demo story.

Who holds what (README, "The demo story"): Marc is the GAP of the Boulangerie, Sophie its
owner, Luc its agent for ``fiscalite`` only, Emma its reader; Nora only asked; Claire is its
legal representative; Jean is the sole trader of the Atelier, his own legal representative
and GAP; Paul represents an ASBL with no GAP; Hugo a stopped company; Alice is a citizen.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest

from authz import espaces
from authz.espaces import espace_choices
from authz.models import (
    Enterprise,
    EnterpriseMandate,
    Person,
    RoleGrant,
    today,
)
from authz.services import Caller, change_role, end_mandate, grant_role, revoke_role
from idp_bridge.oidc import claims
from idp_bridge.oidc.claims import (
    CBE_SUB_ID_TYPE,
    citizen_claims,
    may_represent,
    professional_claims,
    represents_claim,
)
from monespace import demo
from tests.authz.services import make_bce, make_nrn
from tests.idp_bridge.oidc.client_requests import (
    authorize_query,
    basic,
    callback_params,
    choose,
    id_token_claims,
    pkce_pair,
    redeem,
    refresh,
)
from tests.idp_bridge.web_client import page_text

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


def grant_of(key: str) -> RoleGrant:
    person = Person.get(Person.nrn == NRN[key])
    return RoleGrant.get((RoleGrant.person == person) & RoleGrant.ended_at.is_null())


# -- the claims agree with the chooser ---------------------------------------------------------


@pytest.mark.parametrize("key", sorted(NRN))
@pytest.mark.parametrize("domain", ["fiscalite", "environnement"])
def test_claims_agree_with_the_chooser(story, key, domain):
    """Who may be claimed is who the chooser offers (``tests/authz/test_espaces.py`` says who
    that is), enterprise by enterprise, with the same basis."""
    offered = {c.bce: c.basis for c in espace_choices(NRN[key], domain)}
    for bce in ENTERPRISES:
        assert may_represent(NRN[key], bce, domain) is (bce in offered), bce
        claim = represents_claim(NRN[key], bce, domain, ISSUER)
        assert (claim is not None) is (bce in offered), bce
        if claim is not None:
            assert claim["basis"] == offered[bce]


def test_a_person_never_seen_is_claimed_for_nothing(story):
    assert not may_represent(STRANGER, BOULANGERIE, "fiscalite")
    assert represents_claim(STRANGER, BOULANGERIE, "fiscalite", ISSUER) is None


def test_a_stopped_enterprise_is_not_claimed(story):
    assert represents_claim(NRN["jean"], ATELIER, "fiscalite", ISSUER) is not None
    Enterprise.update(status="stopped").where(Enterprise.bce == ATELIER).execute()
    assert not may_represent(NRN["jean"], ATELIER, "fiscalite")
    assert represents_claim(NRN["jean"], ATELIER, "fiscalite", ISSUER) is None


# -- the represents claim ----------------------------------------------------------------------


def test_claim_of_an_owner(story):
    assert represents_claim(NRN["sophie"], BOULANGERIE, "fiscalite", ISSUER) == {
        "sub": BOULANGERIE,
        "sub_id_type": CBE_SUB_ID_TYPE,
        "iss": ISSUER,
        "name": "Boulangerie Démo SA",
        "roles": ["owner", "client_agent", "agent", "reader"],
        "permissions": [
            "act_for",
            "read_dossier",
            "edit_dossier",
            "submit_dossier",
            "act_for_clients",
        ],
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
    assert claim["roles"] == ["gap", "access_manager", "owner", "client_agent", "agent", "reader"]
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

    for module in (claims, espaces):
        monkeypatch.setattr(module, "today", lambda: end)  # its last day still counts
    assert represents_claim(NRN["alice"], BOULANGERIE, "fiscalite", ISSUER) is not None
    assert may_represent(NRN["alice"], BOULANGERIE, "fiscalite")

    for module in (claims, espaces):
        monkeypatch.setattr(module, "today", lambda: end + timedelta(days=1))
    assert not may_represent(NRN["alice"], BOULANGERIE, "fiscalite")
    assert represents_claim(NRN["alice"], BOULANGERIE, "fiscalite", ISSUER) is None


def test_nothing_after_the_grant_is_revoked(story):
    luc = NRN["luc"]
    assert represents_claim(luc, BOULANGERIE, "fiscalite", ISSUER) is not None
    revoke_role(as_("marc"), grant_of("luc").id, "left the company")
    assert represents_claim(luc, BOULANGERIE, "fiscalite", ISSUER) is None
    assert not may_represent(luc, BOULANGERIE, "fiscalite")
    # The others keep theirs.
    assert represents_claim(NRN["sophie"], BOULANGERIE, "fiscalite", ISSUER) is not None


def test_roles_are_read_when_the_claim_is_made(story):
    before = represents_claim(NRN["luc"], BOULANGERIE, "fiscalite", ISSUER)
    change_role(as_("marc"), grant_of("luc").id, "owner", scope=["fiscalite"])
    after = represents_claim(NRN["luc"], BOULANGERIE, "fiscalite", ISSUER)
    assert before["roles"] == ["agent", "reader"]
    assert after["roles"] == ["owner", "client_agent", "agent", "reader"]
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


def test_a_grant_carries_the_espace_only_with_the_enterprise_scope_itself(story):
    """A grant's stored authorization request holds its scope as one string: ``enterprise``
    is one of its words, never a part of one."""
    from authz.clients import find_client
    from idp_bridge.oidc.edge import ESPACE, LOGIN, grant_claims

    client = find_client(demo.DEMO_CLIENT_ID)
    login = {"nrn": NRN["sophie"], "acr": "eid", "amr": ["eid"], "auth_time": 1, "sid": "s"}
    stored = {"scope": "openid enterprise", LOGIN: login, ESPACE: BOULANGERIE}
    claimed = grant_claims(stored, client, edge=_Edge())
    assert claimed["espace"] == "professionnel" and claimed["represents"]["sub"] == BOULANGERIE
    for scope in ("openid enterprises", "openid notenterprise", "openid"):
        assert "espace" not in grant_claims({**stored, "scope": scope}, client, edge=_Edge())


class _Edge:
    """What ``grant_claims`` asks of the app's edge: the issuer, and who acts for whom."""

    issuer = ISSUER

    @staticmethod
    def acting_for(nrn: str, bce: str, service_domain: str):
        return espaces.acting_for(nrn, bce, service_domain)


# -- through an intermediary: the demo's accounting firm ---------------------------------------

FIRM = demo.FIRM_BCE
GARAGE, FLEURISTE, LIBRAIRIE = (bce for bce, _, _ in demo.FIRM_CLIENTS)


def firm_mandate(client: str) -> EnterpriseMandate:
    return EnterpriseMandate.get(
        (EnterpriseMandate.mandator == Enterprise.get(Enterprise.bce == client).id)
        & (EnterpriseMandate.status == "accepted")
    )


def test_claim_through_an_intermediary_names_the_firm(story):
    since = firm_mandate(FLEURISTE).valid_from.isoformat()
    last = f"{today().year + 1}-12-31"
    assert represents_claim(NRN["ines"], FLEURISTE, "fiscalite", ISSUER) == {
        "sub": FLEURISTE,
        "sub_id_type": CBE_SUB_ID_TYPE,
        "iss": ISSUER,
        "name": "Fleuriste Démo SC",
        "roles": [],
        "permissions": ["act_for", "read_dossier", "edit_dossier", "submit_dossier"],
        "basis": "mandate",
        "valid_until": last,
        "intermediary": {
            "sub": FIRM,
            "sub_id_type": CBE_SUB_ID_TYPE,
            "name": "Fiduciaire Démo SRL",
            "roles": ["client_agent", "agent", "reader"],
            "mandate": {"domains": ["fiscalite"], "valid_from": since, "valid_until": last},
        },
    }
    # A mandate without a last day: no valid_until, in the claim nor in its mandate.
    garage = represents_claim(NRN["ines"], GARAGE, "fiscalite", ISSUER)
    assert "valid_until" not in garage and "valid_until" not in garage["intermediary"]["mandate"]
    # The firm's GAP acts through the designation that makes him its GAP.
    victor = represents_claim(NRN["victor"], LIBRAIRIE, "social", ISSUER)
    assert victor["intermediary"]["roles"][0] == "gap"
    assert victor["intermediary"]["mandate"]["domains"] == ["fiscalite", "social"]


@pytest.mark.parametrize(
    ("key", "bce", "domain", "why"),
    [
        ("ines", GARAGE, "social", "the garage's mandate is for fiscalite only"),
        ("luc", GARAGE, "fiscalite", "not a member of the firm"),
        ("alice", LIBRAIRIE, "social", "a citizen"),
    ],
)
def test_no_claim_without_the_mandate_and_the_role(story, key, bce, domain, why):
    assert not may_represent(NRN[key], bce, domain), why
    assert represents_claim(NRN[key], bce, domain, ISSUER) is None, why


def test_no_claim_for_a_member_without_act_for_clients(story):
    grant_role(as_("victor"), FIRM, NRN["luc"], "agent")
    assert represents_claim(NRN["luc"], GARAGE, "fiscalite", ISSUER) is None


def test_the_tokens_of_a_login_through_the_firm(browser, confidential):
    """Inès logs in through the eID simulator, picks a client of her firm in the chooser; the
    ID token and userinfo carry ``represents`` naming the firm. Once the firm ends that
    client's mandate, the refresh is refused, and the next login neither offers the client
    nor accepts it from the form."""
    browser.login("eid", "person:ines")
    verifier, challenge = pkce_pair()
    query = authorize_query("fisc", challenge, scope="openid profile enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    text = page_text(chooser)
    assert "Librairie Démo SRL (0444.888.817) – via Fiduciaire Démo SRL" in text
    assert "Fiduciaire Démo SRL (0444.555.552)" in text  # the firm itself, directly

    params = callback_params(choose(browser, chooser, LIBRAIRIE))
    tokens = redeem(browser, params["code"], verifier, basic("fisc", confidential)).get_json()
    claims_ = id_token_claims(browser, tokens["id_token"])
    represents = claims_["represents"]
    assert claims_["espace"] == "professionnel"
    assert (represents["sub"], represents["basis"], represents["roles"]) == (
        LIBRAIRIE,
        "mandate",
        [],
    )
    assert represents["intermediary"]["sub"] == FIRM
    assert represents["intermediary"]["mandate"]["domains"] == ["fiscalite", "social"]
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["represents"] == represents

    end_mandate(as_("victor"), firm_mandate(LIBRAIRIE).id, "no longer a client")
    refused = refresh(browser, tokens["refresh_token"], basic("fisc", confidential))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    assert "Librairie" not in page_text(chooser) and "Garage Démo SRL" in page_text(chooser)
    forced = choose(browser, chooser, LIBRAIRIE)
    assert forced.status_code == 400
