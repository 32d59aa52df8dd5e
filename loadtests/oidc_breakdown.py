"""Where the OpenID provider's time goes: ``python -m loadtests.oidc_breakdown [--database ...]``.

Each hot endpoint is called through Flask's test client (no sockets, no server) on a
throw-away database holding the demo story, first to warm up, then timed, then under cProfile:
``client_credentials``, the redemption of an authorization code, the rotation of a refresh
token, the introspection of a person's access token, userinfo, the JWK Set and the discovery
document. Codes and refresh tokens are single-use: each request gets its own
(``loadtests.oidc_tokens``). For each endpoint it prints the time per request, the process's
CPU time per request (all of it, and the part spent inside the app's WSGI callable, without
the test client's own work), the SQL statements per request, and the functions with the
largest cumulative time (``--cpu``: of CPU time, leaving out the waits for the database).

Profiling slows everything down, evenly enough that the shares are meaningful; the times
without the profiler are the ones to compare between commits.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from loadtests import dataset, oidc_tokens
from monespace.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

TOP = 18  # functions listed per endpoint


@dataclass
class Endpoint:
    name: str
    call: Callable[[int], object]  # request number -> response
    # Called before each round with its number of requests: single-use codes and refresh
    # tokens are minted just before they are used (a code lives a minute).
    prepare: Callable[[int], None] = lambda _count: None


def _basic() -> dict[str, str]:
    pair = f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def endpoints(app, requests: int) -> list[Endpoint]:
    client = app.test_client()
    basic = _basic()
    form = {**basic, "Content-Type": "application/x-www-form-urlencoded"}
    codes: list[oidc_tokens.Code] = []
    refresh: list[str] = []
    access = [t.access_token for t in oidc_tokens.tokens(app, 50)]

    def more_codes(count: int) -> None:
        codes[:] = oidc_tokens.codes(app, count)

    def more_refresh_tokens(count: int) -> None:
        refresh[:] = (t.refresh_token for t in oidc_tokens.tokens(app, count))

    def post(path: str, body: dict[str, str]):
        return client.post(path, data=urlencode(body), headers=form)

    def checked(response, status: int = 200):
        if response.status_code != status:
            raise RuntimeError(f"HTTP {response.status_code}: {response.data[:300]!r}")
        return response

    def code(n: int):
        c = codes.pop()
        body = {
            "grant_type": "authorization_code",
            "code": c.code,
            "redirect_uri": oidc_tokens.REDIRECT_URI,
            "code_verifier": c.verifier,
        }
        return checked(post("/token", body))

    def introspect(n: int):
        response = checked(post("/introspect", {"token": access[n % len(access)]}))
        if not response.get_json()["active"]:
            raise RuntimeError("the access token is not active")
        return response

    return [
        Endpoint(
            "client_credentials",
            lambda n: checked(post("/token", {"grant_type": "client_credentials"})),
        ),
        Endpoint("authorization_code", code, more_codes),
        Endpoint(
            "refresh_token",
            lambda n: checked(
                post("/token", {"grant_type": "refresh_token", "refresh_token": refresh.pop()})
            ),
            more_refresh_tokens,
        ),
        Endpoint("introspection (a person's token)", introspect),
        Endpoint(
            "userinfo",
            lambda n: checked(
                client.get(
                    "/userinfo", headers={"Authorization": "Bearer " + access[n % len(access)]}
                )
            ),
        ),
        Endpoint("jwks", lambda n: checked(client.get("/jwks"))),
        Endpoint("discovery", lambda n: checked(client.get("/.well-known/openid-configuration"))),
    ]


class StatementCounter:
    """Counts the SQL statements peewee sends (``execute_sql``), and the round trips with
    which the pool checks a connection it hands out (PostgreSQL: a ``SELECT 1``)."""

    def __init__(self, database):
        self.database, self.count, self.checks = database, 0, 0
        self._original = database.execute_sql
        self._adapter = getattr(database, "_adapter", None)
        self._check = getattr(self._adapter, "is_connection_closed", None)

    def __enter__(self):
        def counting(*args, **kwargs):
            self.count += 1
            return self._original(*args, **kwargs)

        def checking(conn):
            self.checks += 1
            return self._check(conn)

        self.database.execute_sql = counting
        if self._check is not None:
            self._adapter.is_connection_closed = checking
        return self

    def __exit__(self, *_exc):
        self.database.execute_sql = self._original
        if self._check is not None:
            del self._adapter.is_connection_closed


def _where(key: tuple[str, int, str]) -> str:
    file, line, function = key
    if file == "~":
        return function
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker)[-1]
            break
    else:
        file = file.replace(os.getcwd() + "/", "")
    return f"{file}:{line} {function}"


class WsgiCpu:
    """The process's CPU time spent inside the app's WSGI callable (the test client's own
    work of building each request left out)."""

    def __init__(self, app):
        self.app, self.seconds = app, 0.0

    def __enter__(self):
        inner = self.app.wsgi_app

        def timed(environ, start_response):
            started = time.process_time()
            try:
                return inner(environ, start_response)
            finally:
                self.seconds += time.process_time() - started

        self.app.wsgi_app = timed
        self._inner = inner
        return self

    def __exit__(self, *_exc):
        self.app.wsgi_app = self._inner


def profile(endpoint: Endpoint, requests: int, app, cpu_profile: bool = False) -> list[str]:
    from authz import db

    endpoint.prepare(min(requests, 50))
    for n in range(min(requests, 50)):  # warm-up
        endpoint.call(n)
    endpoint.prepare(requests)
    times = []
    cpu_started = time.process_time()
    with StatementCounter(db.database.obj) as statements, WsgiCpu(app) as wsgi:
        for n in range(requests):
            started = time.perf_counter()
            endpoint.call(n)
            times.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu_started) / requests
    endpoint.prepare(requests)
    profiler = cProfile.Profile(time.process_time) if cpu_profile else cProfile.Profile()
    profiler.enable()
    for n in range(requests):
        endpoint.call(n)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(tt for _cc, _n, tt, _ct, _callers in stats.stats.values())
    times.sort()
    lines = [
        f"{endpoint.name}: median {statistics.median(times) * 1e3:.2f} ms, "
        f"p99 {times[int(len(times) * 0.99)] * 1e3:.2f} ms, CPU {cpu * 1e6:,.0f} µs "
        f"({wsgi.seconds / requests * 1e6:,.0f} µs in the app), "
        f"{statements.count / requests:.1f} SQL statements and "
        f"{statements.checks / requests:.1f} pool checks per request "
        f"({requests} requests; below, cProfile{' of CPU time' if cpu_profile else ''}, "
        "per request)"
    ]
    ranked = sorted(
        (
            (ct, key)
            for key, (_cc, _n, _tt, ct, _callers) in stats.stats.items()
            if "oidc_breakdown" not in key[0] and "werkzeug/test.py" not in key[0]
        ),
        reverse=True,
    )
    for ct, key in ranked[:TOP]:
        lines.append(
            f"  {ct / requests * 1e3:7.3f} ms {100 * ct / total:5.1f} %  {_where(key)[:110]}"
        )
    own = sorted(
        ((tt, key) for key, (_cc, _n, tt, _ct, _callers) in stats.stats.items()), reverse=True
    )
    lines.append("  largest own time:")
    for tt, key in own[:6]:
        lines.append(
            f"  {tt / requests * 1e3:7.3f} ms {100 * tt / total:5.1f} %  {_where(key)[:110]}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.oidc_breakdown", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--requests", type=int, default=300, help="per endpoint and round")
    parser.add_argument("--only", help="endpoints whose name contains this")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="profile the process's CPU time, not the time passed (leaves the database's out)",
    )
    args = parser.parse_args(argv)
    from monespace.app import create_app

    with dataset.throwaway_database(args.database) as url:
        dataset.prepare(url)
        with tempfile.TemporaryDirectory(prefix="monespace-oidc-breakdown-") as tmp:
            app = create_app(
                {"database_url": url, "mode": "demo", "data_dir": tmp, "decision_log": "off"}
            )
            print(
                f"database: {args.database} ({os.cpu_count()} cores); Flask test client, "
                "one request at a time"
            )
            try:
                for endpoint in endpoints(app, args.requests):
                    if args.only and args.only not in endpoint.name:
                        continue
                    print("\n".join(profile(endpoint, args.requests, app, args.cpu)), flush=True)
            finally:
                app.extensions["monespace.decisions"].tracker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
