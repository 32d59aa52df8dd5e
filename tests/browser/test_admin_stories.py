"""The admin UI's stories in a browser, one browser context per person: a GAP accepts a role
request, a GAP invites someone by email, a legal representative designates the GAP; each
main page is checked with axe-core and saved as a screenshot; a GAP of another enterprise,
a reader and someone who is not an operator are refused."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from authz.models import Enterprise, GapDesignation, Person, RoleGrant
from tests.browser.playwright_pages import links_in, login_from_here, only_message_to

BOULANGERIE = "Boulangerie Démo SA"
PARC = "Les Amis du Parc Démo ASBL"


def person(given_name: str) -> Person:
    return Person.get(Person.given_name == given_name)


def grants_of(given_name: str, bce: str = "0123456749") -> list[RoleGrant]:
    return list(
        RoleGrant.select()
        .join(Enterprise)
        .where(
            (RoleGrant.person == person(given_name))
            & (Enterprise.bce == bce)
            & RoleGrant.ended_at.is_null()
        )
    )


def nrn_field(page: Page):
    return page.get_by_role("textbox", name="Numéro de registre national", exact=True)


def mandate_row(page: Page, enterprise: str):
    table = page.get_by_role("table", name=re.compile("^Les entreprises pour lesquelles"))
    return table.get_by_role("row").filter(has_text=enterprise).first


def test_the_gap_accepts_a_request_with_a_lesser_role(site, new_page, check_page):
    # Alice asks for the owner role.
    alice = new_page("alice", next_path="/entreprises/ajouter")
    alice.get_by_label("Numéro d'entreprise (BCE)").fill("0123.456.749")
    alice.get_by_role("radio", name=re.compile("^Propriétaire")).check()
    alice.get_by_label("Message au gestionnaire d'accès (facultatif)").fill("Bonjour Marc")
    alice.get_by_role("button", name="Envoyer la demande").click()
    expect(alice.get_by_role("status")).to_contain_text("a été envoyée")
    only_message_to(site.mailbox.deliver(), "marc@demo.monespace.invalid")

    # Marc, in his own browser, goes from Mes entreprises to the enterprise's requests.
    marc = new_page("marc", next_path="/entreprises")
    check_page(marc, "mes-entreprises-gap")
    marc.get_by_role("link", name=f"Gérer les accès de {BOULANGERIE}").click()
    expect(marc.get_by_role("heading", level=1)).to_contain_text(f"Membres de {BOULANGERIE}")
    check_page(marc, "membres")
    marc.get_by_role("link", name=re.compile(r"^Demandes en attente \(2\)")).click()
    check_page(marc, "demandes")

    request = marc.get_by_role("region", name=re.compile("^Alice Citoyenne-Démo demande"))
    expect(request.locator("blockquote")).to_have_text("Bonjour Marc")
    accept = request.get_by_role("group", name="Accepter la demande de Alice Citoyenne-Démo")
    accept.get_by_label("Rôle").select_option("reader")
    until = date(date.today().year + 1, 12, 31)
    accept.get_by_label("Date de fin (facultative)").fill(until.isoformat())
    accept.get_by_label("Domaines de service (facultatif)").fill("fiscalite")
    accept.get_by_role("button", name="Accepter").click()
    expect(marc.get_by_role("status")).to_contain_text("Alice Citoyenne-Démo")
    expect(marc.get_by_role("region", name=re.compile("^Alice"))).to_have_count(0)

    (grant,) = grants_of("Alice")
    assert (grant.role, grant.valid_until, grant.scope) == ("reader", until, "fiscalite")
    email = only_message_to(site.mailbox.deliver(), "alice@demo.monespace.invalid")
    assert BOULANGERIE in email["Subject"]
    assert "lecteur" in email.get_content()

    # Alice follows the email's link: the enterprise is hers, as a reader until that day.
    alice.goto(links_in(email)[0])
    row = mandate_row(alice, BOULANGERIE)
    expect(row).to_contain_text("Lecteur")
    expect(row).to_contain_text("fiscalite")

    # The history tells it, filtered on the acceptance.
    marc.get_by_role("link", name="Historique").click()
    marc.get_by_label(re.compile("^Action")).select_option("request.accept")
    marc.get_by_role("button", name=re.compile("^Filtrer")).click()
    expect(marc.get_by_role("table")).to_contain_text("Alice Citoyenne-Démo")
    check_page(marc, "historique")


def test_the_gap_refuses_a_request_with_a_reason(site, new_page):
    marc = new_page("marc", next_path="/entreprises/0123456749/acces/demandes")
    refuse = marc.get_by_role("group", name="Refuser la demande de Nora Willems-Démo")
    refuse.get_by_label("Motif (facultatif, envoyé à la personne)").fill("Pas avant janvier.")
    refuse.get_by_role("button", name="Refuser").click()
    expect(marc.get_by_role("status")).to_contain_text("Nora Willems-Démo")
    email = only_message_to(site.mailbox.deliver(), "nora@demo.monespace.invalid")
    assert "Pas avant janvier." in email.get_content()
    assert grants_of("Nora") == []


def test_an_invitation_by_email_is_accepted_after_logging_in(site, new_page, check_page):
    marc = new_page("marc", next_path="/entreprises/0123456749/acces/inviter")
    check_page(marc, "inviter")
    marc.get_by_label("Adresse e-mail de la personne").fill("alice.privee@example.be")
    marc.get_by_label("Rôle", exact=True).select_option("agent")
    marc.get_by_label("Message joint à l'invitation (facultatif)").fill("Bienvenue !")
    marc.get_by_role("button", name="Envoyer l'invitation").click()
    expect(marc.get_by_role("status")).to_contain_text("alice.privee@example.be")

    email = only_message_to(site.mailbox.deliver(), "alice.privee@example.be")
    (link,) = [url for url in links_in(email) if "/invitation/" in url]

    # Alice opens the link in her browser, is sent to log in, and comes back to it.
    alice = new_page()
    alice.goto(link)
    login_from_here(alice, "alice", "itsme")
    expect(alice.get_by_role("heading", level=1)).to_have_text(f"Invitation pour {BOULANGERIE}")
    check_page(alice, "invitation")
    alice.get_by_role("button", name="Accepter").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text("Invitation acceptée")
    check_page(alice, "invitation-acceptee")
    ((grant,),) = [grants_of("Alice")]
    assert grant.role == "agent" and grant.source == "invitation"

    # The link is single-use.
    alice.goto(link)
    expect(alice.get_by_role("heading", level=1)).not_to_have_text(f"Invitation pour {BOULANGERIE}")
    assert grants_of("Alice") == [grant]


def test_a_legal_representative_designates_the_gap(site, new_page, check_page):
    paul = new_page("paul", next_path="/entreprises")
    expect(mandate_row(paul, PARC)).not_to_contain_text("Agir pour l'entreprise")
    paul.get_by_role("link", name=f"Désigner le GAP de {PARC}").click()
    check_page(paul, "designer-le-gap")
    nrn_field(paul).fill("99.09.09-009.20")
    paul.get_by_role("button", name="Désigner comme GAP").click()
    expect(paul.get_by_role("status")).to_contain_text("Alice Citoyenne-Démo")
    check_page(paul, "gap-designe")

    parc = Enterprise.get(Enterprise.bce == "0999999922")
    (designation,) = GapDesignation.select().where(
        (GapDesignation.enterprise == parc) & GapDesignation.ended_at.is_null()
    )
    assert designation.person == person("Alice")
    email = only_message_to(site.mailbox.deliver(), "alice@demo.monespace.invalid")
    assert PARC in email["Subject"]

    # Alice, the new GAP, manages the enterprise's access from Mes entreprises.
    alice = new_page("alice", next_path="/entreprises")
    alice.get_by_role("link", name=f"Gérer les accès de {PARC}").click()
    expect(alice.get_by_role("heading", level=1)).to_contain_text(f"Membres de {PARC}")


def test_replacing_the_gap_goes_through_a_confirmation(site, new_page, check_page):
    claire = new_page("claire", next_path="/representant/0123456749")
    nrn_field(claire).fill("70030300538")
    claire.get_by_role("button", name="Remplacer le GAP…").click()
    expect(claire.get_by_role("heading", level=1)).to_contain_text("Confirmer le remplacement")
    check_page(claire, "confirmer-remplacement")
    boulangerie = Enterprise.get(Enterprise.bce == "0123456749")
    current = GapDesignation.get(
        (GapDesignation.enterprise == boulangerie) & GapDesignation.ended_at.is_null()
    )
    assert current.person == person("Marc")  # nothing changed before the confirmation
    claire.get_by_role("button", name="Confirmer le remplacement").click()
    expect(claire.get_by_role("status")).to_contain_text("Sophie Martin-Démo")
    current = GapDesignation.get(
        (GapDesignation.enterprise == boulangerie) & GapDesignation.ended_at.is_null()
    )
    assert current.person == person("Sophie")


def test_the_operator_pages(site, new_page, check_page):
    olivier = new_page("olivier")
    olivier.get_by_role("link", name="Pages de l'opérateur").click()
    check_page(olivier, "operateur")
    for link, name in [
        ("Clients", "operateur-clients"),
        ("Import BCE", "operateur-bce"),
        ("Politique d'autorisation", "operateur-politique"),
    ]:
        olivier.goto("/operateur")
        olivier.get_by_role("main").get_by_role("link", name=link, exact=True).click()
        check_page(olivier, name)
    olivier.goto("/operateur/clients/ajouter")
    check_page(olivier, "operateur-ajouter-client")


def test_a_gap_of_another_enterprise_a_reader_and_a_non_operator_are_refused(site, new_page):
    jean = new_page("jean")
    for path in (
        "/entreprises/0123456749/acces",
        "/entreprises/0123456749/acces/demandes",
        "/entreprises/0123456749/acces/inviter",
        "/entreprises/0123456749/acces/historique",
        "/representant/0123456749",
        "/operateur",
    ):
        response = jean.goto(path)
        assert response is not None and response.status == 403, path
    emma = new_page("emma")
    response = emma.goto("/entreprises/0123456749/acces")
    assert response is not None and response.status == 403
    expect(emma.get_by_role("main")).not_to_contain_text("Nora Willems-Démo")
    # Nor does the reader see a management link on her own page.
    emma.goto("/entreprises")
    expect(emma.get_by_role("link", name=re.compile("^Gérer les accès"))).to_have_count(0)
