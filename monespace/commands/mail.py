"""``monespace mail``: send the emails of the outbox once (``monespace worker`` does it on its
interval) and list them."""

from __future__ import annotations

import click

from admin_ui.mail import deliver_due
from admin_ui.models import OutboxMessage
from monespace.bootstrap import WORKER, command_database


@click.group()
def mail() -> None:
    """Emails: the outbox written by the actions, sent through SMTP."""


@mail.command("send")
@click.option("--limit", default=100, show_default=True, help="Messages sent at most this run.")
def send(limit: int) -> None:
    """Send the messages that are due, once; failures are retried by later runs."""
    with command_database(check="current", application_name=WORKER) as config:
        if not config.smtp_host:
            click.echo(
                "warning: MONESPACE_SMTP_HOST is not set; the messages stay in the outbox",
                err=True,
            )
        sent, failed = deliver_due(config, limit=limit)
    click.echo(f"sent {sent}, failed {failed}")


@mail.command("outbox")
@click.option("--limit", default=20, show_default=True, help="How many messages to show.")
def outbox(limit: int) -> None:
    """List the latest messages, newest first."""
    with command_database(check="current"):
        rows = [
            (
                str(m.id),
                m.created_at.strftime("%Y-%m-%d %H:%M"),
                m.status,
                str(m.attempts),
                m.kind,
                m.recipient,
                m.subject,
            )
            for m in OutboxMessage.select()
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        ]
    header = ("id", "created (UTC)", "status", "tries", "kind", "to", "subject")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
