"""Each main page, as a person reaches it: no serious or critical axe-core violation of WCAG 2
A/AA, and a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.playwright_pages import (
    METHOD_LINKS,
    NAMES,
    focus_contrast,
    focused_description,
    login,
    login_from_here,
)

PARC = "0999.999.922"  # no GAP in the demo story


def home(new_page) -> Page:
    page = new_page()
    page.goto("/")
    return page


def login_page(new_page) -> Page:
    page = new_page()
    page.goto("/login?next=/me")
    return page


def simulator(method: str) -> Callable[..., Page]:
    def reach(new_page) -> Page:
        page = login_page(new_page)
        page.get_by_role("link", name=METHOD_LINKS[method]).click()
        expect(page.get_by_role("button", name=NAMES["alice"])).to_be_visible()
        return page

    return reach


def eid_answer(new_page) -> Page:
    """The eID simulator's page that posts the answer back ("Continuer")."""
    page = simulator("eid")(new_page)
    page.get_by_role("button", name=NAMES["alice"], exact=True).click()
    expect(page.get_by_role("button", name="Continuer")).to_be_visible()
    return page


def me(new_page) -> Page:
    return new_page("alice")


def enterprises_of_a_gap(new_page) -> Page:
    return new_page("marc", next_path="/entreprises")


def enterprises_with_a_request(new_page) -> Page:
    return new_page("nora", next_path="/entreprises")


def add_form(new_page) -> Page:
    return new_page("alice", next_path="/entreprises/ajouter")


def add_form_refused(new_page) -> Page:
    page = add_form(new_page)
    page.get_by_label("Numéro d'entreprise (BCE)").fill(PARC)
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("alert")).to_contain_text("n'a pas encore de gestionnaire")
    return page


def add_form_sent(new_page) -> Page:
    page = add_form(new_page)
    page.get_by_label("Numéro d'entreprise (BCE)").fill("0123.456.749")
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("status")).to_contain_text("a été envoyée")
    return page


def demo_rp(new_page) -> Page:
    page = new_page()
    page.goto("/demo-rp")
    return page


def espace_chooser(new_page) -> Page:
    page = demo_rp(new_page)
    page.get_by_role("button", name="Se connecter pour une entreprise").click()
    page.wait_for_url("**/login?**")
    login_from_here(page, "marc", next_path="/authorize/espace")
    return page


def espace_chooser_with_clients(new_page) -> Page:
    """Inès, client agent of the demo's firm: its clients listed after the firm, "via" it."""
    page = demo_rp(new_page)
    page.get_by_role("button", name="Se connecter pour une entreprise").click()
    page.wait_for_url("**/login?**")
    login_from_here(page, "ines", next_path="/authorize/espace")
    expect(
        page.get_by_role("radio", name="Garage Démo SRL (0444.666.608) – via Fiduciaire Démo SRL")
    ).to_be_visible()
    return page


def demo_rp_result(new_page) -> Page:
    page = espace_chooser(new_page)
    page.get_by_role("radio", name="Boulangerie Démo SA (0123.456.749)").check()
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", name="Ce que le service a reçu")).to_be_visible()
    return page


def outbox(new_page) -> Page:
    page = add_form_sent(new_page)
    page.goto("/demo/outbox")
    return page


def outbox_message(new_page) -> Page:
    page = outbox(new_page)
    page.get_by_role("link", name="Demande de rôle pour Boulangerie Démo SA").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Demande de rôle pour Boulangerie Démo SA"
    )
    return page


def logged_out(new_page) -> Page:
    page = me(new_page)
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    return page


PAGES: dict[str, Callable[..., Page]] = {
    "accueil": home,
    "connexion": login_page,
    "simulateur-eid": simulator("eid"),
    "simulateur-eid-retour": eid_answer,
    "simulateur-itsme": simulator("itsme"),
    "qui-suis-je": me,
    "mes-entreprises-gap": enterprises_of_a_gap,
    "mes-entreprises-demande": enterprises_with_a_request,
    "ajouter-une-entreprise": add_form,
    "ajouter-une-entreprise-refus": add_form_refused,
    "ajouter-une-entreprise-envoyee": add_form_sent,
    "service-de-demonstration": demo_rp,
    "choix-de-l-espace": espace_chooser,
    "choix-de-l-espace-clients": espace_chooser_with_clients,
    "service-de-demonstration-resultat": demo_rp_result,
    "boite-d-envoi": outbox,
    "boite-d-envoi-courriel": outbox_message,
    "deconnecte": logged_out,
}


@pytest.mark.parametrize("name", PAGES)
def test_the_page_is_accessible(name, new_page, check_page):
    page = PAGES[name](new_page)
    check_page(page, name)


def test_the_login_helper_lands_on_next(new_page):
    """login() itself: itsme as well as eID, to a page with a query string."""
    page = new_page()
    login(page, "emma", "itsme", next_path="/entreprises/ajouter?next=/entreprises")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ajouter une entreprise")


def test_the_focus_indicator_contrasts_with_the_page(new_page):
    """WCAG 1.4.11 (non-text contrast, AA): what shows the focus has a contrast of 3:1 at
    least with the colours next to it. Every element of a form page, reached with Tab."""
    page = add_form(new_page)
    weak, seen = [], set()
    for _ in range(40):
        page.keyboard.press("Tab")
        element = focused_description(page)
        if element in seen or element.startswith("<body"):
            break
        seen.add(element)
        ratio = focus_contrast(page)
        if ratio is not None and ratio < 3:
            weak.append(f"{ratio:.2f}:1 on {element}")
    assert not weak, "focus indicators under 3:1:\n" + "\n".join(weak)
