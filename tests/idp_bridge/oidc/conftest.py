"""Fixtures of the OpenID provider's tests: a browser on the demo app, a registered
confidential client, a code (with its PKCE verifier) issued to it, and a log of the SQL
statements sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import flask
import peewee
import pytest

from authz.clients import ClientMetadata, add_client
from idp_bridge.oidc.fastlane import FastProvider
from tests.idp_bridge.oidc.client_requests import (
    CALLBACK,
    SCOPES,
    authorize_query,
    callback_params,
    pkce_pair,
)
from tests.idp_bridge.web_client import (
    Browser,
)


@pytest.fixture
def browser(app) -> Browser:
    return Browser(app)


@pytest.fixture
def confidential(app) -> str:
    _client, secret = add_client(
        ClientMetadata(
            "Fiscalité en ligne", "fiscalite", [CALLBACK], scopes=SCOPES, client_id="fisc"
        ),
        actor="operator:test",
    )
    return secret


@pytest.fixture
def code_and_verifier(browser, confidential) -> tuple[str, str]:
    browser.login("eid", "person:claire")
    verifier, challenge = pkce_pair()
    params = callback_params(
        browser.get("/authorize?" + urlencode(authorize_query("fisc", challenge)))
    )
    return params["code"], verifier


@dataclass
class SqlLog:
    """What was sent to the database: each statement with whether a transaction was open, and
    the number of transactions committed."""

    statements: list[tuple[str, bool]] = field(default_factory=list)
    commits: int = 0

    def clear(self) -> None:
        self.statements.clear()
        self.commits = 0

    def writes(self, *, in_transaction: bool) -> list[str]:
        verbs = ("INSERT", "UPDATE", "DELETE")
        return [
            sql
            for sql, inside in self.statements
            if sql.lstrip().upper().startswith(verbs) and inside == in_transaction
        ]


@pytest.fixture
def sql_log(database, monkeypatch) -> SqlLog:
    """Every statement peewee sends, and every commit, from now on (whichever database the
    app connects to)."""
    log = SqlLog()
    execute_sql, commit = peewee.Database.execute_sql, peewee.Database.commit

    def logged(self, sql, *args, **kwargs):
        log.statements.append((sql, self.in_transaction()))
        return execute_sql(self, sql, *args, **kwargs)

    def committed(self, *args, **kwargs):
        log.commits += 1
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(peewee.Database, "execute_sql", logged)
    monkeypatch.setattr(peewee.Database, "commit", committed)
    return log


@pytest.fixture
def fast_lane(app) -> FastProvider:
    """The app's provider fast lane (idp_bridge.oidc.fastlane), found among its WSGI layers."""
    layer = app.wsgi_app
    while not isinstance(layer, FastProvider):
        layer = getattr(layer, "app", None) or layer.wsgi_app
    return layer


@pytest.fixture
def dispatched(app) -> Iterator[list[str]]:
    """The paths of the requests Flask dispatched (not answered by a fast lane)."""
    paths: list[str] = []

    def record(_sender, **_extra) -> None:
        paths.append(flask.request.path)

    flask.request_started.connect(record, app)
    yield paths
    flask.request_started.disconnect(record, app)
