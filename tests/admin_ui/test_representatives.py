"""admin_ui/representatives.py: the legal representative's pages, designating the GAP."""

from __future__ import annotations

import re
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
    today,
)
from authz.permissions import GRANT_ROLE
from authz.services import Caller, current_gap, designate_gap
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)

BOULANGERIE, ATELIER, PARC = "0123456749", "0888888895", "0999999922"
CLAIRE, MARC, SOPHIE, EMMA = "60040400794", "85020200387", "70030300538", "90010100222"
JEAN, PAUL, ALICE = "75070700353", "80060600186", "99090900920"
FUTURE_GAP = "nouveau.gap@example.test"


def logged_in(app, key: str) -> Browser:
    browser = Browser(app)
    browser.login("eid", f"person:{key}")
    return browser


def token(browser: Browser) -> str:
    """The login's form token (the same on every plain form), from a page anyone may see."""
    page = browser.get("/entreprises/ajouter").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]


def designate(browser: Browser, bce: str, nrn: str):
    return browser.post(
        f"/representant/{bce}/designer", data={"csrf_token": token(browser), "nrn": nrn}
    )


def invite(browser: Browser, bce: str, email: str = FUTURE_GAP, bound_nrn: str = ""):
    form = {"csrf_token": token(browser), "email": email, "bound_nrn": bound_nrn}
    return browser.post(f"/representant/{bce}/inviter", data=form)


def words(response) -> str:
    """The page as a person reads it: without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def hidden(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    }


def confirm(browser: Browser, confirmation) -> object:
    """Submit the confirmation page's form, as it is."""
    html = confirmation.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', html)[1]
    return browser.post(action, data=hidden(html))


def gap_of(bce: str) -> str | None:
    designation = current_gap(Enterprise.get(Enterprise.bce == bce))
    return designation.person.nrn if designation else None


def written() -> tuple[int, int, int, int]:
    """What an action may write: designations, invitations, audit events, emails."""
    return (
        GapDesignation.select().count(),
        Invitation.select().count(),
        AuditEvent.select().count(),
        OutboxMessage.select().count(),
    )


def outbox(kind: str) -> list[OutboxMessage]:
    return list(OutboxMessage.select().where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))


# -- the list of enterprises represented -------------------------------------------------------


def test_the_pages_need_a_login(app):
    browser = Browser(app)
    for path in ("/representant", f"/representant/{BOULANGERIE}"):
        response = browser.get(path)
        assert response.status_code == 303
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login" and parse_qs(location.query)["next"] == [path + "?"]
    response = browser.post(f"/representant/{PARC}/designer", data={"nrn": ALICE})
    assert response.status_code == 303 and gap_of(PARC) is None


def test_claire_sees_the_boulangerie_and_its_gap(app):
    page = logged_in(app, "claire").get("/representant")
    assert "<title>Entreprises que vous représentez – Mon Espace</title>" in page_text(page)
    text = words(page)
    assert "Boulangerie Démo SA (0123.456.749)" in text
    assert "En qualité de : administratrice déléguée" in text
    assert "Marc Dupont-Démo, depuis le" in text
    assert "(désignation par Claire Lambert-Démo)" in text
    assert 'href="/representant/0123456749">Remplacer le GAP de Boulangerie Démo SA' in (
        page_text(page)
    )
    assert "Atelier" not in text and "Parc" not in text


def test_paul_sees_the_parc_without_gap_and_alice_represents_nothing(app):
    text = words(logged_in(app, "paul").get("/representant"))
    assert "Les Amis du Parc Démo ASBL (0999.999.922)" in text
    assert "Aucun GAP n'est désigné" in text
    assert "Désigner le GAP de Les Amis du Parc Démo ASBL" in text
    text = words(logged_in(app, "alice").get("/representant"))
    assert "vous n'êtes le représentant légal d'aucune entreprise" in text


def test_a_representation_that_has_ended_is_not_listed(app):
    from datetime import timedelta

    LegalRepresentation.update(ended_on=today() - timedelta(days=1)).where(
        LegalRepresentation.person == Person.get(Person.nrn == CLAIRE)
    ).execute()
    claire = logged_in(app, "claire")
    assert "Boulangerie" not in words(claire.get("/representant"))
    assert claire.get(f"/representant/{BOULANGERIE}").status_code == 403


