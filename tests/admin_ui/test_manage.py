"""admin_ui/manage: the access pages of an enterprise for its GAP and access managers."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from admin_ui.models import OutboxMessage
from authz.audit import verify
from authz.events import muted
from authz.models import (
    AuditEvent,
    Enterprise,
    Invitation,
    Person,
    RoleGrant,
    RoleRequest,
    today,
)
from authz.services import Caller, change_role, find_invitation, invite
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)

BOULANGERIE = "0123456749"
ATELIER = "0888888895"  # Jean's, of which he is the GAP
BASE = f"/entreprises/{BOULANGERIE}/acces"
MEMBERS_CAPTION = "Les personnes qui ont un rôle en vigueur pour l'entreprise"


def person(given_name: str) -> Person:
    return Person.get(Person.given_name == given_name)


def grant_of(given_name: str) -> RoleGrant:
    return RoleGrant.get((RoleGrant.person == person(given_name)) & RoleGrant.ended_at.is_null())


def noras_request() -> RoleRequest:
    return RoleRequest.get(RoleRequest.person == person("Nora"))


def events(action: str) -> int:
    return AuditEvent.select().where(AuditEvent.action == action).count()


def logged_in(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


@pytest.fixture
def marc(app) -> Browser:
    return logged_in(app, "marc")


def tokens(html: str) -> list[str]:
    return re.findall(r'name="csrf_token" value="([0-9a-f]+)"', html)


def token(browser: Browser, path: str = f"{BASE}/inviter") -> str:
    """The login's form token, read from a page that has a form."""
    response = browser.get(path)
    assert response.status_code == 200, response.status_code
    return tokens(response.get_data(as_text=True))[0]


def post(browser: Browser, path: str, form: dict | None = None, csrf: str | None = None):
    data = dict(form or {})
    data["csrf_token"] = token(browser) if csrf is None else csrf
    return browser.post(path, data=data)


def rows(html: str, caption: str) -> list[str]:
    table = re.search(r"<caption>" + re.escape(caption) + r"</caption>(.*?)</table>", html, re.S)
    assert table is not None, caption
    body = table[1].split("<tbody>", 1)[1]
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def assert_accessible(html: str) -> None:
    """No inline script or style; a title and one h1; every field has its label."""
    assert "<script" not in html and " style=" not in html and "<style" not in html
    assert re.search(r"<title>[^<]+ – Mon Espace</title>", html)
    assert html.count("<h1>") == 1
    for tag, attributes in re.findall(r"<(input|select|textarea)\b([^>]*)>", html):
        if 'type="hidden"' in attributes:
            continue
        field_id = re.search(r'id="([^"]+)"', attributes)
        assert field_id, (tag, attributes)
        assert f'<label for="{field_id[1]}">' in html, field_id[1]


# -- who may see the pages -------------------------------------------------------------------


def test_the_pages_need_a_login(app):
    response = Browser(app).get(f"{BASE}/demandes")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [f"{BASE}/demandes?"]
    posted = Browser(app).post(f"{BASE}/demandes/{noras_request().id}/refuser")
    assert posted.status_code == 303
    assert noras_request().status == "pending"


def test_marc_sees_the_members_the_gap_and_what_he_may_do(marc):
    response = marc.get(BASE)
    assert response.status_code == 200
    html = page_text(response)
    assert_accessible(response.get_data(as_text=True))
    assert "Membres de Boulangerie Démo SA" in html and "0123.456.749" in html
    assert "Marc Dupont-Démo" in html and "désigné par Claire Lambert-Démo" in html
    found = rows(html, MEMBERS_CAPTION)
    assert len(found) == 3
    sophie, luc, emma = found
    assert "Sophie Martin-Démo" in sophie and "Propriétaire" in sophie
    assert "Accordé par Marc Dupont-Démo" in sophie and "sans date de fin" in sophie
    assert "Luc Peeters-Démo" in luc and "limité aux domaines : fiscalite" in luc
    assert "Emma Janssens-Démo" in emma and "Lecteur" in emma
    for name in ("Sophie", "Luc", "Emma"):
        grant = grant_of(name)
        assert f'href="{BASE}/roles/{grant.id}/modifier"' in html
        assert f'href="{BASE}/roles/{grant.id}/revoquer"' in html
    assert "Demandes en attente (1)" in html
    assert f'href="{BASE}/historique"' in html and f'href="{BASE}/inviter"' in html


