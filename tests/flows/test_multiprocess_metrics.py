"""Metrics across processes: two app processes sharing one metrics directory (the multiprocess
mode `monespace serve` gives granian's workers) show the same totals whichever is scraped,
and a process that ended leaves the counters' sums but not the live gauges: with no hook of
the server called, the scrape itself drops the gauges of processes that no longer run."""

from __future__ import annotations

import time

from authz.metrics import FLUSH_SECONDS
from tests.flows.app_processes import BOULANGERIE, call, luc_may_act
from tests.scrape import scrape, value

EVALUATION = "/access/v1/evaluation"
EMMA = "90010100222"


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def emma_may_act(port: int) -> bool:
    status, body = call(
        port,
        "POST",
        EVALUATION,
        {
            "subject": {"type": "person", "id": EMMA},
            "action": {"name": "act_for"},
            "resource": {"type": "enterprise", "id": BOULANGERIE},
        },
    )
    assert status == 200, body
    return body["decision"]


def test_every_process_shows_the_sum_of_all(two_metered_processes):
    (first, second), processes, metrics_dir = two_metered_processes
    assert luc_may_act(first) and luc_may_act(first)
    assert not emma_may_act(second)
    # Each process writes its counts at least every second (authz.metrics.FLUSH_SECONDS).
    time.sleep(FLUSH_SECONDS + 0.5)
    scrapes = [scrape(url(first)), scrape(url(second))]
    for samples in scrapes:
        ok = {"endpoint": EVALUATION, "status": "200"}
        assert value(samples, "monespace_http_requests_total", **ok) == 3
        allow = value(samples, "monespace_decisions_total", decision="allow", cache="miss")
        hits = value(samples, "monespace_decisions_total", decision="allow", cache="hit")
        deny = value(samples, "monespace_decisions_total", decision="deny", cache="miss")
        assert (allow, hits, deny) == (1, 1, 1)
        # A pool in each process, both alive.
        assert value(samples, "monespace_db_pool_max_connections") == 64
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in metrics_dir.glob("counter_*.db")}
    assert {p.pid for p in processes} <= pids

    # The second process ends, as a worker killed; nobody tells the first.
    processes[1].kill()
    processes[1].wait(timeout=10)
    assert list(metrics_dir.glob(f"gauge_live*_{processes[1].pid}.db"))
    samples = scrape(url(first))
    assert not list(metrics_dir.glob(f"gauge_live*_{processes[1].pid}.db"))
    # Counters keep what the dead process counted; live gauges count the living only.
    assert value(samples, "monespace_decisions_total", decision="deny", cache="miss") == 1
    assert value(samples, "monespace_db_pool_max_connections") == 32
