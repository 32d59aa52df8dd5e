"""In-process timings of the decision point, per call, on a growing database.

Each call is timed on its own with ``time.perf_counter_ns`` after a warm-up, in a loop bounded
both by a number of calls and by a duration. Uncached decisions go through a decision point
without a cache (``cache_size=0``): every call reads the pair's facts from the database and
queries the policy. Cached decisions go through one with a cache warmed on the same questions.
The two parts of an uncached decision (reading facts, querying oso) are also timed alone, so a
slow decision says where its time goes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from authz import mandates
from authz.decisions import DecisionPoint
from authz.engine import get_engine
from authz.epochs import PostgresEpochTracker, tracker_for
from loadtests import dataset
from loadtests.dataset import Question


@dataclass(frozen=True)
class Budget:
    """How long each timed loop may run: at most ``calls`` calls and ``seconds`` seconds."""

    calls: int
    seconds: float
    warmup: int


FULL = {"uncached": Budget(5_000, 20.0, 300), "cached": Budget(100_000, 10.0, 2_000)}
QUICK = {"uncached": Budget(1_000, 5.0, 100), "cached": Budget(20_000, 3.0, 500)}
TINY = {"uncached": Budget(50, 2.0, 5), "cached": Budget(200, 2.0, 5)}


@dataclass(frozen=True)
class Timing:
    calls: int
    median_ns: float
    p99_ns: float

    @classmethod
    def of(cls, samples: Sequence[int]) -> Timing:
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(len(ordered), statistics.median(ordered), p99)


@dataclass
class SizeResult:
    """Timings at one database size."""

    grants: int
    generated_seconds: float
    uncached: Timing
    cached: Timing
    facts_sql: Timing
    policy: Timing
    answers: list[bool] = field(default_factory=list)


def time_calls(
    call: Callable[[Question], object], questions: Sequence[Question], budget: Budget
) -> Timing:
    """Time ``call`` per question, cycling through them, after ``budget.warmup`` calls."""
    count = len(questions)
    for n in range(budget.warmup):
        call(questions[n % count])
    samples: list[int] = []
    clock = time.perf_counter_ns
    deadline = clock() + int(budget.seconds * 1e9)
    for n in range(budget.calls):
        question = questions[n % count]
        started = clock()
        call(question)
        ended = clock()
        samples.append(ended - started)
        if ended > deadline:
            break
    return Timing.of(samples)


def measure(
    url: str,
    data: dataset.Dataset,
    sizes: Sequence[int],
    budgets: dict[str, Budget],
    question_count: int = 400,
    report: Callable[[str], None] = lambda _msg: None,
) -> list[SizeResult]:
    """Grow ``data`` (in the database at ``url``, already connected) to each size in turn
    and time the same questions at each."""
    tracker = tracker_for(url)
    tracker.start()
    if isinstance(tracker, PostgresEpochTracker):
        tracker.wait_until_healthy()
    engine = get_engine()
    results = []
    try:
        asked = dataset.questions(min(sizes), question_count, today=data.today)
        for size in sizes:
            report(f"generating {size:,} role grants...")
            seconds = data.grow(size)
            report(f"  {data.grants:,} grants in {seconds:.1f} s; timing decisions...")
            results.append(_measure_size(data, tracker, engine, asked, budgets, seconds))
    finally:
        tracker.stop()
    return results


def _measure_size(data, tracker, engine, asked, budgets, seconds) -> SizeResult:
    uncached_point = DecisionPoint(tracker, engine=engine, cache_size=0)
    answers = [uncached_point.evaluate(*q).allowed for q in asked]
    uncached = time_calls(lambda q: uncached_point.evaluate(*q), asked, budgets["uncached"])

    day = date.today()
    facts_sql = time_calls(
        lambda q: mandates.load_pair(q[0], q[2], day, q[3]), asked, budgets["uncached"]
    )
    loaded = [(mandates.load_pair(q[0], q[2], day, q[3]), q[1]) for q in asked]
    loaded = [(pair, action) for pair, action in loaded if pair is not None]
    policy = time_calls(
        lambda item: engine.allowed(item[0][0], item[1], item[0][1]), loaded, budgets["uncached"]
    )

    cached_point = DecisionPoint(tracker, engine=engine, cache_size=100_000, ttl=3600)
    for q in asked:
        cached_point.evaluate(*q)
    cached = time_calls(lambda q: cached_point.evaluate(*q), asked, budgets["cached"])
    hits = sum(cached_point.evaluate(*q).cache == "hit" for q in asked)
    if hits != len(asked):
        raise RuntimeError(f"only {hits} of {len(asked)} warmed questions were cache hits")
    return SizeResult(data.grants, seconds, uncached, cached, facts_sql, policy, answers)
