"""idp_bridge/oidc/fastlane.py: the provider's hot endpoints below Flask's dispatch give the
very answers of the Flask routes (status, headers, body), for tokens active and refused, and
leave everything unusual to the routes."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from authz import db
from authz.clients import ClientMetadata, add_client, disable_client
from authz.models import Person, RoleGrant
from authz.services import Caller, revoke_role
from tests.idp_bridge.oidc.client_requests import (
    BOULANGERIE,
    CALLBACK,
    authorize_query,
    basic,
    callback_params,
    choose,
    redeem,
)
from tests.idp_bridge.web_client import Browser

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def both(browser: Browser, lane, method: str, path: str, headers=None, data=None):
    """The answer of the fast lane, then the answer of the Flask route, to the same request:
    (status, headers in order, body) each."""

    def ask():
        response = browser.client.open(
            path, method=method, headers=headers or {}, data=data, base_url=browser.base_url
        )
        return response.status, list(response.headers.items()), response.get_data()

    fast = ask()
    lane.answering = False
    try:
        return fast, ask()
    finally:
        lane.answering = True


def same(browser: Browser, lane, method: str, path: str, headers=None, data=None):
    fast, route = both(browser, lane, method, path, headers, data)
    assert fast == route
    return fast


def introspect(token: str, auth: dict) -> tuple[dict, str]:
    return {**auth, **FORM}, urlencode({"token": token})


def test_the_public_documents_are_the_routes_answers(browser, fast_lane, dispatched):
    for path in ("/jwks", "/.well-known/openid-configuration"):
        status, headers, body = same(browser, fast_lane, "GET", path)
        assert status == "200 OK" and body.startswith(b"{")
        assert ("Cache-Control", "public, max-age=300") in headers
        assert ("X-Content-Type-Options", "nosniff") in headers  # the outer layers' headers
        _status, headers, _body = same(browser, fast_lane, "GET", path, {"Origin": "https://x"})
        assert ("Access-Control-Allow-Origin", "*") in headers
    assert dispatched == ["/jwks"] * 2 + ["/.well-known/openid-configuration"] * 2
    # What the fast lane leaves to the routes: other methods, a query, a body.
    dispatched.clear()
    same(browser, fast_lane, "POST", "/jwks")
    same(browser, fast_lane, "GET", "/jwks?format=json")
    same(browser, fast_lane, "GET", "/jwks", FORM, "a=b")
    assert dispatched == ["/jwks"] * 6
    # A request the request gate refused (a control character in a header) is the route's.
    status, _headers, body = same(browser, fast_lane, "GET", "/jwks", {"X-Note": "a\x01b"})
    assert status == "400 BAD REQUEST" and b"invalid_request" in body


@pytest.fixture
def professional(browser, confidential) -> dict[str, str]:
    """Luc's tokens for the Boulangerie (``represents``), issued to the client fisc."""
    browser.login("eid", "person:luc")
    query = authorize_query(scope="openid profile enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    params = callback_params(choose(browser, chooser, BOULANGERIE))
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    return tokens


def test_active_tokens_get_the_routes_answers_without_flask(
    dispatched, browser, confidential, professional, fast_lane
):
    auth = basic("fisc", confidential)
    bearer = {"Authorization": "Bearer " + professional["access_token"]}
    own = browser.client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=auth, base_url=browser.base_url
    ).get_json()["access_token"]
    dispatched.clear()

    for token in (professional["access_token"], professional["refresh_token"], own):
        status, headers, body = same(
            browser, fast_lane, "POST", "/introspect", *introspect(token, auth)
        )
        assert status == "200 OK" and b'"active":true' in body
        assert ("Cache-Control", "no-store") in headers
    status, _headers, body = same(browser, fast_lane, "GET", "/userinfo", bearer)
    assert status == "200 OK" and BOULANGERIE.encode() in body
    lower = {"Authorization": "bearer " + professional["access_token"]}
    assert same(browser, fast_lane, "GET", "/userinfo", lower)[0] == "200 OK"
    assert same(browser, fast_lane, "POST", "/userinfo", bearer)[0] == "200 OK"
    # Each request once by the fast lane, once by the route.
    assert dispatched == ["/introspect"] * 3 + ["/userinfo"] * 3


