"""Where a complete login's time goes: ``python -m loadtests.login_profile [--logins N]``.

The demo app (simulators mounted) is built in this process on a throw-away PostgreSQL
database and served by werkzeug on 127.0.0.1, one request at a time; a
:class:`loadtests.logins.LoginClient` logs in with eID and with itsme (after a few logins
that warm the caches up). Each request the app serves runs under one ``cProfile`` profile;
every ``xmlsec1`` process pysaml2 starts is counted and timed, by what it was asked to do
(``--sign``, ``--verify``, ``--decrypt``): none with the ``xmlsec`` binding, the default where
it imports (``MONESPACE_EID_CRYPTO_BACKEND=xmlsec1`` brings the processes back). It prints,
per method: the time of each step (client side), the xmlsec1 processes per login and their
share of the app's time, and the functions that took the most time (cumulative).

Per step (each request the app serves, the simulators' included; a request the app makes to
itself, itsme's back channel, counted apart from the one that made it): the CPU time of the
thread that served it (``time.thread_time``, profiler included unless ``--no-cprofile``), the
SQL statements and the commits that wrote something (a write outside a transaction, or a
transaction that wrote), each one a flush of PostgreSQL's log to disk.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from peewee import Database
from saml2.sigver import CryptoBackendXmlSec1
from werkzeug.serving import make_server

from authz import db
from loadtests import dataset
from loadtests.login_bench import plan
from loadtests.logins import LoginClient, step_name, step_totals

_WRITES = ("INSERT", "UPDATE", "DELETE")


class XmlsecCalls:
    """Counts and times pysaml2's ``xmlsec1`` runs (one process each), by operation."""

    def __init__(self):
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def watching(self) -> Iterator[XmlsecCalls]:
        original = CryptoBackendXmlSec1._run_xmlsec
        calls = self

        def run(backend, com_list, extra_args):
            operation = next((c for c in com_list if c.startswith("--") and c != "--"), "?")
            started = time.perf_counter()
            try:
                return original(backend, com_list, extra_args)
            finally:
                calls.count[operation] += 1
                calls.seconds[operation] += time.perf_counter() - started

        CryptoBackendXmlSec1._run_xmlsec = run
        try:
            yield self
        finally:
            CryptoBackendXmlSec1._run_xmlsec = original

    def reset(self) -> None:
        self.count.clear()
        self.seconds.clear()


