"""Fixtures of the conformance tests: one served provider per database, a client per test.

``provider`` (package scope, once per database backend): the demo app (demo data seeded, the
eID simulator mounted) served by werkzeug in a thread over real HTTP at
``http://127.0.0.1:PORT``, its issuer. Building and serving an app takes about a second; one
app for the whole folder keeps the suite fast, and the tests stay independent all the same:
each registers its own clients (``register``) and logs in with its own browser (``person``,
its own cookies, so its own login session). The PostgreSQL database is the folder's own
(``monespace_conformance_<pid>``, created at the start, dropped at the end): the rest of the
suite empties its database before each test, which must not happen under a served app.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest
import requests
from werkzeug.serving import make_server

from authz import db
from authz.clients import ClientMetadata, add_client
from monespace.app import create_app
from tests.conformance.relying_party import (
    AFTER_LOGOUT,
    CALLBACK,
    TIMEOUT,
    Person,
    Provider,
    RelyingParty,
)
from tests.conftest import ADMIN_URL, BACKENDS
from tests.demo_app import (
    app_settings,
    stop,
)

CONFORMANCE_DB = f"monespace_conformance_{os.getpid()}"
# Tests marked one_database run on this backend only (they wait; the database changes nothing).
ONE_DATABASE = "postgresql" if "postgresql" in BACKENDS else BACKENDS[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "one_database: a conformance test run on one database backend only"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the other backends' runs of ``one_database`` tests. Dropping them here,
    rather than parametrizing the test again, keeps the folder's app one per backend."""
    others = [
        item
        for item in items
        if item.get_closest_marker("one_database")
        and item.callspec.params.get("database_of_the_folder") != ONE_DATABASE
    ]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if item not in others]


def _postgres(statement: str) -> None:
    try:
        conn = psycopg2.connect(ADMIN_URL)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (CONFORMANCE_DB,),
            )
            cur.execute(f"DROP DATABASE IF EXISTS {CONFORMANCE_DB}")
            if statement:
                cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="package", params=BACKENDS)
def database_of_the_folder(request, tmp_path_factory) -> Iterator[str]:
    """A new, empty database of each configured backend, for the whole folder."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('conformance') / 'monespace.sqlite3'}"
        return
    _postgres(f"CREATE DATABASE {CONFORMANCE_DB}")
    try:
        yield urlunparse(urlparse(ADMIN_URL)._replace(path=f"/{CONFORMANCE_DB}"))
    finally:
        if not db.database.is_closed():
            db.database.close()
        _postgres("")


class _Deferred:
    """A WSGI app set after the server is bound: the app's base_url needs the server's port."""

    app = None

    def __call__(self, environ, start_response):
        assert self.app is not None, "the server was called before the app was built"
        return self.app(environ, start_response)


@pytest.fixture(scope="package")
def provider(database_of_the_folder, tmp_path_factory) -> Iterator[Provider]:
    deferred = _Deferred()
    server = make_server("127.0.0.1", 0, deferred, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    data_dir = tmp_path_factory.mktemp("conformance-data")
    deferred.app = create_app(app_settings(database_of_the_folder, data_dir, base_url=url))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="op", daemon=True
    )
    thread.start()
    try:
        answer = requests.get(url + "/.well-known/openid-configuration", timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        yield Provider(url, answer.json())
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        stop(deferred.app)
        if not db.database.is_closed():
            db.database.close()


@pytest.fixture
def register(provider) -> Iterator[Callable[..., RelyingParty]]:
    """``register(**settings)``: a new confidential client (``client_secret_basic``, as the
    plans' default variant), allowed ``openid profile``, with ``CALLBACK`` as its redirect URI
    and ``AFTER_LOGOUT`` as its post-logout redirect URI; ``settings`` go to ``add_client``."""
    parties: list[RelyingParty] = []

    def make(**settings) -> RelyingParty:
        client_id = "conformance-" + secrets.token_hex(6)
        options = {
            "redirect_uris": [CALLBACK],
            "scopes": ["openid", "profile"],
            "post_logout_redirect_uris": [AFTER_LOGOUT],
            **settings,
        }
        with db.connection():
            client, secret = add_client(
                ClientMetadata(
                    f"Conformance {client_id}", "fiscalite", client_id=client_id, **options
                ),
                actor="operator:test",
            )
        party = RelyingParty(provider, client.client_id, secret)
        parties.append(party)
        return party

    yield make
    for party in parties:
        party.close()


@pytest.fixture
def person(provider) -> Iterator[Person]:
    """Claire's browser (a citizen of the demo data), with no login session yet."""
    with Person(provider.url, "claire") as browser:
        yield browser
