"""Tables of the admin UI: the outbox of emails.

An email is a row written in the same transaction as the action it tells about (a role
request, an invitation...), so the action and its email are committed together or not at all.
``admin_ui.mail.deliver_due`` sends the rows later and keeps them, sent or not, as a record.
"""

from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField, TextField

from authz.tables import BaseModel, utcnow


class AdminUiSchemaInfo(BaseModel):
    """One row: the version of the admin_ui tables (see ``admin_ui.schema``)."""

    version = IntegerField()
    # The oldest software version that still runs on this schema (rolling upgrades).
    compatible_from = IntegerField(null=True)


class OutboxMessage(BaseModel):
    """One email to send, being retried, sent, or given up on (``last_error`` says why).

    ``next_attempt_at`` is when it is due; None once sent or given up on.
    """

    recipient = CharField(max_length=320)
    language = CharField(max_length=8)
    kind = CharField(max_length=32)
    subject = CharField(max_length=300)
    body = TextField()
    created_at = DateTimeField(default=utcnow, index=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True, index=True, default=utcnow)
    sent_at = DateTimeField(null=True)
    last_error = TextField(null=True)

    @property
    def status(self) -> str:
        """``sent``, ``pending`` (not tried yet or to be retried) or ``failed`` (given up)."""
        if self.sent_at is not None:
            return "sent"
        return "failed" if self.next_attempt_at is None else "pending"


ALL_MODELS = (OutboxMessage,)
