"""The role request in a browser: a person asks an enterprise's GAP for a role ("Ajouter une
entreprise"), with the mouse, without JavaScript and with the keyboard only; the GAP gets the
email through SMTP and follows its link; a pending request is withdrawn."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from authz.models import Person, RoleRequest
from tests.browser.playwright_pages import (
    NAMES,
    links_in,
    login_from_here,
    only_message_to,
    tab_to,
)

BOULANGERIE = "Boulangerie Démo SA"
MARC_EMAIL = "marc@demo.monespace.invalid"


def requests_of(key: str) -> list[RoleRequest]:
    given_name = NAMES[key].split()[0]
    person = Person.get(Person.given_name == given_name)
    return list(RoleRequest.select().where(RoleRequest.person == person))


def pending_row(page: Page, enterprise: str = BOULANGERIE):
    table = page.get_by_role("table", name="Vos demandes de rôle et leur état")
    return table.get_by_role("row").filter(has_text=enterprise)


def assert_one_pending_request(key: str, role: str, message: str = "") -> RoleRequest:
    (made,) = requests_of(key)
    assert made.enterprise.bce == "0123456749"
    assert (made.role, made.status, made.message) == (role, "pending", message)
    return made


def test_alice_asks_for_a_role_and_the_gap_gets_the_email(site, new_page, check_page):
    alice = new_page("alice")
    alice.get_by_role("link", name="Mes entreprises").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Mes entreprises")
    expect(alice.get_by_text("Vous n'avez fait aucune demande de rôle.")).to_be_visible()
    check_page(alice, "mes-entreprises-avant")

    alice.get_by_role("link", name="Ajouter une entreprise").click()
    expect(alice).to_have_title(re.compile("^Ajouter une entreprise"))
    alice.get_by_label("Numéro d'entreprise (BCE)").fill("BE 0123 456 749")
    alice.get_by_role("radio", name=re.compile("^Lecteur")).check()
    alice.get_by_label("Message au gestionnaire d'accès (facultatif)").fill(
        "Je reprends la comptabilité."
    )
    check_page(alice, "formulaire-rempli")
    alice.get_by_role("button", name="Envoyer la demande").click()

    expect(alice.get_by_role("status")).to_have_text(
        "Votre demande pour Boulangerie Démo SA (0123.456.749) a été envoyée à son "
        "gestionnaire d'accès. Vous pourrez agir pour l'entreprise dès qu'il l'aura acceptée."
    )
    check_page(alice, "demande-envoyee")
    alice.get_by_role("link", name="Continuer").click()
    expect(alice).to_have_url(f"{site.url}/entreprises")
    row = pending_row(alice)
    expect(row).to_contain_text("Lecteur")
    expect(row).to_contain_text("En attente")
    expect(row.get_by_role("button", name=f"Retirer la demande pour {BOULANGERIE}")).to_be_visible()
    check_page(alice, "mes-entreprises-apres")
    assert_one_pending_request("alice", "reader", "Je reprends la comptabilité.")

    email = only_message_to(site.mailbox.deliver(), MARC_EMAIL)
    assert email["Subject"] == f"Demande de rôle pour {BOULANGERIE}"
    body = email.get_content()
    assert (
        f"Alice Citoyenne-Démo demande le rôle de lecteur pour {BOULANGERIE} (0123.456.749)" in body
    )
    assert "Je reprends la comptabilité." in body
    assert links_in(email) == [f"{site.url}/entreprises"]

    # The GAP, in another browser, follows the email's link and logs in with itsme.
    marc = new_page()
    marc.goto(links_in(email)[0])
    login_from_here(marc, "marc", "itsme")
    expect(marc).to_have_url(f"{site.url}/entreprises")
    mandates = marc.get_by_role("table", name=re.compile("^Les entreprises pour lesquelles"))
    expect(mandates.get_by_role("row").filter(has_text=BOULANGERIE)).to_contain_text(
        "Gestionnaire d'accès principal (GAP)"
    )


def test_the_request_works_without_javascript(site, new_page, screenshot):
    alice = new_page("alice", javascript=False, next_path="/entreprises")
    alice.get_by_role("link", name="Ajouter une entreprise").click()
    alice.get_by_label("Numéro d'entreprise (BCE)").fill("0123456749")
    alice.get_by_role("radio", name=re.compile("^Propriétaire")).check()
    alice.get_by_role("button", name="Envoyer la demande").click()
    expect(alice.get_by_role("status")).to_contain_text("a été envoyée")
    alice.get_by_role("link", name="Continuer").click()
    expect(pending_row(alice)).to_contain_text("Propriétaire")
    screenshot(alice, "sans-javascript")  # axe-core needs JavaScript: test_pages checks it
    assert_one_pending_request("alice", "owner")
    only_message_to(site.mailbox.deliver(), MARC_EMAIL)


def test_the_request_with_the_keyboard_only(site, new_page, check_page):
    alice = new_page()
    alice.goto("/login?next=/me")
    keys = alice.keyboard

    tab_to(alice, alice.get_by_role("link", name="Carte d'identité électronique"))
    keys.press("Enter")
    tab_to(alice, alice.get_by_role("button", name=NAMES["alice"], exact=True))
    keys.press("Space")
    tab_to(alice, alice.get_by_role("button", name="Continuer"))
    keys.press("Enter")
    expect(alice).to_have_url(f"{site.url}/me")

    tab_to(alice, alice.get_by_role("link", name="Mes entreprises"))
    keys.press("Enter")
    expect(alice).to_have_url(f"{site.url}/entreprises")

    # The skip link comes first, is shown when focused, and leads into the content.
    skip = alice.get_by_role("link", name="Aller au contenu")
    tab_to(alice, skip, max_tabs=1)
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, box
    keys.press("Enter")
    tab_to(alice, alice.get_by_role("link", name="Ajouter une entreprise"), max_tabs=1)
    keys.press("Enter")

    tab_to(alice, alice.get_by_label("Numéro d'entreprise (BCE)"))
    keys.type("0123.456.749")
    tab_to(alice, alice.get_by_role("radio", name=re.compile("^Collaborateur :")), max_tabs=1)
    keys.press("ArrowDown")  # within a radio group, the arrows choose
    expect(alice.get_by_role("radio", name=re.compile("^Lecteur"))).to_be_checked()
    tab_to(alice, alice.get_by_label("Message au gestionnaire d'accès (facultatif)"))
    keys.type("Envoyé au clavier.")
    tab_to(alice, alice.get_by_role("button", name="Envoyer la demande"))
    check_page(alice, "clavier-focus-bouton")
    keys.press("Enter")

    expect(alice.get_by_role("status")).to_contain_text("a été envoyée")
    tab_to(alice, alice.get_by_role("link", name="Continuer"))
    keys.press("Enter")
    expect(pending_row(alice)).to_contain_text("En attente")
    assert_one_pending_request("alice", "reader", "Envoyé au clavier.")


def test_nora_withdraws_her_pending_request(site, new_page, check_page):
    nora = new_page("nora", next_path="/entreprises")
    row = pending_row(nora)
    expect(row).to_contain_text("En attente")
    row.get_by_role("button", name=f"Retirer la demande pour {BOULANGERIE}").click()
    expect(nora.get_by_role("status")).to_have_text(
        f"Votre demande pour {BOULANGERIE} a été retirée."
    )
    expect(pending_row(nora)).to_contain_text("Retirée")
    expect(pending_row(nora).get_by_role("button")).to_have_count(0)
    check_page(nora, "retiree")
    (made,) = requests_of("nora")
    assert made.status == "withdrawn"
