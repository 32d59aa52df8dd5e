"""A firm of many clients: ``python -m loadtests.intermediaries [--quick] [--database ...]``.

A throw-away database (PostgreSQL ``monespace_firms_<pid>`` on
``MONESPACE_BENCH_POSTGRES_URL``, or a SQLite file) gets the demo story, then the demo's
accounting firm (Fiduciaire Démo SRL) is given 2,000 client enterprises with accepted
``fiscalite`` mandates and 50 more client agents, and 50 other persons each own one of those
clients directly, and one enterprise that gave no mandate (written in bulk: COPY on
PostgreSQL). Then, in this process:

- decisions "may this person act for client k in ``fiscalite``?", uncached (facts read and
  the policy asked at every call) and cached (the decision point's hit), for a client agent of
  the firm and for a direct owner (of an enterprise that gave no mandate): the ratio firm /
  direct, measured in the same run, should stay near 1 (the facts read for a question do not
  grow with the firm's clients); the direct owner of a client is shown too;
- the espace chooser of a client agent (Flask's test client, a real login session and
  authorization request): the first page, a name search, a BCE number search and a far page,
  against the chooser of the demo's GAP (one enterprise) as the baseline;
- the decision API's searches, uncached (the decision point's cache emptied before each
  call): who may act for a client (the firm's 51 people), and the first and a far page of the
  clients a client agent may act for.

It prints a table with the ratios and PASS or FAIL against the targets (decisions through the
firm / direct: <= 1.5 uncached, <= 2 cached; the chooser's pages: median < 200 ms; a search
page: median < 500 ms, shown also against the cost of 50 uncached decisions, what it mostly
is) and exits 1 when one is missed. ``--quick`` (100 clients, 5
client agents, few rounds) is what the test suite runs, so that the code does not rot.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from authz import db, queries
from authz.engine import get_engine
from loadtests import dataset
from loadtests.bench import Row, machine, render
from monespace import demo

TARGET_RATIO = 1.5  # uncached decisions, firm / direct
TARGET_CACHED_RATIO = 2.0  # cached ones cost microseconds: one more epoch to look up
TARGET_MS = 200.0  # the chooser's pages
TARGET_SEARCH_MS = 500.0  # a search page: up to 50 uncached decisions, and the firm of each
DOMAIN = "fiscalite"
BASE = 4_000_000  # ids of the generated rows, clear of the demo's
STAMP = "2025-01-01 00:00:00"
VICTOR = "78021414619"  # the firm's GAP in the demo
MARC = "85020200387"  # the demo's GAP of the Boulangerie: the chooser's baseline
CALLBACK = "http://127.0.0.1:8000/demo-rp/callback"


@dataclass(frozen=True)
class Size:
    clients: int
    agents: int
    owners: int
    rounds: int  # calls timed per measure (decisions: per question kind)


FULL = Size(clients=2_000, agents=50, owners=50, rounds=400)
QUICK = Size(clients=100, agents=5, owners=5, rounds=10)


def client_bce(k: int) -> str:
    first = f"0{7_000_000 + k:07d}"
    return first + f"{97 - int(first) % 97:02d}"


def agent_nrn(k: int) -> str:
    return dataset.nrn(k)


def owner_nrn(k: int) -> str:
    return dataset.nrn(100_000 + k)


def client_name(k: int) -> str:
    return f"Client {k:05d} SRL"


def plain_bce(k: int) -> str:
    """An enterprise that gave no mandate: owner k owns it too."""
    first = f"0{7_500_000 + k:07d}"
    return first + f"{97 - int(first) % 97:02d}"


# -- the data ---------------------------------------------------------------------------------


def build(size: Size) -> None:
    """The firm's clients, mandates, client agents, and the clients' direct owners, in bulk."""
    firm = queries.enterprise(demo.FIRM_BCE)
    victor = queries.names_by_nrn([VICTOR])[VICTOR]
    today = date.today().isoformat()
    decided = (victor.id, STAMP, victor.id, STAMP, "")  # proposed, decided by Victor
    writer = dataset.bulk_writer()
    with db.database.atomic():
        plain = BASE + size.clients  # ids of the enterprises without mandates
        enterprises = [(BASE + k, client_bce(k), client_name(k)) for k in range(size.clients)]
        enterprises += [(plain + k, plain_bce(k), f"Plain {k:03d}") for k in range(size.owners)]
        writer.write(
            "enterprise",
            dataset.ENTERPRISE_COLUMNS,
            (
                (row_id, bce, name, "company", "active", 0, STAMP, STAMP)
                for row_id, bce, name in enterprises
            ),
        )
        writer.write(
            "enterprise_mandate",
            (
                "id",
                "mandator_id",
                "mandatee_id",
                "domains",
                "valid_from",
                "status",
                "message",
                "proposed_by_id",
                "proposed_at",
                "decided_by_id",
                "decided_at",
                "reason",
            ),
            (
                (BASE + k, BASE + k, firm.id, DOMAIN, today, "accepted", "", *decided)
                for k in range(size.clients)
            ),
        )
        people = [(agent_nrn(k), f"Agent {k:03d}") for k in range(size.agents)]
        people += [(owner_nrn(k), f"Owner {k:03d}") for k in range(size.owners)]
        writer.write(
            "person",
            dataset.PERSON_COLUMNS,
            (
                (BASE + i, nrn, "Bench", name, False, "fr", STAMP, STAMP)
                for i, (nrn, name) in enumerate(people)
            ),
        )
        columns = ("id", "person_id", "enterprise_id", "role", "scope", "source", "granted_at")
        grants = [
            (BASE + k, BASE + k, firm.id, "client_agent", "", "direct", STAMP)
            for k in range(size.agents)
        ]
        owners = BASE + size.agents  # person ids of the owners
        grants += [  # owner k owns client k directly
            (owners + k, owners + k, BASE + k, "owner", "", "direct", STAMP)
            for k in range(size.owners)
        ]
        grants += [  # and an enterprise that gave no mandate
            (owners + size.owners + k, owners + k, plain + k, "owner", "", "direct", STAMP)
            for k in range(size.owners)
        ]
        writer.write("role_grant", columns, grants)
    writer.finish()


# -- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p99(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def timed(name: str, calls: int, call: Callable[[int], object], warmup: int = 2) -> Timing:
    """Time ``call(i)`` for i in range(calls), each alone, after ``warmup`` untimed calls."""
    for i in range(warmup):
        call(i)
    seconds = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - started)
    return Timing(name, seconds)


def decisions(app, size: Size) -> dict[str, Timing]:
    """Uncached and cached decisions, through the firm and direct."""
    engine = get_engine()
    point = app.extensions["monespace.decisions"]
    n = min(size.agents, size.owners)

    def firm_question(i: int) -> tuple[str, str]:
        return agent_nrn(i % size.agents), client_bce((i * 37) % size.clients)

    def direct_question(i: int) -> tuple[str, str]:
        return owner_nrn(i % size.owners), client_bce(i % size.owners)

    def plain_question(i: int) -> tuple[str, str]:
        return owner_nrn(i % size.owners), plain_bce(i % size.owners)

    def uncached(question):
        def call(i: int) -> None:
            nrn, bce = question(i)
            if not engine.decide(nrn, "act_for", bce, DOMAIN):
                raise RuntimeError(f"{nrn} may not act for {bce}")

        return call

    def cached(question):
        def call(i: int) -> None:
            nrn, bce = question(i % n)
            if not point.evaluate(nrn, "act_for", bce, DOMAIN).allowed:
                raise RuntimeError(f"{nrn} may not act for {bce}")

        return call

    return {
        "firm uncached": timed("firm uncached", size.rounds, uncached(firm_question), 20),
        "direct uncached": timed("direct uncached", size.rounds, uncached(plain_question), 20),
        "client owner uncached": timed(
            "client owner uncached", size.rounds, uncached(direct_question), 20
        ),
        "firm cached": timed("firm cached", size.rounds, cached(firm_question), n),
        "direct cached": timed("direct cached", size.rounds, cached(plain_question), n),
    }


def logged_in_client(app, nrn: str):
    """A test client holding a login session of ``nrn``."""
    from idp_bridge.browser_session import SESSION_COOKIE
    from idp_bridge.sessions import SessionPolicy, open_session
    from idp_bridge.shared.identity import VerifiedIdentity

    identity = VerifiedIdentity(
        nrn=nrn,
        given_name="Bench",
        family_name=nrn,
        acr="http://eidas.europa.eu/LoA/high",
        amr=("eid",),
        upstream="eid",
        session_ref=f"intermediaries-bench-{nrn}",
    )
    with app.app_context():
        db.database.connect(reuse_if_open=True)
        raw_id, _session = open_session(identity, SessionPolicy())
        db.database.close()
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, raw_id, domain="localhost")
    return client


def chooser_url(client) -> str:
    """The espace chooser of a new authorization request of the demo client."""
    query = {
        "response_type": "code",
        "client_id": demo.DEMO_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "scope": "openid enterprise",
        "state": "bench",
        "nonce": "bench",
    }
    response = client.get("/authorize?" + urlencode(query))
    if response.status_code != 303 or "/authorize/espace" not in response.headers["Location"]:
        raise RuntimeError(f"no chooser: {response.status_code} {response.get_data()[:300]!r}")
    return response.headers["Location"]


def pages(app, size: Size) -> dict[str, Timing]:
    """The chooser's pages, of a client agent and of the baseline (the demo's GAP)."""
    agent = logged_in_client(app, agent_nrn(0))
    url = chooser_url(agent)
    far = _mandate_id(size.clients - 25)
    baseline = logged_in_client(app, MARC)
    baseline_url = chooser_url(baseline)
    asked = {
        "chooser, baseline (one enterprise)": (baseline, baseline_url, "Boulangerie"),
        "chooser, first page": (agent, url, "via Fiduciaire"),
        "chooser, name search": (
            agent,
            f"{url}&q=Client+{size.clients // 3:05d}",
            client_name(size.clients // 3),
        ),
        "chooser, BCE number search": (
            agent,
            f"{url}&q={client_bce(size.clients // 2)[4:]}",
            client_name(size.clients // 2),
        ),
        "chooser, far page": (agent, f"{url}&after={far}", "Première page"),
    }
    found = {}
    for name, (client, path, expect) in asked.items():

        def call(_i: int, client=client, path=path, expect=expect) -> None:
            response = client.get(path)
            if response.status_code != 200 or expect.encode() not in response.get_data():
                raise RuntimeError(f"{path}: {response.status_code}")

        found[name] = timed(name, max(3, size.rounds // 20), call)
    return found


def _mandate_id(k: int) -> int:
    return BASE + k


def searches(app, size: Size) -> dict[str, Timing]:
    """The decision API's searches, each with the decision point's cache emptied first."""
    point = app.extensions["monespace.decisions"]
    client = app.test_client()
    secret = f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}"
    headers = {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
    who = {
        "subject": {"type": "person"},
        "action": {"name": "act_for"},
        "resource": {"type": "enterprise", "id": client_bce(size.clients // 2)},
    }
    which = {
        "subject": {"type": "person", "id": agent_nrn(0)},
        "action": {"name": "act_for"},
        "resource": {"type": "enterprise"},
    }

    def post(kind: str, body: dict) -> dict:
        response = client.post(f"/access/v1/search/{kind}", json=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"search {kind}: {response.status_code} {response.get_json()}")
        return response.get_json()

    far_body = dict(which)
    for _page in range(max(1, size.clients // 50 - 2)):  # to a far page, once
        token = post("resource", far_body)["page"]["next_token"]
        if not token:
            break
        far_body = {**which, "page": {"token": token}}
    asked = {
        "search: who may act for a client": ("subject", who, 1 + size.agents),
        "search: clients of an agent, first page": ("resource", which, 50),
        "search: clients of an agent, far page": ("resource", far_body, 1),
    }
    found = {}
    for name, (kind, body, least) in asked.items():

        def call(_i: int, kind=kind, body=body, least=least, name=name) -> None:
            point.forget()
            results = post(kind, body)["results"]
            if len(results) < min(least, 50):
                raise RuntimeError(f"{name}: {len(results)} results")

        found[name] = timed(name, max(3, size.rounds // 20), call)
    return found


def run(kind: str, size: Size) -> tuple[dict[str, Timing], float]:
    from authz.api.edge import EDGE
    from authz.epochs import PostgresEpochTracker

    with dataset.demo_app(kind, "firms") as app:
        # The epoch tracker starts on the first request; until it is healthy (PostgreSQL's
        # listener connected) no cached allow is served.
        app.extensions[EDGE].start_tracker()
        tracker = app.extensions["monespace.decisions"].tracker
        if isinstance(tracker, PostgresEpochTracker):
            tracker.wait_until_healthy()
        with app.app_context():
            db.database.connect(reuse_if_open=True)
            started = time.perf_counter()
            build(size)
            built = time.perf_counter() - started
            timings = decisions(app, size)
            db.database.close()
        timings |= pages(app, size)
        timings |= searches(app, size)
    return timings, built


# -- the table --------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def rows(timings: dict[str, Timing]) -> list[Row]:
    found = []
    for through, direct, what, target in (
        ("firm uncached", "direct uncached", "uncached decision", TARGET_RATIO),
        ("firm cached", "direct cached", "cached decision", TARGET_CACHED_RATIO),
    ):
        firm, own = timings[through], timings[direct]
        ratio = firm.median / own.median
        found += [
            Row(f"{what}, direct owner", _duration(own.median), _duration(own.p99)),
            Row(
                f"{what}, client agent through the firm",
                _duration(firm.median),
                _duration(firm.p99),
            ),
            Row(
                f"{what}: firm / direct",
                value=f"{ratio:.2f}x",
                target=f"<= {target}x",
                passed=ratio <= target,
            ),
        ]
    # A direct owner of a client that gave mandates: the policy tries the mandates too.
    client_owner = timings["client owner uncached"]
    found.append(
        Row(
            "uncached decision, direct owner of a client that gave mandates",
            _duration(client_owner.median),
            _duration(client_owner.p99),
            value=f"{client_owner.median / timings['direct uncached'].median:.2f}x direct",
        )
    )
    baseline = timings["chooser, baseline (one enterprise)"]
    for name, timing in timings.items():
        if name.startswith("chooser"):
            ratio = timing.median / baseline.median
            found.append(
                Row(
                    name,
                    _duration(timing.median),
                    _duration(timing.p99),
                    value="" if timing is baseline else f"{ratio:.1f}x baseline",
                    target=f"median < {TARGET_MS:.0f} ms",
                    passed=timing.median * 1e3 < TARGET_MS,
                )
            )
    fifty = 50 * timings["firm uncached"].median
    for name, timing in timings.items():
        if name.startswith("search"):
            found.append(
                Row(
                    name,
                    _duration(timing.median),
                    _duration(timing.p99),
                    value=f"{timing.median / fifty:.2f}x 50 decisions",
                    target=f"median < {TARGET_SEARCH_MS:.0f} ms",
                    passed=timing.median * 1e3 < TARGET_SEARCH_MS,
                )
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.intermediaries", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="100 clients, 5 client agents")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    failed = False
    for kind in kinds:
        timings, built = run(kind, size)
        table = rows(timings)
        failed |= any(row.passed is False for row in table)
        print(
            render(
                f"a firm of {size.clients} clients and {size.agents} client agents on {kind} "
                f"(built in {built:.1f} s), {date.today()}; {machine()}",
                table,
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
