"""Prometheus metrics: the requests' own, and their exposition at ``/metrics``.

Each package declares its metrics (``authz.metrics``, ``idp_bridge.metrics``,
``admin_ui.metrics``, the worker's in ``monespace.worker``); this module counts the requests
(:class:`~monespace.wsgi.Observed` calls :meth:`Requests.observe` for every one of them, the
fast lanes' included) and renders everything for a scrape.

Under granian, each worker process keeps its values in files of the directory named by
``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_client``'s multiprocess mode, emptied by
``monespace serve`` before granian starts: :func:`prepare_multiprocess_dir`), and whichever
worker answers a scrape adds up the files of all of them. granian has no hook for a worker's
end: a worker's live gauges (pool connections, listener health) are dropped once its process is
gone, by the next worker that starts and by every scrape (:func:`drop_dead_processes`); its
counters stay in the sums, as Prometheus expects of counters. Without that variable (the demo,
the tests, the worker) a process serves its own values.

``/metrics`` is not public: it answers only a request bearing ``metrics_token``
(``Authorization: Bearer``), and is not served at all (404) when no token is configured.
"""

from __future__ import annotations

import hmac
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from authz.metrics import LATENCY_BUCKETS, FastCounter, FastHistogram, flush

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PATH = "/metrics"
# The endpoint label of a request no route matched (an unknown path): one value for all of
# them, so a scan of random paths adds no series.
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "monespace_http_requests",
    "HTTP requests answered, by endpoint (the route's template) and status.",
    ["endpoint", "status"],
)
REQUEST_SECONDS = Histogram(
    "monespace_http_request_duration_seconds",
    "Time from a request's arrival at the app to its response, by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)

REQUEST_CPU_METRIC = "monespace_http_request_cpu_seconds"  # read back by loadtests.servers
REQUEST_CPU_SECONDS = Counter(
    REQUEST_CPU_METRIC,
    "CPU time of the thread answering requests (Python's, not the HTTP server's), by endpoint.",
    ["endpoint"],
)


RULE_KEY = "monespace.rule"  # environ key: the template of the rule Flask matched


def note_rule() -> None:
    """A ``before_request`` hook: the matched rule's template, for :class:`Requests`."""
    rule = request.url_rule
    if rule is not None:
        request.environ[RULE_KEY] = rule.rule


class Requests:
    """The request metrics of one app: the endpoint label of a request, and the bound
    children of each (endpoint, status) met, so a request costs three updates, no label
    lookup."""

    def __init__(self, url_map: Any):
        self.url_map = url_map
        self._static: dict[str, str] | None = None
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def endpoint(self, environ: dict) -> str:
        """The template of the route that answered (``/login/<name>``), never the raw path:
        the rule Flask matched (:func:`note_rule`), else the path when it is a route without
        variables (the fast lanes answer those below Flask's dispatch), else
        :data:`UNMATCHED`."""
        rule = environ.get(RULE_KEY)
        if rule is not None:
            return rule
        if self._static is None:  # the routes are all registered by the first request
            self._static = {r.rule: r.rule for r in self.url_map.iter_rules() if not r.arguments}
        return self._static.get(environ.get("PATH_INFO", ""), UNMATCHED)

    def observe(self, environ: dict, status: str, seconds: float, cpu_seconds: float) -> None:
        """One request answered: ``seconds`` from its arrival to its response, ``cpu_seconds``
        of them its thread's CPU time."""
        key = (self.endpoint(environ), status[:3])
        children = self._children.get(key)
        if children is None:
            children = (
                FastCounter(REQUESTS.labels(*key)),
                FastHistogram(REQUEST_SECONDS.labels(key[0])),
                FastCounter(REQUEST_CPU_SECONDS.labels(key[0])),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        children[2].inc(cpu_seconds)


# -- the exposition -------------------------------------------------------------------------


def registry() -> CollectorRegistry:
    """What a scrape shows: every process's values in multiprocess mode, else this one's
    (this process's pending updates written first)."""
    flush()
    if os.environ.get(MULTIPROC_VARIABLE):
        drop_dead_processes()
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return REGISTRY


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The metrics in the format the scraper asks for (Prometheus text or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry()), content_type


def authorized(token: str | None, authorization: str | None) -> bool:
    """Whether ``authorization`` is ``Bearer <token>`` (compared in constant time)."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


REFUSED_HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("WWW-Authenticate", 'Bearer realm="metrics"'),
    ("Cache-Control", "no-store"),
]
REFUSED_BODY = b"metrics need the bearer token (metrics_token)\n"


def wsgi_app(token: str) -> Callable:
    """``/metrics`` alone, as a WSGI app (the worker serves it on a port of its own)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found\n"]
        if not authorized(token, environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", list(REFUSED_HEADERS))
            return [REFUSED_BODY]
        body, content_type = exposition(environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds: not worth a log line each."""


def serve_in_thread(host: str, port: int, token: str) -> WSGIServer:
    """Serve :func:`wsgi_app` on ``host:port`` in a daemon thread; ``shutdown()`` stops it."""
    server = make_server(host, port, wsgi_app(token), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server


# -- multiprocess mode ----------------------------------------------------------------------


def prepare_multiprocess_dir(environ: dict[str, str] | None = None) -> Path:
    """The directory of the workers' values, empty, named in ``environ`` (``os.environ``) for
    the processes started after this: the one the variable names (files of an earlier run
    removed: they would be added to this run's), else a new temporary one."""
    environ = os.environ if environ is None else environ
    named = environ.get(MULTIPROC_VARIABLE)
    if named:
        path = Path(named)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="monespace-metrics-"))
        environ[MULTIPROC_VARIABLE] = str(path)
    return path


def drop_dead_processes(environ: dict[str, str] | None = None) -> list[int]:
    """Mark dead the processes whose values are in the multiprocess directory but which no
    longer run (``prometheus_client``'s ``mark_process_dead``: their live gauges removed, their
    counters kept); returns their PIDs. Nothing without the directory."""
    environ = os.environ if environ is None else environ
    named = environ.get(MULTIPROC_VARIABLE)
    if not named:
        return []
    pids = set()
    for path in Path(named).glob("*_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        if pid.isdigit():
            pids.add(int(pid))
    dead = sorted(pid for pid in pids if not _alive(pid))
    for pid in dead:
        multiprocess.mark_process_dead(pid, named)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True