@pytest.mark.parametrize("bce", ["0123456789", "0200000142", "nothing", "0123.456.789"])
def test_an_unknown_or_malformed_number_is_404(marc, bce):
    assert marc.get(f"/entreprises/{bce}/acces").status_code == 404
    assert marc.get(f"/entreprises/{bce}/acces/historique").status_code == 404


def test_any_spelling_of_the_number_works(marc):
    assert marc.get("/entreprises/0123.456.749/acces").status_code == 200


@pytest.mark.parametrize("key", ["emma", "sophie", "luc", "claire", "alice", "nora"])
def test_who_does_not_manage_access_is_refused(app, key):
    browser = logged_in(app, key)
    for path in ("", "/demandes", "/inviter", "/historique"):
        response = browser.get(BASE + path)
        assert response.status_code == 403, path
        assert "Vous ne gérez pas les accès de Boulangerie Démo SA" in page_text(response)
    response = browser.get(f"{BASE}/roles/{grant_of('Emma').id}/revoquer")
    assert response.status_code == 403


def boulangerie_actions() -> list[tuple[str, dict]]:
    emma, nora = grant_of("Emma"), noras_request()
    with muted():  # set-up: its email is not what the tests look at
        invitation, _token = invite(
            Caller.for_person(person("Marc")), BOULANGERIE, "x@example.test", "reader"
        )
    return [
        (f"/demandes/{nora.id}/accepter", {"role": "agent"}),
        (f"/demandes/{nora.id}/refuser", {"reason": "non"}),
        ("/inviter", {"email": "y@example.test", "role": "reader"}),
        (f"/invitations/{invitation.id}/annuler", {}),
        (f"/roles/{emma.id}/modifier", {"role": "agent"}),
        (f"/roles/{emma.id}/revoquer", {}),
    ]


def test_the_gap_of_another_enterprise_sees_nothing_and_changes_nothing(app):
    jean = logged_in(app, "jean")
    own = token(jean, f"/entreprises/{ATELIER}/acces/inviter")
    actions = boulangerie_actions()
    before = AuditEvent.select().count()
    for path in ("", "/demandes", "/inviter", "/historique"):
        assert jean.get(BASE + path).status_code == 403, path
    for path, form in actions:
        assert jean.get(BASE + path).status_code in (403, 405), path
        assert post(jean, BASE + path, form, csrf=own).status_code == 403, path
    assert AuditEvent.select().count() == before
    assert noras_request().status == "pending" and grant_of("Emma").role == "reader"
    assert Invitation.select().count() == 1 and OutboxMessage.select().count() == 0


def test_another_enterprises_rows_are_not_found_through_ones_own_url(app):
    jean = logged_in(app, "jean")
    own = token(jean, f"/entreprises/{ATELIER}/acces/inviter")
    actions = boulangerie_actions()
    before = AuditEvent.select().count()
    for path, form in actions:
        if path == "/inviter":
            continue
        url = f"/entreprises/{ATELIER}/acces{path}"
        if "/roles/" in path:
            assert jean.get(url).status_code == 404, path
        assert post(jean, url, form, csrf=own).status_code == 404, path
    assert AuditEvent.select().count() == before
    assert noras_request().status == "pending" and grant_of("Emma").role == "reader"
    assert Invitation.get().cancelled_at is None


