"""admin_ui/portal.py: the two espaces, the catalogue's search, « Aide », the page header."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from authz.catalogue import CatalogueEntry
from authz.clients import ClientMetadata, add_client, disable_client, set_catalogue
from authz.models import Person
from authz.services import Caller, grant_role
from monespace.config import ConfigError
from tests.idp_bridge.web_client import Browser, page_text

BOULANGERIE = "0123456749"


def logged_in(app, who: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{who}")
    return browser


@pytest.fixture
def pensions(app) -> None:
    """A second service, for citizens only, in the "pensions" domain."""
    add_client(ClientMetadata("Pensions", "pensions", client_id="pensions"), actor="test")
    set_catalogue(
        "pensions",
        CatalogueEntry(
            {"fr": "Ma pension", "nl": "Mijn pensioen"},
            {"fr": "Votre pension de retraite."},
            "https://pension.example.test/",
            ["citoyen"],
        ),
        actor="test",
    )


def test_the_pages_need_a_login(app):
    for path in ("/portail", f"/portail/professionnel/{BOULANGERIE}"):
        response = Browser(app).get(path)
        assert response.status_code == 303
        assert urlsplit(response.headers["Location"]).path == "/login"


def test_home_of_a_person_with_enterprises(app, pensions):
    marc = logged_in(app, "marc")
    response = marc.get("/portail")
    assert response.status_code == 200
    text = page_text(response)
    html = response.get_data(as_text=True)
    assert "Espace Citoyen" in text and "Espace Professionnel" in text
    assert "Guichet fiscal (démonstration)" in text and "Ma pension" in text
    assert f'href="/portail/professionnel/{BOULANGERIE}"' in html
    assert "Boulangerie Démo SA" in text
    assert 'href="/entreprises/ajouter?next=' in html
    # The header: who, which espace, log out, « Aide ».
    assert "Connecté : Marc Dupont-Démo" in text
    assert "Espace actuel : Espace Citoyen" in text
    assert 'action="/logout"' in html and "Se déconnecter" in text
    assert 'href="/portail/aide"' in html
    assert '<html lang="fr">' in html
    assert '<nav class="account" aria-label="Votre compte">' in html


def test_home_of_a_person_without_enterprises(app):
    alice = logged_in(app, "alice")
    text = page_text(alice.get("/portail"))
    assert "Vous ne pouvez encore agir pour aucune entreprise." in text
    assert "Guichet fiscal (démonstration)" in text
    assert "/portail/professionnel/" not in alice.get("/portail").get_data(as_text=True)


def test_search_in_any_language(app, pensions):
    alice = logged_in(app, "alice")
    for query, shown, hidden in (
        ("pension", "Ma pension", "Guichet fiscal"),
        ("PENSIOEN", "Ma pension", "Guichet fiscal"),
        ("Steuerschalter", "Guichet fiscal", "Ma pension"),
        ("déclarations", "Guichet fiscal", "Ma pension"),
    ):
        text = page_text(alice.get("/portail", query_string={"q": query}))
        assert shown in text and hidden not in text, query
    text = page_text(alice.get("/portail", query_string={"q": "permis de chasse"}))
    assert "Aucun service ne correspond à votre recherche." in text
    assert alice.get("/portail", query_string={"q": "x" * 5000}).status_code == 200


def test_a_disabled_service_is_not_listed(app, pensions):
    disable_client("pensions", actor="test")
    assert "Ma pension" not in page_text(logged_in(app, "alice").get("/portail"))


def test_espace_professionnel_of_one_enterprise(app, pensions):
    marc = logged_in(app, "marc")
    response = marc.get(f"/portail/professionnel/{BOULANGERIE}")
    assert response.status_code == 200
    text = page_text(response)
    assert "Espace Professionnel : Boulangerie Démo SA" in text
    assert "0123.456.749" in text
    assert "Gestionnaire d'accès principal (GAP)" in text
    assert "Répondre aux demandes d'accès" in text
    # The professional services only: the pension serves citizens.
    assert "Guichet fiscal (démonstration)" in text and "Ma pension" not in text
    assert "Espace actuel : Espace Professionnel : Boulangerie Démo SA" in text
    # Any spelling of the number.
    assert marc.get("/portail/professionnel/BE0123.456.749").status_code == 200
    searched = marc.get(f"/portail/professionnel/{BOULANGERIE}", query_string={"q": "zzz"})
    assert "Aucun service ne correspond à votre recherche." in page_text(searched)


def test_an_agent_for_one_domain_sees_that_domain_s_services(app, pensions):
    luc = logged_in(app, "luc")  # agent of the Boulangerie for "fiscalite" only
    assert f"/portail/professionnel/{BOULANGERIE}" in luc.get("/portail").get_data(as_text=True)
    text = page_text(luc.get(f"/portail/professionnel/{BOULANGERIE}"))
    assert "Agir pour l'entreprise auprès des services en ligne" in text
    assert "Guichet fiscal (démonstration)" in text
    assert "Répondre aux demandes d'accès" not in text


def test_a_reader_may_not_act_for_the_enterprise(app):
    emma = logged_in(app, "emma")  # reader: reads dossiers, does not act for it (the policy)
    assert "Vous ne pouvez encore agir pour aucune entreprise." in page_text(emma.get("/portail"))
    assert emma.get(f"/portail/professionnel/{BOULANGERIE}").status_code == 404


@pytest.mark.parametrize("bce", [BOULANGERIE, "0888888895", "not-a-number", "9" * 400])
def test_an_enterprise_the_person_may_not_act_for_is_404(app, bce):
    response = logged_in(app, "alice").get(f"/portail/professionnel/{bce}")
    assert response.status_code == 404


def test_the_help_page_with_the_demo_settings(app):
    response = Browser(app).get("/portail/aide")
    assert response.status_code == 200
    text = page_text(response)
    html = response.get_data(as_text=True)
    for question in (
        "Pourquoi mon entreprise n'apparaît-elle pas ?",
        "Qu'est-ce qu'un GAP ?",
        "Comment un représentant légal désigne-t-il un GAP ?",
        "Quel rôle demander ?",
    ):
        assert question in text
    assert 'href="/representant"' in html
    assert "aide@monespace.example.org" in text and "+32 2 000 00 00" in text
    assert "Connecté" not in text  # nobody logged in
    assert "Connecté : Alice" in page_text(logged_in(app, "alice").get("/portail/aide"))


def test_the_help_page_follows_its_settings(make_app):
    app = make_app(
        help_phone="078 15 15 15",
        help_email="helpdesk@example.test",
        help_hours="9 h – 12 h",
        gap_designation_url="https://gap.example.test/designer",
    )
    response = Browser(app).get("/portail/aide")
    text = page_text(response)
    assert "078 15 15 15" in text and "helpdesk@example.test" in text and "9 h – 12 h" in text
    assert 'href="https://gap.example.test/designer"' in response.get_data(as_text=True)
    assert "aide@monespace.example.org" not in text


@pytest.mark.parametrize(
    "setting",
    [
        {"gap_designation_url": "javascript:alert(1)"},
        {"gap_designation_url": "http://gap.example.test/"},
        {"gap_designation_url": "//evil.example.test/"},
        {"help_email": "not an address"},
    ],
)
def test_bad_help_settings_stop_the_start(make_app, setting):
    with pytest.raises(ConfigError):
        make_app(**setting)


def test_the_no_gap_explanation_links_to_the_designation_page(app):
    alice = logged_in(app, "alice")
    form = {"bce": "0999999922", "role": "agent", "message": ""}
    page = alice.get("/entreprises/ajouter").get_data(as_text=True)
    form["csrf_token"] = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    response = alice.post("/entreprises/ajouter", data=form)
    assert response.status_code == 400
    assert "n'a pas encore de gestionnaire d'accès principal" in page_text(response)
    assert 'href="/representant"' in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("lang", "espace", "service", "help_word"),
    [
        ("fr", "Espace Citoyen", "Guichet fiscal (démonstration)", "Aide"),
        ("nl", "Burgerruimte", "Belastingloket (demo)", "Hulp"),
        ("de", "Bürgerbereich", "Steuerschalter (Demo)", "Hilfe"),
        ("en", "Citizen space", "Tax office (demo)", "Help"),
    ],
)
def test_each_language(app, lang, espace, service, help_word):
    alice = logged_in(app, "alice")
    response = alice.get("/portail", query_string={"lang": lang})
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert f'<html lang="{lang}">' in html
    assert espace in text and service in text and help_word in text
    help_page = alice.get("/portail/aide", query_string={"lang": lang})
    assert f'<html lang="{lang}">' in help_page.get_data(as_text=True)


def test_a_page_with_its_own_log_out_button_has_one(app):
    page = logged_in(app, "alice").get("/me").get_data(as_text=True)
    assert page.count("Se déconnecter</button>") == 1
    assert 'aria-label="Votre compte"' in page  # the rest of the header stays


MANDATE_WORDS = {
    "give_mandate": "Donner un mandat à un intermédiaire (comptable, secrétariat social)",
    "accept_mandate": "Accepter ou refuser les mandats que des clients donnent à l'entreprise",
    "act_for_clients": "Agir pour les clients de l'entreprise",
}


def test_the_gap_is_told_of_the_mandate_permissions(app):
    text = page_text(logged_in(app, "marc").get(f"/portail/professionnel/{BOULANGERIE}"))
    for words in MANDATE_WORDS.values():
        assert words in text


def test_a_client_agent_acts_for_clients_but_gives_no_mandate(app):
    marc = Person.get(Person.nrn == "85020200387")
    grant_role(Caller.for_person(marc), BOULANGERIE, "99090900920", "client_agent")
    text = page_text(logged_in(app, "alice").get(f"/portail/professionnel/{BOULANGERIE}"))
    assert MANDATE_WORDS["act_for_clients"] in text
    assert MANDATE_WORDS["give_mandate"] not in text
    assert MANDATE_WORDS["accept_mandate"] not in text


def test_an_agent_is_told_of_no_mandate_permission(app):
    text = page_text(logged_in(app, "luc").get(f"/portail/professionnel/{BOULANGERIE}"))
    assert "Agir pour l'entreprise auprès des services en ligne" in text
    for words in MANDATE_WORDS.values():
        assert words not in text


@pytest.mark.parametrize("lang", ["nl", "de", "en"])
def test_the_mandate_permissions_in_every_language(app, lang):
    marc = logged_in(app, "marc")
    text = page_text(marc.get(f"/portail/professionnel/{BOULANGERIE}", query_string={"lang": lang}))
    for words in MANDATE_WORDS.values():
        assert words not in text  # translated, not left in French
    help_text = page_text(Browser(app).get("/portail/aide", query_string={"lang": lang}))
    assert "Comment agir pour les clients d'un intermédiaire ?" not in help_text


def test_the_help_page_explains_intermediaries(app):
    text = page_text(Browser(app).get("/portail/aide"))
    assert "Comment agir pour les clients d'un intermédiaire ?" in text
    assert "Collaborateur clients" in text


def test_the_public_catalogue_needs_no_login(app, pensions):
    add_client(ClientMetadata("Sans fiche", "divers", client_id="sans-fiche"), actor="test")
    response = Browser(app).get("/portail/services")
    assert response.status_code == 200
    text = page_text(response)
    html = response.get_data(as_text=True)
    assert "Les services de Mon Espace" in text
    assert "Ma pension" in text and "Votre pension de retraite." in text
    assert 'href="https://pension.example.test/"' in html
    assert "Guichet fiscal (démonstration)" in text
    assert "Pour : Espace Citoyen" in text
    assert "Sans fiche" not in text  # no catalogue entry: not listed
    assert "Connecté" not in text


def test_the_public_catalogue_in_the_visitor_s_language(app, pensions):
    text = page_text(Browser(app).get("/portail/services", query_string={"lang": "nl"}))
    assert "Mijn pensioen" in text and "Ma pension" not in text
    # No German name: the French one.
    text = page_text(Browser(app).get("/portail/services", query_string={"lang": "de"}))
    assert "Ma pension" in text


def test_a_disabled_service_is_not_in_the_public_catalogue(app, pensions):
    assert "Ma pension" in page_text(Browser(app).get("/portail/services"))
    disable_client("pensions", actor="test")
    text = page_text(Browser(app).get("/portail/services"))
    assert "Ma pension" not in text and "Guichet fiscal (démonstration)" in text


def test_the_public_catalogue_is_searched(app, pensions):
    text = page_text(Browser(app).get("/portail/services", query_string={"q": "pensioen"}))
    assert "Ma pension" in text and "Guichet fiscal" not in text
    text = page_text(Browser(app).get("/portail/services", query_string={"q": "zzz" * 100}))
    assert "Aucun service ne correspond à votre recherche." in text
