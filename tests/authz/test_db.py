"""authz/db.py: a request waits for a pooled connection, then is told to come back (503).

A pool of two connections, both taken by other threads: every endpoint answers 503 with
Retry-After in its own format once the wait is over; a connection given back in time serves
the waiting request; many concurrent requests on a small pool wait their turn.
"""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from authz import db
from monespace import demo
from tests.idp_bridge.web_client import (
    Browser,
)

AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
}
BATCH = {
    "subject": {"type": "person", "id": "85073003361"},
    "action": {"name": "act_for"},
    "evaluations": [{"resource": {"type": "enterprise", "id": "0403170701"}}] * 20,
}


class Holder:
    """Threads that each take a connection from the pool and keep it until released."""

    def __init__(self):
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def take(self, count: int) -> None:
        taken = threading.Barrier(count + 1)

        def hold() -> None:
            db.database.connect()
            db.database.execute_sql("SELECT 1")
            taken.wait()
            self.release.wait(60)
            db.database.close()

        for _ in range(count):
            thread = threading.Thread(target=hold, daemon=True)
            thread.start()
            self.threads.append(thread)
        taken.wait(30)  # generous: a loaded machine takes seconds to connect

    def give_back(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def holder():
    holding = Holder()
    yield holding
    holding.give_back()


def test_a_request_finding_the_pool_empty_is_503_with_retry_after_in_its_format(make_app, holder):
    app = make_app(database_pool_size=2, database_pool_wait=1)
    browser = Browser(app)
    browser.login("eid", "person:marc")
    holder.take(2)
    client = app.test_client()

    started = time.monotonic()
    decision = client.post("/access/v1/evaluations", json=BATCH, headers=AUTH)
    assert time.monotonic() - started >= 0.9  # it waited for a connection first
    token = client.post("/token", data={"grant_type": "client_credentials"}, headers=AUTH)
    page = browser.get("/entreprises")

    for response in (decision, token, page):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
    assert decision.get_json()["error"] == "temporarily_unavailable"
    assert token.get_json()["error"] == "temporarily_unavailable"
    assert page.mimetype == "text/html"


def test_a_connection_given_back_within_the_wait_serves_the_request(make_app, holder):
    app = make_app(database_pool_size=2, database_pool_wait=5)
    holder.take(2)
    threading.Timer(0.5, holder.release.set).start()

    response = app.test_client().post("/access/v1/evaluations", json=BATCH, headers=AUTH)

    assert response.status_code == 200
    assert len(response.get_json()["evaluations"]) == 20


def test_sixty_concurrent_batches_on_a_pool_of_two_all_get_an_answer(make_app):
    app = make_app(database_pool_size=2, database_pool_wait=10, decision_cache_size=0)

    def ask(_number: int) -> int:
        return app.test_client().post("/access/v1/evaluations", json=BATCH, headers=AUTH)

    with ThreadPoolExecutor(max_workers=60) as pool:
        responses = list(pool.map(ask, range(60)))

    assert [r.status_code for r in responses] == [200] * 60
