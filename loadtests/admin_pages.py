"""The access pages of a large enterprise: ``python -m loadtests.admin_pages [--quick]``.

A throw-away PostgreSQL database (``monespace_adminpages_<pid>``, on
``MONESPACE_BENCH_POSTGRES_URL``; ``--database sqlite`` for a file) gets the demo story, then
10,000 members on the demo's Boulangerie (each a person with a role grant, written with COPY),
1,000 pending role requests and 500 open invitations. The demo app (in this process, through
Flask's test client) serves the pages to the Boulangerie's GAP: the first page of the members,
a name search, an NRN search in another spelling, a sort by end date, a far page, the members
ending soon, the requests and invitations pages, « Mes entreprises », the history, and the
members' CSV export (the whole file). Each is asked ``--rounds`` times; the median is compared
with the target (200 ms). It prints a table with PASS or FAIL and exits 1 when a page misses.
``--quick`` (200 members, 3 rounds) is what the test suite runs, so that the code does not rot.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta

from authz import db, queries
from authz.identifiers import format_nrn
from loadtests import dataset
from loadtests.bench import Row, machine, render

TARGET_MS = 200.0
BOULANGERIE = "0123456749"
GAP_NRN = "85020200387"  # Marc, the demo's GAP of the Boulangerie
MEMBER_BASE = 3_000_000  # ids of the generated rows, clear of the demo's and the dataset's
ROLES = ("reader", "agent", "owner", "access_manager", "agent")
SOURCES = ("direct", "request", "invitation")
STAMP = "2025-01-01 00:00:00"


def member_nrn(k: int) -> str:
    return dataset.nrn(k)


def add_members(
    enterprise_id: int,
    granted_by: int,
    count: int,
    *,
    requests: int = 0,
    invitations: int = 0,
    today: date | None = None,
) -> None:
    """Add ``count`` persons with a role grant on the enterprise (every 7th ending within
    120 days), ``requests`` pending role requests from the first of them and ``invitations``
    open invitations, in bulk (COPY on PostgreSQL). Person ``k`` is ``Member k`` (``k``
    zero-padded to 5 digits) with the NRN :func:`member_nrn`."""
    today = today or date.today()
    # Above the rows there are (a database used before may have moved its sequences there).
    base = max(
        [MEMBER_BASE]
        + [
            db.database.execute_sql(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0]  # noqa: S608
            for table in ("person", "role_grant", "role_request", "invitation")
        ]
    )
    writer = dataset.bulk_writer()
    later = (today + timedelta(days=30)).isoformat() + " 00:00:00"
    with db.database.atomic():
        writer.write(
            "person",
            dataset.PERSON_COLUMNS,
            (
                (
                    base + k,
                    member_nrn(k),
                    f"Given{k % 97}",
                    f"Member {k:05d}",
                    False,
                    "fr",
                    STAMP,
                    STAMP,
                )
                for k in range(count)
            ),
        )
        writer.write(
            "role_grant",
            (
                "id",
                "person_id",
                "enterprise_id",
                "role",
                "scope",
                "valid_until",
                "source",
                "granted_by_id",
                "granted_at",
            ),
            (
                (
                    base + k,
                    base + k,
                    enterprise_id,
                    ROLES[k % len(ROLES)],
                    "",
                    (today + timedelta(days=k % 120)).isoformat() if k % 7 == 0 else None,
                    SOURCES[k % len(SOURCES)],
                    granted_by,
                    f"2025-{1 + k % 12:02d}-{1 + k % 28:02d} 00:00:00",
                )
                for k in range(count)
            ),
        )
        writer.write(
            "role_request",
            (
                "id",
                "person_id",
                "enterprise_id",
                "role",
                "message",
                "status",
                "created_at",
                "expires_at",
                "reason",
            ),
            (
                (
                    base + k,
                    base + k,
                    enterprise_id,
                    "owner",
                    "",
                    "pending",
                    STAMP,
                    later,
                    "",
                )
                for k in range(min(requests, count))
            ),
        )
        writer.write(
            "invitation",
            (
                "id",
                "enterprise_id",
                "email",
                "role",
                "scope",
                "token_hash",
                "invited_by_id",
                "created_at",
                "expires_at",
            ),
            (
                (
                    base + k,
                    enterprise_id,
                    f"invite{k}@example.be",
                    "agent",
                    "",
                    hashlib.sha256(f"admin-pages-{k}".encode()).hexdigest(),
                    granted_by,
                    STAMP,
                    later,
                )
                for k in range(invitations)
            ),
        )
    writer.finish()


@dataclass(frozen=True)
class Measure:
    name: str
    path: str
    expect: str  # text the answer must hold


def measures(members: int) -> list[Measure]:
    base = f"/entreprises/{BOULANGERIE}/acces"
    far = max(1, members // 50 - 3)
    spelled = format_nrn(member_nrn(members // 2))  # 85.07.30-033.61 style
    return [
        Measure("members, first page", base, "membres trouvés"),
        Measure("members, name search", f"{base}?q=Member+{members // 3:05d}", "1 membre trouvé"),
        Measure("members, NRN search", f"{base}?q={spelled}", "1 membre trouvé"),
        Measure("members, sort by end date", f"{base}?tri=until&ordre=desc", "membres trouvés"),
        Measure("members, far page", f"{base}?page={far}&tri=name", 'aria-current="page"'),
        Measure("members, ending soon", f"{base}?fin=30&role=agent", "membres trouvés"),
        Measure("pending requests", f"{base}/demandes", "demandes trouvées"),
        Measure("invitations", f"{base}/invitations?tri=expiry", "invitations trouvées"),
        Measure("history", f"{base}/historique", "Historique"),
        Measure("Mes entreprises", "/entreprises", "Mes entreprises"),
        Measure("members' CSV export", f"{base}/membres.csv", "Member"),
    ]


@dataclass(frozen=True)
class Timing:
    measure: Measure
    seconds: list[float]
    size: int  # bytes of the last answer

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.seconds) * 1000


def logged_in_client(app):
    """A test client holding a login session of the enterprise's GAP."""
    from idp_bridge.browser_session import SESSION_COOKIE
    from idp_bridge.sessions import SessionPolicy, open_session
    from idp_bridge.shared.identity import VerifiedIdentity

    identity = VerifiedIdentity(
        nrn=GAP_NRN,
        given_name="Marc",
        family_name="Dupont-Démo",
        acr="http://eidas.europa.eu/LoA/high",
        amr=("eid",),
        upstream="eid",
        session_ref="admin-pages-bench",
    )
    raw_id, _session = open_session(identity, SessionPolicy())
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, raw_id, domain="localhost")
    return client


