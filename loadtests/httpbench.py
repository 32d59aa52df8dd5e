"""The decision API over HTTP, compared with a raw WSGI app under the same load.

Two servers (granian by default) with the same settings run side by side: the real app
(``monespace.app:create_app()``, demo client ``demo-rp``) and :mod:`loadtests.raw_app`, a WSGI
callable answering a constant (the cached evaluation's fast lane skips Flask, so Flask is not
the floor to compare it with). Rounds
alternate between them, so a burst of noise on the machine hits both alike. Then the batch
endpoint (100 evaluations per request) and, for information, single evaluations that all miss
the cache. Every request carries the demo client's HTTP Basic credentials.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtests import dataset
from loadtests.loadgen import LoadGenerator, LoadResult, post, warm
from loadtests.servers import Server, ServerSettings, serve
from monespace.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

EVALUATION = "/access/v1/evaluation"
EVALUATIONS = "/access/v1/evaluations"
BATCH_SIZE = 100


@dataclass(frozen=True)
class HttpBudget:
    rounds: int  # alternating rounds of the raw WSGI app and the evaluation
    seconds: float  # per round
    warmup: float  # per round, before measuring


HTTP_FULL = HttpBudget(rounds=3, seconds=6.0, warmup=1.0)
HTTP_QUICK = HttpBudget(rounds=2, seconds=2.0, warmup=0.5)


@dataclass
class HttpResult:
    settings: str
    load: str
    raw: LoadResult
    evaluation: LoadResult
    batch: LoadResult
    misses: LoadResult
    peak_rss: int  # bytes, of the busiest worker of the real app
    batch_size: int = BATCH_SIZE


def evaluation_body(question: dataset.Question) -> dict:
    nrn, action, bce, _domain = question  # the service domain is the client's
    return {
        "subject": {"type": "person", "id": nrn},
        "action": {"name": action},
        "resource": {"type": "enterprise", "id": bce},
    }


def app_environment(url: str, work_dir: Path) -> dict[str, str]:
    """The settings the benchmarks' servers run with: demo mode on ``url``, files in
    ``work_dir``, the audit log keyed as :func:`dataset.prepare` keyed it."""
    return {
        "MONESPACE_MODE": "demo",
        "MONESPACE_DATABASE_URL": url,
        "MONESPACE_DATA_DIR": str(work_dir / "instance"),
        "MONESPACE_DECISION_LOG_FILE": str(work_dir / "decisions.log"),
        "MONESPACE_AUDIT_KEY": dataset.AUDIT_KEY,
    }


def measure(
    url: str,
    data: dataset.Dataset,
    settings: ServerSettings,
    load: LoadGenerator,
    budget: HttpBudget,
    work_dir: Path,
    report: Callable[[str], None] = lambda _msg: None,
) -> HttpResult:
    basic = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    env = app_environment(url, work_dir)
    hot = dataset.questions(data.grants, 200, seed=2, today=data.today)
    batches = [
        {
            "evaluations": [
                evaluation_body(q)
                for q in dataset.questions(data.grants, BATCH_SIZE, seed=100 + n, today=data.today)
            ]
        }
        for n in range(10)
    ]
    rng = random.Random(3)
    cold = [
        (dataset.nrn(g.person), rng.choice(dataset.ACTIONS), dataset.bce(g.enterprise), None)
        for g in (dataset.grant_row(rng.randrange(data.grants), data.today) for _ in range(20_000))
    ]
    with (
        serve("monespace.app:create_app()", settings, env, work_dir) as app,
        serve("loadtests.raw_app:app", settings, {}, work_dir) as raw,
    ):
        hot_app = [post(EVALUATION, evaluation_body(q), app.port, basic) for q in hot]
        hot_raw = [post(EVALUATION, evaluation_body(q), raw.port, basic) for q in hot]
        report("  warming up both servers (every worker caches the hot questions)...")
        warm(app.port, hot_app)
        warm(raw.port, hot_raw)
        raw_total = app_total = None
        for round_ in range(budget.rounds):
            report(f"  round {round_ + 1}/{budget.rounds}: raw WSGI, then evaluation...")
            b = _checked(load.run(raw.port, hot_raw, budget.seconds, budget.warmup), raw)
            a = _checked(load.run(app.port, hot_app, budget.seconds, budget.warmup), app)
            raw_total = b if raw_total is None else raw_total + b
            app_total = a if app_total is None else app_total + a
        report(f"  batch: {BATCH_SIZE} evaluations per request...")
        batch_requests = [post(EVALUATIONS, body, app.port, basic) for body in batches]
        warm(app.port, batch_requests)
        batch = _checked(
            load.run(app.port, batch_requests, budget.seconds * budget.rounds, budget.warmup),
            app,
        )
        report("  evaluation, every question a cache miss...")
        cold_requests = [post(EVALUATION, evaluation_body(q), app.port, basic) for q in cold]
        misses = _checked(
            load.run(
                app.port,
                cold_requests,
                budget.seconds,
                0,
                max_requests=len(cold) // (load.processes * load.connections),
            ),
            app,
        )
        return HttpResult(
            str(settings),
            f"{load.processes} processes x {load.connections} keep-alive connections",
            raw_total,
            app_total,
            batch,
            misses,
            app.max_worker_rss,
        )


def _checked(result: LoadResult, server: Server) -> LoadResult:
    if result.errors:
        raise RuntimeError(
            f"{result.errors} of {result.requests} requests failed; first: "
            f"{result.first_error}\n{server.log_tail()}"
        )
    if result.requests == 0:
        raise RuntimeError(f"no request completed\n{server.log_tail()}")
    return result
