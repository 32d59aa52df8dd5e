"""How gunicorn serves Mon Espace in production: the one place of these settings.

``monespace serve``, the Docker image and ``loadtests.bench`` all start gunicorn with
``--config python:monespace.gunicorn_config``; options given after it (``--bind``,
``--workers``, or ``GUNICORN_CMD_ARGS``) override it.

**gevent workers.** Each connection is a greenlet of an event loop, not a thread or a process:
a client that sends its request slowly, or keeps an idle connection open, costs a few
kilobytes, not a worker. gunicorn's ``sync`` workers serve one connection at a time, so two
clients sending a header line every few seconds took a node off the air; ``gthread`` workers
hold a thread per connection while its request is read, so as many slow clients as threads
do the same. Measured in ``tests/monespace/commands/test_serve.py`` (slow clients) and
``python -m loadtests.bench`` (the hot path); numbers in docs/performance.md.

psycopg2 cooperates with the event loop without psycogreen: ``authz.pgbounds`` makes libpq
non-blocking and waits on the socket through ``select.poll``, which gevent replaces in each
worker, so a query waits as a greenlet. Redis, SMTP and the upstream logins use Python sockets,
which gevent patches too. Only CPU work (a policy query, a signature) holds the loop.

No setting here imports the app: gunicorn's master reads this module, and each worker patches
the standard library before it loads the app.
"""

from __future__ import annotations

from monespace import gunicorn_hooks

# create_app(), a refusal at start-up (the configuration, the schema, the signing keys) one
# ``error:`` line rather than a traceback.
wsgi_app = "monespace.app:create_served_app()"

# Two processes per node: one per core of a small machine; more nodes for more.
workers = 2
worker_class = "gevent"
# Connections one worker holds at once (each a greenlet); past them the kernel's backlog waits.
worker_connections = 1000
# An idle keep-alive connection is closed after this many seconds.
keepalive = 5
# A worker that does not report for this long (a CPU loop) is killed and replaced; a request
# waiting on the database is bounded well below it (database_statement_timeout).
timeout = 30
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = 30
# gunicorn's control socket (gunicornc) is one path per user: two nodes on one host would share
# it, and nothing here uses it.
control_socket_disable = True


# The metrics and the logs (monespace.gunicorn_hooks): the app's log lines and gunicorn's in
# log_format, a dead worker's gauges dropped from the metrics.
logger_class = gunicorn_hooks.ServiceLogger
post_fork = gunicorn_hooks.post_fork
child_exit = gunicorn_hooks.child_exit


def post_worker_init(worker) -> None:
    """In each worker, once the app is loaded: production refuses per-process rate-limit
    counters in more than one worker (``monespace serve`` checks the same before it starts
    gunicorn; this covers gunicorn started directly, as the Docker image does). One
    ``error:`` line; the worker fails to boot, so gunicorn stops.

    A worker, not the master: the master must import nothing of the app, which gevent would
    then find imported before it patches the standard library."""
    import sys

    from gunicorn.arbiter import Arbiter

    from monespace.config import ConfigError, check_workers

    settings = getattr(worker.wsgi, "config", {}).get("MONESPACE")
    if settings is None:  # another app (the benchmarks' floor)
        return
    try:
        check_workers(settings, worker.cfg.workers)
    except ConfigError as exc:
        worker.log.error("error: %s", exc)
        sys.exit(Arbiter.WORKER_BOOT_ERROR)
