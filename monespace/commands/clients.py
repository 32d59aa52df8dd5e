"""``monespace clients``: register, list and disable relying parties and API callers, and
rotate their secrets."""

from __future__ import annotations

from pathlib import Path

import click

from authz import catalogue
from authz import clients as service
from authz.errors import InvalidInput
from monespace.bootstrap import command_database

ACTOR = "operator:cli"


@click.group()
def clients() -> None:
    """Relying parties (OpenID Connect) and callers of the decision API."""


@clients.command("add")
@click.option("--name", default="", help="Display name, shown to users at consent.")
@click.option("--service-domain", default="", help="Service domain, e.g. fiscalite.")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable)."
)
@click.option(
    "--auth-method",
    default="client_secret_basic",
    show_default=True,
    help=f"One of {', '.join(service.AUTH_METHODS)} (none: a public client, PKCE required).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help=f"Allowed scope (repeatable; default: {' '.join(service.DEFAULT_SCOPES)}).",
)
@click.option("--nrn/--no-nrn", default=False, help="May receive the national register number.")
@click.option("--public-subject", is_flag=True, help="Same subject for every client (no pairwise).")
@click.option("--sector-identifier", default=None, help="Sector of pairwise subjects.")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File with the client's public JWKS (private_key_jwt).",
)
@click.option(
    "--jwks-uri",
    default=None,
    help="HTTPS URL where the client publishes its public JWKS (private_key_jwt, not with --jwks).",
)
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    help="Exact URI to return to after logout (repeatable).",
)
@click.option(
    "--backchannel-logout-uri", default=None, help="URI that receives back-channel logout tokens."
)
@click.option("--client-id", default=None, help="client_id to use instead of a random one.")
def add(
    name: str,
    service_domain: str,
    redirect_uris: tuple[str, ...],
    auth_method: str,
    scopes: tuple[str, ...],
    nrn: bool,
    public_subject: bool,
    sector_identifier: str | None,
    jwks_file: Path | None,
    jwks_uri: str | None,
    post_logout_redirect_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    client_id: str | None,
) -> None:
    """Register a client and print its client_id (and its secret, once)."""
    jwks = None
    if jwks_file is not None:
        try:
            jwks = jwks_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read the JWKS file {jwks_file}: {exc}") from None
    with command_database() as config:
        client, secret = service.add_client(
            service.ClientMetadata(
                name,
                service_domain,
                redirect_uris=redirect_uris,
                auth_method=auth_method,
                scopes=scopes or service.DEFAULT_SCOPES,
                may_receive_nrn=nrn,
                subject_type="public" if public_subject else "pairwise",
                sector_identifier=sector_identifier,
                jwks=jwks,
                client_id=client_id,
                allow_http=config.is_demo,
                jwks_uri=jwks_uri,
                post_logout_redirect_uris=post_logout_redirect_uris,
                backchannel_logout_uri=backchannel_logout_uri,
            ),
            actor=ACTOR,
        )
    click.echo(f"client_id: {client.client_id}")
    if secret is not None:
        click.echo(f"client_secret: {secret}")
        click.echo(
            "warning: this is the only time the secret is shown; only its hash is stored, "
            "so it cannot be recovered. Keep it in the client's secret store now.",
            err=True,
        )
    elif client.auth_method == "none":
        click.echo(
            "note: a public client has no secret; it must use PKCE (S256) on every login.",
            err=True,
        )


@clients.command("rotate-secret")
@click.argument("client_id")
def rotate_secret(client_id: str) -> None:
    """Give a client_secret_basic client a new secret and print it, once.

    The old secret stops working at once: install the new one in the client right away.
    """
    with command_database():
        secret = service.rotate_secret(client_id, actor=ACTOR)
    click.echo(f"client_id: {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo(
        "warning: the old secret stopped working now; put this one in the client's secret "
        "store at once. It is shown only this time: only its hash is stored, so it cannot be "
        "recovered.",
        err=True,
    )


@clients.command("list")
def list_() -> None:
    """List the registered clients."""
    with command_database(check="current"):
        rows = [
            (c.client_id, c.name, c.service_domain, c.auth_method, "yes" if c.is_enabled else "no")
            for c in service.list_clients()
        ]
    header = ("client_id", "name", "domain", "auth method", "enabled")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


@clients.command("disable")
@click.argument("client_id")
def disable(client_id: str) -> None:
    """Disable a client: its secret stops working; the row stays for the audit trail."""
    with command_database():
        client = service.disable_client(client_id, actor=ACTOR)
    click.echo(f"disabled {client.client_id}")


@clients.command("catalogue")
@click.argument("client_id")
@click.option("--name-fr", required=True, help="Display name in French (required).")
@click.option("--name-nl", default=None, help="Display name in Dutch (default: the French).")
@click.option("--name-de", default=None, help="Display name in German (default: the French).")
@click.option("--name-en", default=None, help="Display name in English (default: the French).")
@click.option("--description-fr", required=True, help="Description in French (required).")
@click.option("--description-nl", default=None, help="Description in Dutch.")
@click.option("--description-de", default=None, help="Description in German.")
@click.option("--description-en", default=None, help="Description in English.")
@click.option("--start-url", required=True, help="HTTPS URL where a person starts the service.")
@click.option(
    "--espaces",
    required=True,
    help=f"Espaces the service serves, comma-separated: {', '.join(catalogue.ESPACES)}.",
)
def catalogue_(client_id: str, start_url: str, espaces: str, **texts: str | None) -> None:
    """Set how a service appears in the portal's catalogue (replacing its entry)."""
    names = {key[len("name_") :]: v for key, v in texts.items() if key.startswith("name_")}
    descriptions = {
        key[len("description_") :]: v for key, v in texts.items() if key.startswith("description_")
    }
    with command_database() as config:
        try:
            entry = catalogue.CatalogueEntry(
                names, descriptions, start_url, espaces, allow_http=config.is_demo
            )
        except InvalidInput as exc:
            raise click.UsageError(f"invalid catalogue entry: {exc}") from None
        client = service.set_catalogue(client_id, entry, actor=ACTOR)
    click.echo(
        f"catalogue entry of {client.client_id}: {entry.name('fr')} ({', '.join(entry.espaces)})"
    )
