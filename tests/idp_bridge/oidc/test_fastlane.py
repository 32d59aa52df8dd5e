"""idp_bridge/oidc/fastlane.py: the provider's hot endpoints below Flask's dispatch give the
very answers of the Flask routes (status, headers, body), for tokens active and refused, and
leave everything unusual to the routes."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import peewee
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
    id_token_claims,
    pkce_pair,
    redeem,
    refresh,
)
from tests.idp_bridge.oidc.test_token import REDEMPTION_STATEMENTS, most
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


def test_a_token_whose_subject_is_no_longer_indexed_is_invalid_token_in_both(
    dispatched, browser, professional, fast_lane, unindex
):
    bearer = {"Authorization": "Bearer " + professional["access_token"]}
    assert same(browser, fast_lane, "GET", "/userinfo", bearer)[0] == "200 OK"
    unindex(id_token_claims(browser, professional["id_token"])["sub"])
    dispatched.clear()
    for method in ("GET", "POST"):
        status, headers, body = same(browser, fast_lane, method, "/userinfo", bearer)
        assert status == "401 UNAUTHORIZED" and b'"error":"invalid_token"' in body
        assert ("WWW-Authenticate", 'Bearer error="invalid_token"') in headers
    # The fast lane found the refusal and left its rendering to the route, as for any error.
    assert dispatched == ["/userinfo"] * 4


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


# -- the token endpoint: client_credentials ----------------------------------------------------


def token_request(pairs, auth: dict, **headers) -> tuple[dict, str]:
    return {**auth, **FORM, **headers}, urlencode(pairs)


CLIENT_CREDENTIALS = [("grant_type", "client_credentials")]


def without_token(answer):
    """An answer with its access token (fresh at each request) replaced by a mark."""
    status, headers, body = answer
    issued = json.loads(body)["access_token"]
    assert len(issued) == 43  # 256 bits, base64url: the same Content-Length for each
    return status, headers, body.replace(issued.encode(), b"TOKEN")


def test_client_credentials_get_the_routes_answer_without_flask(
    dispatched, browser, confidential, fast_lane, sql_log
):
    auth = basic("fisc", confidential)
    dispatched.clear()
    fast, route = both(
        browser, fast_lane, "POST", "/token", *token_request(CLIENT_CREDENTIALS, auth)
    )
    assert without_token(fast) == without_token(route)
    status, headers, body = fast
    assert status == "200 OK" and ("Cache-Control", "no-store") in headers
    assert json.loads(body)["scope"] == "decisions"
    assert dispatched == ["/token"]  # the route's answer only
    # A scope asked for, the client_id repeated in the form: the route ignores both, so does
    # the lane; the token works at introspection.
    for pairs in (
        [*CLIENT_CREDENTIALS, ("scope", "openid anything")],
        [*CLIENT_CREDENTIALS, ("client_id", "fisc")],
    ):
        fast, route = both(browser, fast_lane, "POST", "/token", *token_request(pairs, auth))
        assert without_token(fast) == without_token(route)
    issued = json.loads(fast[2])["access_token"]
    assert same(browser, fast_lane, "POST", "/introspect", *introspect(issued, auth))[0] == "200 OK"
    # One statement: the token stored (the client's record was read by the requests above).
    dispatched.clear()
    sql_log.clear()
    answer = browser.client.post(
        "/token", data=dict(CLIENT_CREDENTIALS), headers=auth, base_url=browser.base_url
    )
    assert answer.status_code == 200 and dispatched == []
    assert [sql.split()[0] for sql, _ in sql_log.statements] == ["INSERT"]
    assert sql_log.commits == 0  # one statement, committed by itself (autocommit)


def test_refused_client_credentials_get_the_routes_errors(
    dispatched, browser, confidential, fast_lane
):
    auth = basic("fisc", confidential)
    _client, other = add_client(
        ClientMetadata("Autre", "fiscalite", [CALLBACK], client_id="other"), actor="t"
    )
    add_client(
        ClientMetadata("Public", "fiscalite", [CALLBACK], auth_method="none", client_id="pub"),
        actor="t",
    )
    disable_client("other", actor="operator:test")
    dispatched.clear()
    refusals = [
        token_request(CLIENT_CREDENTIALS, basic("fisc", "wrong")),  # 401 invalid_client
        token_request(CLIENT_CREDENTIALS, basic("nobody", "secret")),  # unknown client
        token_request(CLIENT_CREDENTIALS, basic("other", other)),  # disabled client
        token_request(CLIENT_CREDENTIALS, basic("pub", "")),  # a public client
        token_request(CLIENT_CREDENTIALS, {}),  # no client authentication
        token_request([*CLIENT_CREDENTIALS, ("client_id", "pub")], {}),
        token_request([*CLIENT_CREDENTIALS, *CLIENT_CREDENTIALS], auth),  # repeated
        token_request([], auth),  # no grant_type
        token_request([("grant_type", "password")], auth),  # unsupported grant
        token_request(
            [*CLIENT_CREDENTIALS, ("client_assertion_type", "x"), ("client_assertion", "y")],
            auth,
        ),
        token_request([*CLIENT_CREDENTIALS, ("client_secret", confidential)], auth),
        token_request([("grant_type", "client\x01credentials")], auth),  # a control character
        ({**auth, "Content-Type": "application/json"}, '{"grant_type":"client_credentials"}'),
    ]
    for headers, data in refusals:
        status, answer_headers, body = same(browser, fast_lane, "POST", "/token", headers, data)
        assert status.startswith("40"), (data, status)
        assert json.loads(body)["error"] in (
            "invalid_client",
            "invalid_request",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
        )
        assert ("Cache-Control", "no-store") in answer_headers
    # Every refusal answered by the route, whichever lane was asked first.
    assert dispatched == ["/token"] * 2 * len(refusals)
    # Other methods and a browser's Origin (CORS: the registered origins) are the route's.
    dispatched.clear()
    assert same(browser, fast_lane, "GET", "/token", auth)[0] == "405 METHOD NOT ALLOWED"
    headers, data = token_request(CLIENT_CREDENTIALS, auth, Origin="https://fisc.example")
    fast, route = both(browser, fast_lane, "POST", "/token", headers, data)
    assert fast[0] == route[0] == "200 OK" and dispatched == ["/token"] * 4


def fresh_code(browser: Browser, client_id: str = "fisc") -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    query = urlencode(authorize_query(client_id, challenge))
    return callback_params(browser.get("/authorize?" + query))["code"], verifier


def code_grant(code: str | None, verifier: str | None, **changes) -> list[tuple[str, str]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        **changes,
    }
    return [(name, value) for name, value in form.items() if value is not None]


def refresh_grant(refresh_token: str, **more) -> list[tuple[str, str]]:
    return [("grant_type", "refresh_token"), ("refresh_token", refresh_token), *more.items()]


def one_each(browser: Browser, lane, pairs_fast, pairs_route, auth: dict):
    """The fast lane's answer to one request, the route's to another (a code or a refresh
    token is spent by its first use: each lane gets its own)."""

    def ask(pairs):
        headers, data = token_request(pairs, auth)
        response = browser.client.post(
            "/token", headers=headers, data=data, base_url=browser.base_url
        )
        return response.status, list(response.headers.items()), response.get_data()

    fast = ask(pairs_fast)
    lane.answering = False
    try:
        return fast, ask(pairs_route)
    finally:
        lane.answering = True


def refresh_each(browser: Browser, lane, tokens_fast: dict, tokens_route: dict, auth: dict):
    """:func:`one_each` for two refreshes: each lane presents its own grant's refresh token."""
    return one_each(
        browser,
        lane,
        refresh_grant(tokens_fast["refresh_token"]),
        refresh_grant(tokens_route["refresh_token"]),
        auth,
    )


