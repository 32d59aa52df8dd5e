"""``monespace audit``: the tamper-evident audit log."""

from __future__ import annotations

import re
import time

import click

from authz import audit as audit_log
from monespace import bootstrap

# Seconds between two progress lines on stderr; a small log finishes before the first one.
PROGRESS_INTERVAL = 2.0
# SEQ:HASH as verify prints it, or a bare hash as earlier versions printed it.
HEAD_PATTERN = re.compile(r"(?:(\d{1,18}):)?([0-9a-f]{64})")


def _head(_ctx: click.Context, _param: click.Parameter, value: str | None) -> audit_log.Head | None:
    if value is None:
        return None
    match = HEAD_PATTERN.fullmatch(value.strip().lower())
    if not match:
        raise click.BadParameter(
            "a head is SEQ:HASH as `audit verify` prints it, the hash being "
            "64 hexadecimal characters (a SHA-256)"
        )
    seq, hash_ = match.groups()
    return audit_log.Head(int(seq) if seq is not None else None, hash_)


@click.group()
def audit() -> None:
    """Audit log."""


@audit.command()
@click.option(
    "--head",
    callback=_head,
    metavar="SEQ:HASH",
    help="A head printed by an earlier verify: also detects rows removed from the end.",
)
@click.pass_context
def verify(ctx: click.Context, head: audit_log.Head | None) -> None:
    """Recompute the hash chain and each row's HMAC with the audit keys, and report the first
    altered, missing, inserted or unkeyed row; with --head, whether the log still reaches it.

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
        appended = ""
        if head is not None:
            appended = f" ({result.appended} appended after the recorded head)"
        click.echo(f"audit log intact: {result.rows} rows{appended}, head {result.head_token}")
        return
    click.echo(f"audit log broken: {result.problem}")
    if result.chain_broken:
        click.echo(f"the {result.rows} rows before it are intact, up to head {result.head_token}")
    else:
        click.echo(f"its {result.rows} rows are intact in themselves, head {result.head_token}")
    ctx.exit(1)
