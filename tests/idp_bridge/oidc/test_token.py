"""idp_bridge/oidc/token.py, introspection.py, revocation.py: what their answers always carry
(the granted scope) and the requests they refuse as malformed (RFC 6749 sections 3.1, 3.2
and 5.2: a missing grant_type, a parameter given twice)."""

from __future__ import annotations

from urllib.parse import urlencode

import peewee
import pytest

from authz.clients import ClientMetadata, add_client
from tests.idp_bridge.oidc.client_requests import (
    CALLBACK,
    authorize_query,
    basic,
    callback_params,
    pkce_pair,
    redeem,
    refresh,
)


def post(browser, path: str, pairs: list[tuple[str, str]], headers):
    """POST a form whose pairs may repeat a name (a dict could not)."""
    return browser.client.post(
        path,
        data=urlencode(pairs),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
        base_url=browser.base_url,
    )


def assert_invalid_request(response, mentions: str = "") -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert mentions in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


# -- scope in every token response (RFC 6749 5.1) -------------------------------------------


def test_the_token_response_names_the_scope_even_when_it_is_the_one_requested(
    browser, confidential, code_and_verifier
):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    tokens = redeem(browser, code, verifier, auth).get_json()
    assert tokens["scope"].split() == ["openid", "profile"]
    refreshed = refresh(browser, tokens["refresh_token"], auth).get_json()
    assert refreshed["scope"].split() == ["openid", "profile"]


def test_the_token_response_names_the_fewer_scopes_granted_than_requested(browser):
    """The client asked for scopes it is not registered for: the answer must say what it got,
    at the token endpoint and after a refresh."""
    _client, secret = add_client(
        ClientMetadata("Simple", "fiscalite", [CALLBACK], client_id="simple"), actor="operator:test"
    )
    browser.login("eid", "person:luc")
    verifier, challenge = pkce_pair()
    query = authorize_query("simple", challenge, scope="openid profile enterprise nrn")
    code = callback_params(browser.get("/authorize?" + urlencode(query)))["code"]
    auth = basic("simple", secret)
    tokens = redeem(browser, code, verifier, auth).get_json()
    assert sorted(tokens["scope"].split()) == ["openid", "profile"]
    refreshed = refresh(browser, tokens["refresh_token"], auth).get_json()
    assert sorted(refreshed["scope"].split()) == ["openid", "profile"]


def test_the_client_credentials_answer_names_its_scope(browser, confidential):
    answer = post(
        browser, "/token", [("grant_type", "client_credentials")], basic("fisc", confidential)
    )
    assert answer.status_code == 200 and answer.get_json()["scope"] == "decisions"


# -- malformed requests ---------------------------------------------------------------------


def test_a_token_request_without_grant_type_is_invalid_request(browser, confidential):
    auth = basic("fisc", confidential)
    assert_invalid_request(post(browser, "/token", [], auth), "grant_type is required")
    assert_invalid_request(post(browser, "/token", [("grant_type", "")], auth), "grant_type")
    unknown = post(browser, "/token", [("grant_type", "password")], auth)
    assert unknown.status_code == 400
    assert unknown.get_json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "repeated",
    ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "scope"],
)
def test_a_parameter_given_twice_at_the_token_endpoint_is_invalid_request(
    browser, confidential, code_and_verifier, repeated
):
    code, verifier = code_and_verifier
    pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
        ("client_id", "fisc"),
    ]
    value = dict(pairs).get(repeated, "openid")
    auth = basic("fisc", confidential)
    twice = pairs + [(repeated, value)] * (2 if repeated == "scope" else 1)
    assert_invalid_request(post(browser, "/token", twice, auth), f"the {repeated} parameter")
    # The same request, each parameter once, is answered: the code was not spent.
    assert post(browser, "/token", pairs, auth).status_code == 200


def test_a_repeated_parameter_with_an_odd_name_is_refused_without_echoing_it(browser, confidential):
    pairs = [("grant_type", "client_credentials"), ('x"\\', "1"), ('x"\\', "2")]
    refused = post(browser, "/token", pairs, basic("fisc", confidential))
    assert_invalid_request(refused, "a parameter is repeated")


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
def test_introspection_and_revocation_refuse_a_repeated_token(
    browser, confidential, code_and_verifier, path
):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    tokens = redeem(browser, code, verifier, auth).get_json()
    twice = [("token", tokens["access_token"]), ("token", tokens["refresh_token"])]
    assert_invalid_request(post(browser, path, twice, auth), "the token parameter is repeated")
    hint_twice = [("token", tokens["access_token"])] + [("token_type_hint", "access_token")] * 2
    assert_invalid_request(post(browser, path, hint_twice, auth), "token_type_hint")
    # Nothing was revoked by the refused requests.
    answer = post(browser, "/introspect", [("token", tokens["access_token"])], auth).get_json()
    assert answer["active"] is True
    assert post(browser, path, [("token", tokens["access_token"])], auth).status_code == 200


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
def test_introspection_and_revocation_need_the_token(browser, confidential, path):
    assert_invalid_request(post(browser, path, [], basic("fisc", confidential)), "token")


def test_a_database_that_does_not_answer_is_503_temporarily_unavailable(
    browser, confidential, monkeypatch
):
    from idp_bridge.oidc import token as token_module

    def silent(*_args, **_kwargs):
        raise peewee.OperationalError("connection timed out")

    monkeypatch.setattr(token_module, "_client_credentials", silent)
    answer = post(
        browser, "/token", [("grant_type", "client_credentials")], basic("fisc", confidential)
    )
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "temporarily_unavailable"
