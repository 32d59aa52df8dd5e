"""``monespace audit``: the tamper-evident audit log."""

from __future__ import annotations

import re
import time

import click

from authz import audit as audit_log
from monespace import bootstrap

# Seconds between two progress lines on stderr; a small log finishes before the first one.
PROGRESS_INTERVAL = 2.0
HEAD_PATTERN = re.compile(r"[0-9a-f]{64}")


def _head(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not HEAD_PATTERN.fullmatch(value):
        raise click.BadParameter("a head is 64 hexadecimal characters (a SHA-256)")
    return value


@click.group()
def audit() -> None:
    """Audit log."""


@audit.command()
@click.option(
    "--head",
    callback=_head,
    metavar="HASH",
    help="A head printed by an earlier verify: also detects rows removed from the end.",
)
@click.pass_context
def verify(ctx: click.Context, head: str | None) -> None:
    """Recompute the hash chain and report the first altered, missing or inserted row.

    Exit status 0 when the log is intact, 1 when it is not.
    """
    last_report = time.monotonic()

    def progress(rows: int) -> None:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report >= PROGRESS_INTERVAL:
            click.echo(f"verified {rows} rows...", err=True)
            last_report = now

    with bootstrap.command_database(check="current"):
        result = audit_log.verify(expected_head=head, progress=progress)
    if result.ok:
        click.echo(f"audit log intact: {result.rows} rows, head {result.head}")
        return
    click.echo(f"audit log broken: {result.problem}")
    click.echo(f"the {result.rows} rows before it are intact, up to head {result.head}")
    ctx.exit(1)
