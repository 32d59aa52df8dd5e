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

from loadtests import dataset
from loadtests.login_bench import plan
from loadtests.logins import LoginClient, step_totals


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
    """Counts and times the SQL statements peewee sends, by their first words."""

    def __init__(self):
        self.count: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    @contextmanager
    def watching(self) -> Iterator[SqlStatements]:
        original = Database.execute_sql
        statements = self

        def execute_sql(database, sql, params=None, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(database, sql, params, *args, **kwargs)
            finally:
                kind = _sql_kind(sql)
                statements.count[kind] += 1
                statements.seconds[kind] += time.perf_counter() - started

        Database.execute_sql = execute_sql
        try:
            yield self
        finally:
            Database.execute_sql = original

    def reset(self) -> None:
        self.count.clear()
        self.seconds.clear()


def _sql_kind(sql: str) -> str:
    """``SELECT … FROM "session"``, ``UPDATE "oidc_record"``: the verb and the first table."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    table = next(
        (words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in ("FROM", "INTO", "UPDATE")),
        "",
    )
    if verb == "UPDATE" and len(words) > 1:
        table = words[1]
    return f"{verb} {table}".strip()


class ProfiledApp:
    """A WSGI layer that runs every request under one profile and adds up the app's time."""

    def __init__(self, app):
        self.app, self.profile, self.seconds = app, cProfile.Profile(), 0.0
        self.on = False

    def __call__(self, environ, start_response):
        if not self.on:
            return self.app(environ, start_response)
        started = time.perf_counter()
        self.profile.enable()
        try:
            return list(self.app(environ, start_response))
        finally:
            self.profile.disable()
            self.seconds += time.perf_counter() - started

    def reset(self) -> None:
        self.profile, self.seconds = cProfile.Profile(), 0.0


def profile(url: str, work_dir: Path, logins: int, warm: int, top: int) -> str:
    from monespace.app import create_app

    out = io.StringIO()
    holder = ProfiledApp(None)
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
    xmlsec, sql = XmlsecCalls(), SqlStatements()
    try:
        with xmlsec.watching(), sql.watching():
            for method in ("eid", "itsme"):
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
                _report(out, method, results, elapsed, holder, xmlsec, sql, logins, top)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    return out.getvalue()


def _report(out, method, results, elapsed, holder, xmlsec, sql, logins, top) -> None:
    print(
        f"\n== {method}: {logins} logins, one at a time, {elapsed / logins * 1e3:.1f} ms", file=out
    )
    print(f"   the app's own time: {holder.seconds / logins * 1e3:.1f} ms per login", file=out)
    for name, (count, seconds) in sorted(step_totals(results).items(), key=lambda kv: -kv[1][1]):
        per = f" x{count / logins:.0f}" if count > logins else ""
        print(f"   {name:<40}{per:>4} {seconds / logins * 1e3:8.1f} ms", file=out)
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
    stats = io.StringIO()
    pstats.Stats(holder.profile, stream=stats).sort_stats("cumulative").print_stats(top)
    print(stats.getvalue(), file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.login_profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--logins", type=int, default=20, help="profiled logins per method")
    parser.add_argument("--warm", type=int, default=3, help="logins before profiling")
    parser.add_argument("--top", type=int, default=40, help="functions shown")
    args = parser.parse_args(argv)
    with (
        dataset.throwaway_database("postgresql", prefix="monespace_loginload") as url,
        tempfile.TemporaryDirectory(prefix="monespace-login-profile-") as tmp,
    ):
        dataset.prepare(url)
        print(profile(url, Path(tmp), args.logins, args.warm, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