def test_ids_beyond_any_row_are_not_found(marc):
    assert marc.get(f"{BASE}/roles/99999999999/modifier").status_code == 404
    assert post(marc, f"{BASE}/demandes/99999999999/accepter").status_code == 404
    assert marc.get(f"{BASE}?revoque=99999999999").status_code == 200


def test_a_stopped_enterprise_cannot_be_managed(marc):
    Enterprise.update(status="stopped").where(Enterprise.bce == BOULANGERIE).execute()
    response = marc.get(BASE)
    assert response.status_code == 403 and "a cessé ses activités" in page_text(response)


# -- role requests ---------------------------------------------------------------------------


def test_marc_accepts_noras_request_with_a_lesser_role_an_end_date_and_a_scope(marc):
    Person.update(language="nl").where(Person.given_name == "Nora").execute()
    made = noras_request()
    page = marc.get(f"{BASE}/demandes")
    html = page.get_data(as_text=True)
    assert_accessible(html)
    assert "Nora Willems-Démo demande le rôle : Collaborateur" in page_text(page)
    assert "je reprends la comptabilité" in page_text(page)
    # Only the asked role and lesser ones are offered (the search form above lists every role).
    accept_form = html.split("/accepter", 1)[1].split("</form>", 1)[0]
    offered = re.findall(r'<option value="(\w+)"', accept_form)
    assert offered == ["agent", "reader"]
    end = (today() + timedelta(days=90)).isoformat()
    form = {"role": "reader", "valid_until": end, "scope": "fiscalite environnement"}
    response = post(marc, f"{BASE}/demandes/{made.id}/accepter", form)
    assert response.status_code == 303
    after = marc.follow(response.headers["Location"])
    text = page_text(after)
    assert "La demande de Nora Willems-Démo a été acceptée, avec le rôle : Lecteur." in text
    assert "Un courriel l'en informe." in text and "Aucune demande en attente." in text

    grant = grant_of("Nora")
    assert (grant.role, grant.valid_until.isoformat(), grant.scope) == (
        "reader",
        end,
        "environnement fiscalite",
    )
    assert grant.source == "request" and grant.granted_by_id == person("Marc").id
    assert noras_request().status == "accepted"
    (event,) = AuditEvent.select().where(AuditEvent.action == "request.accept")
    assert event.actor == f"person:{person('Marc').nrn}"
    assert verify().ok
    (message,) = OutboxMessage.select()
    assert message.recipient == person("Nora").email and message.language == "nl"
    assert message.kind == "request_accepted"
    assert "lezer" in message.body and "http://localhost/entreprises" in message.body


def test_a_request_cannot_be_accepted_with_a_stronger_role(marc):
    made = noras_request()
    response = post(marc, f"{BASE}/demandes/{made.id}/accepter", {"role": "owner"})
    assert response.status_code == 400
    text = page_text(response)
    assert "Choisissez un des rôles proposés." in text
    assert noras_request().status == "pending" and events("request.accept") == 0
    assert OutboxMessage.select().count() == 0


