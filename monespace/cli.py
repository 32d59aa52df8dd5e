"""The ``monespace`` command line.

Each sub-command lives in ``monespace/commands/``. Errors the domain raises on purpose, and
configuration or database errors, are printed as one line on stderr with exit status 1; a
traceback means a bug.
"""

from __future__ import annotations

import importlib
import sys

import click
import peewee

from authz.errors import AuthzError
from monespace.config import ConfigError

# (module in monespace.commands, attribute): each attribute is a click command or group.
COMMANDS = (
    ("serve", "serve"),
    ("db", "db"),
    ("bce", "import_bce"),
    ("clients", "clients"),
    ("policy", "policy"),
    ("audit", "audit"),
    ("requests", "requests"),
    ("logins", "eid"),
    ("keys", "keys"),
    ("mail", "mail"),
    ("worker", "worker"),
)


@click.group()
@click.version_option(package_name="monespace")
def cli() -> None:
    """Mon Espace: identity and delegation authorization service."""


for module_name, attribute in COMMANDS:
    module = importlib.import_module(f"monespace.commands.{module_name}")
    cli.add_command(getattr(module, attribute))


def main(argv: list[str] | None = None) -> None:
    try:
        # Outside standalone mode click returns the code given to ctx.exit() instead of
        # exiting with it.
        code = cli.main(args=argv, prog_name="monespace", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (AuthzError, ConfigError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except peewee.DatabaseError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        click.echo(f"error: database: {first_line}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