def comparable(answer):
    """A token answer without what differs between two grants: the tokens and its length."""
    status, headers, body = answer
    fields = json.loads(body)
    for name in ("access_token", "refresh_token", "id_token"):
        fields[name] = bool(fields.get(name))
    return status, [h for h in headers if h[0] != "Content-Length"], fields


def test_code_redemption_and_refresh_get_the_routes_answers_without_flask(
    dispatched, browser, confidential, fast_lane, sql_log
):
    auth = basic("fisc", confidential)
    browser.login("eid", "person:claire")
    (code_a, verifier_a), (code_b, verifier_b) = fresh_code(browser), fresh_code(browser)
    dispatched.clear()
    fast, route = one_each(
        browser, fast_lane, code_grant(code_a, verifier_a), code_grant(code_b, verifier_b), auth
    )
    assert comparable(fast) == comparable(route)
    assert fast[0] == "200 OK" and ("Cache-Control", "no-store") in fast[1]
    assert dispatched == ["/token"]  # the route's answer only
    tokens_a, tokens_b = json.loads(fast[2]), json.loads(route[2])
    claims = id_token_claims(browser, tokens_a["id_token"])  # signed with the published key
    assert claims == {**id_token_claims(browser, tokens_b["id_token"]), **only_times(claims)}
    assert same(browser, fast_lane, "GET", "/userinfo", bearer(tokens_a))[0] == "200 OK"

    # Refresh tokens rotated, by each lane; then presented again: the grant revoked.
    dispatched.clear()
    fast, route = refresh_each(browser, fast_lane, tokens_a, tokens_b, auth)
    assert comparable(fast) == comparable(route) and fast[0] == "200 OK"
    assert dispatched == ["/token"]
    rotated_a = json.loads(fast[2])
    assert same(browser, fast_lane, "GET", "/userinfo", bearer(rotated_a))[0] == "200 OK"
    fast, route = refresh_each(browser, fast_lane, tokens_a, tokens_b, auth)
    assert fast == route and fast[0] == "400 BAD REQUEST"
    assert json.loads(fast[2])["error"] == "invalid_grant"
    assert same(browser, fast_lane, "GET", "/userinfo", bearer(rotated_a))[0] == "401 UNAUTHORIZED"

    # The statements of a grant below Flask: those of the route's (test_token.py).
    code, verifier = fresh_code(browser)
    sql_log.clear()
    dispatched.clear()
    answer = browser.client.post(
        "/token",
        headers=auth,
        data=dict(code_grant(code, verifier)),
        base_url=browser.base_url,
    )
    assert answer.status_code == 200 and dispatched == []
    assert sql_log.wrote_as_one(writes=3), sql_log
    assert len(sql_log.statements) <= most(REDEMPTION_STATEMENTS)