def time_pages(app, members: int, rounds: int) -> list[Timing]:
    client = logged_in_client(app)
    timings = []
    for measure in measures(members):
        seconds, size = [], 0
        for _round in range(rounds + 1):  # the first warms the caches, not counted
            started = time.perf_counter()
            response = client.get(measure.path)
            body = response.get_data()  # a streamed answer is read whole
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or measure.expect.encode() not in body:
                raise RuntimeError(f"{measure.path}: {response.status_code} {body[:300]!r}")
            if _round:
                seconds.append(elapsed)
            size = len(body)
        timings.append(Timing(measure, seconds, size))
    return timings


def run(kind: str, members: int, rounds: int) -> tuple[list[Timing], float]:
    """Build the data, time the pages; the timings and the seconds the data took."""
    with dataset.demo_app(kind, "adminpages") as app:
        with app.app_context():
            db.database.connect(reuse_if_open=True)
            enterprise = queries.enterprise(BOULANGERIE)
            gap = queries.names_by_nrn([GAP_NRN])[GAP_NRN]
            started = time.perf_counter()
            add_members(
                enterprise.id, gap.id, members, requests=members // 10, invitations=members // 20
            )
            built = time.perf_counter() - started
            db.database.close()
        return time_pages(app, members, rounds), built


def rows(timings: list[Timing], target_ms: float = TARGET_MS) -> list[Row]:
    return [
        Row(
            t.measure.name,
            median=f"{t.median_ms:.1f} ms",
            p99=f"{t.max_ms:.1f} ms",
            value=f"{t.size / 1024:.0f} KB",
            target=f"median < {target_ms:.0f} ms",
            passed=t.median_ms < target_ms,
        )
        for t in timings
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--quick", action="store_true", help="200 members, 3 rounds")
    args = parser.parse_args(argv)
    members, rounds = (200, 3) if args.quick else (args.members, args.rounds)
    timings, built = run(args.database, members, rounds)
    table = rows(timings)
    print(
        render(
            f"access pages, {members} members on {args.database} "
            f"(built in {built:.1f} s), {rounds} rounds, {date.today()}; {machine()}",
            table,
        )
    )
    return 0 if all(row.passed for row in table) else 1


if __name__ == "__main__":
    sys.exit(main())
