"""``monespace db``: the database schema."""

from __future__ import annotations

import click

from monespace import bootstrap
from monespace.config import redact_url


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Create the schema, or bring it to this software's version (safe to run again)."""
    with bootstrap.command_database(check="none") as config:
        click.echo(f"database: {redact_url(config.database_url)}")
        bootstrap.upgrade_schemas(report=click.echo)