# -- designating by national register number ---------------------------------------------------


def test_paul_designates_alice_by_nrn_and_she_is_emailed(app):
    paul = logged_in(app, "paul")
    response = designate(paul, PARC, "99.09.09-009.20")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/representant/{PARC}?fait=designation")
    text = words(paul.follow(response.headers["Location"]))
    assert "Alice Citoyenne-Démo est désormais le gestionnaire d'accès principal (GAP)" in text

    designation = current_gap(Enterprise.get(Enterprise.bce == PARC))
    assert designation.person.nrn == ALICE and designation.designated_by.nrn == PAUL
    (message,) = outbox("gap_designated")
    assert message.recipient == "alice@demo.monespace.invalid" and message.language == "fr"
    assert "Les Amis du Parc Démo ASBL (0999.999.922)" in message.body
    assert "Vous avez été désigné par Paul Leroy-Démo." in message.body
    assert "http://localhost/entreprises\n" in message.body
    assert get_engine().decide(ALICE, GRANT_ROLE, PARC)
    assert AuditEvent.select().order_by(AuditEvent.seq.desc()).first().action == "gap.designate"
    assert verify().ok


def test_the_email_is_in_the_new_gaps_language_and_skipped_without_address(app):
    Person.update(language="de").where(Person.nrn == ALICE).execute()
    paul = logged_in(app, "paul")
    assert designate(paul, PARC, ALICE).status_code == 303
    assert outbox("gap_designated")[0].language == "de"
    claire = logged_in(app, "claire")
    Person.update(email=None).where(Person.nrn == SOPHIE).execute()
    assert confirm(claire, designate(claire, BOULANGERIE, SOPHIE)).status_code == 303
    assert gap_of(BOULANGERIE) == SOPHIE
    assert len(outbox("gap_designated")) == 1


def test_someone_never_seen_is_designated_by_number(app):
    newcomer = "85073003328"
    paul = logged_in(app, "paul")
    response = designate(paul, PARC, newcomer)
    assert response.status_code == 303
    text = words(paul.follow(response.headers["Location"]))
    assert "85.07.30-033.28 est désormais le gestionnaire d'accès principal" in text
    assert gap_of(PARC) == newcomer
    assert outbox("gap_designated") == []  # no address known yet


def test_a_representative_designates_themself(app):
    paul = logged_in(app, "paul")
    assert "Me désigner moi-même" in words(paul.get(f"/representant/{PARC}"))
    assert designate(paul, PARC, PAUL).status_code == 303
    assert gap_of(PARC) == PAUL
    # Jean, a sole trader and GAP of his own business, is not offered it again.
    jean = logged_in(app, "jean")
    assert "Me désigner moi-même" not in words(jean.get(f"/representant/{ATELIER}"))


@pytest.mark.parametrize("nrn", ["", "12345678901", "99.09.09-009.21", "alice"])
def test_an_invalid_nrn_is_explained_and_writes_nothing(app, nrn):
    paul = logged_in(app, "paul")
    before = written()
    response = designate(paul, PARC, nrn)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert" id="designate-nrn-error"' in html
    assert 'aria-describedby="designate-nrn-hint designate-nrn-error" aria-invalid="true"' in html
    assert "Indiquez un numéro de registre national valide" in words(response)
    assert written() == before


def test_designating_the_gap_in_office_is_explained(app):
    claire = logged_in(app, "claire")
    before = written()
    response = designate(claire, BOULANGERIE, MARC)
    assert response.status_code == 409
    assert "Marc Dupont-Démo est déjà le gestionnaire d'accès principal" in words(response)
    html = response.get_data(as_text=True)
    assert '<p class="error" role="alert" id="designate-error">' in html
    assert 'aria-describedby="designate-error"' in html
    assert written() == before


# -- replacing the GAP: the confirmation step --------------------------------------------------


