"""admin_ui/mail.py: the outbox written in the action's transaction, sent through SMTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from admin_ui import mail
from admin_ui.models import OutboxMessage
from authz import db
from authz.errors import InvalidInput
from authz.models import utcnow
from tests.smtp_server import (
    MailSettings,
)

REQUEST = {
    "requester": "Alice Dupont",
    "enterprise": "Boulangerie Dupont",
    "bce": "0123.456.749",
    "role": "reader",
    "link": "https://id.example.test/entreprises/demandes/7",
}


def enqueue(kind="role_request_received", recipient="gap@example.test", language="fr", **values):
    if kind == "role_request_received":
        values = {**REQUEST, **values}
    with db.transaction():
        return mail.enqueue(kind, recipient, language, **values)


def test_enqueue_outside_a_transaction_is_refused(database):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        mail.enqueue("role_request_received", "gap@example.test", "fr", **REQUEST)


def test_a_rolled_back_action_leaves_no_email(database):
    class ActionFailed(Exception):
        pass

    with pytest.raises(ActionFailed), db.transaction():
        mail.enqueue("role_request_received", "gap@example.test", "fr", **REQUEST)
        raise ActionFailed
    assert OutboxMessage.select().count() == 0


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("fr", "Demande de rôle pour Boulangerie Dupont", "demande le rôle de lecteur"),
        ("nl", "Rolaanvraag voor Boulangerie Dupont", "vraagt de rol van lezer"),
        ("de", "Rollenantrag für Boulangerie Dupont", "beantragt die Rolle Leser"),
        ("en", "Role request for Boulangerie Dupont", "asks for the role of reader"),
        (None, "Demande de rôle pour Boulangerie Dupont", "demande le rôle de lecteur"),
        ("es", "Demande de rôle pour Boulangerie Dupont", "demande le rôle de lecteur"),
    ],
)
def test_texts_in_the_recipients_language_french_by_default(database, language, subject, words):
    message = enqueue(language=language, message="Je reprends la comptabilité")
    assert message.language == (language if language in ("fr", "nl", "de", "en") else "fr")
    assert message.subject == subject
    assert words in message.body and REQUEST["link"] in message.body
    assert "Je reprends la comptabilité" in message.body


@pytest.mark.parametrize("kind", mail.KINDS)
@pytest.mark.parametrize("language", ["fr", "nl", "de", "en"])
def test_every_kind_renders_in_every_language(database, kind, language):
    required, optional = mail.mail_texts.KINDS[kind]
    values = {name: f"<{name}>" for name in (*required, *optional)}
    message = enqueue(kind, language=language, **values)
    for name in (*required, *optional):
        if name != "role":
            assert f"<{name}>" in message.subject + message.body


GAP_INVITATION = {
    "inviter": "Claire Lambert",
    "enterprise": "Boulangerie Dupont",
    "bce": "0123.456.749",
    "link": "https://id.example.test/invitation/abc",
    "expires": "14 février 2026",
}


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("fr", "Invitation à devenir gestionnaire d'accès de", "gestionnaire d'accès principal"),
        ("nl", "Uitnodiging om toegangsbeheerder van", "hoofdtoegangsbeheerder (HTB)"),
        ("de", "Einladung, Zugangsverwalter von", "Hauptzugangsverwalter (HZV)"),
        ("en", "Invitation to become the access manager of", "principal access manager (GAP)"),
    ],
)
def test_the_gap_invitation_offers_the_post_with_its_single_use_link(
    database, language, subject, words
):
    message = enqueue("gap_invitation", language=language, **GAP_INVITATION)
    assert message.subject.startswith(f"{subject} Boulangerie Dupont")
    assert words in message.body
    assert "Claire Lambert" in message.body and "(0123.456.749)" in message.body
    assert "\nhttps://id.example.test/invitation/abc\n" in message.body
    assert "14 février 2026" in message.body
    with pytest.raises(InvalidInput, match="missing values \\['link'\\]"):
        enqueue("gap_invitation", **{**GAP_INVITATION, "link": ""})


def test_missing_values_bad_kinds_and_addresses_are_refused(database):
    with pytest.raises(InvalidInput, match="unknown values \\['requester'\\]"):
        enqueue("request_accepted", **REQUEST)
    with pytest.raises(InvalidInput, match="missing values \\['bce', 'role'\\]"):
        enqueue("request_refused", enterprise="Boulangerie Dupont")
    with pytest.raises(InvalidInput, match="unknown email kind"):
        enqueue("hello")
    with pytest.raises(InvalidInput, match="not an email address"):
        enqueue(recipient="gap@example.test\r\nBcc: x@evil.test")


def test_one_line_values_cannot_break_the_subject(database):
    message = enqueue(**{**REQUEST, "enterprise": "Evil\r\nBcc: x@evil.test"})
    assert "\n" not in message.subject and "\r" not in message.subject


def test_delivery_with_the_right_headers_and_body(database, smtp_server):
    collector, settings = smtp_server
    enqueue(language="nl")
    assert mail.deliver_due(settings) == (1, 0)
    (received,) = collector.messages
    assert received["From"] == "Mon Espace <no-reply@monespace.test>"
    assert received["To"] == "gap@example.test"
    assert received["Subject"] == "Rolaanvraag voor Boulangerie Dupont"
    assert received["Content-Language"] == "nl"
    assert "vraagt de rol van lezer" in received.get_content()
    assert collector.envelopes == [("no-reply@monespace.test", ["gap@example.test"])]
    (row,) = OutboxMessage.select()
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    assert mail.deliver_due(settings) == (0, 0)  # never again
    assert len(collector.messages) == 1


def test_without_smtp_host_messages_stay_in_the_outbox(database):
    enqueue()
    assert mail.deliver_due(MailSettings(smtp_host=None)) == (0, 0)
    assert OutboxMessage.get().status == "pending"


def test_a_failure_keeps_the_row_and_retries_later(database, closed_port_settings, smtp_server):
    enqueue()
    now = utcnow()
    assert mail.deliver_due(closed_port_settings, now=now) == (0, 1)
    row = OutboxMessage.get()
    assert row.attempts == 1 and row.sent_at is None and row.last_error
    assert row.next_attempt_at == now + timedelta(minutes=1)
    # Not due yet.
    collector, settings = smtp_server
    assert mail.deliver_due(settings, now=now + timedelta(seconds=30)) == (0, 0)
    assert mail.deliver_due(settings, now=now + timedelta(minutes=1)) == (1, 0)
    row = OutboxMessage.get()
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None
    assert len(collector.messages) == 1


def test_backoff_doubles_up_to_an_hour_and_gives_up_after_ten_attempts(
    database, closed_port_settings
):
    assert [mail.retry_delay(n).total_seconds() / 60 for n in range(1, 9)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
    ]
    enqueue()
    now = utcnow()
    for attempt in range(1, mail.MAX_ATTEMPTS + 1):
        assert mail.deliver_due(closed_port_settings, now=now) == (0, 1)
        row = OutboxMessage.get()
        assert row.attempts == attempt
        if attempt < mail.MAX_ATTEMPTS:
            assert row.next_attempt_at == now + mail.retry_delay(attempt)
            now = row.next_attempt_at
    assert row.status == "failed" and row.next_attempt_at is None and row.last_error
    assert mail.deliver_due(closed_port_settings, now=now + timedelta(days=1)) == (0, 0)


def test_two_senders_at_once_send_each_message_once(database, smtp_server):
    collector, settings = smtp_server
    for number in range(20):
        enqueue(recipient=f"gap{number}@example.test")
    results, start = [], threading.Barrier(2)

    def run() -> None:
        db.database.connect(reuse_if_open=True)
        try:
            start.wait()
            results.append(mail.deliver_due(settings))
        finally:
            db.database.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent for sent, _failed in results) == 20
    recipients = [message["To"] for message in collector.messages]
    assert sorted(recipients) == sorted(f"gap{n}@example.test" for n in range(20))
    assert OutboxMessage.select().where(OutboxMessage.sent_at.is_null()).count() == 0
