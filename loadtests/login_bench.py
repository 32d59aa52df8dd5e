"""Complete logins under load: ``python -m loadtests.login_bench [--quick]``.

The app runs in demo mode under granian (2 workers of 4 threads, production's settings, as
``loadtests.bench``) on a throw-away PostgreSQL database (``monespace_loginload_<pid>``, on
``MONESPACE_BENCH_POSTGRES_URL``), the login simulators in the same app. N clients (threads,
each its own cookie jar: :class:`loadtests.logins.LoginClient`) do complete logins one after
the other: the demo relying party's authorization request, the eID or itsme login through the
simulator, the espace chooser (the person itself, every third login an enterprise), the code,
the token request, the ID token checked. For eID and itsme, at 4 and 16 clients, it prints
logins per second, p50 and p99 of a whole login, the share of each step, and PASS or FAIL
against the target (30 complete logins/s); the exit status is 1 if a target is missed or a
login fails.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loadtests import dataset
from loadtests.bench import Row, machine, render
from loadtests.logins import LoginClient, LoginFailed, LoginResult, SubjectBook, step_totals
from loadtests.servers import GranianSettings, free_port, serve

TARGET = 30.0  # complete logins per second, on 2 cores
BOULANGERIE, ATELIER = "0123456749", "0888888895"
# Demo persons and the enterprise each may act for as the demo client (service domain
# fiscalite); the others log in as themselves.
ENTERPRISE_OF = {"luc": BOULANGERIE, "sophie": BOULANGERIE, "jean": ATELIER}
PERSONS = ("luc", "sophie", "jean", "emma", "marc", "alice", "nora", "paul")


@dataclass(frozen=True)
class Budget:
    seconds: float  # measured, per phase
    warmup: float  # per phase, before measuring
    client_counts: tuple[int, ...] = (4, 16)


FULL = Budget(seconds=20.0, warmup=3.0)
QUICK = Budget(seconds=7.0, warmup=1.5)


@dataclass
class PhaseResult:
    method: str
    clients: int
    seconds: float
    logins: list[LoginResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # CPU seconds used over the measured seconds: the server's processes, the clients' own.
    server_cpu: float | None = None
    client_cpu: float | None = None
    # Of the server's CPU answering requests, the simulators' share (they stand in for FAS
    # and itsme, whose CPU is not the provider's in production).
    simulator_share: float | None = None
    database_cpu: float | None = None  # PostgreSQL's backends, when on this machine

    def cpu_per_login(self, seconds: float | None) -> str:
        return (
            "" if seconds is None or not self.logins else f"{seconds / len(self.logins) * 1e3:.0f}"
        )

    @property
    def rate(self) -> float:
        return len(self.logins) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Seconds a whole login took, at ``fraction`` (0.5, 0.99)."""
        ordered = sorted(r.seconds for r in self.logins)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def plan(n: int) -> tuple[str, str]:
    """The ``n``-th login of a client: (person, espace); every third one for an enterprise."""
    person = PERSONS[n % len(PERSONS)]
    if n % 3 == 2 and person in ENTERPRISE_OF:
        return person, ENTERPRISE_OF[person]
    return person, "citoyen"