def test_claire_replaces_marc_with_sophie_only_after_confirming(app):
    claire = logged_in(app, "claire")
    marc_designation = current_gap(Enterprise.get(Enterprise.bce == BOULANGERIE))
    before = written()

    confirmation = designate(claire, BOULANGERIE, "70.03.03-005.38")
    assert confirmation.status_code == 200
    assert "<title>Confirmer le remplacement du GAP – Mon Espace</title>" in page_text(confirmation)
    text = words(confirmation)
    assert "Marc Dupont-Démo ne sera plus gestionnaire d'accès principal (GAP)" in text
    assert "70.03.03-005.38 deviendra le GAP à sa place" in text
    # Nothing changes until the confirmation.
    assert written() == before and gap_of(BOULANGERIE) == MARC

    response = confirm(claire, confirmation)
    assert response.status_code == 303
    assert gap_of(BOULANGERIE) == SOPHIE
    ended = GapDesignation.get_by_id(marc_designation.id)
    assert ended.ended_at is not None and ended.ended_by.nrn == CLAIRE
    engine = get_engine()
    assert engine.decide(SOPHIE, GRANT_ROLE, BOULANGERIE)
    assert not engine.decide(MARC, GRANT_ROLE, BOULANGERIE)
    (message,) = outbox("gap_designated")
    assert message.recipient == "sophie@demo.monespace.invalid"
    assert verify().ok


def test_the_confirmation_token_is_bound_to_the_person_and_the_gap_replaced(app):
    claire = logged_in(app, "claire")
    confirmation = designate(claire, BOULANGERIE, SOPHIE)
    form = hidden(confirmation.get_data(as_text=True))
    before = written()
    path = f"/representant/{BOULANGERIE}/remplacer"
    # The plain form token, another person, another designation: refused.
    assert claire.post(path, data={**form, "csrf_token": token(claire)}).status_code == 400
    assert claire.post(path, data={**form, "nrn": EMMA}).status_code == 400
    assert claire.post(path, data={**form, "replaces": form["replaces"] + "0"}).status_code == 400
    assert claire.post(path, data={"nrn": SOPHIE, "replaces": form["replaces"]}).status_code == 400
    assert written() == before and gap_of(BOULANGERIE) == MARC


def test_a_confirmation_for_a_gap_already_replaced_changes_nothing(app):
    claire = logged_in(app, "claire")
    confirmation = designate(claire, BOULANGERIE, SOPHIE)
    # Meanwhile, Marc is replaced by Emma (another tab, another representative).
    designate_gap(Caller.for_person(Person.get(Person.nrn == CLAIRE)), BOULANGERIE, EMMA)
    before = written()
    response = confirm(claire, confirmation)
    assert response.status_code == 409
    assert "ont changé entre-temps" in words(response)
    assert gap_of(BOULANGERIE) == EMMA and written() == before


# -- inviting by email -------------------------------------------------------------------------


def test_claire_invites_an_email_address_and_the_link_is_emailed(app):
    claire = logged_in(app, "claire")
    response = invite(claire, BOULANGERIE)
    assert response.status_code == 303
    text = words(claire.follow(response.headers["Location"]))
    assert f"L'invitation a été envoyée par courriel à {FUTURE_GAP}" in text
    assert f"Envoyée à {FUTURE_GAP} par Claire Lambert-Démo, valable jusqu'au" in text

    (invitation,) = Invitation.select()
    assert (invitation.role, invitation.email, invitation.nrn) == ("gap", FUTURE_GAP, None)
    assert gap_of(BOULANGERIE) == MARC  # until someone accepts
    (message,) = outbox("gap_invitation")
    assert message.recipient == FUTURE_GAP and message.language == "fr"
    assert "Claire Lambert-Démo, représentant légal de Boulangerie Démo SA" in message.body
    link = re.search(r"http://localhost/invitation/([A-Za-z0-9_-]{40,})\n", message.body)
    assert link is not None
    assert Invitation.get().token_hash != link[1]  # only its hash is stored
    assert verify().ok


def test_alice_accepts_the_link_and_becomes_gap(app):
    claire = logged_in(app, "claire")
    assert invite(claire, BOULANGERIE).status_code == 303
    link = re.search(r"http://localhost(/invitation/\S+)", outbox("gap_invitation")[0].body)[1]
    alice = logged_in(app, "alice")
    page = alice.get(link)
    assert page.status_code == 200
    response = alice.post(link, data=hidden(page.get_data(as_text=True)))
    assert response.status_code == 303
    assert gap_of(BOULANGERIE) == ALICE
    text = words(claire.get("/representant"))
    assert "Alice Citoyenne-Démo, depuis le" in text
    assert "(désignation par Claire Lambert-Démo)" in text


