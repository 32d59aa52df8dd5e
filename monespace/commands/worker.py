"""``monespace worker``: run the periodic jobs (email, expiry, purges) in one process, and
report on them (``monespace worker status``, a container probe)."""

from __future__ import annotations

import logging
import signal
import sys
from contextlib import ExitStack
from datetime import UTC, datetime

import click

from authz import db
from monespace import logs, metrics
from monespace import worker as worker_module
from monespace.bootstrap import WORKER, command_database, resolve_config


@click.group(invoke_without_command=True)
@click.option("--once", is_flag=True, help="Run every job once, then exit (for cron, tests).")
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Run every periodic job on its interval until SIGTERM or SIGINT (the job in hand is
    finished first). Exits 1 with --once when a job failed."""
    if ctx.invoked_subcommand is not None:
        return
    _log_to_stderr()
    with ExitStack() as stack:
        config = stack.enter_context(command_database(application_name=WORKER))
        if not db.is_postgresql():
            # Refused before any job runs: one worker per SQLite database.
            try:
                stack.enter_context(worker_module.sqlite_lock(db.database.obj.database))
            except worker_module.AnotherWorker as exc:
                click.echo(f"error: {exc}", err=True)
                ctx.exit(1)
        if config.log_format == "json":
            for handler in worker_module.logger.handlers:
                handler.setFormatter(logs.JsonFormatter())
        if config.worker_metrics_port:
            server = metrics.serve_in_thread(
                config.worker_metrics_host, config.worker_metrics_port, config.metrics_token or ""
            )
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
        runner = worker_module.Worker(config)
        log = worker_module.logger
        if once:
            ok = runner.run_once()
            ctx.exit(0 if ok else 1)
        stopped_by: list[str] = []

        def stop(signum: int, _frame: object) -> None:
            stopped_by.append(signal.Signals(signum).name)
            runner.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info(
            "started: %s",
            ", ".join(f"{job.name} every {job.interval(config)} s" for job in runner.jobs),
        )
        runner.run_forever()
        log.info("stopped (%s)", stopped_by[0] if stopped_by else "asked")


@worker.command()
def status() -> None:
    """Print each job's last success; exit 1 when one is overdue (not run for twice its
    interval plus a minute) or the worker has recorded nothing yet."""
    config = resolve_config()
    path = config.worker_heartbeat_file
    try:
        statuses = worker_module.read_status(path, worker_module.JOBS, config)
    except FileNotFoundError:
        click.echo(f"error: no heartbeat at {path}: the worker has not run a job yet", err=True)
        sys.exit(1)
    except ValueError as exc:
        click.echo(f"error: the heartbeat file {path} cannot be read: {exc}", err=True)
        sys.exit(1)
    now = datetime.now(UTC)
    rows = [("job", "every", "last success (UTC)", "state", "result")]
    for item in statuses:
        last = item.last_success
        rows.append(
            (
                item.name,
                f"{item.interval} s",
                f"{last:%Y-%m-%d %H:%M:%S} ({int((now - last).total_seconds())} s ago)"
                if last
                else "never",
                "OVERDUE" if item.overdue else "ok",
                item.result or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if any(item.overdue for item in statuses):
        sys.exit(1)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s worker: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    logger = worker_module.logger
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
