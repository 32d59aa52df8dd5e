"""admin_ui/invitations.py: opening and accepting an invitation link."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from admin_ui.models import OutboxMessage
from authz.audit import verify
from authz.engine import get_engine
from authz.models import (
    AuditEvent,
    Enterprise,
    GapDesignation,
    Invitation,
    LegalRepresentation,
    Person,
    RoleGrant,
    today,
    utcnow,
)
from authz.permissions import GRANT_ROLE, READ_DOSSIER
from authz.services import Caller, cancel_invitation, current_gap, invite, invite_gap
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)

BOULANGERIE = "0123456749"
CLAIRE, MARC, ALICE, EMMA = "60040400794", "85020200387", "99090900920", "90010100222"
EMAIL = "invitee@example.test"


def as_(nrn: str) -> Caller:
    return Caller.for_person(Person.get(Person.nrn == nrn))


def logged_in(app, key: str, next_path: str = "/me") -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}", next_path)
    return browser


def words(response) -> str:
    """The page as a person reads it: without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def hidden(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    }


def accept(browser: Browser, token: str):
    """Open the link and press "Accepter"."""
    page = browser.get(f"/invitation/{token}")
    assert page.status_code == 200, words(page)
    return browser.post(f"/invitation/{token}", data=hidden(page.get_data(as_text=True)))


def gap_invitation(**kwargs) -> tuple[Invitation, str]:
    return invite_gap(as_(CLAIRE), BOULANGERIE, EMAIL, **kwargs)


def written() -> tuple[int, int, int, int]:
    return (
        GapDesignation.select().count(),
        RoleGrant.select().count(),
        AuditEvent.select().count(),
        Invitation.select().where(Invitation.accepted_at.is_null(False)).count(),
    )


def gap_of(bce: str = BOULANGERIE) -> str:
    return current_gap(Enterprise.get(Enterprise.bce == bce)).person.nrn


# -- the link and the login --------------------------------------------------------------------


def test_the_link_sends_to_the_login_page_and_back(app):
    _, token = gap_invitation()
    browser = Browser(app)
    response = browser.get(f"/invitation/{token}")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    (back,) = parse_qs(location.query)["next"]
    assert back == f"/invitation/{token}?"

    logged = browser.login("eid", "person:alice", back)
    assert logged.status_code == 303
    assert browser.follow(logged.headers["Location"]).status_code == 200


def test_a_post_without_a_login_goes_to_the_login_page_first(app):
    _, token = gap_invitation()
    response = Browser(app).post(f"/invitation/{token}", data={"csrf_token": "x"})
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [f"/invitation/{token}"]
    assert gap_of() == MARC


def test_the_page_says_what_is_offered_by_whom_until_when(app):
    _, token = gap_invitation()
    alice = logged_in(app, "alice")
    response = alice.get(f"/invitation/{token}")
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<title>Invitation pour Boulangerie Démo SA – Mon Espace</title>" in page_text(response)
    text = words(response)
    assert "Vous êtes connecté comme Alice Citoyenne-Démo." in text
    assert "Entreprise Boulangerie Démo SA (0123.456.749)" in text
    assert "Fonction proposée Gestionnaire d'accès principal (GAP)" in text
    assert "Invitation envoyée par Claire Lambert-Démo" in text
    assert "Lien valable jusqu'au" in text
    assert "En acceptant, vous remplacez le GAP actuel." in text
    html = response.get_data(as_text=True)
    assert f'<form method="post" action="/invitation/{token}"' in html
    assert ">Accepter</button>" in html
    assert "<script" not in html and "style=" not in html


def test_a_role_invitation_shows_the_role_its_scope_and_end_date(app):
    _, token = invite(
        as_(MARC), BOULANGERIE, EMAIL, "agent", scope="fiscalite", valid_until="2099-03-31"
    )
    text = words(logged_in(app, "alice").get(f"/invitation/{token}"))
    assert "Rôle proposé Collaborateur : agir et déposer des dossiers" in text
    assert "limité aux domaines : fiscalite" in text
    assert "Jusqu'au 31 mars 2099" in text
    assert "Invitation envoyée par Marc Dupont-Démo" in text


