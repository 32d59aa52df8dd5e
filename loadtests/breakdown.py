"""Where a decision's time goes: ``python -m loadtests.breakdown [--database ...]``.

Profiles (cProfile) on a small generated database:

- an uncached decision's two parts: reading the pair's facts (database driver, peewee, the rest
  of ``authz.mandates``) and the policy query (oso's Rust VM, oso's Python host: FFI messages as
  JSON, attribute lookups on the facts), with the VM events and host calls per decision;
- ``POST /access/v1/evaluation`` answered from the cache, through Flask's test client (no
  sockets, no server), split by the layers and steps it runs, next to the bare Flask app.
  Well-formed evaluations are answered by the API's fast lane, a WSGI layer in front of Flask
  (``authz.api``), so Flask's own dispatch should show no time at all.

Profiling slows everything down, evenly enough that the shares are meaningful; the absolute
numbers are not the benchmark's.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import date

from loadtests import dataset

Key = tuple[str, int, str]  # (file, line, function) as pstats names them


def _profile(work: Callable[[], None]) -> tuple[pstats.Stats, float]:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    work()
    profiler.disable()
    return pstats.Stats(profiler), time.perf_counter() - started


def _entries(stats: pstats.Stats) -> Iterable[tuple[Key, int, float, float]]:
    """(function, calls, own time, cumulative time) of each profiled function."""
    for key, (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        yield key, calls, tottime, cumtime


def _own(stats: pstats.Stats, match: Callable[[Key], bool]) -> float:
    return sum(tt for key, _n, tt, _ct in _entries(stats) if match(key))


def _cumulative(stats: pstats.Stats, file_end: str, function: str) -> tuple[float, int]:
    for key, calls, _tt, ct in _entries(stats):
        if key[0].endswith(file_end) and key[2] == function:
            return ct, calls
    return 0.0, 0


def _calls(stats: pstats.Stats, fragment: str) -> int:
    return sum(n for key, n, _tt, _ct in _entries(stats) if fragment in key[2])


def _line(label: str, seconds: float, per: int, total: float) -> str:
    share = f"{100 * seconds / total:5.1f} %" if total else ""
    return f"  {label:<58} {seconds / per * 1e6:9.1f} µs  {share}"


def uncached(rounds: int = 3) -> list[str]:
    from authz import mandates
    from authz.engine import get_engine

    engine = get_engine()
    day = date.today()
    asked = dataset.questions(1_000, 400)
    pairs = [(mandates.load_pair(q[0], q[2], day, q[3]), q[1]) for q in asked]
    pairs = [(pair, action) for pair, action in pairs if pair is not None]
    count = len(asked) * rounds

    def read() -> None:
        for _ in range(rounds):
            for q in asked:
                mandates.load_pair(q[0], q[2], day, q[3])

    def decide() -> None:
        for _ in range(rounds):
            for (person, enterprise), action in pairs:
                engine.allowed(person, action, enterprise)

    read(), decide()  # warm-up
    sql, sql_total = _profile(read)
    oso, oso_total = _profile(decide)
    driver = _own(
        sql,
        lambda k: (
            k[0] == "~"
            and any(name in k[2] for name in ("psycopg2", "sqlite3", "execute", "fetch"))
        ),
    )
    peewee = _own(sql, lambda k: "peewee" in k[0] or "playhouse" in k[0])
    vm = _own(oso, lambda k: "_polar_lib.polar_next_query_event" in k[2])
    ffi = _own(oso, lambda k: "_polar_lib" in k[2]) - vm
    decisions = len(pairs) * rounds
    return [
        f"uncached decision, per decision ({count:,} profiled):",
        _line("facts: database driver (execute, fetch)", driver, count, sql_total + oso_total),
        _line("facts: peewee (connection, cursor)", peewee, count, sql_total + oso_total),
        _line(
            "facts: the rest (authz.mandates, dataclasses)",
            sql_total - driver - peewee,
            count,
            sql_total + oso_total,
        ),
        _line("policy: oso Rust VM (polar_next_query_event)", vm, decisions, sql_total + oso_total),
        _line("policy: oso other FFI calls", ffi, decisions, sql_total + oso_total),
        _line(
            "policy: oso Python host (JSON messages, lookups, query loop)",
            oso_total - vm - ffi,
            decisions,
            sql_total + oso_total,
        ),
        f"  VM events per decision: {_calls(oso, 'polar_next_query_event') / decisions:.1f}; "
        f"host calls (attribute lookups, isa) per decision: "
        f"{_calls(oso, 'polar_call_result') / decisions:.1f}",
    ]


def http(url: str, requests: int = 3_000) -> list[str]:
    from loadtests.bare_app import app as bare_app
    from loadtests.httpbench import evaluation_body
    from monespace.app import create_app
    from monespace.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    with tempfile.TemporaryDirectory(prefix="monespace-breakdown-") as tmp:
        app = create_app({"database_url": url, "mode": "demo", "data_dir": tmp})
    credentials = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
    bodies = [json.dumps(evaluation_body(q)) for q in dataset.questions(1_000, 200, seed=2)]

    def load(flask_app) -> Callable[[], None]:
        client = flask_app.test_client()

        def run() -> None:
            for n in range(requests):
                response = client.post(
                    "/access/v1/evaluation", data=bodies[n % len(bodies)], headers=headers
                )
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.data[:200]!r}")

        return run

    for flask_app in (app, bare_app):
        load(flask_app)()  # warm-up: every question cached
    stats, total = _profile(load(app))
    _bare_stats, bare_total = _profile(load(bare_app))
    steps = [
        ("WSGI layers, outermost first (cumulative)", "monespace/wsgi.py", "__call__"),
        ("Flask dispatch (only what the fast lane hands over)", "flask/app.py", "wsgi_app"),
        ("teardown: connection back to the pool", "monespace/app.py", "close_connection"),
    ]
    lines = [
        f"POST /access/v1/evaluation, cache hits, Flask test client ({requests:,} requests):",
        _line("whole request, real app", total, requests, total),
        _line("whole request, bare Flask app (same client)", bare_total, requests, total),
    ]
    for label, file_end, function in steps:
        seconds, _calls_made = _cumulative(stats, file_end, function)
        lines.append(_line(label, seconds, requests, total))
    # The decision API's own functions, whatever their names: cumulative, so nested ones
    # overlap (the view function includes the others).
    own = sorted(
        (
            (ct, key)
            for key, _n, _tt, ct in _entries(stats)
            if "/authz/" in key[0] and not key[0].endswith(("/authz/models.py", "/authz/tables.py"))
        ),
        reverse=True,
    )
    for seconds, (file, line, function) in own[:10]:
        where = f"{file.split('/authz/')[-1]}:{line} {function}"
        lines.append(_line(f"authz/{where} (cumulative)", seconds, requests, total))
    app.extensions["monespace.decisions"].tracker.stop()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.breakdown", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    args = parser.parse_args(argv)
    with dataset.throwaway_database(args.database) as url:
        dataset.prepare(url)
        dataset.Dataset().grow(1_000)
        print(
            f"database: {args.database} ({os.cpu_count()} cores); times per call under "
            "cProfile, share of the profiled total"
        )
        print("\n".join(uncached()))
        print("\n".join(http(url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
