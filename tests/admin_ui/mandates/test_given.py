"""admin_ui/mandates/given.py: giving a mandate to a firm, withdrawing it, ending it; each
allowed and refused, audited, mailed, and nothing written when refused."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from admin_ui.models import OutboxMessage
from authz.models import AuditEvent, Enterprise, EnterpriseMandate, today
from authz.services import accept_mandate
from tests.admin_ui.mandates.firm_people import (
    BOULANGERIE,
    CLAIRE,
    EMMA,
    FIDU,
    JEAN,
    MARC,
    NORA,
    as_,
    logged_in,
    token,
    words,
)

BOTH_GAPS = {"marc@demo.monespace.invalid", "jean@demo.monespace.invalid"}
GIVE = f"/entreprises/{BOULANGERIE}/mandats/donner"


def counts() -> tuple[int, int, int]:
    return (
        EnterpriseMandate.select().count(),
        AuditEvent.select().count(),
        OutboxMessage.select().count(),
    )


def mails(kind: str) -> set[str]:
    return {m.recipient for m in OutboxMessage.select().where(OutboxMessage.kind == kind)}


def actions() -> list[str]:
    return [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]


def given() -> EnterpriseMandate:
    """The mandate Boulangerie gave the firm (the demo's own firm holds mandates too)."""
    return EnterpriseMandate.get(
        EnterpriseMandate.mandatee == Enterprise.get(Enterprise.bce == FIDU).id
    )


def give(browser, **fields):
    form = {"csrf_token": token(browser, GIVE), "firm": "0445.566.728", "domains": "fiscalite"}
    form.update(fields)
    return browser.post(GIVE, data=form)


def test_the_clients_gap_gives_a_mandate_audited_and_mailed_to_both_gaps(app, world):
    marc = logged_in(app, MARC)
    form = marc.get(GIVE)
    assert form.status_code == 200 and 'name="domains"' in form.get_data(as_text=True)
    answer = give(marc, other_domains="social", message="Pour la TVA")
    assert answer.status_code == 303
    mandate = given()
    assert (mandate.status, mandate.domains, mandate.valid_from) == (
        "pending",
        "fiscalite social",
        today(),
    )
    assert actions()[-1] == "mandate.propose"
    assert mails("mandate_proposed") == BOTH_GAPS
    page = marc.get(answer.headers["Location"])
    assert "Le mandat a été proposé à Fidu Comptable SRL" in words(page)


def test_a_legal_representative_gives_one_too(app, world):
    answer = give(logged_in(app, CLAIRE), valid_until=(today() + timedelta(days=90)).isoformat())
    assert answer.status_code == 303
    assert given().valid_until == today() + timedelta(days=90)


def test_an_access_manager_cannot_give_a_mandate(app, world):
    nora = logged_in(app, NORA)
    before = counts()
    assert nora.get(GIVE).status_code == 403
    csrf = token(nora, "/entreprises/ajouter")
    answer = nora.post(GIVE, data={"csrf_token": csrf, "firm": FIDU, "domains": "fiscalite"})
    assert answer.status_code == 403
    assert "gestionnaires d'accès ne le peuvent pas" in words(answer)
    assert counts() == before


def test_a_form_without_its_token_writes_nothing(app, world):
    before = counts()
    answer = logged_in(app, MARC).post(GIVE, data={"firm": FIDU, "domains": "fiscalite"})
    assert answer.status_code == 400
    assert counts() == before


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"firm": "0445.566.729"}, 400, "Indiquez le numéro d'entreprise de l'intermédiaire"),
        ({"firm": "BE 0123 456 749"}, 400, "C'est le numéro de votre propre entreprise"),
        ({"firm": "0000.000.097"}, 404, "Aucune entreprise ne porte ce numéro"),
        ({"domains": ""}, 400, "Choisissez au moins un domaine de service"),
        ({"domains": "", "other_domains": "Fiscalité"}, 400, "lettres minuscules"),
        ({"valid_from": "2020-01-01"}, 400, "Le premier jour ne peut pas être passé"),
        ({"valid_from": "01/02/2030"}, 400, "au format AAAA-MM-JJ"),
        (
            {"valid_from": "2099-02-01", "valid_until": "2099-01-01"},
            400,
            "Le dernier jour ne peut pas précéder le premier jour",
        ),
    ],
)
def test_bad_input_is_a_form_message_and_writes_nothing(app, world, fields, status, message):
    marc = logged_in(app, MARC)
    before = counts()
    answer = give(marc, **fields)
    assert answer.status_code == status
    assert message in unescape(words(answer))
    assert 'class="field-error"' in answer.get_data(as_text=True)  # beside its field
    assert counts() == before


