"""``monespace keys``: list the OpenID provider's signing keys and rotate them."""

from __future__ import annotations

from datetime import datetime

import click

from idp_bridge.oidc.keys import KeyStore, RotationTooSoon
from monespace.bootstrap import command_database

ACTOR = "operator:cli"


@click.group()
def keys() -> None:
    """Signing keys of ID tokens: next (published), current (signing), previous, retired."""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"


@keys.command("list")
def list_() -> None:
    """List the signing keys, newest first (times in UTC)."""
    with command_database(check="current") as config:
        rows = KeyStore(config.secret_key).keys()
    if not rows:
        click.echo(
            "no signing keys yet: the provider creates them when it starts, "
            "or run `monespace keys rotate`"
        )
        return
    header = ("kid", "state", "created", "activated", "retired")
    cells = [
        (k.kid, k.state, _when(k.created_at), _when(k.activated_at), _when(k.retired_at))
        for k in rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    for row in [header, *cells]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@keys.command("rotate")
@click.option(
    "--force",
    is_flag=True,
    help="Rotate even if the current key is younger than the longest token lifetime "
    "(tokens signed by the key retired now stop verifying).",
)
def rotate(force: bool) -> None:
    """Next key becomes current, current becomes previous, previous is retired, and a new next
    key is published. Creates the first keys if there are none."""
    with command_database() as config:
        try:
            result = KeyStore(config.secret_key).rotate(ACTOR, force=force)
        except RotationTooSoon as exc:
            raise RotationTooSoon(f"{exc} (monespace keys rotate --force)") from None
    click.echo(f"current: {result['current']}")
    click.echo(f"next: {result['next']}")
