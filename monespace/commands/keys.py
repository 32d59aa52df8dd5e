"""``monespace keys``: list the OpenID provider's signing keys, rotate them, and encrypt them
again under a new secret key."""

from __future__ import annotations

from datetime import datetime

import click

from idp_bridge.oidc.keys import KeyStore, RotationTooSoon
from monespace.bootstrap import command_database
from monespace.config import Config

ACTOR = "operator:cli"


@click.group()
def keys() -> None:
    """Signing keys of ID tokens: next (published), current (signing), previous, retired."""


def _store(config: Config) -> KeyStore:
    return KeyStore(config.secret_key, previous_secret_keys=config.previous_secret_keys)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"


@keys.command("list")
def list_() -> None:
    """List the signing keys, newest first (times in UTC)."""
    with command_database(check="current") as config:
        rows = _store(config).keys()
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
            result = _store(config).rotate(ACTOR, force=force)
        except RotationTooSoon as exc:
            raise RotationTooSoon(f"{exc} (monespace keys rotate --force)") from None
    click.echo(f"current: {result['current']}")
    click.echo(f"next: {result['next']}")


@keys.command("reencrypt")
def reencrypt() -> None:
    """Encrypt the signing keys again under the secret key, after it changed: the keys that
    only a previous secret key (previous_secret_keys) still decrypts. The keys and their kids
    stay the same. Run it once every node and the worker have the new secret key."""
    with command_database(check="current") as config:
        changed = _store(config).reencrypt(ACTOR)
    if not changed:
        click.echo("every signing key is encrypted under the secret key; nothing to do")
        return
    for kid in changed:
        click.echo(f"re-encrypted: {kid}")
    click.echo(
        "the signing keys no longer need the previous secret keys; keep them in "
        "previous_secret_keys until the login sessions opened before the change have ended "
        "(session_absolute_timeout), then remove them"
    )
