"""The OpenID provider's hot endpoints over HTTP: ``python -m loadtests.oidc_http``.

granian (as production runs it, as ``loadtests.bench``) serves the app on a
throw-away database holding the demo story; the load generator of ``loadtests.loadgen``
(``--processes`` x ``--connections`` keep-alive connections, 2 x 8 by default) loads one
endpoint at a time: ``client_credentials``, the introspection of a person's access token,
userinfo, the rotation of a refresh token, the redemption of an authorization code, the JWK
Set and the discovery document. Codes and refresh tokens are single-use: they are minted in
this process before each run (``loadtests.oidc_tokens``), at most ``--single-use`` of them, so
those runs end when they are used up; the other requests are first sent once on each of 12
connections, so that every worker has answered them (``loadgen.warm``). Every request must be
answered 200, else the run fails.

The generator competes with the server and PostgreSQL for the machine's cores: numbers depend
on the machine and on whatever else runs on it; compare runs of one machine, alternating.
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from loadtests import dataset, oidc_tokens
from loadtests.loadgen import HOST, LoadGenerator, LoadResult, warm
from loadtests.servers import GranianSettings, Server, serve
from monespace.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

BASIC = "Basic " + base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()


def form_post(path: str, fields: dict[str, str], port: int) -> bytes:
    body = urlencode(fields).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Authorization: {BASIC}",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def get(path: str, port: int, authorization: str | None = None) -> bytes:
    head = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if authorization:
        head.append(f"Authorization: {authorization}")
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def _line(name: str, result: LoadResult) -> str:
    return (
        f"  {name:<34} {result.rate:8,.0f} req/s  p50 {result.percentile(0.5):6.2f} ms  "
        f"p99 {result.percentile(0.99):6.2f} ms  ({result.requests:,} requests)"
    )


def _checked(result: LoadResult, server: Server) -> LoadResult:
    if result.errors or not result.requests:
        raise RuntimeError(
            f"{result.errors} of {result.requests} requests failed; first: "
            f"{result.first_error}\n{server.log_tail()}"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.oidc_http", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured, per endpoint")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every endpoint")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8, help="per process")
    parser.add_argument("--single-use", type=int, default=4000, help="codes, refresh tokens")
    parser.add_argument("--only", help="endpoints whose name contains this")
    args = parser.parse_args(argv)
    from monespace.app import create_app

    settings = GranianSettings()
    connections = args.processes * args.connections
    with (
        dataset.throwaway_database("postgresql") as url,
        tempfile.TemporaryDirectory(prefix="monespace-oidc-http-") as tmp,
    ):
        dataset.prepare(url)
        work = Path(tmp)
        env = {
            "MONESPACE_MODE": "demo",
            "MONESPACE_DATABASE_URL": url,
            "MONESPACE_DATA_DIR": str(work / "instance"),
            "MONESPACE_DECISION_LOG": "off",
            "MONESPACE_AUDIT_KEY": dataset.AUDIT_KEY,
        }
        # This process mints codes and tokens in the same database, as the server's node.
        app = create_app(
            {"database_url": url, "mode": "demo", "data_dir": env["MONESPACE_DATA_DIR"]}
        )
        access = [t.access_token for t in oidc_tokens.tokens(app, 64)]
        print(
            f"{settings}; {args.processes} processes x {args.connections} keep-alive "
            f"connections; PostgreSQL; {os.cpu_count()} cores shared with the load generator"
        )
        with (
            serve("monespace.app:create_app()", settings, env, work) as server,
            LoadGenerator(args.processes, args.connections) as load,
        ):
            port = server.port

            def codes() -> list[bytes]:
                return [
                    form_post(
                        "/token",
                        {
                            "grant_type": "authorization_code",
                            "code": c.code,
                            "redirect_uri": oidc_tokens.REDIRECT_URI,
                            "code_verifier": c.verifier,
                        },
                        port,
                    )
                    for c in oidc_tokens.codes(app, args.single_use)
                ]

            def refreshes() -> list[bytes]:
                return [
                    form_post(
                        "/token",
                        {"grant_type": "refresh_token", "refresh_token": t.refresh_token},
                        port,
                    )
                    for t in oidc_tokens.tokens(app, args.single_use)
                ]

            runs: list[tuple[str, Callable[[], list[bytes]], bool]] = [
                (
                    "client_credentials",
                    lambda: [form_post("/token", {"grant_type": "client_credentials"}, port)],
                    False,
                ),
                (
                    "introspection (a person's token)",
                    lambda: [form_post("/introspect", {"token": a}, port) for a in access],
                    False,
                ),
                (
                    "userinfo",
                    lambda: [get("/userinfo", port, f"Bearer {a}") for a in access],
                    False,
                ),
                ("refresh_token", refreshes, True),
                ("authorization_code", codes, True),
                ("jwks", lambda: [get("/jwks", port)], False),
                ("discovery", lambda: [get("/.well-known/openid-configuration", port)], False),
            ]
            for round_ in range(args.rounds):
                if args.rounds > 1:
                    print(f"round {round_ + 1}/{args.rounds}", flush=True)
                for name, requests, single_use in runs:
                    if args.only and args.only not in name:
                        continue
                    batch = requests()
                    if not single_use:  # every worker has answered each request once
                        warm(port, batch, max_seconds=30)
                    result = load.run(
                        port,
                        batch,
                        args.seconds,
                        warmup=0.0 if single_use else 1.0,
                        max_requests=len(batch) // connections if single_use else 1_000_000,
                    )
                    print(_line(name, _checked(result, server)), flush=True)
        app.extensions["monespace.decisions"].tracker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
