"""Email through SMTP, by way of an outbox table (the transactional outbox pattern).

:func:`enqueue` only inserts a row, inside the caller's transaction: the action (a role
request, an invitation...) and its email are committed together or not at all, and an SMTP
server that is down never undoes an action. :func:`deliver_due` (``monespace worker``, or
``monespace mail send`` once) sends the rows that are due and retries failures with
exponential backoff.

Each row is claimed by an atomic UPDATE before it is sent, so two senders running at once never
send it twice. A sender that dies between the SMTP server's acceptance and marking the row sent
leaves it to be sent again once its claim expires: delivery is at least once, never silently
lost.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, Protocol

from admin_ui import mail_texts, metrics
from admin_ui.models import OutboxMessage
from authz import db
from authz.errors import InvalidInput
from authz.identifiers import parse_email
from authz.languages import DEFAULT, LANGUAGES
from authz.tables import utcnow

if TYPE_CHECKING:
    pass

KINDS = tuple(mail_texts.KINDS)
SMTP_TIMEOUT = 10  # seconds, for connecting and for each SMTP command
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
# A claimed row is left alone this long; past it, its sender is taken for dead and another
# may try. Far longer than sending one message can take.
CLAIM = timedelta(minutes=10)
# Values written on one line (the others, free text, may span lines).
MULTILINE_VALUES = ("message", "reason")


class MailSettings(Protocol):
    """What :func:`deliver_due` reads (a :class:`monespace.config.Config` has it all)."""

    smtp_host: str | None
    smtp_port: int
    smtp_starttls: bool
    smtp_username: str | None
    smtp_password: str | None
    mail_from: str


def enqueue(kind: str, recipient: str, language: str | None = None, **values: Any) -> OutboxMessage:
    """Write an email to ``recipient`` in the outbox, in their language (French if unknown).

    Must be called inside the transaction of the action it tells about (``db.transaction()``):
    the notifications (``admin_ui.notifications``) call it from the services' events.
    ``values`` are those the kind needs (``admin_ui.mail_texts.KINDS``); ``role`` is a role
    code (agent, reader, owner, access_manager), written out in the recipient's language.
    """
    if not db.database.in_transaction():
        raise RuntimeError(
            "admin_ui.mail.enqueue must run inside the transaction of the action it reports"
        )
    if kind not in mail_texts.KINDS:
        raise InvalidInput(f"unknown email kind {kind!r}; known kinds: {', '.join(KINDS)}")
    try:
        recipient = parse_email(recipient)  # one plain address, the rule of every form
    except InvalidInput:
        raise InvalidInput(f"not an email address: {recipient!r}") from None
    required, optional = mail_texts.KINDS[kind]
    missing = [name for name in required if values.get(name) in (None, "")]
    unknown = sorted(set(values) - set(required) - set(optional))
    if missing or unknown:
        raise InvalidInput(
            f"email {kind}: missing values {missing}, unknown values {unknown}; "
            f"it takes {', '.join(required)} and optionally {', '.join(optional) or 'nothing'}"
        )
    language = language if language in LANGUAGES else DEFAULT
    texts = {
        name: str(value) if name in MULTILINE_VALUES else " ".join(str(value).split())
        for name, value in values.items()
        if value is not None
    }
    subject, body = mail_texts.render(kind, language, texts)
    return OutboxMessage.create(
        recipient=recipient, language=language, kind=kind, subject=subject[:300], body=body
    )


def retry_delay(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 1 min, 2, 4... at most an hour."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


def deliver_due(
    settings: MailSettings, *, now: datetime | None = None, limit: int = 100
) -> tuple[int, int]:
    """Send up to ``limit`` due messages; return (sent, failed).

    Without ``smtp_host`` nothing is sent: the messages stay in the outbox (the demo shows
    them at ``/demo/outbox``).
    """
    if not settings.smtp_host:
        return 0, 0
    now = now or utcnow()
    due = (
        OutboxMessage.select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_null(),
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.attempts < MAX_ATTEMPTS,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    sent = failed = 0
    with _Sender(settings) as sender:
        for message_id in [row.id for row in due]:
            message = _claim(message_id, now)
            if message is None:  # another sender took it
                continue
            try:
                sender.send(message)
            except Exception as exc:  # any failure of one message must not stop the run
                _failed(message, now, exc)
                metrics.OUTBOX_FAILURES.inc()
                failed += 1
            else:
                with db.transaction():
                    OutboxMessage.update(
                        sent_at=utcnow(), next_attempt_at=None, last_error=None
                    ).where(OutboxMessage.id == message.id).execute()
                metrics.OUTBOX_SENT.inc()
                sent += 1
    return sent, failed


def outbox_depth() -> tuple[int, int]:
    """(pending, abandoned): messages not sent yet that will be tried (again), and those whose
    every attempt failed; also set as the outbox gauges."""
    unsent = OutboxMessage.select().where(OutboxMessage.sent_at.is_null())
    pending = unsent.where(OutboxMessage.attempts < MAX_ATTEMPTS).count()
    abandoned = unsent.where(OutboxMessage.attempts >= MAX_ATTEMPTS).count()
    metrics.OUTBOX_PENDING.set(pending)
    metrics.OUTBOX_ABANDONED.set(abandoned)
    return pending, abandoned


def _claim(message_id: int, now: datetime) -> OutboxMessage | None:
    """Take the message for this sender, or None if another one has it or it was sent.

    The UPDATE's condition is checked again against the committed row (PostgreSQL re-reads it
    after waiting for a concurrent UPDATE; SQLite runs one writer at a time), so one sender wins.
    """
    with db.transaction():
        claimed = (
            OutboxMessage.update(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + CLAIM)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.sent_at.is_null(),
                OutboxMessage.next_attempt_at <= now,
            )
            .execute()
        )
        if claimed != 1:
            return None
        return OutboxMessage.get_by_id(message_id)


def _failed(message: OutboxMessage, now: datetime, exc: BaseException) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    retry = None if message.attempts >= MAX_ATTEMPTS else now + retry_delay(message.attempts)
    with db.transaction():
        OutboxMessage.update(next_attempt_at=retry, last_error=error).where(
            OutboxMessage.id == message.id
        ).execute()


class _Sender:
    """One SMTP connection for a run, opened on the first message, reopened after an error."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._close()

    def send(self, message: OutboxMessage) -> None:
        email = EmailMessage()
        email["From"] = self.settings.mail_from
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email["Date"] = format_datetime(datetime.now().astimezone())
        email["Message-ID"] = make_msgid(
            domain=parseaddr(self.settings.mail_from)[1].rpartition("@")[2] or None
        )
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body)
        email["Content-Language"] = message.language  # after set_content, which drops Content-*
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            self.smtp.send_message(email)
        except BaseException:
            self._close()
            raise

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
        try:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None