def test_the_invitation_email_is_in_the_bound_persons_language(app):
    Person.update(language="nl").where(Person.nrn == ALICE).execute()
    claire = logged_in(app, "claire")
    assert invite(claire, BOULANGERIE, bound_nrn="99.09.09-009.20").status_code == 303
    assert Invitation.get().nrn == ALICE
    (message,) = outbox("gap_invitation")
    assert message.language == "nl" and "hoofdtoegangsbeheerder (HTB)" in message.body


@pytest.mark.parametrize(
    ("email", "bound_nrn", "field"),
    [("", "", "invite-email"), ("claire@", "", "invite-email"), (FUTURE_GAP, "123", "invite-nrn")],
)
def test_a_bad_invitation_is_explained_and_writes_nothing(app, email, bound_nrn, field):
    claire = logged_in(app, "claire")
    before = written()
    response = invite(claire, BOULANGERIE, email, bound_nrn)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'role="alert" id="{field}-error"' in html and 'aria-invalid="true"' in html
    assert "L'invitation n'a pas été envoyée" in words(response)
    assert written() == before


def test_inviting_the_gap_in_office_by_nrn_is_explained(app):
    claire = logged_in(app, "claire")
    before = written()
    response = invite(claire, BOULANGERIE, bound_nrn=MARC)
    assert response.status_code == 409
    assert "Marc Dupont-Démo est déjà le gestionnaire d'accès principal" in words(response)
    assert written() == before


def test_a_new_invitation_replaces_the_pending_one_which_can_be_cancelled(app):
    claire = logged_in(app, "claire")
    assert invite(claire, BOULANGERIE, "premier@example.test").status_code == 303
    assert invite(claire, BOULANGERIE, "second@example.test").status_code == 303
    first, second = Invitation.select().order_by(Invitation.id)
    assert first.cancelled_at is not None and second.cancelled_at is None
    html = claire.get("/representant").get_data(as_text=True)
    assert "premier@example.test" not in html and "second@example.test" in html
    action = f"/representant/{BOULANGERIE}/invitations/{second.id}/annuler"
    assert f'action="{action}"' in html

    response = claire.post(action, data={"csrf_token": token(claire)})
    assert response.status_code == 303
    text = words(claire.follow(response.headers["Location"]))
    assert "L'invitation a été annulée" in text
    assert Invitation.get_by_id(second.id).cancelled_at is not None
    again = claire.post(action, data={"csrf_token": token(claire)})
    assert again.status_code == 409
    assert verify().ok


def test_only_this_enterprises_gap_invitations_are_cancelled_here(app):
    from authz.services import invite as invite_role

    marc = Caller.for_person(Person.get(Person.nrn == MARC))
    role_invitation, _ = invite_role(marc, BOULANGERIE, "x@example.test", "reader")
    paul = logged_in(app, "paul")
    assert invite(paul, PARC).status_code == 303
    parc_invitation = Invitation.get(Invitation.role == "gap")
    claire = logged_in(app, "claire")
    csrf = token(claire)
    for path in (
        f"/representant/{BOULANGERIE}/invitations/{role_invitation.id}/annuler",
        f"/representant/{BOULANGERIE}/invitations/{parc_invitation.id}/annuler",
        f"/representant/{BOULANGERIE}/invitations/99999999999/annuler",
        f"/representant/{BOULANGERIE}/invitations/abc/annuler",
    ):
        assert claire.post(path, data={"csrf_token": csrf}).status_code == 404, path
    assert Invitation.select().where(Invitation.cancelled_at.is_null(False)).count() == 0


def test_gap_invitations_are_rate_limited_per_person(make_app):
    app = make_app(invitation_limit="2/hour")
    claire = logged_in(app, "claire")
    assert invite(claire, BOULANGERIE, "bad-address").status_code == 400  # counted too
    assert invite(claire, BOULANGERIE).status_code == 303
    third = invite(claire, BOULANGERIE, "autre@example.test")
    assert third.status_code == 429
    assert "Réessayez dans 60 minutes" in words(third)
    assert Invitation.select().count() == 1


