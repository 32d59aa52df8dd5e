"""Fixtures of the OpenID provider's tests: a browser on the demo app, a registered
confidential client, and a code (with its PKCE verifier) issued to it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from authz.clients import ClientMetadata, add_client
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
