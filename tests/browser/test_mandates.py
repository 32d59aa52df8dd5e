"""A mandate between enterprises in a browser, one browser context per person: the client's
GAP (Marc) proposes a mandate to an accounting firm, the firm's GAP (Jean) accepts it and
gives one of the firm's people (Alice) the role acting for clients, and Alice's « Mes
entreprises » then lists the client through the firm. Each page is checked with axe-core;
each step is mailed to both GAPs through a real SMTP server on localhost."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from authz import db
from authz.models import Enterprise, EnterpriseMandate, LegalRepresentation, Person, RoleGrant
from authz.services import designate_gap, grant_role
from tests.admin_ui.mandates.firm_people import ALICE, FIDU, JEAN, MARC, PAUL, as_, person
from tests.browser.playwright_pages import only_message_to

BOULANGERIE = "Boulangerie Démo SA"
FIRM = "Fidu Comptable SRL"
MARC_MAIL, JEAN_MAIL = "marc@demo.monespace.invalid", "jean@demo.monespace.invalid"


@pytest.fixture
def firm(site) -> Enterprise:
    """The firm, through the services: Paul its legal representative, Jean its GAP, Alice a
    plain agent (a collaborator acting for the firm only)."""
    with db.connection():
        for nrn, address in ((MARC, MARC_MAIL), (JEAN, JEAN_MAIL)):
            Person.update(email=address).where(Person.nrn == nrn).execute()
        firm = Enterprise.create(bce=FIDU, name=FIRM)
        LegalRepresentation.create(person=person(PAUL), enterprise=firm, capacity="gérant")
        designate_gap(as_(PAUL), FIDU, JEAN)
        grant_role(as_(JEAN), FIDU, ALICE, "agent")
    site.mailbox.deliver()  # the emails of the setting up: not the story's
    return firm


def test_a_client_gives_a_mandate_the_firm_accepts_and_chooses_who_acts(
    site, firm, new_page, check_page
):
    # Marc, GAP of the Boulangerie, goes from Mes entreprises to its mandates and gives one.
    marc = new_page("marc", next_path="/entreprises")
    marc.get_by_role("link", name=re.compile(f"^Mandats de {BOULANGERIE}")).click()
    check_page(marc, "mandats-client")
    marc.get_by_role("link", name="Donner un mandat à un intermédiaire").click()
    marc.get_by_label("Numéro d'entreprise de l'intermédiaire").fill("BE 0445.566.728")
    marc.get_by_role("button", name="Proposer le mandat").click()
    expect(marc.get_by_role("alert")).to_contain_text("Choisissez au moins un domaine")
    check_page(marc, "donner-un-mandat-erreur")
    marc.get_by_label("Autres domaines (facultatif)").fill("fiscalite")
    marc.get_by_role("button", name="Proposer le mandat").click()
    expect(marc.get_by_role("status")).to_contain_text(f"proposé à {FIRM}")
    messages = site.mailbox.deliver()
    assert FIRM in only_message_to(messages, JEAN_MAIL).get_content()
    only_message_to(messages, MARC_MAIL)

    # Jean, GAP of the firm, accepts it from the firm's mandate page.
    jean = new_page("jean", next_path="/entreprises")
    jean.get_by_role("link", name=re.compile(f"^Mandats de {FIRM}")).click()
    check_page(jean, "mandats-cabinet")
    jean.get_by_role("button", name=f"Accepter le mandat de {BOULANGERIE}").click()
    expect(jean.get_by_role("status")).to_contain_text("est accepté")
    assert EnterpriseMandate.get().status == "accepted"
    only_message_to(site.mailbox.deliver(), MARC_MAIL)

    # The firm's clients, then who acts for them: Alice becomes a client agent.
    jean.get_by_role("link", name="Nos clients", exact=True).click()
    expect(jean.get_by_role("table")).to_contain_text(BOULANGERIE)
    check_page(jean, "clients")
    jean.get_by_role("link", name="Qui agit pour nos clients").click()
    jean.get_by_role("link", name="Modifier le rôle de Alice Citoyenne-Démo").click()
    jean.get_by_label("Rôle").select_option("client_agent")
    jean.get_by_role("button", name="Enregistrer").click()
    expect(jean.get_by_role("status")).to_contain_text("Collaborateur clients")
    (grant,) = RoleGrant.select().where(
        (RoleGrant.person == person(ALICE))
        & (RoleGrant.enterprise == firm)
        & RoleGrant.ended_at.is_null()
    )
    assert grant.role == "client_agent"

    # Alice's Mes entreprises: the client, through the firm.
    alice = new_page("alice", next_path="/entreprises")
    table = alice.get_by_role("table", name=re.compile("^Les entreprises pour lesquelles"))
    row = table.get_by_role("row").filter(has_text=BOULANGERIE).first
    expect(row).to_contain_text(f"via {FIRM}, mandat fiscalite")
    expect(row).to_contain_text("Agir pour l'entreprise")
    check_page(alice, "mes-entreprises-via-cabinet")