def test_designations_count_with_the_invitations(make_app):
    # Each designation emails the new GAP: designating back and forth floods nobody.
    app = make_app(invitation_limit="2/hour")
    paul = logged_in(app, "paul")
    assert designate(paul, PARC, ALICE).status_code == 303
    assert invite(paul, PARC).status_code == 303
    confirmation = designate(paul, PARC, PAUL)  # replacing Alice: the confirmation page
    assert confirmation.status_code == 200
    third = confirm(paul, confirmation)
    assert third.status_code == 429
    assert current_gap(Enterprise.get(Enterprise.bce == PARC)).person.nrn == ALICE


# -- refusals ----------------------------------------------------------------------------------


def test_marc_who_does_not_represent_the_boulangerie_is_refused(app):
    marc = logged_in(app, "marc")
    page = marc.get(f"/representant/{BOULANGERIE}")
    assert page.status_code == 403
    assert "Vous n'êtes pas représentant légal de Boulangerie Démo SA" in words(page)
    csrf = token(marc)  # a valid form token of his own login
    before = written()
    base = f"/representant/{BOULANGERIE}"
    for path, form in (
        (f"{base}/designer", {"nrn": MARC}),
        (f"{base}/inviter", {"email": FUTURE_GAP}),
        (f"{base}/remplacer", {"nrn": MARC, "replaces": "1"}),
        (f"{base}/invitations/1/annuler", {}),
    ):
        response = marc.post(path, data={"csrf_token": csrf, **form})
        assert response.status_code == 403, path
    assert written() == before and gap_of(BOULANGERIE) == MARC


@pytest.mark.parametrize("bce", ["0200000142", "0123456789", "nonsense"])
def test_an_unknown_or_malformed_bce_is_not_found(app, bce):
    claire = logged_in(app, "claire")
    assert claire.get(f"/representant/{bce}").status_code == 404
    assert claire.post(f"/representant/{bce}/designer", data={"nrn": SOPHIE}).status_code == 404


def test_posts_without_the_forms_token_are_refused(app):
    claire = logged_in(app, "claire")
    assert invite(claire, BOULANGERIE).status_code == 303
    pending = Invitation.get()
    before = written()
    base = f"/representant/{BOULANGERIE}"
    for path, form in (
        (f"{base}/designer", {"nrn": SOPHIE}),
        (f"{base}/inviter", {"email": FUTURE_GAP}),
        (f"{base}/remplacer", {"nrn": SOPHIE, "replaces": "1"}),
        (f"{base}/invitations/{pending.id}/annuler", {}),
    ):
        for csrf in (None, "0" * 64):
            data = form if csrf is None else {**form, "csrf_token": csrf}
            assert claire.post(path, data=data).status_code == 400, (path, csrf)
    assert written() == before and gap_of(BOULANGERIE) == MARC


def test_a_stopped_enterprise_offers_no_form_and_refuses_changes(app):
    Enterprise.update(status="stopped").where(Enterprise.bce == BOULANGERIE).execute()
    claire = logged_in(app, "claire")
    page = claire.get(f"/representant/{BOULANGERIE}")
    assert page.status_code == 200
    assert "a cessé ses activités" in words(page) and "/designer" not in words(page)
    before = written()
    response = designate(claire, BOULANGERIE, SOPHIE)
    # The confirmation comes first; confirming is refused.
    refused = confirm(claire, response)
    assert refused.status_code == 409
    stopped = "selon la Banque-Carrefour des Entreprises : son GAP ne peut plus être changé"
    assert stopped in words(refused) and 'role="alert"' in page_text(refused)
    refused = invite(claire, BOULANGERIE)
    assert refused.status_code == 409 and stopped in words(refused)
    assert written() == before


def test_a_failing_email_leaves_no_designation_or_invitation_behind(app, monkeypatch):
    from admin_ui import mail

    def broken(*_args, **_kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(mail, "enqueue", broken)
    paul = logged_in(app, "paul")
    before = written()
    assert designate(paul, PARC, ALICE).status_code == 500
    assert invite(paul, PARC).status_code == 500
    assert written() == before and gap_of(PARC) is None
    assert get_engine().decide(ALICE, GRANT_ROLE, PARC) is False
