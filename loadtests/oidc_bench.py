"""The OpenID provider against node oidc-provider: ``python -m loadtests.oidc_bench [--quick]``.

Both providers (:mod:`loadtests.oidc_sides`) are loaded by the same generator (2 processes x 8
keep-alive connections), in alternating rounds, for each kind of request: the discovery
document, the JWK Set, ``client_credentials`` at the token endpoint, introspection of an active
person's access token (RFC 7662), userinfo, the redemption of authorization codes (each used
once, PKCE S256) and refresh-token rotation (each refresh token used once). Before any timing,
one request of each kind must answer 200 with what it is for (a token, ``active: true``, a
``sub``...): a benchmark of error answers is worthless, so the run stops otherwise.

It prints, per kind of request, requests per second, p50 and p99 on each side and the ratio
Mon Espace / node, PASS or FAIL against the targets (ratio ≥ 0.5, Mon Espace p99 ≤ 25 ms), and
the peak RSS of Mon Espace's workers (< 300 MB); the exit status is 1 if a target is missed,
2 if the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.bench import MB, Row, machine, render
from loadtests.loadgen import LoadGenerator, LoadResult, exchange, form, get
from loadtests.oidc_sides import VERIFIER, BenchmarkError, Side
from loadtests.servers import SERVERS

PROJECT, NODE = "Mon Espace", "node oidc-provider"
ENDPOINTS = (
    "discovery",
    "jwks",
    "client_credentials",
    "introspection",
    "userinfo",
    "authorization_code",
    "refresh_token",
)
# Requests that use up what they carry, and what is minted for them.
SINGLE_USE = {"authorization_code": "codes", "refresh_token": "refresh_tokens"}
ACCESS_TOKENS = 16  # a person's access tokens, introspected and presented to userinfo in turn
PROCESSES, CONNECTIONS = 2, 8  # 16 keep-alive connections
TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0
TARGET_RSS = 300 * MB
MAX_MINTED = 20_000  # per side and round


@dataclass(frozen=True)
class Budget:
    rounds: int  # alternating rounds of both sides, per kind of request
    seconds: float  # per round and side
    warmup: float  # per round and side, for requests that can be sent again


FULL = Budget(rounds=3, seconds=5.0, warmup=1.0)
QUICK = Budget(rounds=2, seconds=1.5, warmup=0.3)
TINY = Budget(rounds=1, seconds=0.3, warmup=0.1)  # the test's: does every part still work?


@dataclass
class Measured:
    """The merged rounds of each side for one kind of request."""

    endpoint: str
    sides: dict[str, LoadResult] = field(default_factory=dict)

    def add(self, side: str, result: LoadResult) -> None:
        self.sides[side] = self.sides[side] + result if side in self.sides else result


# -- requests and their checks -------------------------------------------------------------


def requests_for(side: Side, endpoint: str, values: Sequence[str] = ()) -> list[bytes]:
    """The requests of ``endpoint`` for ``side``; ``values``: the codes, refresh tokens or
    access tokens they carry."""
    p, port, client = side.paths, side.port, side.client
    if endpoint == "discovery":
        return [get(p.discovery, port)]
    if endpoint == "jwks":
        return [get(p.jwks, port)]
    if endpoint == "client_credentials":
        return [form(p.token, {"grant_type": "client_credentials"}, port, client)]
    if endpoint == "introspection":
        return [form(p.introspection, {"token": t}, port, client) for t in values]
    if endpoint == "userinfo":
        return [get(p.userinfo, port, bearer=t) for t in values]
    if endpoint == "authorization_code":
        fields = {"grant_type": "authorization_code", "redirect_uri": side.redirect_uri}
        fields["code_verifier"] = VERIFIER
        return [form(p.token, {**fields, "code": c}, port, client) for c in values]
    if endpoint == "refresh_token":
        fields = {"grant_type": "refresh_token"}
        return [form(p.token, {**fields, "refresh_token": r}, port, client) for r in values]
    raise ValueError(f"unknown endpoint {endpoint!r}")


def _answers(endpoint: str, answer: dict, value: str | None) -> bool:
    """Whether a 200 answer holds what the request is for."""
    if endpoint == "discovery":
        return bool(answer.get("issuer") and answer.get("token_endpoint"))
    if endpoint == "jwks":
        return any(key.get("kty") == "RSA" for key in answer.get("keys", []))
    if endpoint == "client_credentials":
        return bool(answer.get("access_token"))
    if endpoint == "introspection":
        return answer.get("active") is True
    if endpoint == "userinfo":
        return bool(answer.get("sub"))
    if endpoint == "authorization_code":
        return all(answer.get(k) for k in ("access_token", "id_token", "refresh_token"))
    if endpoint == "refresh_token":  # rotated: a new refresh token in place of the one sent
        return bool(answer.get("access_token")) and answer.get("refresh_token") not in (None, value)
    raise ValueError(f"unknown endpoint {endpoint!r}")


def check(side: Side, endpoint: str, request: bytes, value: str | None = None) -> None:
    """Send ``request`` once; :class:`BenchmarkError` unless it is answered 200 with what
    it is for."""
    status, body = exchange(side.port, request)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or not _answers(endpoint, answer, value):
        raise BenchmarkError(
            f"{side.name}: {endpoint} is not answered as it should be, so it is not timed: "
            f"HTTP {status}: {body[:300]!r}"
        )


# -- the runs ------------------------------------------------------------------------------


def _timed(result: LoadResult, side: Side, endpoint: str) -> LoadResult:
    if result.errors:
        raise BenchmarkError(
            f"{side.name}: {endpoint}: {result.errors} of {result.requests} requests failed; "
            f"first: {result.first_error}"
        )
    if result.requests == 0:
        raise BenchmarkError(f"{side.name}: {endpoint}: no request completed")
    return result


def _run_repeatable(load: LoadGenerator, side: Side, endpoint: str, requests, budget) -> LoadResult:
    result = load.run(side.port, requests, budget.seconds, budget.warmup)
    return _timed(result, side, endpoint)


def _run_single_use(
    load: LoadGenerator,
    side: Side,
    endpoint: str,
    rate: float,
    budget: Budget,
    report: Callable[[str], None],
) -> LoadResult:
    """Mint enough for ``rate`` requests per second (the last measured), check one, send each
    of the others once. A side that uses them all up early is timed until its last answer."""
    connections = load.processes * load.connections
    count = min(MAX_MINTED, int(rate * budget.seconds * 1.25) + connections)
    started = time.monotonic()
    values = side.mint(SINGLE_USE[endpoint], count + 1)
    report(
        f"    {side.name}: {count + 1} {SINGLE_USE[endpoint]} in {time.monotonic() - started:.1f} s"
    )
    requests = requests_for(side, endpoint, values)
    check(side, endpoint, requests[0], values[0])
    result = load.run(
        side.port, requests[1:], budget.seconds, 0, max_requests=len(requests[1:]) // connections
    )
    return _timed(result, side, endpoint)


def measure(
    sides: Sequence[Side],
    load: LoadGenerator,
    budget: Budget,
    report: Callable[[str], None] = lambda _msg: None,
) -> list[Measured]:
    """Every kind of request on every side, checked and then timed in alternating rounds."""
    tokens = {side.name: side.mint("access_tokens", ACCESS_TOKENS) for side in sides}
    prepared = {
        (side.name, endpoint): requests_for(side, endpoint, tokens[side.name])
        for side in sides
        for endpoint in ENDPOINTS
        if endpoint not in SINGLE_USE
    }
    for (name, endpoint), requests in prepared.items():
        side = next(s for s in sides if s.name == name)
        for request in requests:
            check(side, endpoint, request)
    # How many codes or refresh tokens to mint for a round: the last rate measured for the
    # same requests; before any, that of code redemptions (for refreshes), else a third of
    # that of client credentials (a token endpoint that does less than a redemption).
    rate: dict[tuple[str, str], float] = {}
    measured: list[Measured] = []
    for endpoint in ENDPOINTS:
        m = Measured(endpoint)
        for round_ in range(budget.rounds):
            order = sides if round_ % 2 == 0 else list(reversed(sides))
            report(
                f"  {endpoint}, round {round_ + 1}/{budget.rounds}: "
                + ", then ".join(s.name for s in order)
            )
            for side in order:
                if endpoint in SINGLE_USE:
                    guess = (
                        rate.get((side.name, endpoint))
                        or rate.get((side.name, "authorization_code"))
                        or rate[(side.name, "client_credentials")] / 3
                    )
                    result = _run_single_use(load, side, endpoint, guess, budget, report)
                else:
                    requests = prepared[(side.name, endpoint)]
                    result = _run_repeatable(load, side, endpoint, requests, budget)
                rate[(side.name, endpoint)] = result.rate
                m.add(side.name, result)
        measured.append(m)
    return measured


# -- the table -----------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.2f} ms"


def rows(measured: Sequence[Measured], project_rss: int, node_rss: int) -> list[Row]:
    """Per kind of request: a row per side and the ratio; then the peak RSS."""
    table: list[Row] = []
    for m in measured:
        ours, theirs = m.sides[PROJECT], m.sides[NODE]
        p99 = ours.percentile(0.99)
        ratio = ours.rate / theirs.rate if theirs.rate else float("nan")
        table += [
            Row(
                f"{m.endpoint}: {PROJECT}",
                _ms(ours.percentile(0.5)),
                _ms(p99),
                f"{ours.rate:,.0f} req/s",
                f"p99 ≤ {TARGET_P99_MS:.0f} ms",
                p99 <= TARGET_P99_MS,
            ),
            Row(
                f"{m.endpoint}: {NODE}",
                _ms(theirs.percentile(0.5)),
                _ms(theirs.percentile(0.99)),
                f"{theirs.rate:,.0f} req/s",
            ),
            Row(
                f"{m.endpoint}: {PROJECT} / node",
                value=f"{ratio:.2f}x",
                target=f"≥ {TARGET_RATIO}",
                passed=ratio >= TARGET_RATIO,
            ),
        ]
    table += [
        Row(
            f"peak RSS of a {PROJECT} worker",
            value=f"{project_rss / MB:,.0f} MB",
            target=f"< {TARGET_RSS // MB} MB",
            passed=project_rss < TARGET_RSS,
        ),
        Row(f"peak RSS of the {NODE} process", value=f"{node_rss / MB:,.0f} MB"),
    ]
    return table


# -- the command ---------------------------------------------------------------------------


@dataclass
class Outcome:
    measured: list[Measured]
    rows: list[Row]
    settings: str


def run(
    budget: Budget,
    report: Callable[[str], None],
    workers: int = 2,
    threads: int = 4,
    server: str = "granian",
) -> Outcome:
    """Start both sides on a throw-away PostgreSQL database, measure, stop everything."""
    from loadtests import dataset, oidc_sides
    from loadtests.servers import settings_for

    settings = settings_for(server, workers, threads, worker_class="gthread")
    oidc_sides.install_peer(report)
    with (
        dataset.throwaway_database("postgresql", prefix="monespace_oidcbench") as url,
        tempfile.TemporaryDirectory(prefix="monespace-oidc-bench-") as tmp,
    ):
        report("creating the schema and the demo data...")
        dataset.prepare(url)
        with (
            oidc_sides.project(url, settings, Path(tmp), report) as ours,
            oidc_sides.node_peer(Path(tmp), report) as theirs,
            LoadGenerator(PROCESSES, CONNECTIONS) as load,
        ):
            report(f"load: {PROCESSES} processes x {CONNECTIONS} keep-alive connections")
            measured = measure((ours, theirs), load, budget, report)
            table = rows(measured, ours.peak_rss(), theirs.peak_rss())
        return Outcome(
            measured,
            table,
            f"{settings}; node oidc-provider {oidc_sides.peer_version()}, one process",
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.oidc_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1.5 s (~2 min)")
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="granian",
        help="Mon Espace's server model (default: granian, as production runs it; "
        "gunicorn: gthread workers)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=4, help="per gthread worker, per granian worker"
    )
    args = parser.parse_args(argv)

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        outcome = run(
            QUICK if args.quick else FULL, report, args.workers, args.threads, args.server
        )
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    title = f"Mon Espace vs node oidc-provider{' (--quick)' if args.quick else ''}: {machine()}"
    print(f"\n{title}\n{outcome.settings}")
    print(render("", outcome.rows).lstrip("\n"))
    failed = [r for r in outcome.rows if r.passed is False]
    checked = [r for r in outcome.rows if r.passed is not None]
    print(
        f"\n{len(checked) - len(failed)} of {len(checked)} targets met "
        f"in {time.monotonic() - started:.0f} s" + (": FAIL" if failed else ": PASS")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
