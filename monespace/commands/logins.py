"""``monespace eid``: what the operator of the eID IdP (FAS) needs from this service."""

from __future__ import annotations

from pathlib import Path

import click

from idp_bridge import wiring
from idp_bridge.upstreams import eid as eid_login
from idp_bridge.upstreams.eid import EidConfigError, sp_metadata
from monespace.bootstrap import resolve_config


@click.group()
def eid() -> None:
    """The eID login (SAML service provider)."""


@eid.command("metadata")
@click.option("--sign", is_flag=True, help="Sign the metadata with the SP key.")
@click.option(
    "--valid-hours", type=click.IntRange(1, 24 * 365), default=None, help="Set validUntil."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def metadata(sign: bool, valid_hours: int | None, output: Path | None) -> None:
    """Print our SAML SP metadata (entity id, ACS, signing certificate), as served at
    /login/eid/metadata."""
    settings = resolve_config()
    if settings.simulators:
        from monespace import demo_logins

        config = demo_logins.eid_config_of(settings)
    elif eid_login.PLUGIN.name in settings.upstreams:
        upstream_settings = settings.upstreams[eid_login.PLUGIN.name]
        config = eid_login.config_for(upstream_settings, wiring.site_of(settings))
    else:
        raise click.ClickException(
            "the eID login is not configured: set MONESPACE_EID_IDP_METADATA "
            "(or use the demo's simulators)"
        )
    try:
        xml = sp_metadata(config, sign=sign, valid_for_hours=valid_hours)
    except EidConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(xml)
    else:
        output.write_text(xml, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
