"""admin_ui/enterprises.py: "Ajouter une entreprise", the role request form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from authz.audit import verify
from authz.models import AuditEvent, Person, RoleRequest
from tests.idp_bridge.web_world import (  # noqa: F401 (fixtures)
    Browser,
    app_fixture,
    make_app_fixture,
    page_text,
)

BOULANGERIE = "0123456749"
PARC = "0999.999.922"  # has no GAP in the demo story


@pytest.fixture
def alice(app) -> Browser:
    browser = Browser(app)
    browser.login("eid", "person:alice")
    return browser


def csrf(browser: Browser) -> str:
    page = browser.get("/entreprises/ajouter").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]


def ask(browser: Browser, bce: str, role: str = "agent", message: str = "Bonjour", **extra):
    form = {"csrf_token": csrf(browser), "bce": bce, "role": role, "message": message, **extra}
    return browser.post("/entreprises/ajouter", data=form)


def requests_of(given_name: str) -> list[RoleRequest]:
    person = Person.get(Person.given_name == given_name)
    return list(RoleRequest.select().where(RoleRequest.person == person))


def test_the_form_needs_a_login(app):
    response = Browser(app).get("/entreprises/ajouter")
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == [
        "/entreprises/ajouter?"
    ]


@pytest.mark.parametrize("spelling", ["0123.456.749", "BE 0123 456 749", "be0123456749"])
def test_a_request_is_sent_to_the_gap_whatever_the_spelling(alice, spelling):
    response = ask(alice, spelling, "reader", "Je reprends la comptabilité")
    assert response.status_code == 200
    assert "a été envoyée à son gestionnaire d'accès" in page_text(response)
    (made,) = requests_of("Alice")
    assert made.enterprise.bce == BOULANGERIE and made.role == "reader"
    assert made.status == "pending" and made.message == "Je reprends la comptabilité"
    events = AuditEvent.select().where(
        (AuditEvent.action == "request.create") & (AuditEvent.target_id == str(made.id))
    )
    assert events.count() == 1
    assert verify().ok


def test_an_enterprise_without_gap_explains_what_to_do(alice):
    response = ask(alice, PARC)
    assert response.status_code == 400
    text = page_text(response)
    assert "Les Amis du Parc Démo ASBL n'a pas encore de gestionnaire d'accès principal" in text
    assert "représentant légal" in text and "désigner un GAP" in text
    assert requests_of("Alice") == []


@pytest.mark.parametrize(
    ("bce", "role", "words"),
    [
        ("0123456789", "agent", "Vérifiez le numéro"),
        ("0200000142", "agent", "Aucune entreprise active"),
        (BOULANGERIE, "gap", "Vérifiez le numéro"),
    ],
    ids=["bad-checksum", "unknown", "role-not-offered"],
)
def test_a_bad_request_is_explained_and_writes_nothing(alice, bce, role, words):
    response = ask(alice, bce, role)
    assert response.status_code == 400 and words in page_text(response)
    assert requests_of("Alice") == []


def test_a_second_pending_request_is_refused(alice):
    assert ask(alice, BOULANGERIE).status_code == 200
    again = ask(alice, BOULANGERIE, "owner")
    assert again.status_code == 400 and "demande en attente" in page_text(again)
    assert len(requests_of("Alice")) == 1


def test_a_post_without_the_forms_token_is_refused(alice):
    response = alice.post(
        "/entreprises/ajouter", data={"bce": BOULANGERIE, "role": "agent", "csrf_token": "0" * 64}
    )
    assert response.status_code == 400
    assert requests_of("Alice") == []


def test_next_leads_back_and_other_sites_are_not_followed(alice):
    form = {"next": "/authorize/espace?request=abc"}
    page = page_text(ask(alice, BOULANGERIE, **form))
    assert 'href="/authorize/espace?request=abc"' in page
    page = alice.get("/entreprises/ajouter?" + urlencode({"next": "https://evil.example/"}))
    assert "evil.example" not in page.get_data(as_text=True)


def test_the_espace_chooser_offers_to_add_an_enterprise(app):
    from authz.clients import add_client

    callback = "https://rp.example.test/cb"
    add_client(
        "RP",
        "fiscalite",
        [callback],
        scopes=["openid", "enterprise"],
        client_id="rp-chooser",
        actor="operator:test",
    )
    browser = Browser(app)
    browser.login("eid", "person:alice")
    query = {
        "response_type": "code",
        "client_id": "rp-chooser",
        "redirect_uri": callback,
        "scope": "openid enterprise",
        "state": "s",
        "nonce": "n",
    }
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    link = re.search(
        r'<a href="(/entreprises/ajouter\?next=[^"]+)">Ajouter une entreprise',
        chooser.get_data(as_text=True),
    )
    assert link is not None
    back = parse_qs(urlsplit(link[1].replace("&amp;", "&")).query)["next"][0]
    assert back.startswith("/authorize/espace?request=")
    assert browser.get(back).status_code == 200  # the login under way is still there
