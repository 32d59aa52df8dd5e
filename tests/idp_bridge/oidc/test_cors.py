"""idp_bridge/oidc/cors.py: which origins a browser-based client may call the provider from."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from authz.clients import ClientMetadata, add_client, disable_client
from idp_bridge.oidc.cors import web_origin
from tests.idp_bridge.oidc.client_requests import (
    CALLBACK,
    authorize_query,
    callback_params,
    pkce_pair,
)
from tests.idp_bridge.web_client import (
    Browser,
)

SPA = "https://spa.example.test"
OTHER = "https://evil.example.test"


@pytest.fixture
def spa(app) -> None:
    add_client(
        ClientMetadata(
            "Application web",
            "fiscalite",
            [SPA + "/callback", CALLBACK],
            auth_method="none",
            client_id="spa",
        ),
        actor="operator:test",
    )


def preflight(browser: Browser, path: str, origin: str, method: str = "POST"):
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return browser.client.options(path, headers=headers, base_url=browser.base_url)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_the_public_documents_may_be_read_from_any_origin(browser, path):
    response = browser.get(path, headers={"Origin": OTHER})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    answered = preflight(browser, path, OTHER, "GET")
    assert answered.headers["Access-Control-Allow-Origin"] == "*"
    assert answered.headers["Access-Control-Allow-Methods"] == "GET"


@pytest.mark.parametrize(
    ("path", "method"), [("/token", "POST"), ("/userinfo", "GET"), ("/revoke", "POST")]
)
def test_a_registered_origin_passes_the_preflight_another_does_not(browser, spa, path, method):
    allowed = preflight(browser, path, SPA, method)
    assert allowed.status_code in (200, 204)
    assert allowed.headers["Access-Control-Allow-Origin"] == SPA
    assert method in allowed.headers["Access-Control-Allow-Methods"]
    assert allowed.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert "Origin" in allowed.headers["Vary"]

    refused = preflight(browser, path, OTHER, method)
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Methods" not in refused.headers


def test_a_browser_based_client_redeems_its_code_from_its_origin(browser, spa):
    browser.login("eid", "person:claire")
    verifier, challenge = pkce_pair()
    params = callback_params(
        browser.get("/authorize?" + urlencode(authorize_query("spa", challenge)))
    )
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": CALLBACK,
        "client_id": "spa",
        "code_verifier": verifier,
    }
    answer = browser.post("/token", data=form, headers={"Origin": SPA})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == SPA
    assert "Access-Control-Allow-Credentials" not in answer.headers
    token = answer.get_json()["access_token"]

    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {token}", "Origin": SPA})
    assert info.status_code == 200 and info.headers["Access-Control-Allow-Origin"] == SPA
    elsewhere = browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {token}", "Origin": OTHER}
    )
    assert "Access-Control-Allow-Origin" not in elsewhere.headers


def test_an_error_answer_carries_the_cors_headers_too(browser, spa):
    refused = browser.post("/token", data={"grant_type": "nope"}, headers={"Origin": SPA})
    assert refused.status_code in (400, 401)
    assert refused.headers["Access-Control-Allow-Origin"] == SPA


def test_a_disabled_clients_origin_is_refused_at_once(browser, spa):
    assert preflight(browser, "/token", SPA).headers.get("Access-Control-Allow-Origin") == SPA
    disable_client("spa", actor="operator:test")
    assert "Access-Control-Allow-Origin" not in preflight(browser, "/token", SPA).headers


def test_other_paths_get_no_cors_headers(browser, spa):
    for path in ("/authorize", "/introspect", "/me"):
        assert "Access-Control-Allow-Origin" not in preflight(browser, path, SPA).headers


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://SPA.example.test/cb", "https://spa.example.test"),
        ("https://spa.example.test:443/cb", "https://spa.example.test"),
        ("https://spa.example.test:8443/cb", "https://spa.example.test:8443"),
        ("http://localhost:5000/cb", "http://localhost:5000"),
        ("be.example.app:/callback", None),
        ("https://spa.example.test:99999/cb", None),
    ],
)
def test_the_web_origin_of_a_redirect_uri(uri, origin):
    assert web_origin(uri) == origin