def only_times(claims: dict) -> dict:
    return {k: claims[k] for k in ("iat", "exp", "auth_time", "at_hash") if k in claims}


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens["access_token"]}


def test_refused_grants_get_the_routes_errors(
    dispatched, browser, confidential, fast_lane, monkeypatch
):
    """Refusals after the point of no return are answered by the fast lane itself, as the
    route renders them; those before it (the client) by the route."""
    auth = basic("fisc", confidential)
    _client, other = add_client(
        ClientMetadata("Autre", "fiscalite", [CALLBACK], client_id="other"), actor="t"
    )
    browser.login("eid", "person:claire")
    code, verifier = fresh_code(browser)
    used, used_verifier = fresh_code(browser)
    tokens = redeem(browser, used, used_verifier, auth).get_json()
    redeem_again = code_grant(used, used_verifier)
    dispatched.clear()
    repeatable = [
        (code_grant(code, "wrong-verifier-" + "x" * 40), auth),  # PKCE
        (code_grant(code, None), auth),  # no verifier
        (code_grant(code, verifier, redirect_uri=CALLBACK + "/x"), auth),
        (code_grant(code, verifier), basic("other", other)),  # another client's code
        (code_grant("nonsense", verifier), auth),  # unknown code
        (code_grant(None, verifier), auth),  # no code
        (redeem_again, auth),  # a used code: its grant revoked
        (refresh_grant("nonsense"), auth),
        (refresh_grant(tokens["refresh_token"], scope="openid nrn"), auth),  # scope widened
    ]
    for pairs, by in repeatable:
        status, headers, body = same(
            browser, fast_lane, "POST", "/token", *token_request(pairs, by)
        )
        assert status == "400 BAD REQUEST", (pairs, body)
        assert json.loads(body)["error"] in ("invalid_grant", "invalid_request", "invalid_scope")
        assert ("Cache-Control", "no-store") in headers
    assert dispatched == ["/token"] * len(repeatable)  # the route's answers only
    # The code's grant was revoked by its replay: its refresh token is refused.
    assert refresh(browser, tokens["refresh_token"], auth).status_code == 400
    # The code itself was not spent by the refusals above.
    assert redeem(browser, code, verifier, auth).status_code == 200

    # Before the point of no return (the client): the route's answers.
    code, verifier = fresh_code(browser)
    dispatched.clear()
    for by in (basic("fisc", "wrong"), basic("nobody", "x"), {}):
        status, _headers, body = same(
            browser, fast_lane, "POST", "/token", *token_request(code_grant(code, verifier), by)
        )
        assert status.startswith("40") and b'"error"' in body
    assert dispatched == ["/token"] * 6
    assert redeem(browser, code, verifier, auth).status_code == 200  # nothing spent

    # An unforeseen failure after the point of no return: rendered as the route renders it.
    from idp_bridge.oidc import token as token_module

    def unavailable(*_args, **_kwargs):
        raise peewee.OperationalError("connection timed out")

    monkeypatch.setattr(token_module, "grant_answer", unavailable)
    code, verifier = fresh_code(browser)
    dispatched.clear()
    status, _headers, body = same(
        browser, fast_lane, "POST", "/token", *token_request(code_grant(code, verifier), auth)
    )
    assert status == "503 SERVICE UNAVAILABLE" and b"temporarily_unavailable" in body
    assert dispatched == ["/token"]


def test_a_representation_no_longer_allowed_is_refused_by_both(
    dispatched, browser, confidential, fast_lane
):
    """The ``represents`` re-check at refresh: refused, and the grant revoked, by either."""
    auth = basic("fisc", confidential)
    browser.login("eid", "person:luc")

    def professional_tokens() -> dict:
        query = authorize_query(scope="openid profile enterprise")
        chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
        params = callback_params(choose(browser, chooser, BOULANGERIE))
        return redeem(browser, params["code"], None, auth).get_json()

    first, second = professional_tokens(), professional_tokens()
    luc = Person.get(Person.given_name == "Luc")
    grant = RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())
    revoke_role(Caller.for_person(grant.enterprise.gap_designations[0].person), grant.id)
    dispatched.clear()
    fast, route = refresh_each(browser, fast_lane, first, second, auth)
    assert fast == route and fast[0] == "400 BAD REQUEST"
    assert b"no longer act for this enterprise" in fast[2]
    assert dispatched == ["/token"]
    for tokens in (first, second):  # each grant revoked
        assert same(browser, fast_lane, "GET", "/userinfo", bearer(tokens))[0] != "200 OK"