def run_phase(
    base_url: str,
    method: str,
    clients: int,
    budget: Budget,
    server_cpu: Callable[[], float] | None = None,
    request_cpu: Callable[[], Mapping[str, float]] | None = None,
    database_cpu: Callable[[], Mapping[int, float]] | None = None,
) -> PhaseResult:
    """``clients`` threads logging in with ``method`` for warm-up + measured seconds; the CPU
    time the server (``server_cpu``: its CPU seconds so far), the database (``database_cpu``:
    its backends' so far) and the clients use meanwhile, and the simulators' share of the
    server's (``request_cpu``: the app's CPU seconds so far by endpoint)."""
    result = PhaseResult(method, clients, budget.seconds)
    subjects, lock = SubjectBook(), threading.Lock()
    start_at = time.monotonic() + 0.2
    measure_from = start_at + budget.warmup
    stop_at = measure_from + budget.seconds

    def client(index: int) -> None:
        browser = LoginClient(base_url)
        for n in itertools.count(index):
            began = time.monotonic()
            if began >= stop_at:
                return
            person, espace = plan(n)
            try:
                login = browser.login(method, person, espace)
                with lock:
                    subjects.check(person, login.sub)
            except (LoginFailed, OSError) as exc:
                with lock:
                    result.failures.append(f"{method} {person}: {exc}")
                browser = LoginClient(base_url)  # a new browser after a failure
                continue
            if began >= measure_from and time.monotonic() <= stop_at + 30:
                with lock:
                    result.logins.append(login)

    while time.monotonic() < start_at:
        time.sleep(0.01)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    if server_cpu is not None:
        time.sleep(max(0.0, measure_from - time.monotonic()))
        server_began, client_began = server_cpu(), time.process_time()
        endpoints_began = _reading(request_cpu)
        backends_began = _reading(database_cpu)
        time.sleep(max(0.0, stop_at - time.monotonic()))
        result.server_cpu = server_cpu() - server_began
        result.client_cpu = time.process_time() - client_began
        backends = _reading(database_cpu)
        if backends and backends_began is not None:
            result.database_cpu = sum(
                spent - backends_began.get(pid, 0.0) for pid, spent in backends.items()
            )
        endpoints = _reading(request_cpu)
        if endpoints is not None and endpoints_began is not None:
            result.simulator_share = simulator_share(endpoints_began, endpoints)
    for thread in threads:
        thread.join(timeout=budget.warmup + budget.seconds + 120)
    return result


def _reading(read: Callable[[], Mapping] | None) -> Mapping | None:
    """What ``read`` gives, or None when there is nothing to read or the reading fails (the
    database busy, a metrics file being written): a reading missed leaves its column out,
    never the phase's logins."""
    if read is None:
        return None
    try:
        return read()
    except Exception:  # any failure of an optional reading
        return None


def simulator_share(began: Mapping[str, float], ended: Mapping[str, float]) -> float | None:
    """Of the CPU time spent answering requests between two readings of the app's counters
    by endpoint, the share of the simulators' endpoints; None if none was counted."""
    spent = {e: ended[e] - began.get(e, 0.0) for e in ended}
    total = sum(spent.values())
    if total <= 0:
        return None
    return sum(v for e, v in spent.items() if e.startswith("/simulators/")) / total


def phase_rows(phases: Sequence[PhaseResult]) -> list[Row]:
    rows = []
    for p in phases:
        rows.append(
            Row(
                f"{p.method} logins, {p.clients} clients",
                f"{p.percentile(0.5) * 1e3:,.0f} ms",
                f"{p.percentile(0.99) * 1e3:,.0f} ms",
                f"{p.rate:,.1f} logins/s",
                f"≥ {TARGET:.0f}/s",
                p.rate >= TARGET,
            )
        )
        if p.server_cpu is not None:
            simulators = ""
            if p.simulator_share is not None:
                share = p.cpu_per_login(p.server_cpu * p.simulator_share)
                simulators = f" (the simulators {share} ms of it)"
            database = (
                ""
                if p.database_cpu is None
                else f", PostgreSQL {p.cpu_per_login(p.database_cpu)} ms"
            )
            rows.append(
                Row(
                    f"  CPU per login: server {p.cpu_per_login(p.server_cpu)} ms{simulators}"
                    f"{database}, clients {p.cpu_per_login(p.client_cpu)} ms"
                )
            )
        if p.failures:
            rows.append(
                Row(
                    f"  failed {p.method} logins, {p.clients} clients",
                    value=str(len(p.failures)),
                    target="0",
                    passed=False,
                    note=f"{p.method}, {p.clients} clients: {p.failures[0]}",
                )
            )
    return rows


