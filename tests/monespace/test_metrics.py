"""monespace/metrics.py: /metrics over real HTTP (who may scrape it), the requests counted by
route template and status (the decision API's fast lane included), the decisions and tokens
counted, and the labels kept bounded."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from monespace import metrics
from tests.scrape import TOKEN, get, label_values, scrape, value

DEMO_RP = "Basic " + base64.b64encode(b"demo-rp:demo-secret").decode()
LUC, EMMA, BOULANGERIE = "90010100123", "90010100222", "0123456749"
EVALUATION = "/access/v1/evaluation"
REQUESTS = "monespace_http_requests_total"


def post(url: str, body: bytes, content_type: str, authorization: str = DEMO_RP) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": authorization, "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def evaluate(url: str, nrn: str, authorization: str = DEMO_RP) -> int:
    question = {
        "subject": {"type": "person", "id": nrn},
        "action": {"name": "act_for"},
        "resource": {"type": "enterprise", "id": BOULANGERIE},
    }
    return post(url + EVALUATION, json.dumps(question).encode(), "application/json", authorization)


@pytest.fixture
def metered(make_live_app):
    return make_live_app(metrics_token=TOKEN)


# -- who may scrape -------------------------------------------------------------------------


def test_without_a_token_configured_metrics_are_not_served(live_app):
    status, _headers, body = get(f"{live_app.url}/metrics", f"Bearer {TOKEN}")
    assert status == 404
    assert "monespace_" not in body


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer", TOKEN],
)
def test_a_scrape_without_the_token_is_refused(metered, authorization):
    status, headers, body = get(f"{metered.url}/metrics", authorization)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "monespace_" not in body


def test_the_bearer_of_the_token_gets_the_metrics(metered):
    status, headers, body = get(f"{metered.url}/metrics", f"Bearer {TOKEN}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert "# TYPE monespace_decisions_total counter" in body


def test_a_short_token_is_refused_at_start_up(make_app):
    from monespace.config import ConfigError

    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        make_app(metrics_token="short")


# -- what is counted ------------------------------------------------------------------------


def test_decisions_answered_by_the_fast_lane_are_counted_allowed_and_denied(metered):
    url = metered.url
    # No cached allow is served while the epoch listener is not yet listening (PostgreSQL).
    tracker = metered.app.extensions["monespace.decisions"].tracker
    tracker.start()
    deadline = time.monotonic() + 10
    while not tracker.healthy:
        assert time.monotonic() < deadline, "the epoch tracker never became healthy"
        time.sleep(0.05)
    before = scrape(url)
    assert evaluate(url, LUC) == 200  # allowed
    assert evaluate(url, EMMA) == 200  # denied
    assert evaluate(url, LUC) == 200  # allowed, from the cache
    assert evaluate(url, LUC, "Basic " + base64.b64encode(b"demo-rp:wrong").decode()) == 401
    after = scrape(url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(REQUESTS, endpoint=EVALUATION, status="200") == 3
    assert moved(REQUESTS, endpoint=EVALUATION, status="401") == 1
    assert moved("monespace_http_request_duration_seconds_count", endpoint=EVALUATION) == 4
    assert moved("monespace_decisions_total", decision="allow", cache="miss") == 1
    assert moved("monespace_decisions_total", decision="allow", cache="hit") == 1
    assert moved("monespace_decisions_total", decision="deny", cache="miss") == 1
    assert moved("monespace_decision_uncached_seconds_count") == 2
    # The scrape before this one was counted too.
    assert moved(REQUESTS, endpoint="/metrics", status="200") == 1


def test_tokens_are_counted_by_grant_type_issued_and_refused(metered):
    url = metered.url
    before = scrape(url)
    form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
    assert post(f"{url}/token", form, "application/x-www-form-urlencoded") == 200
    bad = urllib.parse.urlencode({"grant_type": "authorization_code", "code": "nope"}).encode()
    assert post(f"{url}/token", bad, "application/x-www-form-urlencoded") == 400
    odd = urllib.parse.urlencode({"grant_type": "x" + uuid.uuid4().hex}).encode()
    assert post(f"{url}/token", odd, "application/x-www-form-urlencoded") == 400
    after = scrape(url)
    tokens = "monespace_tokens_total"
    issued = {"grant_type": "client_credentials", "outcome": "issued"}
    refused = {"grant_type": "authorization_code", "outcome": "refused"}
    other = {"grant_type": "other", "outcome": "refused"}
    assert value(after, tokens, **issued) - value(before, tokens, **issued) == 1
    assert value(after, tokens, **refused) - value(before, tokens, **refused) == 1
    assert value(after, tokens, **other) - value(before, tokens, **other) == 1
    assert label_values(after, tokens, "grant_type") <= {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "other",
    }


def test_a_route_with_variables_is_labelled_by_its_template(metered):
    url = metered.url
    before = scrape(url)
    assert get(f"{url}/login/eid")[0] in (200, 303)
    after = scrape(url)
    labels = label_values(after, REQUESTS, "endpoint")
    assert "/login/<name>" in labels
    assert "/login/eid" not in labels
    assert sum(
        value(after, REQUESTS, endpoint="/login/<name>", status=s)
        - value(before, REQUESTS, endpoint="/login/<name>", status=s)
        for s in ("200", "303")
    )


def test_the_cpu_time_of_requests_is_counted_by_endpoint(metered):
    url = metered.url
    cpu = "monespace_http_request_cpu_seconds_total"
    before = scrape(url)
    for _ in range(5):
        assert get(f"{url}/login/eid")[0] in (200, 303)
    after = scrape(url)
    spent = value(after, cpu, endpoint="/login/<name>") - value(
        before, cpu, endpoint="/login/<name>"
    )
    assert 0 < spent < 5  # seconds: some, and not the wall-clock time of a stuck request
    assert "/login/eid" not in label_values(after, cpu, "endpoint")


def test_an_unknown_path_adds_no_label_value(metered):
    url = metered.url
    before = scrape(url)
    paths = [f"/nope-{uuid.uuid4().hex}", f"/access/v1/{uuid.uuid4().hex}", "/login/eid/x/y"]
    for path in paths:
        assert get(url + path)[0] == 404
    after = scrape(url)
    endpoints = label_values(after, REQUESTS, "endpoint")
    assert not any(path in endpoints for path in paths)
    assert set(endpoints) - set(label_values(before, REQUESTS, "endpoint")) <= {
        metrics.UNMATCHED,
        "/metrics",
    }
    unmatched = {"endpoint": metrics.UNMATCHED, "status": "404"}
    assert value(after, REQUESTS, **unmatched) - value(before, REQUESTS, **unmatched) == 3


# -- the multiprocess directory: the live gauges of processes that are gone -----------------


def test_the_live_gauges_of_a_dead_process_are_dropped_its_counters_kept(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    files = [
        f"gauge_livesum_{gone.pid}.db",
        f"counter_{gone.pid}.db",
        f"gauge_livesum_{os.getpid()}.db",  # this process: alive
        "gauge_livesum_notapid.db",
    ]
    for name in files:
        (tmp_path / name).write_bytes(b"")

    dead = metrics.drop_dead_processes({metrics.MULTIPROC_VARIABLE: str(tmp_path)})

    assert dead == [gone.pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files[1:])


def test_without_a_multiprocess_directory_nothing_is_dropped(tmp_path):
    assert metrics.drop_dead_processes({}) == []
