"""admin_ui/notifications.py: the emails the domain events write, whoever did the action
(a page, a command), delivered through a real SMTP server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from admin_ui import mail, notifications
from admin_ui.models import OutboxMessage
from authz import events
from authz.errors import Forbidden
from authz.models import Enterprise, LegalRepresentation, Person, RoleRequest, utcnow
from authz.services import (
    Caller,
    accept_invitation,
    accept_mandate,
    designate_gap,
    end_mandate,
    expire_requests,
    invite_gap,
    propose_mandate,
    refuse_mandate,
    request_role,
    withdraw_request,
)
from tests.authz.services import make_bce, make_nrn
from tests.monespace.conftest import run_cli

BASE_URL = "https://id.example.test"


@dataclass
class Bakery:
    enterprise: Enterprise
    representative: Person
    gap: Person
    requester: Person


def person(given: str, family: str, born: str, serial: int, email=None, language="fr") -> Person:
    return Person.create(
        nrn=make_nrn(born, serial),
        given_name=given,
        family_name=family,
        email=email,
        language=language,
    )


@pytest.fixture
def bakery(database) -> Bakery:
    enterprise = Enterprise.create(bce=make_bce(1234567), name="Boulangerie Dupont")
    representative = person("Anne", "Delvaux", "750412", 101, "anne@example.test")
    gap = person("Marc", "Lambert", "800115", 203, "marc@example.test", "nl")
    requester = person("Nora", "Benali", "880909", 713, "nora@example.test", "de")
    LegalRepresentation.create(person=representative, enterprise=enterprise, capacity="gérant")
    with events.muted():  # the set-up tells nobody
        designate_gap(Caller.for_person(representative), enterprise.bce, gap.nrn)
    return Bakery(enterprise, representative, gap, requester)


@pytest.fixture
def notified():
    """The notifications registered, as the app and the command line do."""
    return notifications.register(BASE_URL)


def outbox() -> list[OutboxMessage]:
    return list(OutboxMessage.select().order_by(OutboxMessage.id))


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("fr", "Votre demande pour Boulangerie Dupont a expiré", "rôle de propriétaire"),
        ("nl", "Uw aanvraag voor Boulangerie Dupont is verlopen", "rol van eigenaar"),
        ("de", "Ihr Antrag für Boulangerie Dupont ist abgelaufen", "Rolle Eigentümer"),
        ("en", "Your request for Boulangerie Dupont has expired", "role of owner"),
    ],
)
def test_the_expiry_command_emails_each_requester_in_their_language(
    bakery, database_url, smtp_server, monkeypatch, tmp_path, capsys, language, subject, words
):
    collector, settings = smtp_server
    Person.update(language=language).where(Person.id == bakery.requester.id).execute()
    with events.muted():
        made = request_role(Caller.for_person(bakery.requester), bakery.enterprise.bce, "owner")
    RoleRequest.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        RoleRequest.id == made.id
    ).execute()
    for name, value in {
        "MONESPACE_MODE": "production",
        "MONESPACE_DATABASE_URL": database_url,
        "MONESPACE_SECRET_KEY": "k" * 40,
        "MONESPACE_BASE_URL": BASE_URL,
        "MONESPACE_SMTP_HOST": "127.0.0.1",
        "MONESPACE_SMTP_PORT": str(settings.smtp_port),
        "MONESPACE_SMTP_STARTTLS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MONESPACE_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    assert run_cli(capsys, "requests", "expire") == (0, "1 role request(s) expired\n", "")
    assert run_cli(capsys, "mail", "send") == (0, "sent 1, failed 0\n", "")
    (received,) = collector.messages
    assert received["To"] == "nora@example.test"
    assert received["Subject"] == subject
    assert received["Content-Language"] == language
    body = received.get_content()
    assert words in body and "Boulangerie Dupont (0123.456.749)" in body
    assert f"{BASE_URL}/entreprises/ajouter" in body


def test_a_withdrawn_request_emails_the_gap_who_would_have_decided(bakery, notified, smtp_server):
    collector, settings = smtp_server
    nora = Caller.for_person(bakery.requester)
    made = request_role(nora, bakery.enterprise.bce, "agent", "Je reprends la comptabilité")
    withdraw_request(nora, made.id)
    received, withdrawn = outbox()
    assert (received.kind, withdrawn.kind) == ("role_request_received", "request_withdrawn")
    assert withdrawn.recipient == "marc@example.test" and withdrawn.language == "nl"
    assert withdrawn.subject == "Aanvraag ingetrokken voor Boulangerie Dupont"
    assert "Nora Benali heeft de aanvraag voor de rol van medewerker" in withdrawn.body
    assert mail.deliver_due(settings) == (2, 0)
    assert [m["To"] for m in collector.messages] == ["marc@example.test"] * 2


def test_a_gap_replaced_by_designation_emails_the_former_and_the_new_gap(bakery, notified):
    newcomer = person("Paul", "Dubois", "700221", 407, "paul@example.test", "en")
    representative = Caller.for_person(bakery.representative)
    designate_gap(representative, bakery.enterprise.bce, newcomer.nrn)
    designated, replaced = outbox()
    assert (designated.recipient, designated.kind) == ("paul@example.test", "gap_designated")
    assert designated.subject == "You are the access manager of Boulangerie Dupont"
    assert "You were designated by Anne Delvaux." in designated.body
    assert (replaced.recipient, replaced.kind, replaced.language) == (
        "marc@example.test",
        "gap_replaced",
        "nl",
    )
    assert replaced.subject == "U bent niet langer toegangsbeheerder van Boulangerie Dupont"
    assert "Paul Dubois vervangt u" in replaced.body
    assert "Deze wijziging werd doorgevoerd door Anne Delvaux." in replaced.body


def test_a_gap_replaced_through_an_invitation_emails_the_former_gap_only(bakery, notified):
    newcomer = person("Paul", "Dubois", "700221", 407, "paul@example.test", "en")
    representative = Caller.for_person(bakery.representative)
    _invitation, token = invite_gap(representative, bakery.enterprise.bce, "paul@example.test")
    accept_invitation(Caller.for_person(newcomer), token)
    invited, replaced = outbox()
    assert (invited.kind, invited.recipient, invited.language) == (
        "gap_invitation",
        "paul@example.test",
        "fr",  # not bound to a known person: French
    )
    assert f"{BASE_URL}/invitation/{token}\n" in invited.body
    assert (replaced.kind, replaced.recipient) == ("gap_replaced", "marc@example.test")
    assert "Paul Dubois vervangt u" in replaced.body


def test_people_without_an_address_get_no_email(bakery, notified):
    Person.update(email=None).where(Person.id == bakery.gap.id).execute()
    request_role(Caller.for_person(bakery.requester), bakery.enterprise.bce, "agent")
    assert outbox() == []


def test_registering_again_replaces_the_notifications_never_doubles_them(bakery):
    notifications.register("https://old.example.test")
    notifications.register(BASE_URL)
    request_role(Caller.for_person(bakery.requester), bakery.enterprise.bce, "agent")
    (message,) = outbox()
    assert f"{BASE_URL}/entreprises" in message.body and "old.example" not in message.body
    notifications.unregister()
    request_role(Caller.for_person(bakery.representative), bakery.enterprise.bce, "agent")
    assert len(outbox()) == 1


def test_subscriptions_put_back_by_restore_are_replaced_too(bakery):
    # A wider fixture registered the notifications, a test registered them again, and the
    # test's end put the wider subscriptions back: registering once more still sends one email.
    notifications.register("https://old.example.test")
    saved = events.subscriptions()
    notifications.register("https://other.example.test")
    events.restore(saved)
    notifications.register(BASE_URL)
    request_role(Caller.for_person(bakery.requester), bakery.enterprise.bce, "agent")
    (message,) = outbox()
    assert f"{BASE_URL}/entreprises" in message.body
    assert "old.example" not in message.body and "other.example" not in message.body


@pytest.mark.parametrize(
    ("language", "greeting", "expired"),
    [
        ("fr", "Bonjour,", "elle a expiré"),
        ("nl", "Goedendag,", "ze is verlopen"),
        ("de", "Guten Tag,", "er ist abgelaufen"),
        ("en", "Hello,", "it has expired"),
    ],
)
def test_texts_come_from_the_catalogs_in_the_recipients_language(
    bakery, notified, language, greeting, expired
):
    Person.update(language=language).where(Person.id == bakery.requester.id).execute()
    with events.muted():
        made = request_role(Caller.for_person(bakery.requester), bakery.enterprise.bce, "reader")
    RoleRequest.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        RoleRequest.id == made.id
    ).execute()
    assert expire_requests() == 1
    (message,) = outbox()
    assert message.body.startswith(greeting + "\n\n") and expired in message.body
    assert message.body.rstrip().endswith(")")  # the signature's closing line


# -- mandates between enterprises --------------------------------------------------------------


@pytest.fixture
def firm(bakery) -> tuple[Enterprise, Person]:
    """An accounting firm whose GAP reads German."""
    firm = Enterprise.create(bce=make_bce(7654321), name="Fidu Comptable SRL")
    rep = person("Rita", "Claes", "700707", 131)
    gap = person("Gerd", "Schmitz", "710707", 133, "gerd@example.test", "de")
    LegalRepresentation.create(person=rep, enterprise=firm, capacity="gérant")
    with events.muted():
        designate_gap(Caller.for_person(rep), firm.bce, gap.nrn)
    return firm, gap


def test_each_step_of_a_mandate_emails_both_gaps_in_their_language(bakery, firm, notified):
    firm_enterprise, firm_gap = firm
    mandate = propose_mandate(
        Caller.for_person(bakery.representative),
        bakery.enterprise.bce,
        firm_enterprise.bce,
        ["fiscalite"],
        message="Pour la TVA",
    )
    accept_mandate(Caller.for_person(firm_gap), mandate.id)
    end_mandate(Caller.for_person(firm_gap), mandate.id, "Fin du contrat")
    sent = [(m.kind, m.recipient, m.language) for m in outbox()]
    assert sent == [
        (kind, address, language)
        for kind in ("mandate_proposed", "mandate_accepted", "mandate_ended")
        for address, language in (("marc@example.test", "nl"), ("gerd@example.test", "de"))
    ]
    proposed_nl, proposed_de = outbox()[:2]
    assert (
        proposed_nl.subject == "Mandaat voorgesteld door Boulangerie Dupont aan Fidu Comptable SRL"
    )
    assert "Anne Delvaux stelt" in proposed_nl.body and "Pour la TVA" in proposed_nl.body
    assert (
        proposed_de.subject == "Mandat von Boulangerie Dupont an Fidu Comptable SRL vorgeschlagen"
    )
    ended_de = outbox()[-1]
    assert "Gerd Schmitz hat das Mandat" in ended_de.body and "Fin du contrat" in ended_de.body


def test_a_refused_mandate_emails_both_gaps_and_a_failed_step_none(bakery, firm, notified):
    firm_enterprise, firm_gap = firm
    caller = Caller.for_person(bakery.gap)
    mandate = propose_mandate(caller, bakery.enterprise.bce, firm_enterprise.bce, ["social"])
    with pytest.raises(Forbidden):
        accept_mandate(caller, mandate.id)  # the client's GAP does not accept for the firm
    refuse_mandate(Caller.for_person(firm_gap), mandate.id, "Complet")
    kinds = [m.kind for m in outbox()]
    assert kinds == ["mandate_proposed"] * 2 + ["mandate_refused"] * 2
    assert outbox()[-1].subject == "Mandat von Fidu Comptable SRL abgelehnt"
    assert "Complet" in outbox()[-1].body