def step_rows(phases: Sequence[PhaseResult]) -> list[Row]:
    """Per method, the mean time of each step per login and its share of the login."""
    rows = []
    for method in sorted({p.method for p in phases}):
        fewest = min(p.clients for p in phases)
        logins = [r for p in phases if p.method == method and p.clients == fewest for r in p.logins]
        if not logins:
            continue
        totals = step_totals(logins)
        whole = sum(s for _n, s in totals.values())
        rows.append(Row(f"{method}: one login's steps ({len(logins)} logins, fewest clients)"))
        for name, (count, seconds) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
            rows.append(
                Row(
                    f"  {name}" + (f" (x{count / len(logins):.0f})" if count > len(logins) else ""),
                    f"{seconds / len(logins) * 1e3:,.1f} ms",
                    value=f"{seconds / whole:.0%}",
                )
            )
    return rows


def measure(
    url: str,
    settings: GranianSettings,
    budget: Budget,
    work_dir: Path,
    methods: Sequence[str] = ("eid", "itsme"),
    report: Callable[[str], None] = lambda _msg: None,
) -> list[PhaseResult]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "MONESPACE_MODE": "demo",
        "MONESPACE_DATABASE_URL": url,
        "MONESPACE_BASE_URL": base_url,
        "MONESPACE_DATA_DIR": str(work_dir / "instance"),
        "MONESPACE_DECISION_LOG_FILE": str(work_dir / "decisions.log"),
        "MONESPACE_AUDIT_KEY": dataset.AUDIT_KEY,
        "MONESPACE_LOG_FORMAT": "text",
    }
    report(f"starting the demo app ({settings}) on {base_url} (keys generated once)...")
    phases = []
    # As production serves it: the log lines in the service's format (a refusal's reason).
    with serve("monespace.app:create_served_app()", settings, env, work_dir, port=port) as server:
        # One login of each kind per worker thread first: the start-up's work is not measured.
        for method in methods:
            run_phase(base_url, method, settings.workers, Budget(0.0, 1.0))
        for method in methods:
            for clients in budget.client_counts:
                report(f"  {method}: {clients} clients, {budget.seconds:.0f} s...")
                phases.append(
                    run_phase(
                        base_url,
                        method,
                        clients,
                        budget,
                        server.cpu_seconds,
                        server.request_cpu_seconds,
                        lambda: dataset.backend_cpu_seconds(url),
                    )
                )
    if any(p.failures for p in phases):  # why the server refused them, before its log goes
        log = (work_dir / f"server-{port}.log").read_text(errors="replace").splitlines()
        said = [line for line in log if "WARNING" in line or "ERROR" in line]
        report("the server's warnings and errors (last 20):\n" + "\n".join(said[-20:]))
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.login_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="shorter phases (under 90 s)")
    parser.add_argument("--seconds", type=float, help="measured seconds per phase")
    parser.add_argument("--clients", type=int, nargs="+", help="client counts (default 4 16)")
    parser.add_argument("--method", choices=("eid", "itsme", "both"), default="both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="per granian worker")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    budget = Budget(
        args.seconds or budget.seconds,
        budget.warmup,
        tuple(args.clients) if args.clients else budget.client_counts,
    )
    methods = ("eid", "itsme") if args.method == "both" else (args.method,)
    settings = GranianSettings(args.workers, args.threads)

    def report(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    with (
        dataset.throwaway_database("postgresql", prefix="monespace_loginload") as url,
        tempfile.TemporaryDirectory(prefix="monespace-login-bench-") as tmp,
    ):
        report("creating the schema and the demo data...")
        dataset.prepare(url)
        dataset.db.database.close_all()
        phases = measure(url, settings, budget, Path(tmp), methods, report)
    rows = phase_rows(phases)
    print(f"\nMon Espace login benchmark{' (--quick)' if args.quick else ''}: {machine()}")
    print(f"server: {settings}, PostgreSQL; clients: threads of one process, one cookie jar each")
    print(render("complete logins (authorization, login, chooser, code, token)", rows))
    print()
    print(render("where a login's time goes (client side, per request)", step_rows(phases)))
    failed = [r for r in rows if r.passed is False]
    checked = [r for r in rows if r.passed is not None]
    print(
        f"\n{len(checked) - len(failed)} of {len(checked)} targets met "
        f"in {time.monotonic() - started:.0f} s" + (": FAIL" if failed else ": PASS")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
