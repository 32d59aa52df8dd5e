"""``monespace serve``: run the service.

Demo mode runs the app in Flask's development server, in this process (one command to try it).
Production mode checks the configuration and the schema, then replaces this process with
granian (``--workers`` processes) under the settings of :mod:`monespace.server_config`; the
Docker image, compose and Kubernetes run this command.
"""

from __future__ import annotations

import os
import shlex
import sys

import click

from monespace import bootstrap, config, logs, metrics, server_config
from monespace.app import create_app
from monespace.config import redact_url


def _browsable_host(host: str) -> str:
    # A wildcard bind address is not something a browser can open.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=server_config.WORKERS,
    show_default=True,
    type=click.IntRange(min=1),
    help="granian worker processes (production mode only).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the service: the demo in one process, or production under granian."""
    settings = config.load()
    if settings.is_demo:
        # Unless a base URL is configured, the demo's follows the address it is served on.
        base_url = f"http://{_browsable_host(host)}:{port}"
        _serve_demo(config.load(defaults={"base_url": base_url}), host, port)
    else:
        _serve_production(settings, host, port, workers)


def _serve_demo(settings: config.Config, host: str, port: int) -> None:
    logs.configure(settings.log_format)
    app = create_app(settings)
    if settings.database_url.startswith("sqlite:///"):
        database = f"SQLite file {settings.database_url[len('sqlite:///') :]}"
    else:
        database = redact_url(settings.database_url)
    local = f"http://{_browsable_host(host)}:{port}"
    click.echo(f"Mon Espace demo (demo data, login simulators on), database: {database}")
    click.echo(f"  home:   {local}/")
    click.echo(f"  login:  {local}/login (eID and itsme simulators)")
    click.echo(f"  health: {local}/healthz")
    if settings.base_url != local:
        click.echo(f"  public base URL: {settings.base_url}")
    click.echo(
        "Not for production: set MONESPACE_MODE=production (see docs/operators.md). Ctrl+C stops."
    )
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


def observed(settings: config.Config) -> None:
    """The metrics' and logs' part of the production server: the metrics' multiprocess
    directory, emptied of an earlier run's files, and the log format, named for granian's
    workers (their app factory, ``monespace.app.create_served_app``, reads both)."""
    metrics_dir = metrics.prepare_multiprocess_dir()
    os.environ["MONESPACE_LOG_FORMAT"] = settings.log_format
    click.echo(f"  metrics of the workers in {metrics_dir} ({metrics.MULTIPROC_VARIABLE})")


def _serve_production(settings: config.Config, host: str, port: int, workers: int) -> None:
    # Fail here, with one line, rather than in every granian worker: the schema, and the
    # upstream logins (IdP metadata, keys) built as a worker would build them.
    config.check_workers(settings, workers)
    with bootstrap.command_database(settings, check="current"):
        pass
    create_app(settings)
    argv = server_config.granian_argv(host, port, workers, settings.log_format)
    observed(settings)
    click.echo(f"Mon Espace (production) at {settings.base_url}, under granian:")
    click.echo(f"  {shlex.join(argv)}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (fixed argv, no shell)
