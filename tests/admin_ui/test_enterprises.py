"""admin_ui/enterprises.py: "Ajouter une entreprise", the role request form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from authz.audit import verify
from authz.models import AuditEvent, Person, RoleGrant, RoleRequest
from tests.idp_bridge.web_client import (
    Browser,
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


def test_role_requests_are_rate_limited_per_person(make_app):
    app = make_app(role_request_limit="2/hour")
    alice, luc = Browser(app), Browser(app)
    alice.login("eid", "person:alice")
    luc.login("eid", "person:luc")
    assert ask(alice, PARC).status_code == 400  # a refused request counts too
    assert ask(alice, BOULANGERIE).status_code == 200
    third = ask(alice, "0888888895")
    assert third.status_code == 429
    assert "Réessayez dans 60 minutes" in page_text(third)
    assert [r.enterprise.bce for r in requests_of("Alice")] == [BOULANGERIE]
    # Someone else is counted apart.
    assert ask(luc, "0888888895").status_code == 200


def test_next_leads_back_and_other_sites_are_not_followed(alice):
    form = {"next": "/authorize/espace?request=abc"}
    page = page_text(ask(alice, BOULANGERIE, **form))
    assert 'href="/authorize/espace?request=abc"' in page
    page = alice.get("/entreprises/ajouter?" + urlencode({"next": "https://evil.example/"}))
    assert "evil.example" not in page.get_data(as_text=True)


def test_the_espace_chooser_offers_to_add_an_enterprise(app):
    from authz.clients import ClientMetadata, add_client

    callback = "https://rp.example.test/cb"
    add_client(
        ClientMetadata(
            "RP", "fiscalite", [callback], scopes=["openid", "enterprise"], client_id="rp-chooser"
        ),
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


# -- "Mes entreprises" and "Mes demandes" ------------------------------------------------------


def logged_in(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


def overview(browser: Browser) -> str:
    response = browser.get("/entreprises")
    assert response.status_code == 200
    return page_text(response)


def rows(html: str, caption: str) -> list[str]:
    """The body rows of the table with this caption, as text without tags."""
    table = re.search(r"<caption>" + re.escape(caption) + r"</caption>(.*?)</table>", html, re.S)
    assert table is not None, caption
    body = table[1].split("<tbody>", 1)[1]
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


MANDATES = "Les entreprises pour lesquelles vous avez un mandat, avec son origine"
REQUESTS = "Vos demandes de rôle et leur état"


def withdraw(browser: Browser, request_id: int, token: str | None = None):
    token = csrf(browser) if token is None else token  # one token per login, on every form
    return browser.post(f"/entreprises/demandes/{request_id}/retirer", data={"csrf_token": token})


def test_the_overview_needs_a_login(app):
    response = Browser(app).get("/entreprises")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/entreprises?"]


def test_withdrawing_needs_a_login(app):
    (nora_request,) = requests_of("Nora")
    response = Browser(app).post(f"/entreprises/demandes/{nora_request.id}/retirer")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert RoleRequest.get_by_id(nora_request.id).status == "pending"


def test_sophie_is_owner_of_the_boulangerie_granted_by_marc(app):
    html = overview(logged_in(app, "sophie"))
    (row,) = rows(html, MANDATES)
    assert "Boulangerie Démo SA (0123.456.749)" in row
    assert "Propriétaire" in row
    assert "Rôle accordé par Marc Dupont-Démo" in row
    assert "sans date de fin" in row
    assert 'href="/entreprises/ajouter?next=/entreprises"' in html
    assert "Vous n'avez fait aucune demande de rôle." in html


def test_jean_holds_his_atelier_as_gap_and_legal_representative(app):
    found = rows(overview(logged_in(app, "jean")), MANDATES)
    assert len(found) == 2
    assert all("Atelier Jean Dubois-Démo (0888.888.895)" in row for row in found)
    gap, representative = found
    assert "Gestionnaire d'accès principal (GAP)" in gap
    assert "Désignation comme GAP par Jean Dubois-Démo" in gap
    assert "Représentant légal" in representative
    assert "Banque-Carrefour des Entreprises (BCE)" in representative


def test_a_scope_and_an_end_date_are_shown(app):
    from datetime import date

    grant = RoleGrant.get(RoleGrant.person == Person.get(Person.given_name == "Luc"))
    RoleGrant.update(valid_until=date(2099, 3, 31)).where(RoleGrant.id == grant.id).execute()
    (row,) = rows(overview(logged_in(app, "luc")), MANDATES)
    assert "Collaborateur" in row and "limité aux domaines : fiscalite" in row
    assert "2099" in row and "sans date de fin" not in row


def test_alice_has_no_enterprise(alice):
    html = overview(alice)
    assert "aucun mandat pour une entreprise" in html
    assert "<caption>" + MANDATES not in html
    assert "Ajouter une entreprise" in html


def test_nora_sees_her_pending_request_and_withdraws_it(app):
    nora = logged_in(app, "nora")
    (pending,) = requests_of("Nora")
    (row,) = rows(overview(nora), REQUESTS)
    assert "Boulangerie Démo SA" in row and "Collaborateur" in row and "En attente" in row
    assert f'action="/entreprises/demandes/{pending.id}/retirer"' in overview(nora)

    response = withdraw(nora, pending.id)
    assert response.status_code == 303
    after = nora.follow(response.headers["Location"])
    text = page_text(after)
    assert "Votre demande pour Boulangerie Démo SA a été retirée." in text
    (row,) = rows(text, REQUESTS)
    assert "Retirée" in row and "/retirer" not in row
    assert RoleRequest.get_by_id(pending.id).status == "withdrawn"
    events = AuditEvent.select().where(
        (AuditEvent.action == "request.withdraw") & (AuditEvent.target_id == str(pending.id))
    )
    assert events.count() == 1
    assert verify().ok

    again = withdraw(nora, pending.id)
    assert again.status_code == 409
    assert "déjà été traitée" in page_text(again)
    assert events.count() == 1


def test_someone_elses_request_cannot_be_withdrawn(alice):
    (pending,) = requests_of("Nora")
    before = AuditEvent.select().count()
    assert withdraw(alice, pending.id).status_code == 404
    assert withdraw(alice, 999999).status_code == 404
    assert RoleRequest.get_by_id(pending.id).status == "pending"
    assert AuditEvent.select().count() == before


def test_withdrawing_without_the_forms_token_is_refused(app):
    nora = logged_in(app, "nora")
    (pending,) = requests_of("Nora")
    assert withdraw(nora, pending.id, token="0" * 64).status_code == 400
    assert nora.post(f"/entreprises/demandes/{pending.id}/retirer").status_code == 400
    assert RoleRequest.get_by_id(pending.id).status == "pending"


@pytest.mark.parametrize(
    ("status", "reason", "words"),
    [
        ("accepted", "", "Acceptée"),
        ("refused", "Nous n'engageons pas", "Refusée Motif : Nous n'engageons pas"),
        ("expired", "", "Expirée"),
    ],
)
def test_decided_requests_show_their_status(app, status, reason, words):
    (made,) = requests_of("Nora")
    RoleRequest.update(status=status, reason=reason).where(RoleRequest.id == made.id).execute()
    (row,) = rows(overview(logged_in(app, "nora")), REQUESTS)
    assert words in row and "Retirer" not in row


def test_a_request_past_its_expiry_reads_as_expired(app):
    from datetime import datetime

    (made,) = requests_of("Nora")
    RoleRequest.update(expires_at=datetime(2000, 1, 1)).where(RoleRequest.id == made.id).execute()
    nora = logged_in(app, "nora")
    (row,) = rows(overview(nora), REQUESTS)
    assert "Expirée" in row and "Retirer" not in row
    response = withdraw(nora, made.id)
    assert response.status_code == 409 and "a expiré" in page_text(response)


def test_my_requests_come_a_page_at_a_time(app):
    from datetime import datetime, timedelta

    from authz.models import Enterprise

    nora = Person.get(Person.given_name == "Nora")
    start = datetime(2026, 1, 1)
    for k in range(60):
        enterprise = Enterprise.create(bce=f"07{k:08d}", name=f"Entreprise {k:02d}")
        RoleRequest.create(
            person=nora,
            enterprise=enterprise,
            role="reader",
            status="refused",
            created_at=start - timedelta(days=k),
            expires_at=start,
        )
    browser = logged_in(app, "nora")
    html = browser.get("/entreprises").get_data(as_text=True)
    first = rows(html, REQUESTS)
    assert len(first) == 25
    assert "Boulangerie Démo SA" in first[0] and "Entreprise 00" in first[1]  # newest first
    assert "61 demandes" in page_text(browser.get("/entreprises"))
    assert 'href="/entreprises?demandes=2#mes-demandes"' in html
    last = browser.get("/entreprises", query_string={"demandes": "99"})
    assert last.status_code == 200
    shown = rows(last.get_data(as_text=True), REQUESTS)
    assert len(shown) == 11 and "Entreprise 59" in shown[-1]
    # The enterprises' own search and page are kept by the requests' page links.
    kept = browser.get("/entreprises", query_string={"q": "Boulangerie", "demandes": "2"})
    assert "demandes=3" in kept.get_data(as_text=True)
    assert "q=Boulangerie" in kept.get_data(as_text=True).split("Pages de mes demandes")[1]


# -- the email to the GAP ---------------------------------------------------------------------


def test_the_gap_is_emailed_in_the_same_transaction_in_their_language(alice):
    from admin_ui.models import OutboxMessage

    Person.update(email="marc@example.test", language="nl").where(
        Person.given_name == "Marc"
    ).execute()
    assert ask(alice, BOULANGERIE, "reader", "Bonjour Marc").status_code == 200
    (message,) = OutboxMessage.select()
    assert message.recipient == "marc@example.test" and message.language == "nl"
    assert "Alice" in message.body and "0123.456.749" in message.body
    assert "Bonjour Marc" in message.body


def test_no_email_without_an_address_or_without_a_request(alice):
    from admin_ui.models import OutboxMessage

    Person.update(email=None).where(Person.given_name == "Marc").execute()
    assert ask(alice, BOULANGERIE).status_code == 200  # a GAP without an address
    assert ask(alice, PARC).status_code == 400  # no GAP: no request, no email
    assert OutboxMessage.select().count() == 0


def test_a_failing_email_leaves_no_request_behind(alice, monkeypatch):
    from admin_ui import mail

    Person.update(email="marc@example.test").where(Person.given_name == "Marc").execute()

    def broken(*_args, **_kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(mail, "enqueue", broken)
    assert ask(alice, BOULANGERIE).status_code == 500
    assert requests_of("Alice") == []


# -- what each mandate lets the person do (the policy's answer, with links) -------------------


@pytest.mark.parametrize(
    ("key", "can", "cannot"),
    [
        ("sophie", ["Agir pour l'entreprise"], ["/acces", "/representant/"]),
        (
            "marc",
            ["Agir pour l'entreprise", 'href="/entreprises/0123456749/acces"'],
            ["/representant/"],
        ),
        # A legal representative designates the GAP; the mandate alone gives no act_for.
        ("claire", ['href="/representant/0123456749"'], ["Agir pour l'entreprise", "/acces"]),
    ],
)
def test_each_enterprise_says_what_the_policy_lets_the_person_do(app, key, can, cannot):
    (row, *_rest) = re.findall(
        r"<tr>(.*?)</tr>", overview(logged_in(app, key)).split("<tbody>")[1], re.S
    )
    for words in can:
        assert words in row
    for words in cannot:
        assert words not in row


def test_only_an_operator_is_shown_the_operator_pages(app):
    assert 'href="/operateur"' in logged_in(app, "olivier").get("/me").get_data(as_text=True)
    assert 'href="/operateur"' not in logged_in(app, "marc").get("/me").get_data(as_text=True)