def test_refused_requests_get_the_routes_answers(
    dispatched, browser, confidential, professional, fast_lane
):
    auth = basic("fisc", confidential)
    token = professional["access_token"]
    _client, other = add_client(
        ClientMetadata("Autre", "fiscalite", [CALLBACK], client_id="other"), actor="t"
    )
    dispatched.clear()
    # Answered by the fast lane: inactive tokens are a 200 of introspection.
    for asked, by in (("nonsense", auth), (token, basic("other", other))):
        assert same(browser, fast_lane, "POST", "/introspect", *introspect(asked, by))[2] == (
            b'{"active":false}\n'
        )
    assert dispatched == ["/introspect"] * 2

    # Errors: answered by the routes, in their format, whichever lane was asked first.
    dispatched.clear()
    refusals = [
        ("POST", "/introspect", *introspect(token, basic("fisc", "wrong"))),  # 401
        ("POST", "/introspect", *introspect(token, {})),  # no client authentication
        ("POST", "/introspect", {**auth, **FORM}, ""),  # no token
        ("POST", "/introspect", {**auth, **FORM}, f"token={token}&token={token}"),
        ("POST", "/introspect", {**auth, "Content-Type": "application/json"}, "{}"),
        ("POST", "/introspect", {**auth, **FORM}, "token=a%01b"),  # a control character
        ("GET", "/introspect", auth, None),  # 405
        ("GET", "/userinfo", {"Authorization": "Bearer nonsense"}, None),  # 401
        ("GET", "/userinfo", {"Authorization": "Basic " + token}, None),
        ("GET", "/userinfo?access_token=" + token, {}, None),
        ("POST", "/userinfo", {"Authorization": "Bearer " + token, **FORM}, "access_token=x"),
        ("PUT", "/userinfo", {"Authorization": "Bearer " + token}, None),
    ]
    for method, path, headers, data in refusals:
        status, _headers, body = same(browser, fast_lane, method, path, headers, data)
        assert not status.startswith("200") and b'"error"' in body
    assert len(dispatched) == 2 * len(refusals)

    # Browsers at userinfo: CORS is the route's (the registered origins).
    origin = {"Authorization": "Bearer " + token, "Origin": "https://fisc.example"}
    assert same(browser, fast_lane, "GET", "/userinfo", origin)[0] == "200 OK"


def test_revocations_and_policy_changes_are_seen_at_once_by_both(
    app, dispatched, browser, confidential, professional, fast_lane, monkeypatch
):
    auth = basic("fisc", confidential)
    access, refresh_token = professional["access_token"], professional["refresh_token"]
    bearer = {"Authorization": "Bearer " + access}

    def inactive(token: str) -> bool:
        body = same(browser, fast_lane, "POST", "/introspect", *introspect(token, auth))[2]
        return body == b'{"active":false}\n'

    def userinfo_status() -> str:
        return same(browser, fast_lane, "GET", "/userinfo", bearer)[0]

    # An expired access token (its exp passed; the row not yet purged).
    state = browser.app.extensions["monespace.oidc"].provider.provider().authz_state
    later = time.time() + 7200
    monkeypatch.setattr(state, "_clock", lambda: later)
    assert inactive(access) and not inactive(refresh_token)
    assert userinfo_status() == "401 UNAUTHORIZED"
    monkeypatch.undo()
    assert userinfo_status() == "200 OK"

    # The mandate behind represents revoked: the policy's answer changes at once.
    luc = Person.get(Person.given_name == "Luc")
    grant = RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())
    revoke_role(Caller.for_person(grant.enterprise.gap_designations[0].person), grant.id)
    assert inactive(access) and inactive(refresh_token)
    assert userinfo_status() == "401 UNAUTHORIZED"

    # The token revoked; then the client disabled: refused at once.
    redeemed = browser.client.post(
        "/revoke", data={"token": access}, headers=auth, base_url=browser.base_url
    )
    assert redeemed.status_code == 200
    assert inactive(access) and userinfo_status() == "401 UNAUTHORIZED"
    disable_client("fisc", actor="operator:test")
    dispatched.clear()
    status = same(browser, fast_lane, "POST", "/introspect", *introspect(refresh_token, auth))[0]
    assert status == "401 UNAUTHORIZED" and dispatched == ["/introspect"] * 2


def test_the_fast_lane_gives_the_database_connection_back(
    dispatched, browser, confidential, professional, fast_lane
):
    dispatched.clear()
    if not db.database.is_closed():
        db.database.close()
    headers, data = introspect(professional["access_token"], basic("fisc", confidential))
    answer = browser.client.post(
        "/introspect", headers=headers, data=data, base_url=browser.base_url
    )
    assert answer.get_json()["active"] is True and dispatched == []
    assert db.database.is_closed()
