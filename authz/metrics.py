"""Prometheus metrics of the core: decisions, epochs, the connection pool.

Declared once per process at import (``prometheus_client``; under granian, its multiprocess
mode: each worker writes its values to files that the scraped process adds up, see
``monespace.metrics``). Every label takes values from a small fixed set, never from a request,
so the number of series stays bounded. Children of labelled metrics are bound here, once, and
the hot paths update them through :class:`FastCounter` and :class:`FastHistogram` (below).

The meaning of each metric, and the alerts worth setting, are in docs/operators.md.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from bisect import bisect_left
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

# The values of multiprocess mode live in files of this directory, opened as the metrics are
# declared (below, and in the other packages' modules, which import this one first): a
# directory named but not made yet (a fresh tmpfs) is made rather than failing the import.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# -- updates in a fraction of a microsecond ----------------------------------------------------
# In multiprocess mode an update of prometheus_client's values writes a file-backed value
# under a lock: about 3 µs for a counter, 11 µs for a histogram (measured, docs/operators.md).
# The hot paths (every request, every decision) add to plain numbers of this process instead,
# and a daemon thread writes them to the values every FLUSH_SECONDS (a thousand requests
# become one write), as does a scrape answered by this process before it reads them. A scrape
# answered by another worker sees this one's at most FLUSH_SECONDS late.

FLUSH_SECONDS = 1.0
_lock = threading.Lock()
_pending: weakref.WeakSet[Any] = weakref.WeakSet()
_flusher: dict[str, Any] = {"pid": None}


class FastCounter:
    """A counter (or a labelled counter's child) updated by :meth:`inc` at the cost of a
    lock and an addition; written to ``child`` by :func:`flush`."""

    __slots__ = ("__weakref__", "child", "pending")

    def __init__(self, child: Any):
        self.child = child
        self.pending = 0.0
        with _lock:
            _pending.add(self)

    def inc(self, amount: float = 1.0) -> None:
        with _lock:
            self.pending += amount

    def _take(self) -> float:
        amount, self.pending = self.pending, 0.0
        return amount

    def _write(self, amount: float) -> None:
        if amount:
            self.child.inc(amount)


class FastHistogram:
    """A histogram's child observed at the cost of a bisection, a lock and two additions;
    written to ``child`` (its sum and buckets) by :func:`flush`."""

    __slots__ = ("__weakref__", "bounds", "child", "counts", "total")

    def __init__(self, child: Any):
        self.child = child
        self.bounds = list(child._upper_bounds)  # the last is +Inf
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        with _lock:
            _pending.add(self)

    def observe(self, amount: float) -> None:
        index = bisect_left(self.bounds, amount)  # the first bucket whose bound >= amount
        with _lock:
            self.counts[index] += 1
            self.total += amount

    def _take(self) -> tuple[list[int], float]:
        taken = self.counts, self.total
        self.counts, self.total = [0] * len(self.bounds), 0.0
        return taken

    def _write(self, taken: tuple[list[int], float]) -> None:
        counts, total = taken
        if not any(counts):
            return
        self.child._sum.inc(total)
        for index, count in enumerate(counts):
            if count:
                self.child._buckets[index].inc(count)


def flush() -> None:
    """Write every pending update of this process to the Prometheus values."""
    with _lock:
        taken = [(item, item._take()) for item in list(_pending)]
    for item, amount in taken:
        item._write(amount)


def start_flushing() -> None:
    """The flushing thread of this process (once per process: a fork has none)."""
    if _flusher["pid"] == os.getpid():
        return
    _flusher["pid"] = os.getpid()

    def run() -> None:
        while True:
            threading.Event().wait(FLUSH_SECONDS)
            flush()

    threading.Thread(target=run, name="metrics-flush", daemon=True).start()


atexit.register(flush)

# Seconds: from a cached decision's tens of microseconds to the database's timeouts.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# -- decisions (authz.decisions) ------------------------------------------------------------

DECISIONS = Counter(
    "monespace_decisions",
    "Single decisions of the decision point, by result and whether the cache answered.",
    ["decision", "cache"],
)
DECISION_SECONDS = Histogram(
    "monespace_decision_uncached_seconds",
    "Time to compute a decision the cache did not hold (facts read, policy evaluated).",
    buckets=LATENCY_BUCKETS,
)
# (allowed, cache) -> the bound child.
DECISION_COUNTS = {
    (allowed, cache): FastCounter(DECISIONS.labels("allow" if allowed else "deny", cache))
    for allowed in (True, False)
    for cache in ("hit", "miss")
}
UNCACHED_SECONDS = FastHistogram(DECISION_SECONDS)

# -- epochs (authz.epochs) ------------------------------------------------------------------

EPOCH_NOTIFICATIONS = Counter(
    "monespace_epoch_notifications",
    "Epoch notifications (NOTIFY monespace_authz_epoch) heard by the listeners.",
)
EPOCH_ENTERPRISES = Counter(
    "monespace_epoch_enterprises_forgotten",
    "Enterprises whose cached epoch a notification made the listeners forget.",
)
LISTENER_HEALTHY = Gauge(
    "monespace_epoch_listener_healthy",
    "1 while the process's epoch listener holds a working connection, else 0.",
    multiprocess_mode="livemin",
)
LISTENER_LAST_BEAT = Gauge(
    "monespace_epoch_listener_last_heartbeat_timestamp_seconds",
    "Unix time of the listener's last successful heartbeat; now minus it is its lag.",
    multiprocess_mode="livemin",
)
LISTENER_BEAT_SECONDS = Gauge(
    "monespace_epoch_listener_heartbeat_seconds",
    "Round trip of the listener's last heartbeat query.",
    multiprocess_mode="livemax",
)
LISTENER_RECONNECTIONS = Counter(
    "monespace_epoch_listener_reconnections",
    "Times an epoch listener lost or could not open its connection and tried again.",
)

# -- the connection pool (authz.db) ---------------------------------------------------------

POOL_CONNECTIONS = Gauge(
    "monespace_db_pool_connections",
    "Pooled database connections, in use by a request or idle in the pool.",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_IN_USE = POOL_CONNECTIONS.labels("in_use")
POOL_IDLE = POOL_CONNECTIONS.labels("idle")
POOL_MAX = Gauge(
    "monespace_db_pool_max_connections",
    "The most connections the pools may open (database_pool_size per process).",
    multiprocess_mode="livesum",
)
POOL_EXHAUSTED = Counter(
    "monespace_db_pool_exhausted",
    "Requests that found every pooled connection in use for the whole wait (answered 503).",
)
