"""The decision benchmark: ``python -m loadtests.bench [--quick] [--database ...]``.

For each database (a throw-away SQLite file or PostgreSQL database, dropped at the end):

1. in process: uncached and cached decisions at 1,000 role grants, then the database is grown
   to 1,000,000 (``--quick``: 100,000) and the same questions are timed again;
2. over HTTP (``--no-http`` skips it): granian serving the app and a raw WSGI app answering a
   constant, with the same settings (the production ones, :mod:`monespace.server_config`;
   ``--server gunicorn`` for the former server model),
   loaded by the same generator (16 connections); then the batch endpoint; the workers' peak
   RSS.

It prints a table of the measures, the ratios between measures of the same run, and PASS or
FAIL against the targets; the exit status is 1 if any target is missed. Absolute numbers depend
on the machine and on what else runs on it; ratios measured in one run depend much less.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtests import dataset, inprocess
from loadtests.inprocess import SizeResult
from loadtests.servers import SERVERS
from monespace import server_config

US, MS, MB = 1e3, 1e6, 1024 * 1024


@dataclass(frozen=True)
class Row:
    measure: str
    median: str = ""
    p99: str = ""
    value: str = ""
    target: str = ""
    passed: bool | None = None  # None: for information
    note: str = ""  # printed under the table

    @property
    def result(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _us(ns: float) -> str:
    return f"{ns / US:,.1f} µs" if ns < 1e6 else f"{ns / MS:,.2f} ms"


def _ms(ms: float) -> str:
    return f"{ms:,.2f} ms"


def in_process_rows(results: Sequence[SizeResult]) -> list[Row]:
    """Rows for the in-process timings; ratios compare the largest size with the smallest."""
    rows: list[Row] = []
    for r in results:
        size = f"{r.grants:,} grants"
        rows += [
            Row(
                f"uncached decision, {size}",
                _us(r.uncached.median_ns),
                _us(r.uncached.p99_ns),
                f"{r.uncached.calls:,} calls",
                "median < 1 ms",
                r.uncached.median_ns < 1e6,
            ),
            Row(
                "  of which: reading the facts (SQL)",
                _us(r.facts_sql.median_ns),
                _us(r.facts_sql.p99_ns),
            ),
            Row("  of which: policy query (oso)", _us(r.policy.median_ns), _us(r.policy.p99_ns)),
            Row(
                f"cached decision, {size}",
                _us(r.cached.median_ns),
                _us(r.cached.p99_ns),
                f"{r.cached.calls:,} calls",
                "median < 20 µs",
                r.cached.median_ns < 20e3,
            ),
        ]
    small, large = results[0], results[-1]
    if large.grants > small.grants:
        ratio = large.uncached.median_ns / small.uncached.median_ns
        rows += [
            Row(
                f"uncached decision, {large.grants:,} / {small.grants:,} grants",
                value=f"{ratio:.2f}x",
                target="≤ 1.5x",
                passed=ratio <= 1.5,
            ),
            Row(
                f"cached decision, {large.grants:,} / {small.grants:,} grants",
                value=f"{large.cached.median_ns / small.cached.median_ns:.2f}x",
            ),
            Row(
                "same answers at both sizes",
                value="yes" if large.answers == small.answers else "NO",
                target="yes",
                passed=large.answers == small.answers,
            ),
            Row(
                f"generating {large.grants - small.grants:,} grants (bulk)",
                value=f"{large.generated_seconds:.1f} s",
            ),
        ]
    return rows


def http_rows(h) -> list[Row]:
    ratio = h.evaluation.rate / h.raw.rate
    decisions = h.batch.rate * h.batch_size
    return [
        Row(
            "HTTP raw WSGI app, constant decision",
            _ms(h.raw.percentile(0.5)),
            _ms(h.raw.percentile(0.99)),
            f"{h.raw.rate:,.0f} req/s",
            note=f"HTTP: {h.settings}; load: {h.load}",
        ),
        Row(
            "HTTP POST /access/v1/evaluation, cache hits",
            _ms(h.evaluation.percentile(0.5)),
            _ms(h.evaluation.percentile(0.99)),
            f"{h.evaluation.rate:,.0f} req/s",
            "p99 ≤ 10 ms",
            h.evaluation.percentile(0.99) <= 10,
        ),
        Row(
            "HTTP evaluation / raw WSGI (requests/s)",
            value=f"{ratio:.2f}",
            target="≥ 0.8",
            passed=ratio >= 0.8,
        ),
        Row(
            f"HTTP POST /access/v1/evaluations, {h.batch_size} per request",
            _ms(h.batch.percentile(0.5)),
            _ms(h.batch.percentile(0.99)),
            f"{decisions:,.0f} decisions/s",
            "≥ 30,000/s",
            decisions >= 30_000,
        ),
        Row(
            "HTTP evaluation, every question a cache miss",
            _ms(h.misses.percentile(0.5)),
            _ms(h.misses.percentile(0.99)),
            f"{h.misses.rate:,.0f} req/s",
        ),
        Row(
            "peak RSS of a worker under load",
            value=f"{h.peak_rss / MB:,.0f} MB",
            target="< 300 MB",
            passed=h.peak_rss < 300 * MB,
        ),
    ]


def render(title: str, rows: Sequence[Row]) -> str:
    header = ("measure", "median/p50", "p99", "value", "target", "result")
    table = [header] + [(r.measure, r.median, r.p99, r.value, r.target, r.result) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [title]
    for n, line in enumerate(table):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) if i < 4 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"note: {r.note}" for r in rows if r.note]
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def run_database(kind: str, args, report: Callable[[str], None]) -> list[Row]:
    sizes = (1_000, 100_000 if args.quick else 1_000_000)
    budgets = inprocess.QUICK if args.quick else inprocess.FULL
    with dataset.throwaway_database(kind) as url:
        report(f"[{kind}] creating the schema and the demo data...")
        dataset.prepare(url)
        data = dataset.Dataset()
        results = inprocess.measure(url, data, sizes, budgets, report=report)
        rows = in_process_rows(results)
        if not args.no_http:
            rows += _http(url, data, args, report)
    return rows


def _http(url: str, data: dataset.Dataset, args, report) -> list[Row]:
    from loadtests import httpbench
    from loadtests.loadgen import LoadGenerator
    from loadtests.servers import settings_for

    settings = settings_for(args.server, args.workers, args.threads, args.worker_class)
    budget = httpbench.HTTP_QUICK if args.quick else httpbench.HTTP_FULL
    report(
        f"HTTP: {settings}; load: {args.load_processes} processes x {args.connections} connections"
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="monespace-bench-http-") as tmp,
            LoadGenerator(args.load_processes, args.connections) as load,
        ):
            result = httpbench.measure(url, data, settings, load, budget, Path(tmp), report)
    except RuntimeError as exc:
        # A server that fails is a result too: show it and go on with the next database.
        report(f"HTTP part failed: {exc}")
        return [
            Row(
                f"HTTP ({settings})",
                value="failed",
                target="runs",
                passed=False,
                note=f"HTTP ({settings}) failed: {exc}",
            )
        ]
    return http_rows(result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="100,000 grants instead of 1,000,000, shorter loops"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-http", action="store_true", help="in-process measures only")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="granian",
        help="the server model over HTTP (default: granian, as production runs it)",
    )
    parser.add_argument("--workers", type=int, default=server_config.WORKERS)
    parser.add_argument(
        "--worker-class",
        choices=("gevent", "gthread", "sync"),
        default="gevent",
        help="gunicorn's (--server gunicorn); default: gevent, as production ran it",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=server_config.THREADS,
        help="per granian worker (default: the production setting), per gthread worker",
    )
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8, help="per load process")
    args = parser.parse_args(argv)

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    started = time.monotonic()
    tables, all_rows = [], []
    for kind in kinds:
        rows = run_database(kind, args, report)
        all_rows += rows
        tables.append(render(f"database: {kind}", rows))
    print(f"\nMon Espace decision benchmark{' (--quick)' if args.quick else ''}: {machine()}")
    print("\n\n".join(tables))
    failed = [r for r in all_rows if r.passed is False]
    checked = [r for r in all_rows if r.passed is not None]
    print(
        f"\n{len(checked) - len(failed)} of {len(checked)} targets met "
        f"in {time.monotonic() - started:.0f} s" + (": FAIL" if failed else ": PASS")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
