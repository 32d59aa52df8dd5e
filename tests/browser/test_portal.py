"""The portal story: from « Mes espaces » and its catalogue to the demo relying party's login,
the Espace Professionnel of an enterprise, and « Aide »; each page checked by axe-core, and
the same story without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

DEMO_SERVICE = "Guichet fiscal (démonstration)"


@pytest.mark.parametrize("javascript", [True, False])
def test_marc_goes_from_the_catalogue_to_a_service_and_to_help(
    site, new_page, check_page, javascript
):
    page = new_page("marc", next_path="/portail", javascript=javascript)
    expect(page.get_by_role("heading", name="Espace Citoyen")).to_be_visible()
    expect(page.get_by_role("navigation", name="Votre compte")).to_contain_text(
        "Espace actuel : Espace Citoyen"
    )
    if javascript:
        check_page(page, "mes-espaces")

    # The search, then the service's start page, then its login: the chooser names it.
    page.get_by_label("Rechercher un service (nom ou description)").fill("belastingloket")
    page.get_by_role("button", name="Rechercher", exact=True).click()
    page.get_by_role("link", name=DEMO_SERVICE).click()
    page.get_by_role("button", name="Se connecter pour une entreprise").click()
    expect(page.get_by_text(f"Pour qui agissez-vous auprès de {DEMO_SERVICE} ?")).to_be_visible()
    if javascript:
        check_page(page, "choix-espace")

    # The Espace Professionnel of the Boulangerie: what Marc may do there, its services.
    page.goto("/portail")
    page.get_by_role("link", name="Boulangerie Démo SA").click()
    expect(
        page.get_by_role("heading", name="Espace Professionnel : Boulangerie Démo SA")
    ).to_be_visible()
    expect(page.get_by_text("Répondre aux demandes d'accès")).to_be_visible()
    expect(page.get_by_role("link", name=DEMO_SERVICE)).to_be_visible()
    expect(page.get_by_role("link", name="Ajouter une entreprise")).to_be_visible()
    if javascript:
        check_page(page, "espace-professionnel")

    # « Aide », from the header.
    page.get_by_role("navigation", name="Votre compte").get_by_role("link", name="Aide").click()
    expect(page.get_by_role("heading", name="Qu'est-ce qu'un GAP ?")).to_be_visible()
    expect(page.get_by_role("link", name="aide@monespace.example.org")).to_be_visible()
    if javascript:
        check_page(page, "aide")

    # Log out from the header.
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(f"{site.url}/login?logged_out=1")