def test_bad_fields_are_explained_next_to_them(marc):
    made = noras_request()
    form = {"role": "agent", "valid_until": "2001-01-01", "scope": "Fiscalité!"}
    response = post(marc, f"{BASE}/demandes/{made.id}/accepter", form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert_accessible(html)
    assert 'role="alert"' in html
    for field in ("valid_until", "scope"):
        field_id = f"a{made.id}-{field}"
        assert re.search(
            rf'id="{field_id}"[^>]*aria-describedby="[^"]*{field_id}-error"[^>]*'
            r'aria-invalid="true"',
            html,
        ), field
        assert f'<a href="#{field_id}">' in html
    assert 'value="Fiscalité!"' in page_text(response)  # kept for correcting
    form = {"role": "access_manager", "scope": "fiscalite"}
    assert post(marc, f"{BASE}/demandes/{made.id}/accepter", form).status_code == 400
    assert noras_request().status == "pending" and events("request.accept") == 0


def test_marc_refuses_with_a_reason_and_nora_is_told(marc):
    made = noras_request()
    reason = "Nous avons déjà une comptable."
    response = post(marc, f"{BASE}/demandes/{made.id}/refuser", {"reason": reason})
    assert response.status_code == 303
    text = page_text(marc.follow(response.headers["Location"]))
    assert "La demande de Nora Willems-Démo a été refusée." in text
    refused = noras_request()
    assert refused.status == "refused" and refused.reason == reason
    assert events("request.refuse") == 1 and verify().ok
    (message,) = OutboxMessage.select()
    assert message.kind == "request_refused" and message.language == "fr"
    assert reason in message.body and "collaborateur" in message.body


def test_a_decided_request_cannot_be_decided_again(marc):
    made = noras_request()
    assert post(marc, f"{BASE}/demandes/{made.id}/refuser").status_code == 303
    again = post(marc, f"{BASE}/demandes/{made.id}/accepter", {"role": "agent"})
    assert again.status_code == 409 and "déjà été traitée" in page_text(again)
    assert post(marc, f"{BASE}/demandes/{made.id}/refuser").status_code == 409
    assert events("request.refuse") == 1 and events("request.accept") == 0
    assert OutboxMessage.select().count() == 1


def test_a_requester_without_an_address_gets_no_email(marc):
    Person.update(email=None).where(Person.given_name == "Nora").execute()
    made = noras_request()
    response = post(marc, f"{BASE}/demandes/{made.id}/accepter", {"role": "agent"})
    assert response.status_code == 303
    text = page_text(marc.follow(response.headers["Location"]))
    assert "n'a pas d'adresse e-mail connue" in text
    assert grant_of("Nora").role == "agent" and OutboxMessage.select().count() == 0


def test_a_failing_email_leaves_the_decision_undone(marc, monkeypatch):
    from admin_ui import mail

    def broken(*_args, **_kwargs):
        raise RuntimeError("outbox unavailable")

    made = noras_request()
    csrf = token(marc)
    monkeypatch.setattr(mail, "enqueue", broken)
    response = post(marc, f"{BASE}/demandes/{made.id}/accepter", {"role": "agent"}, csrf=csrf)
    assert response.status_code == 500
    assert post(marc, f"{BASE}/demandes/{made.id}/refuser", csrf=csrf).status_code == 500
    invited = post(marc, f"{BASE}/inviter", {"email": "a@example.test", "role": "agent"}, csrf)
    assert invited.status_code == 500
    assert noras_request().status == "pending"
    assert RoleGrant.select().where(RoleGrant.person == person("Nora")).count() == 0
    assert Invitation.select().count() == 0
    assert events("request.accept") + events("request.refuse") + events("invitation.create") == 0


def test_a_message_is_shown_escaped(marc):
    made = noras_request()
    RoleRequest.update(message='<script>alert("x")</script>').where(
        RoleRequest.id == made.id
    ).execute()
    html = marc.get(f"{BASE}/demandes").get_data(as_text=True)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_forms_without_their_token_change_nothing(marc):
    made, emma = noras_request(), grant_of("Emma")
    attempts = [
        (f"{BASE}/demandes/{made.id}/accepter", {"role": "agent"}),
        (f"{BASE}/demandes/{made.id}/refuser", {}),
        (f"{BASE}/inviter", {"email": "a@example.test", "role": "agent"}),
        (f"{BASE}/roles/{emma.id}/modifier", {"role": "agent"}),
        (f"{BASE}/roles/{emma.id}/revoquer", {}),
    ]
    before = AuditEvent.select().count()
    for path, form in attempts:
        assert marc.post(path, data=form).status_code == 400, path
        assert post(marc, path, form, csrf="0" * 64).status_code == 400, path
    assert AuditEvent.select().count() == before
    assert noras_request().status == "pending" and grant_of("Emma").role == "reader"
    assert Invitation.select().count() == 0 and OutboxMessage.select().count() == 0


# -- invitations -----------------------------------------------------------------------------


def test_marc_invites_someone_by_email(marc):
    page = marc.get(f"{BASE}/inviter")
    html = page.get_data(as_text=True)
    assert_accessible(html)
    assert re.findall(r'<option value="(\w+)"', html) == [
        "access_manager",
        "owner",
        "client_agent",
        "agent",
        "reader",
    ]
    form = {
        "email": "new.person@example.test",
        "role": "agent",
        "scope": "environnement",
        "message": "Bienvenue <b>chez nous</b>",
    }
    response = post(marc, f"{BASE}/inviter", form)
    assert response.status_code == 303
    text = page_text(marc.follow(response.headers["Location"]))
    assert "L'invitation a été envoyée par courriel à new.person@example.test" in text
    invitation = Invitation.get()
    assert (invitation.email, invitation.role, invitation.scope) == (
        "new.person@example.test",
        "agent",
        "environnement",
    )
    assert invitation.invited_by_id == person("Marc").id and invitation.nrn is None
    assert events("invitation.create") == 1 and verify().ok
    (message,) = OutboxMessage.select()
    assert message.recipient == "new.person@example.test" and message.language == "fr"
    assert "Marc Dupont-Démo vous invite" in message.body
    assert "Bienvenue <b>chez nous</b>" in message.body
    assert re.search(r"jusqu'au \d{1,2} \w+ \d{4}, \d\d:\d\d UTC", message.body)
    link = re.search(r"http://localhost/invitation/(\S+)", message.body)
    assert find_invitation(link[1]).id == invitation.id
    members = page_text(marc.get(BASE))
    (row,) = rows(members, "Invitations envoyées et pas encore acceptées")
    assert "new.person@example.test" in row and "Collaborateur" in row


def test_the_emailed_link_gives_the_role_and_the_member_is_listed(app, marc):
    form = {"email": "alice@example.test", "role": "agent", "scope": "fiscalite"}
    assert post(marc, f"{BASE}/inviter", form).status_code == 303
    (message,) = OutboxMessage.select()
    path = urlsplit(re.search(r"http://localhost(/invitation/\S+)", message.body)[1]).path
    alice = logged_in(app, "alice")
    page = alice.get(path)
    assert page.status_code == 200
    (confirm,) = tokens(page.get_data(as_text=True))
    assert alice.post(path, data={"csrf_token": confirm}).status_code in (200, 303)
    assert (grant_of("Alice").role, grant_of("Alice").source) == ("agent", "invitation")
    (row,) = [r for r in rows(page_text(marc.get(BASE)), MEMBERS_CAPTION) if "Alice" in r]
    assert "Collaborateur" in row and "fiscalite" in row
    assert "Sur invitation de Marc Dupont-Démo" in row


def test_an_invitation_bound_to_a_known_person_speaks_their_language(marc):
    Person.update(language="de").where(Person.given_name == "Alice").execute()
    alice = person("Alice")
    form = {"email": "alice@example.test", "role": "reader", "nrn": alice.nrn}
    assert post(marc, f"{BASE}/inviter", form).status_code == 303
    assert Invitation.get().nrn == alice.nrn
    (message,) = OutboxMessage.select()
    assert message.language == "de" and "Leser" in message.body


def test_bad_invitations_are_explained_and_send_nothing(marc):
    for address in ("a,b@example.test", "a@example.test;b@example.test", "x <y@example.test>"):
        response = post(marc, f"{BASE}/inviter", {"email": address, "role": "agent"})
        assert response.status_code == 400 and "Indiquez une adresse e-mail valide" in (
            page_text(response)
        )
    form = {"email": "not an address", "role": "gap", "nrn": "12345678901"}
    response = post(marc, f"{BASE}/inviter", form)
    assert response.status_code == 400
    text = page_text(response)
    assert "Indiquez une adresse e-mail valide" in text
    assert "Choisissez un des rôles proposés." in text
    assert "Indiquez un numéro de registre national valide" in text
    assert_accessible(response.get_data(as_text=True))
    assert Invitation.select().count() == 0 and OutboxMessage.select().count() == 0


def test_invitations_are_rate_limited_per_person(make_app):
    app = make_app(invitation_limit="2/hour")
    marc = logged_in(app, "marc")
    csrf = token(marc)
    assert post(marc, f"{BASE}/inviter", {"email": "bad"}, csrf).status_code == 400  # counts
    form = {"email": "a@example.test", "role": "reader"}
    assert post(marc, f"{BASE}/inviter", form, csrf).status_code == 303
    third = post(marc, f"{BASE}/inviter", {**form, "email": "b@example.test"}, csrf)
    assert third.status_code == 429
    assert "Réessayez dans 60 minutes" in page_text(third)
    assert [i.email for i in Invitation.select()] == ["a@example.test"]
    # Another manager is counted apart.
    jean = logged_in(app, "jean")
    path = f"/entreprises/{ATELIER}/acces/inviter"
    assert post(jean, path, form, token(jean, path)).status_code == 303


def test_an_invitation_can_be_cancelled_once(marc):
    invitation, _token = invite(
        Caller.for_person(person("Marc")), BOULANGERIE, "x@example.test", "reader"
    )
    html = marc.get(BASE).get_data(as_text=True)
    assert f'action="{BASE}/invitations/{invitation.id}/annuler"' in html
    response = post(marc, f"{BASE}/invitations/{invitation.id}/annuler")
    assert response.status_code == 303
    text = page_text(marc.follow(response.headers["Location"]))
    assert "L'invitation envoyée à x@example.test a été annulée." in text
    assert "Aucune invitation en attente." in text
    assert Invitation.get_by_id(invitation.id).cancelled_at is not None
    again = post(marc, f"{BASE}/invitations/{invitation.id}/annuler")
    assert again.status_code == 409 and "déjà été acceptée ou annulée" in page_text(again)
    assert events("invitation.cancel") == 1


# -- changing and revoking roles -------------------------------------------------------------


def test_marc_changes_emmas_role(marc):
    emma = grant_of("Emma")
    page = marc.get(f"{BASE}/roles/{emma.id}/modifier")
    assert page.status_code == 200
    assert_accessible(page.get_data(as_text=True))
    assert "Modifier le rôle de Emma Janssens-Démo" in page_text(page)
    end = (today() + timedelta(days=30)).isoformat()
    form = {"role": "agent", "valid_until": end, "scope": "fiscalite"}
    response = post(marc, f"{BASE}/roles/{emma.id}/modifier", form)
    assert response.status_code == 303
    text = page_text(marc.follow(response.headers["Location"]))
    assert "Le rôle de Emma Janssens-Démo a été modifié : Collaborateur." in text
    old, new = RoleGrant.get_by_id(emma.id), grant_of("Emma")
    assert old.end_reason == "replaced"
    assert (new.role, new.valid_until, new.scope) == ("agent", date.fromisoformat(end), "fiscalite")
    assert events("role.change") == 1 and verify().ok
    # The old grant is gone from the pages; the new one unchanged is "nothing to change".
    assert marc.get(f"{BASE}/roles/{emma.id}/modifier").status_code == 409
    same = post(marc, f"{BASE}/roles/{new.id}/modifier", form)
    assert same.status_code == 409 and "Rien à modifier" in page_text(same)


def test_a_revocation_needs_the_confirmation_page(marc):
    emma = grant_of("Emma")
    general = token(marc)
    refused = post(marc, f"{BASE}/roles/{emma.id}/revoquer", {}, csrf=general)
    assert refused.status_code == 400
    assert grant_of("Emma").id == emma.id and events("role.revoke") == 0

    page = marc.get(f"{BASE}/roles/{emma.id}/revoquer")
    html = page.get_data(as_text=True)
    assert_accessible(html)
    assert "Révoquer le rôle de Emma Janssens-Démo ?" in page_text(page)
    (confirm,) = tokens(html)
    assert confirm != general
    response = post(marc, f"{BASE}/roles/{emma.id}/revoquer", {"reason": "départ"}, confirm)
    assert response.status_code == 303
    text = page_text(marc.follow(response.headers["Location"]))
    assert "Le rôle de Emma Janssens-Démo a été révoqué." in text
    assert "Emma" not in " ".join(rows(text, MEMBERS_CAPTION))
    ended = RoleGrant.get_by_id(emma.id)
    assert ended.end_reason == "revoked" and ended.ended_by_id == person("Marc").id
    (event,) = AuditEvent.select().where(AuditEvent.action == "role.revoke")
    assert '"reason":"départ"' in event.details
    # A token for one grant does not revoke another.
    luc = grant_of("Luc")
    assert post(marc, f"{BASE}/roles/{luc.id}/revoquer", {}, confirm).status_code == 400
    assert marc.get(f"{BASE}/roles/{emma.id}/revoquer").status_code == 409


def test_an_access_manager_manages_but_not_the_gap(app):
    change_role(Caller.for_person(person("Marc")), grant_of("Sophie").id, "access_manager")
    sophie = logged_in(app, "sophie")
    html = page_text(sophie.get(BASE))
    assert "Marc Dupont-Démo" in html  # the GAP, shown without any control
    gap_section = html.split("<h2>Rôles accordés</h2>")[0]
    assert "/roles/" not in gap_section and "<form" not in gap_section.split("<h1>")[1]
    assert f"{BASE}/roles/{grant_of('Emma').id}/revoquer" in html
    # The GAP role is never offered nor granted here.
    response = post(sophie, f"{BASE}/roles/{grant_of('Emma').id}/modifier", {"role": "gap"})
    assert response.status_code == 400 and grant_of("Emma").role == "reader"
    # She decides requests as the GAP does.
    made = noras_request()
    assert post(sophie, f"{BASE}/demandes/{made.id}/accepter", {"role": "agent"}).status_code == 303
    assert grant_of("Nora").granted_by_id == person("Sophie").id


def test_what_the_policy_keeps_from_the_caller_is_neither_shown_nor_done(marc, monkeypatch):
    from authz.engine import get_engine

    engine = get_engine()
    allow_role_change = engine.allow_role_change

    def not_owner(person, action, role, enterprise):
        return role != "owner" and allow_role_change(person, action, role, enterprise)

    monkeypatch.setattr(engine, "allow_role_change", not_owner)
    sophie = grant_of("Sophie")
    html = marc.get(BASE).get_data(as_text=True)
    assert f"/roles/{sophie.id}/" not in html
    assert f"/roles/{grant_of('Emma').id}/revoquer" in html
    for path in (f"{BASE}/roles/{sophie.id}/modifier", f"{BASE}/roles/{sophie.id}/revoquer"):
        response = marc.get(path)
        assert response.status_code == 403
        assert "il est plus fort que le vôtre" in page_text(response)
        assert post(marc, path, {"role": "reader"}).status_code == 403
    assert '<option value="owner"' not in marc.get(f"{BASE}/inviter").get_data(as_text=True)
    invited = post(marc, f"{BASE}/inviter", {"email": "o@example.test", "role": "owner"})
    assert invited.status_code == 400
    emma = grant_of("Emma")
    assert post(marc, f"{BASE}/roles/{emma.id}/modifier", {"role": "owner"}).status_code == 400
    assert grant_of("Sophie").id == sophie.id and grant_of("Emma").role == "reader"
    assert Invitation.select().count() == 0


def test_an_access_manager_whose_role_ended_manages_nothing(app):
    marc = Caller.for_person(person("Marc"))
    change_role(marc, grant_of("Sophie").id, "access_manager")
    RoleGrant.update(valid_until=today() - timedelta(days=1)).where(
        RoleGrant.id == grant_of("Sophie").id
    ).execute()
    assert logged_in(app, "sophie").get(BASE).status_code == 403


# -- history ---------------------------------------------------------------------------------


def test_the_history_is_filtered_and_paginated(marc):
    caller = Caller.for_person(person("Marc"))
    for n in range(30):
        invite(caller, BOULANGERIE, f"p{n}@example.test", "reader")
    total = AuditEvent.select().where(AuditEvent.enterprise_bce == BOULANGERIE).count()
    assert total > 30

    first = marc.get(f"{BASE}/historique")
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    assert_accessible(html)
    text = page_text(first)
    assert f"{total} événements, du plus récent au plus ancien" in text
    pages = -(-total // 25)
    assert f"page 1 sur {pages}" in text
    found = rows(text, re.search(r"<caption>([^<]*)</caption>", text)[1])
    assert len(found) == 25
    assert "Invitation envoyée" in found[0] and "Marc Dupont-Démo" in found[0]
    assert "p29@example.test" in found[0]
    assert f'href="{BASE}/historique?page=2" rel="next"' in html

    last = page_text(marc.get(f"{BASE}/historique?page=999"))
    assert f"page {pages} sur {pages}" in last
    assert "page 1 sur" in page_text(marc.get(f"{BASE}/historique?page=-4"))
    assert "page 1 sur" in page_text(marc.get(f"{BASE}/historique?page=x"))

    invitations = page_text(marc.get(f"{BASE}/historique?action=invitation.create"))
    assert "30 événements" in invitations and "page 1 sur 2" in invitations
    assert '<option value="invitation.create" selected>' in invitations
    assert 'href="/entreprises/0123456749/acces/historique?page=2&action=invitation.create' in (
        invitations.replace("&amp;", "&")
    )

    nora = person("Nora")
    about_nora = page_text(marc.get(f"{BASE}/historique", query_string={"personne": nora.nrn}))
    (only,) = rows(about_nora, "1 événement, du plus récent au plus ancien – page 1 sur 1")
    assert "Demande de rôle envoyée" in only and "Nora Willems-Démo" in only

    bad = marc.get(f"{BASE}/historique?personne=123")
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)
    unknown_action = page_text(marc.get(f"{BASE}/historique?action=<b>"))
    assert f"{total} événements" in unknown_action


def test_the_history_names_people_and_roles_and_escapes_details(marc):
    emma = grant_of("Emma")
    page = marc.get(f"{BASE}/roles/{emma.id}/revoquer")
    (confirm,) = tokens(page.get_data(as_text=True))
    reason = "<img src=x onerror=alert(1)>"
    post(marc, f"{BASE}/roles/{emma.id}/revoquer", {"reason": reason}, confirm)
    response = marc.get(f"{BASE}/historique?action=role.revoke")
    html = response.get_data(as_text=True)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    text = page_text(response)
    (row,) = rows(text, "1 événement, du plus récent au plus ancien – page 1 sur 1")
    assert "Rôle révoqué" in row and "Marc Dupont-Démo" in row
    assert "Personne : Emma Janssens-Démo" in row and "Rôle : Lecteur" in row
    grants = page_text(marc.get(f"{BASE}/historique?action=role.grant"))
    assert "Domaines : fiscalite" in grants
    seeded = page_text(marc.get(f"{BASE}/historique?action=bce.representation_add"))
    assert "Opérateur de Mon Espace (demo-seed)" in seeded


def test_the_history_does_not_name_the_person_behind_a_typed_nrn(marc):
    # Alice has nothing to do with the Boulangerie: binding an invitation to her NRN must not
    # tell Marc her name.
    alice = person("Alice")
    form = {"email": "someone@example.test", "role": "reader", "nrn": alice.nrn}
    assert post(marc, f"{BASE}/inviter", form).status_code == 303
    text = page_text(marc.get(f"{BASE}/historique?action=invitation.create"))
    assert "99.09.09-009.20" in text
    assert "Alice" not in text and "Citoyenne" not in text
