"""admin_ui/my_history.py: a person sees when the helpdesk looked at their record."""

from __future__ import annotations

from tests.idp_bridge.web_client import Browser, page_text

MARC, BOULANGERIE = "85020200387", "0123456749"


def browser_of(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


def text(response) -> str:
    return " ".join(page_text(response).split())


def test_a_person_sees_the_helpdesks_lookups_of_their_record(app):
    marc = browser_of(app, "marc")
    assert "Le helpdesk n'a jamais consulté votre dossier." in text(marc.get("/mon-historique"))
    olivier = browser_of(app, "olivier")
    olivier.get(f"/helpdesk/personne?nrn={MARC}")
    olivier.get(f"/helpdesk/pourquoi?nrn={MARC}&bce={BOULANGERIE}&action=grant_role")
    olivier.get(f"/helpdesk/entreprise?bce={BOULANGERIE}")  # the enterprise's, not his
    page = marc.get("/mon-historique")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    shown = text(page)
    assert shown.count("Le helpdesk a consulté") == 2
    assert "Le helpdesk a consulté votre dossier" in shown
    assert "ce que vous pouvez faire pour l'entreprise 0123.456.749" in shown
    assert "Olivier" not in shown  # which member of the helpdesk looked stays in the audit log


def test_nobody_else_sees_a_persons_lookups(app):
    browser_of(app, "olivier").get(f"/helpdesk/personne?nrn={MARC}")
    shown = text(browser_of(app, "sophie").get("/mon-historique"))
    assert "Le helpdesk n'a jamais consulté votre dossier." in shown


def test_the_page_is_in_the_persons_language(app):
    browser_of(app, "olivier").get(f"/helpdesk/personne?nrn={MARC}")
    marc = browser_of(app, "marc")
    shown = text(marc.get("/mon-historique", headers={"Accept-Language": "nl"}))
    assert "Le helpdesk" not in shown


def test_without_a_login_it_goes_to_the_login_page(app):
    answer = Browser(app).get("/mon-historique")
    assert answer.status_code == 303
    assert "/login?next=/mon-historique" in answer.headers["Location"]