# -- accepting ---------------------------------------------------------------------------------


def test_claire_invites_by_email_and_alice_becomes_gap_through_the_link(app):
    claire = logged_in(app, "claire")
    csrf = re.search(
        r'name="csrf_token" value="([0-9a-f]+)"',
        claire.get("/entreprises/ajouter").get_data(as_text=True),
    )[1]
    sent = claire.post(
        f"/representant/{BOULANGERIE}/inviter", data={"csrf_token": csrf, "email": EMAIL}
    )
    assert sent.status_code == 303
    (message,) = OutboxMessage.select().where(OutboxMessage.recipient == EMAIL)
    link = re.search(r"http://localhost(/invitation/[A-Za-z0-9_-]+)\n", message.body)[1]
    marc_designation = current_gap(Enterprise.get(Enterprise.bce == BOULANGERIE))

    # Alice opens the link, logs in with itsme, comes back and accepts.
    alice = Browser(app)
    to_login = alice.get(link)
    (back,) = parse_qs(urlsplit(to_login.headers["Location"]).query)["next"]
    logged = alice.login("itsme", "person:alice", back)
    page = alice.follow(logged.headers["Location"])
    assert page.status_code == 200
    response = alice.post(link, data=hidden(page.get_data(as_text=True)))
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path.startswith("/invitation/acceptee/")
    done = alice.follow(response.headers["Location"])
    assert done.status_code == 200
    assert (
        "Vous êtes maintenant le gestionnaire d'accès principal (GAP) de Boulangerie Démo SA "
        "(0123.456.749)." in words(done)
    )
    assert 'href="/entreprises"' in done.get_data(as_text=True)

    assert gap_of() == ALICE
    ended = GapDesignation.get_by_id(marc_designation.id)
    assert ended.ended_at is not None and ended.ended_by.nrn == CLAIRE
    engine = get_engine()
    assert engine.decide(ALICE, GRANT_ROLE, BOULANGERIE)
    assert not engine.decide(MARC, GRANT_ROLE, BOULANGERIE)
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.seq.desc()).limit(2)]
    assert actions == ["gap.designate", "invitation.accept"]
    mine = words(alice.get("/entreprises"))
    assert "Gestionnaire d'accès principal (GAP)" in mine
    assert "Désignation comme GAP par Claire Lambert-Démo" in mine
    assert verify().ok


def test_alice_accepts_a_role_invitation(app):
    _, token = invite(as_(MARC), BOULANGERIE, EMAIL, "reader")
    alice = logged_in(app, "alice")
    response = accept(alice, token)
    assert response.status_code == 303
    done = words(alice.follow(response.headers["Location"]))
    assert "Vous avez maintenant le rôle Lecteur pour Boulangerie Démo SA" in done
    assert get_engine().decide(ALICE, READ_DOSSIER, BOULANGERIE)


def test_the_confirmation_is_for_the_person_who_accepted_only(app):
    invitation, token = gap_invitation()
    assert accept(logged_in(app, "alice"), token).status_code == 303
    path = f"/invitation/acceptee/{invitation.id}"
    assert logged_in(app, "emma").get(path).status_code == 404
    assert logged_in(app, "alice").get("/invitation/acceptee/99999999999").status_code == 404


# -- refusals: pages in French with their status, nothing written ------------------------------


def refused(response, status: int, words_shown: str) -> None:
    assert response.status_code == status, words(response)
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="fr">' in html and "Traceback" not in html
    assert 'role="alert"' in html
    assert words_shown in words(response)
    assert ">Accepter</button>" not in html


def test_an_unknown_link_is_not_found(app):
    alice = logged_in(app, "alice")
    before = written()
    refused(alice.get("/invitation/not-a-token"), 404, "Ce lien d'invitation n'est pas valable")
    page = alice.get("/entreprises/ajouter").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    response = alice.post("/invitation/not-a-token", data={"csrf_token": csrf})
    assert response.status_code == 400  # the form's token is bound to the link
    assert written() == before


