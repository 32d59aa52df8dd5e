"""Fixtures of the OpenID provider's tests: a browser on the demo app, a registered
confidential client, a code (with its PKCE verifier) issued to it (the log of the SQL
statements sent, ``sql_log``, is in ``tests/idp_bridge/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import flask
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


@pytest.fixture
def unindex(app):
    """Remove a subject identifier's index entry (``sub`` -> user), as a restore of part of
    the database or a row deleted by hand would, and forget what this node remembers of it
    (another node never saw it)."""

    def remove(sub: str) -> None:
        subjects = app.extensions["monespace.oidc"].provider.provider().authz_state
        subjects = subjects.subject_identifiers
        del subjects.index[sub]
        subjects._users.pop(sub, None)

    return remove
