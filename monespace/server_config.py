"""How granian serves Mon Espace in production: the one place of these settings.

``monespace serve`` (the Docker image's command, compose's and Kubernetes') and
``loadtests.bench`` start granian with :func:`granian_argv`: its WSGI interface, the app factory
``monespace.app:create_served_app`` called once in each worker process.

**Why granian.** Chosen by measurement on the hot path (docs/performance.md, "Server models"):
on a 2-core machine, the same load against gunicorn's gevent workers and granian, cached
decisions went from about 7,400 to 16,000 requests per second and their p99 from 22 ms to 4 ms
(the target is 10 ms); the OIDC discovery and JWKS documents two to three times faster. granian
reads and writes the connections in Rust (tokio, hyper) and calls the WSGI app from a small
pool of Python threads per worker: Python runs only the app.

**Slow and idle clients** cost a Rust task, not a Python thread: a request reaches Python only
once its head is read. HTTP/1 only (``--http 1``): in granian's "auto" mode a connection that
sends nothing waits for the bytes that tell HTTP/1 from HTTP/2 without the header read timeout
(still open after 18 s when measured); in HTTP/1 mode hyper's header read timeout closes it, as
it closes a client that sends its head too slowly and an idle kept-alive connection. Measured
in ``tests/monespace/commands/test_serve.py``.

**Backpressure** (``--backpressure``) is granian's bound on the *connections* one worker serves
at once (a permit per accepted connection, held until it closes), not on requests in flight:
set to a few, a few idle connections silence the worker. The requests in Python are bounded by
the threads (``--blocking-threads``); those beyond wait in Rust's queue, not in Python threads.

**The database** is waited for in a thread: :mod:`authz.pgbounds` makes libpq non-blocking and
waits on the socket through ``select.poll``, without the GIL, and gives up at the statement
timeout plus a margin (a frozen database), so a thread waiting on PostgreSQL holds neither the
other threads nor, for longer than that bound, its own.

Nothing here imports the app: granian's master reads :data:`LOG_CONFIG` only.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# The app factory, called once in each worker (granian's --factory): a refusal at start-up
# (the configuration, the schema, the signing keys) is one ``error:`` line, not a traceback.
APP = "monespace.app:create_served_app"

# Two processes per node: one per core of a small machine; more nodes for more.
WORKERS = 2
# Python threads per worker calling the app. More threads do not make a core faster: 4 and 8
# answered as many cached decisions a second, but their p99 was 3.6 and 7.1 ms with 4, 14.3 and
# 11.1 ms with 8 (two runs each, docs/performance.md "Server models"); past 4 the requests wait
# in Rust's queue, not for the GIL.
THREADS = 4
# Connections one worker serves at once (granian's backpressure: one permit per connection);
# past them the kernel's backlog (BACKLOG) waits.
CONNECTIONS = 1000
BACKLOG = 1024
# Seconds a client has to send a request's head, and an idle kept-alive connection stays open.
HEADER_READ_TIMEOUT = 5
# On SIGTERM, requests in flight get this long to finish; a worker still busy is then killed.
GRACEFUL_TIMEOUT = 30

# granian's own log lines (worker started, worker exited) as JSON, like the app's: a logging
# dictConfig (granian's --log-config).
LOG_CONFIG = Path(__file__).with_name("server_logging.json")


def granian_argv(
    host: str,
    port: int,
    workers: int,
    log_format: str = "json",
    *,
    threads: int = THREADS,
    app: str = APP,
    factory: bool = True,
    options: Sequence[str] = (),
) -> list[str]:
    """The command that serves ``app`` (the service's factory by default) on ``host:port``
    with ``workers`` processes of ``threads`` threads; ``options`` added (the benchmarks')."""
    argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--http", "1"]
    argv += ["--host", host, "--port", str(port), "--workers", str(workers)]
    argv += ["--blocking-threads", str(threads), "--backpressure", str(CONNECTIONS)]
    argv += ["--backlog", str(BACKLOG)]
    argv += ["--http1-header-read-timeout", str(HEADER_READ_TIMEOUT * 1000)]
    argv += ["--workers-kill-timeout", str(GRACEFUL_TIMEOUT)]
    # A worker that dies (killed, crashed) is replaced; one that dies again within seconds of
    # its start (a refusal at start-up) stops the node instead (granian's crash loop check).
    argv += ["--respawn-failed-workers"]
    argv += ["--no-access-log"]  # each request is counted in the metrics, not logged
    if log_format == "json":
        argv += ["--log-config", str(LOG_CONFIG)]
    argv += options
    return [*argv, *(["--factory"] if factory else []), app]


def served_workers() -> int | None:
    """In a granian worker, the number of workers its master runs; None elsewhere."""
    options = _granian_options()
    if options is None:
        return None
    return int(options["workers"]) if options.get("workers") else 1


def served_threads() -> int | None:
    """In a granian worker, the threads it calls the app from (``--blocking-threads``); None
    elsewhere, or when granian picks them itself."""
    options = _granian_options()
    if options is None or not options.get("blocking_threads"):
        return None
    return int(options["blocking_threads"])


def _granian_options() -> dict | None:
    """In a granian worker, the options its master was started with; None elsewhere.

    granian hands its workers no count, but each worker is started with the master's command
    line (``sys.argv``: a fork keeps it, multiprocessing's spawn restores it) and its
    environment: parsed again by granian's own command, they give ``--workers`` or
    ``GRANIAN_WORKERS`` (and the other options) as the master read them, however granian was
    started."""
    if multiprocessing.current_process().name != "granian-worker":
        return None
    from granian.cli import cli

    # As granian's entry point reads them: GRANIAN_* variables for the options not given.
    context = cli.make_context(
        "granian", list(sys.argv[1:]), auto_envvar_prefix="GRANIAN", resilient_parsing=True
    )
    return context.params


def log_format(read_settings: bool = True) -> str:
    """``monespace serve`` names it (``MONESPACE_LOG_FORMAT``); granian started by hand reads
    the configuration, or, without ``read_settings``, follows the mode (text in the demo)."""
    named = os.environ.get("MONESPACE_LOG_FORMAT")
    if named in ("json", "text"):
        return named
    if not read_settings:
        return "text" if os.environ.get("MONESPACE_MODE") == "demo" else "json"
    from monespace import config

    try:
        return config.load().log_format
    except config.ConfigError:
        return "json"  # the app factory says what is wrong, at once
