"""``monespace requests``: housekeeping of role requests."""

from __future__ import annotations

import click

from authz.services import expire_requests
from monespace import bootstrap


@click.group()
def requests() -> None:
    """Role requests ("Ajouter une entreprise")."""


@requests.command()
def expire() -> None:
    """Mark requests left undecided for 30 days as expired and email each requester, once
    (``monespace worker`` does it hourly; ``monespace mail send`` delivers the emails)."""
    with bootstrap.command_database(application_name=bootstrap.WORKER):
        count = expire_requests()
    click.echo(f"{count} role request(s) expired")