def test_a_link_is_used_once(app):
    _, token = gap_invitation()
    alice = logged_in(app, "alice")
    page = alice.get(f"/invitation/{token}")
    form = hidden(page.get_data(as_text=True))
    assert alice.post(f"/invitation/{token}", data=form).status_code == 303
    before = written()
    refused(alice.post(f"/invitation/{token}", data=form), 409, "Vous avez déjà accepté")
    refused(alice.get(f"/invitation/{token}"), 409, "Vous avez déjà accepté cette invitation")
    emma = logged_in(app, "emma")
    refused(emma.get(f"/invitation/{token}"), 409, "a déjà été utilisée")
    assert written() == before and gap_of() == ALICE


def test_a_cancelled_invitation_is_refused(app):
    invitation, token = gap_invitation()
    alice = logged_in(app, "alice")
    form = hidden(alice.get(f"/invitation/{token}").get_data(as_text=True))
    cancel_invitation(as_(CLAIRE), invitation.id)
    before = written()
    refused(alice.get(f"/invitation/{token}"), 409, "a été annulée")
    refused(alice.post(f"/invitation/{token}", data=form), 409, "a été annulée")
    assert written() == before and gap_of() == MARC


def test_a_newer_gap_invitation_makes_the_older_link_unusable(app):
    _, older = gap_invitation()
    gap_invitation()
    refused(logged_in(app, "alice").get(f"/invitation/{older}"), 409, "a été annulée")


def test_an_invitation_bound_to_another_nrn_is_refused(app):
    _, token = gap_invitation(nrn=EMMA)
    alice = logged_in(app, "alice")
    before = written()
    refused(alice.get(f"/invitation/{token}"), 403, "destinée à une autre personne")
    assert written() == before
    assert accept(logged_in(app, "emma"), token).status_code == 303
    assert gap_of() == EMMA


@pytest.mark.parametrize("kind", ["gap", "role"])
def test_an_expired_invitation_is_gone(app, kind):
    if kind == "gap":
        invitation, token = gap_invitation()
    else:
        invitation, token = invite(as_(MARC), BOULANGERIE, EMAIL, "reader")
    Invitation.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        Invitation.id == invitation.id
    ).execute()
    before = written()
    refused(logged_in(app, "alice").get(f"/invitation/{token}"), 410, "a expiré")
    assert written() == before


def test_a_representative_who_lost_the_representation_makes_the_link_unusable(app):
    _, token = gap_invitation()
    alice = logged_in(app, "alice")
    form = hidden(alice.get(f"/invitation/{token}").get_data(as_text=True))
    LegalRepresentation.update(ended_on=today() - timedelta(days=1)).where(
        LegalRepresentation.person == Person.get(Person.nrn == CLAIRE)
    ).execute()
    before = written()
    refused(alice.post(f"/invitation/{token}", data=form), 403, "n'est plus représentant légal")
    assert written() == before and gap_of() == MARC


def test_the_gap_in_office_cannot_accept_and_the_link_stays_usable(app):
    _, token = gap_invitation()
    refused(logged_in(app, "marc").get(f"/invitation/{token}"), 409, "Vous êtes déjà le")
    assert accept(logged_in(app, "alice"), token).status_code == 303


def test_a_stronger_role_already_held_is_explained(app):
    _, token = invite(as_(MARC), BOULANGERIE, EMAIL, "reader")
    refused(logged_in(app, "sophie").get(f"/invitation/{token}"), 409, "un rôle plus fort")


def test_accepting_needs_the_forms_token_bound_to_the_link(app):
    gap_invitation()
    _, other = gap_invitation(nrn=ALICE)  # cancels the first; its own token differs
    alice = logged_in(app, "alice")
    form = hidden(alice.get(f"/invitation/{other}").get_data(as_text=True))
    before = written()
    assert alice.post(f"/invitation/{other}").status_code == 400
    assert alice.post(f"/invitation/{other}", data={"csrf_token": "0" * 64}).status_code == 400
    page = alice.get("/entreprises/ajouter").get_data(as_text=True)
    plain = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    assert alice.post(f"/invitation/{other}", data={"csrf_token": plain}).status_code == 400
    assert form["csrf_token"] != plain
    assert written() == before and gap_of() == MARC
    assert alice.post(f"/invitation/{other}", data=form).status_code == 303
