"""admin_ui/mandates/overview.py: the mandate page of an enterprise, each side shown only to
whom the policy lets use it."""

from __future__ import annotations

from admin_ui.mandates.overview import PROPOSALS_SHOWN
from tests.admin_ui.mandates.firm_people import (
    ALICE,
    BOULANGERIE,
    CLAIRE,
    EMMA,
    FIDU,
    JEAN,
    LUC,
    MARC,
    NORA,
    logged_in,
    words,
)
from tests.idp_bridge.web_client import Browser


def test_the_clients_gap_sees_the_mandates_given(app, world):
    world.propose()
    page = logged_in(app, MARC).get(f"/entreprises/{BOULANGERIE}/mandats")
    text = words(page)
    assert page.status_code == 200
    assert "Fidu Comptable SRL" in text and "fiscalite" in text and "Retirer" in text
    # A GAP also answers the mandates its enterprise is given: none here.
    assert "Aucun mandat n'attend votre réponse" in text


def test_the_firms_gap_sees_the_proposal(app, world):
    world.propose()
    page = logged_in(app, JEAN).get(f"/entreprises/{FIDU}/mandats")
    text = words(page)
    assert page.status_code == 200
    assert "Boulangerie Démo SA" in text and "Accepter" in text and "Refuser" in text


def test_a_legal_representative_who_is_not_gap_sees_only_the_given_side(app, world):
    world.propose()
    page = logged_in(app, CLAIRE).get(f"/entreprises/{BOULANGERIE}/mandats")
    text = words(page)
    assert page.status_code == 200
    assert "Donner un mandat" in text and "Fidu Comptable SRL" in text
    assert "Mandats proposés par des clients" not in text


def test_access_managers_and_strangers_get_403(app, world):
    for who, bce in ((NORA, BOULANGERIE), (EMMA, FIDU), (MARC, FIDU), (LUC, BOULANGERIE)):
        page = logged_in(app, who).get(f"/entreprises/{bce}/mandats")
        assert page.status_code == 403, (who, bce)
        assert "Accès refusé" in words(page)


def test_an_unknown_enterprise_is_404_and_a_login_is_needed(app, world):
    assert logged_in(app, ALICE).get("/entreprises/0000000097/mandats").status_code == 404
    anonymous = Browser(app).get(f"/entreprises/{BOULANGERIE}/mandats")
    assert anonymous.status_code == 303


def test_proposals_are_shown_a_bounded_number_at_a_time():
    assert PROPOSALS_SHOWN == 50


def test_the_access_pages_link_the_mandates_only_for_the_gap(app, world):
    link = f'href="/entreprises/{FIDU}/mandats"'
    jean = logged_in(app, JEAN).get(f"/entreprises/{FIDU}/acces")
    emma = logged_in(app, EMMA).get(f"/entreprises/{FIDU}/acces")
    assert link in jean.get_data(as_text=True)
    assert emma.status_code == 200 and link not in emma.get_data(as_text=True)