def test_a_stopped_firm_and_an_open_mandate_are_refused(app, world):
    marc = logged_in(app, MARC)
    world.propose()
    before = counts()
    answer = give(marc)
    assert answer.status_code == 409
    assert "déjà un mandat en attente ou en vigueur" in unescape(words(answer))
    Enterprise.update(status="stopped").where(Enterprise.bce == FIDU).execute()
    EnterpriseMandate.update(status="withdrawn").execute()
    answer = give(marc)
    assert answer.status_code == 409
    assert "a cessé ses activités" in unescape(words(answer))
    assert counts() == before


# -- withdrawing, ending ------------------------------------------------------------------------


def test_the_client_withdraws_a_pending_mandate_which_can_then_not_be_accepted(app, world):
    mandate = world.propose()
    marc = logged_in(app, MARC)
    index = f"/entreprises/{BOULANGERIE}/mandats"
    answer = marc.post(f"{index}/{mandate.id}/retirer", data={"csrf_token": token(marc, index)})
    assert answer.status_code == 303
    assert EnterpriseMandate.get_by_id(mandate.id).status == "withdrawn"
    assert actions()[-1] == "mandate.withdraw"
    assert mails("mandate_ended") == BOTH_GAPS
    assert "a été retiré" in words(marc.get(answer.headers["Location"]))
    jean = logged_in(app, JEAN)
    firm_index = f"/entreprises/{FIDU}/mandats"
    before = counts()
    refused = jean.post(
        f"{firm_index}/{mandate.id}/accepter",
        data={"csrf_token": token(jean, "/entreprises/ajouter")},
    )
    assert refused.status_code == 409
    assert "retiré" in words(refused)
    assert counts() == before
    assert EnterpriseMandate.get_by_id(mandate.id).status == "withdrawn"


def test_withdrawing_is_refused_to_others_and_for_an_accepted_mandate(app, world):
    mandate = world.propose()
    nora = logged_in(app, NORA)
    path = f"/entreprises/{BOULANGERIE}/mandats/{mandate.id}/retirer"
    csrf = token(nora, "/entreprises/ajouter")
    assert nora.post(path, data={"csrf_token": csrf}).status_code == 403
    # The firm's URL does not reach the client's side.
    jean = logged_in(app, JEAN)
    firm_path = f"/entreprises/{FIDU}/mandats/{mandate.id}/retirer"
    assert (
        jean.post(firm_path, data={"csrf_token": token(jean, "/entreprises/ajouter")}).status_code
        == 404
    )
    accept_mandate(as_(JEAN), mandate.id)
    marc = logged_in(app, MARC)
    answer = marc.post(path, data={"csrf_token": token(marc, "/entreprises/ajouter")})
    assert answer.status_code == 409
    assert EnterpriseMandate.get_by_id(mandate.id).status == "accepted"


def confirm(browser, page):
    html = page.get_data(as_text=True)
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', html)[1])
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)[1]
    return browser.post(action, data={"csrf_token": csrf, "reason": "Fin de collaboration"})


@pytest.mark.parametrize(("who", "bce"), [(MARC, BOULANGERIE), (JEAN, FIDU)])
def test_either_side_ends_an_accepted_mandate_after_confirmation(app, world, who, bce):
    mandate = world.propose()
    accept_mandate(as_(JEAN), mandate.id)
    browser = logged_in(app, who)
    path = f"/entreprises/{bce}/mandats/{mandate.id}/terminer"
    # The plain form token is not the confirmation's.
    plain = browser.post(path, data={"csrf_token": token(browser, "/entreprises/ajouter")})
    assert plain.status_code == 400
    assert EnterpriseMandate.get_by_id(mandate.id).status == "accepted"
    page = browser.get(path)
    assert page.status_code == 200 and "Terminer le mandat" in words(page)
    answer = confirm(browser, page)
    assert answer.status_code == 303
    ended = EnterpriseMandate.get_by_id(mandate.id)
    assert (ended.status, ended.reason) == ("ended", "Fin de collaboration")
    assert actions()[-1] == "mandate.end"
    assert mails("mandate_ended") == BOTH_GAPS
    assert "a pris fin" in words(browser.get(answer.headers["Location"]))
    assert browser.get(path).status_code == 409  # nothing left to end


def test_ending_is_refused_to_access_managers_and_other_enterprises(app, world):
    mandate = world.propose()
    accept_mandate(as_(JEAN), mandate.id)
    for who, bce, status in (
        (NORA, BOULANGERIE, 403),
        (EMMA, FIDU, 403),
        (MARC, FIDU, 403),
        (JEAN, "0999999922", 403),
    ):
        assert (
            logged_in(app, who).get(f"/entreprises/{bce}/mandats/{mandate.id}/terminer").status_code
            == status
        ), (who, bce)
    # A mandate of another enterprise, through this one's URL: as if it did not exist.
    marc = logged_in(app, MARC)
    assert marc.get(f"/entreprises/{BOULANGERIE}/mandats/999999/terminer").status_code == 404
    assert EnterpriseMandate.get_by_id(mandate.id).status == "accepted"