class SqlStatements:
    """Counts and times the SQL statements peewee sends, by their first words, and the
    commits that wrote (by ``step``, the request under way, set by :class:`ProfiledApp`)."""

    def __init__(self):
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.by_step: Counter[str] = Counter()
        self.kinds_by_step: Counter[tuple[str, str]] = Counter()
        self.commits: Counter[str] = Counter()
        self.step = "-"
        self._wrote = False  # a write inside the transaction under way

    @contextmanager
    def watching(self) -> Iterator[SqlStatements]:
        original, original_commit = Database.execute_sql, Database.commit
        statements = self

        def execute_sql(database, sql, params=None, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(database, sql, params, *args, **kwargs)
            finally:
                kind = _sql_kind(sql)
                statements.count[kind] += 1
                statements.seconds[kind] += time.perf_counter() - started
                statements.by_step[statements.step] += 1
                statements.kinds_by_step[statements.step, kind] += 1
                if kind.startswith(_WRITES) or " RETURNING " in sql.upper():
                    if database.in_transaction():
                        statements._wrote = True
                    else:  # autocommit: the statement is its own transaction
                        statements.commits[statements.step] += 1

        def commit(database):
            if statements._wrote:
                statements.commits[statements.step] += 1
                statements._wrote = False
            return original_commit(database)

        Database.execute_sql, Database.commit = execute_sql, commit
        try:
            yield self
        finally:
            Database.execute_sql, Database.commit = original, original_commit

    def reset(self) -> None:
        for counter in (self.count, self.seconds, self.by_step, self.kinds_by_step, self.commits):
            counter.clear()


def _sql_kind(sql: str) -> str:
    """``SELECT … FROM "session"``, ``UPDATE "oidc_record"``: the verb and the first table (of
    the statement prepared, for an ``EXECUTE``; ``WITH`` for data-modifying CTEs)."""
    words = db.prepared_text(sql).split()
    if words[:1] == ["WITH"]:  # data-modifying CTEs: name the first table written
        words = words[
            next((i for i, w in enumerate(words) if w.lstrip("(") in ("UPDATE", "INTO")), 0) :
        ]
    verb = words[0].upper() if words else "?"
    table = next(
        (words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in ("FROM", "INTO", "UPDATE")),
        "",
    )
    if verb == "UPDATE" and len(words) > 1:
        table = words[1]
    return f"{verb} {table}".strip()


class ProfiledApp:
    """A WSGI layer that runs every request under one profile and adds up the app's time,
    and the CPU time of each step (a nested request's apart from its caller's)."""

    def __init__(
        self,
        app,
        sql: SqlStatements | None = None,
        cprofile: bool = True,
        only_step: str | None = None,
        callers: str | None = None,
    ):
        self.app, self.sql, self.cprofile, self.only_step = app, sql, cprofile, only_step
        self.callers = callers
        self.profile, self.seconds = cProfile.Profile(), 0.0
        self.cpu: Counter[str] = Counter()
        self._stack: list[str] = []
        self.on = False

    def __call__(self, environ, start_response):
        if not self.on:
            return self.app(environ, start_response)
        step = step_name(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        outer = not self._stack
        profiled = self.cprofile and self.only_step in (None, step)
        if outer:
            started = time.perf_counter()
            if profiled:
                self.profile.enable()
        else:  # the caller's CPU so far is the caller's
            self._charge(self._stack[-1])
        self._stack.append(step)
        self._mark = time.thread_time()
        if self.sql is not None:
            self.sql.step = step
        try:
            return list(self.app(environ, start_response))
        finally:
            self._charge(self._stack.pop())
            if self.sql is not None:
                self.sql.step = self._stack[-1] if self._stack else "-"
            if outer:
                if profiled:
                    self.profile.disable()
                self.seconds += time.perf_counter() - started

    def _charge(self, step: str) -> None:
        now = time.thread_time()
        self.cpu[step] += now - self._mark
        self._mark = now

    def reset(self) -> None:
        self.profile, self.seconds = cProfile.Profile(), 0.0
        self.cpu.clear()


def profile(
    url: str,
    work_dir: Path,
    logins: int,
    warm: int,
    top: int,
    cprofile: bool = True,
    only_step: str | None = None,
    sort: str = "cumulative",
    methods: Sequence[str] = ("eid", "itsme"),
    callers: str | None = None,
) -> str:
    from monespace.app import create_app

    out = io.StringIO()
    xmlsec, sql = XmlsecCalls(), SqlStatements()
    holder = ProfiledApp(None, sql, cprofile, only_step, callers)
    server = make_server("127.0.0.1", 0, holder, threaded=False)
    base_url = f"http://127.0.0.1:{server.server_port}"
    holder.app = create_app(
        {
            "mode": "demo",
            "database_url": url,
            "base_url": base_url,
            "data_dir": str(work_dir / "instance"),
            "decision_log": "off",
            "audit_key": dataset.AUDIT_KEY,
        }
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with xmlsec.watching(), sql.watching():
            for method in methods:
                client = LoginClient(base_url)
                for n in range(warm):
                    client.login(method, *plan(n))
                holder.reset()
                xmlsec.reset()
                sql.reset()
                holder.on = True
                started = time.perf_counter()
                results = [client.login(method, *plan(n)) for n in range(logins)]
                elapsed = time.perf_counter() - started
                holder.on = False
                _report(out, method, results, elapsed, holder, xmlsec, sql, logins, top, sort)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    return out.getvalue()


def _report(out, method, results, elapsed, holder, xmlsec, sql, logins, top, sort) -> None:
    print(
        f"\n== {method}: {logins} logins, one at a time, {elapsed / logins * 1e3:.1f} ms", file=out
    )
    print(f"   the app's own time: {holder.seconds / logins * 1e3:.1f} ms per login", file=out)
    for name, (count, seconds) in sorted(step_totals(results).items(), key=lambda kv: -kv[1][1]):
        per = f" x{count / logins:.0f}" if count > logins else ""
        print(f"   {name:<40}{per:>4} {seconds / logins * 1e3:8.1f} ms", file=out)
    _steps(out, holder, sql, logins)
    total = sum(xmlsec.seconds.values())
    print(
        f"   xmlsec1 processes: {sum(xmlsec.count.values()) / logins:.1f} per login, "
        f"{total / logins * 1e3:.1f} ms, {total / holder.seconds:.0%} of the app's time",
        file=out,
    )
    for operation, count in xmlsec.count.most_common():
        seconds = xmlsec.seconds[operation]
        print(
            f"     {operation:<10} {count / logins:.1f} per login, "
            f"{seconds / count * 1e3:.1f} ms each",
            file=out,
        )
    total = sum(sql.seconds.values())
    print(
        f"   SQL statements: {sum(sql.count.values()) / logins:.0f} per login, "
        f"{total / logins * 1e3:.1f} ms, {total / holder.seconds:.0%} of the app's time",
        file=out,
    )
    for kind, seconds in sql.seconds.most_common(12):
        count = sql.count[kind]
        print(
            f"     {kind:<40} {count / logins:5.1f} per login, {seconds / count * 1e3:.2f} ms each",
            file=out,
        )
    if not holder.cprofile:
        return
    stats = io.StringIO()
    if holder.only_step:
        if holder.only_step in holder.cpu:
            print(f"   profiled: {holder.only_step} only", file=out)
        else:
            print(
                f"   no step {holder.only_step!r} in the {method} logins, nothing profiled; "
                f"its steps: {', '.join(sorted(holder.cpu))}",
                file=out,
            )
            return
    ordered = pstats.Stats(holder.profile, stream=stats).sort_stats(sort)
    if holder.callers:
        ordered.print_callers(holder.callers)
    else:
        ordered.print_stats(top)
    print(stats.getvalue(), file=out)


def _steps(out, holder: ProfiledApp, sql: SqlStatements, logins: int) -> None:
    """Per step served: CPU, statements and commits per login; the simulators' apart."""
    print(f"   {'served (per login)':<40} {'CPU ms':>8} {'SQL':>5} {'commits':>7}", file=out)
    totals = {"provider": [0.0, 0, 0], "simulators": [0.0, 0, 0]}
    steps = set(holder.cpu) | set(sql.by_step)
    for step in sorted(steps, key=lambda s: -holder.cpu[s]):
        cpu, statements, commits = holder.cpu[step], sql.by_step[step], sql.commits[step]
        side = "simulators" if " /simulators/" in step else "provider"
        for i, value in enumerate((cpu, statements, commits)):
            totals[side][i] += value
        print(
            f"   {step:<40} {cpu / logins * 1e3:8.1f} {statements / logins:5.1f} "
            f"{commits / logins:7.1f}",
            file=out,
        )
    for side, (cpu, statements, commits) in totals.items():
        print(
            f"   {'= ' + side:<40} {cpu / logins * 1e3:8.1f} {statements / logins:5.1f} "
            f"{commits / logins:7.1f}",
            file=out,
        )
    if holder.only_step is not None:
        print(f"   statements of {holder.only_step} (per login)", file=out)
        for (step, kind), count in sorted(sql.kinds_by_step.items(), key=lambda kv: -kv[1]):
            if step == holder.only_step:
                print(f"     {kind:<40} {count / logins:5.1f}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.login_profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--logins", type=int, default=20, help="profiled logins per method")
    parser.add_argument("--warm", type=int, default=3, help="logins before profiling")
    parser.add_argument("--top", type=int, default=40, help="functions shown")
    parser.add_argument(
        "--no-cprofile",
        dest="cprofile",
        action="store_false",
        help="no cProfile: the CPU per step without the profiler's own cost",
    )
    parser.add_argument(
        "--step", help='profile only this step, as the report names it ("GET /authorize/espace")'
    )
    parser.add_argument(
        "--sort", default="cumulative", help="pstats order: cumulative (default), tottime, ..."
    )
    parser.add_argument(
        "--callers",
        metavar="FUNCTION",
        help="instead of the top functions, who calls those matching this (a pstats pattern)",
    )
    parser.add_argument(
        "--method", choices=("eid", "itsme"), action="append", help="one method (repeatable)"
    )
    args = parser.parse_args(argv)
    with (
        dataset.throwaway_database("postgresql", prefix="monespace_loginload") as url,
        tempfile.TemporaryDirectory(prefix="monespace-login-profile-") as tmp,
    ):
        dataset.prepare(url)
        report = profile(
            url,
            Path(tmp),
            args.logins,
            args.warm,
            args.top,
            args.cprofile,
            args.step,
            args.sort,
            args.method or ("eid", "itsme"),
            args.callers,
        )
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
