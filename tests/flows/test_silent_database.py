"""A database that stops answering: every edge says 503 within the bounds, never hangs.

Between the app and PostgreSQL, a proxy the test freezes (it accepts connections and forwards
nothing: the database's traffic stopped). Bounds of 1 s: a connection is given up after 1 s,
a statement after 1 s and a second more.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest

from authz import db
from monespace import demo
from monespace.app import create_app
from tests.demo_app import app_settings, stop
from tests.idp_bridge.web_client import Browser
from tests.tcp_proxy import FreezableProxy

AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
}
DECISION = {
    "subject": {"type": "person", "id": "85020200387"},
    "action": {"name": "act_for"},
    "evaluations": [{"resource": {"type": "enterprise", "id": "0403170701"}}],
}
BOUNDS = {"database_connect_timeout": 1, "database_statement_timeout": 1}
# The slowest an answer may be: a statement's bound (1 s + 1 s) then a new connection's (1 s).
WITHIN = 3.5


@pytest.fixture
def proxied(database, database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL server behind a proxy")
    url = urlparse(database_url)
    proxy = FreezableProxy((url.hostname or "127.0.0.1", url.port or 5432))
    proxy_url = urlunparse(url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}"))
    apps = []

    def make(**settings):
        app = create_app(app_settings(proxy_url, tmp_path, **BOUNDS, **settings))
        apps.append(app)
        return app

    yield proxy, make
    proxy.thaw()
    for app in apps:
        stop(app)
    db.database.close_all()
    proxy.close()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_a_frozen_database_is_503_in_each_format_within_the_bounds_then_heals(proxied):
    proxy, make = proxied
    app = make(decision_cache_size=0)  # a decision that needs the database
    client = app.test_client()
    browser = Browser(app)
    browser.login("eid", "person:marc")
    assert client.post("/access/v1/evaluations", json=DECISION, headers=AUTH).status_code == 200

    proxy.freeze()
    token, token_time = timed(
        lambda: client.post("/token", data={"grant_type": "client_credentials"}, headers=AUTH)
    )
    decision, decision_time = timed(
        lambda: client.post("/access/v1/evaluations", json=DECISION, headers=AUTH)
    )
    page, page_time = timed(lambda: browser.get("/entreprises"))
    ready, ready_time = timed(lambda: client.get("/readyz"))
    live, live_time = timed(lambda: client.get("/healthz"))

    for response, took in ((token, token_time), (decision, decision_time), (page, page_time)):
        assert response.status_code == 503, response.data[:300]
        assert response.headers["Retry-After"]
        assert took < WITHIN
    assert token.get_json()["error"] == "temporarily_unavailable"
    assert decision.get_json()["error"] == "temporarily_unavailable"
    assert page.mimetype == "text/html"
    assert ready.status_code == 503 and ready.get_json()["database"] == "unavailable"
    assert ready_time < 1.5
    assert live.status_code == 200 and live_time < 0.5

    proxy.thaw()
    assert client.get("/readyz").status_code == 200
    token = client.post("/token", data={"grant_type": "client_credentials"}, headers=AUTH)
    assert token.status_code == 200
    assert client.post("/access/v1/evaluations", json=DECISION, headers=AUTH).status_code == 200
    assert browser.get("/entreprises").status_code == 200


def test_a_node_started_against_a_frozen_database_stops_within_the_bound(proxied):
    proxy, make = proxied
    proxy.freeze()
    started = time.monotonic()
    with pytest.raises(Exception, match="did not answer"):
        make()
    assert time.monotonic() - started < WITHIN
    proxy.thaw()
    assert make().test_client().get("/readyz").status_code == 200  # the control


def test_a_statement_past_its_timeout_is_503_not_500(proxied):
    _proxy, make = proxied
    app = make()
    app.add_url_rule(
        "/test-slow", "slow", lambda: str(db.database.execute_sql("SELECT pg_sleep(3)").fetchone())
    )
    app.add_url_rule(
        "/test-quick",
        "quick",
        lambda: str(db.database.execute_sql("SELECT pg_sleep(0.1)").fetchone()),
    )

    slow, took = timed(lambda: app.test_client().get("/test-slow"))

    assert slow.status_code == 503  # the server cancelled it (QueryCanceled)
    assert took < 2
    assert app.test_client().get("/test-quick").status_code == 200


def test_connections_are_named_in_pg_stat_activity(proxied, database_url):
    _proxy, make = proxied
    app = make()
    client = app.test_client()
    assert client.post("/access/v1/evaluations", json=DECISION, headers=AUTH).status_code == 200
    app.extensions["monespace.decisions"].tracker.wait_until_healthy(5)
    db.database.connect(reuse_if_open=True)  # a pooled connection, held while we look

    with psycopg2.connect(database_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        )
        names = {row[0] for row in cursor.fetchall()}
    db.database.close()

    assert {"monespace-pool", "monespace-listener"} <= names
    assert "monespace-cli" not in names
