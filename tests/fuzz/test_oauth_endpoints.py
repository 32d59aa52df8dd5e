"""Fuzzing the token (RFC 6749), introspection (RFC 7662) and revocation (RFC 7009) endpoints
of the OpenID provider: whatever the form, the client authentication or the content type, the
answer is never a 5xx, and a refusal is OAuth error JSON (RFC 6749 section 5.2).

Forms: the endpoints' parameters, repeated or not, with values that work (the demo client, a
live access token), odd grant types and client assertion types, text with NUL bytes, lone
percent signs, very long values; and unknown parameters. Client authentication: HTTP Basic
(right, wrong, malformed, with NUL bytes after percent-decoding), a client_id or secret in the
form, a client assertion that is no JWT, another scheme.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authz.clients import ClientMetadata, add_client
from monespace import demo
from tests.demo_app import (
    BASE_URL,
)
from tests.fuzz.conftest import FUZZ
from tests.fuzz.strategies import TEXT
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

ENDPOINTS = ("/token", "/introspect", "/revoke")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEMO_BASIC = (
    "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
)
NAMES = st.one_of(
    st.sampled_from(
        [
            "grant_type",
            "code",
            "redirect_uri",
            "code_verifier",
            "refresh_token",
            "scope",
            "token",
            "token_type_hint",
            "client_id",
            "client_secret",
            "client_assertion",
            "client_assertion_type",
        ]
    ),
    st.text(max_size=8),
)
# A live token is put in front of these by each test (the client credentials grant).
VALUES = st.one_of(
    st.sampled_from(
        [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "implicit",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "urn:ietf:params:oauth:grant-type:device_code",
            ASSERTION_TYPE,
            demo.DEMO_CLIENT_ID,
            demo.DEMO_CLIENT_SECRET,
            "access_token",
            "https://rp.example.test/cb",
            "eyJhbGciOiJub25lIn0.eyJpc3MiOiJkZW1vLXJwIn0.",
            "a.b.c",
            "openid decisions",
        ]
    ),
    TEXT,
    st.just(5000).map(lambda size: "x" * size),
)


def _basic(user: str, password: str, encode: bool) -> str:
    if encode:  # RFC 6749 section 2.3.1: each form-url-encoded before base64
        user = quote(user.encode("utf-8", "surrogatepass"), safe="")
        password = quote(password.encode("utf-8", "surrogatepass"), safe="")
    raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
    return "Basic " + base64.b64encode(raw).decode()


AUTHORIZATIONS = st.one_of(
    st.none(),
    st.just(6000).map(lambda size: "Basic " + "A" * size),
    st.just(DEMO_BASIC),
    st.builds(_basic, st.just(demo.DEMO_CLIENT_ID), TEXT, st.booleans()),
    st.builds(_basic, TEXT, TEXT, st.booleans()),
    st.sampled_from(
        [
            _basic("demo-rp%00", demo.DEMO_CLIENT_SECRET, False),
            _basic("%ff%fe", "x", False),
            "Basic YWFh" + "YWFh" * 100 + "Ong=",  # 303 letters a, then ":x"
            "Basic",
            "Basic !!!!",
            "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
            "Bearer abc",
            "Negotiate abc",
        ]
    ),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "multipart/form-data; boundary=x",
        "application/json",
        "text/plain",
        "",
    ]
)


def _form(pairs: list[tuple[str, str]], raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    encoded = [
        quote(name.encode("utf-8", "surrogatepass"))
        + "="
        + quote(value.encode("utf-8", "surrogatepass"))
        for name, value in pairs
    ]
    return "&".join(encoded).encode()


RAW_FORMS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            b"grant_type=client_credentials&grant_type=client_credentials",
            b"grant_type=%",
            b"grant_type=%zz&token=%",
            b"token=%00",
            b"token=%ff%fe",
            b"client_id=demo-rp%00&grant_type=client_credentials",
            b"&&&==&",
            b'{"grant_type": "client_credentials"}',
            b"\xff\xfe\x00",
        ]
    ),
    st.binary(max_size=40),
)


def live_token(client) -> str:
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": DEMO_BASIC},
        base_url=BASE_URL,
    )
    assert response.status_code == 200, response.get_data()
    return response.get_json()["access_token"]


def check(endpoint: str, response) -> None:
    body = response.get_data()
    assert response.status_code < 500, (response.status_code, body[:2000])
    if response.status_code >= 400:
        assert response.mimetype == "application/json", (response.status_code, body[:2000])
        error = json.loads(body)
        assert isinstance(error.get("error"), str), error
    elif endpoint != "/revoke":  # revocation answers 200 with no body (RFC 7009 2.2)
        assert response.mimetype == "application/json", (response.status_code, body[:2000])


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_oauth_endpoints_never_fail(app, data):
    client = app.test_client()
    token = live_token(client)
    values = st.one_of(st.just(token), VALUES)
    for _ in range(4):
        endpoint = data.draw(st.sampled_from(ENDPOINTS), label="endpoint")
        pairs = data.draw(st.lists(st.tuples(NAMES, values), max_size=6), label="form")
        raw = data.draw(RAW_FORMS if data.draw(st.booleans()) else st.none(), label="raw form")
        headers = {"Content-Type": data.draw(CONTENT_TYPES, label="content type")}
        authorization = data.draw(AUTHORIZATIONS, label="authorization")
        if authorization is not None:
            headers["Authorization"] = authorization
        body = _form(pairs, raw)
        response = client.post(endpoint, data=body, headers=headers, base_url=BASE_URL)
        check(endpoint, response)


def _mutated(form: list[tuple[str, str]], data) -> list[tuple[str, str]]:
    """The form of a grant that works, with one parameter changed, dropped or repeated, or
    one added (or none of this: the grant as it is)."""
    change = data.draw(st.sampled_from(["none", "replace", "drop", "repeat", "add"]), "change")
    if change == "none":
        return form
    if change == "add":
        return [*form, data.draw(st.tuples(NAMES, VALUES), label="added")]
    at = data.draw(st.integers(0, len(form) - 1), label="at")
    name, value = form[at]
    if change == "drop":
        return form[:at] + form[at + 1 :]
    if change == "repeat":
        return [*form, (name, data.draw(st.one_of(st.just(value), VALUES), label="again"))]
    return [*form[:at], (name, data.draw(VALUES, label="value")), *form[at + 1 :]]


@pytest.fixture
def logged_in(app) -> tuple[Browser, str]:
    """A browser logged in as Claire, and the Basic credentials of a client it may log in to."""
    _client, secret = add_client(
        ClientMetadata(
            "Fiscalité en ligne", "fiscalite", [CALLBACK], scopes=SCOPES, client_id="fisc"
        ),
        actor="operator:test",
    )
    browser = Browser(app)
    browser.login("eid", "person:claire")
    return browser, _basic("fisc", secret, False)


def _code(browser: Browser) -> tuple[str, str]:
    """A fresh authorization code for the logged-in browser, and its PKCE verifier."""
    verifier, challenge = pkce_pair()
    authorized = browser.get("/authorize?" + urlencode(authorize_query("fisc", challenge)))
    return callback_params(authorized)["code"], verifier


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_live_grants_with_one_part_changed(logged_in, data):
    """Authorization codes and refresh tokens that work, with one part of the request changed:
    the token endpoint refuses or answers, never fails."""
    browser, good = logged_in
    code, verifier = _code(browser)
    redeemed = browser.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        headers={"Authorization": good},
        base_url=BASE_URL,
    )
    refresh_token = redeemed.get_json()["refresh_token"]
    for _ in range(3):
        code, verifier = _code(browser)
        if data.draw(st.booleans(), label="refresh"):
            form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
        else:
            form = [
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier),
            ]
        authorization = data.draw(st.one_of(st.just(good), AUTHORIZATIONS), label="authorization")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if authorization is not None:
            headers["Authorization"] = authorization
        body = _form(_mutated(form, data), None)
        response = browser.client.post("/token", data=body, headers=headers, base_url=BASE_URL)
        check("/token", response)
        if response.status_code == 200:
            refresh_token = response.get_json().get("refresh_token") or refresh_token
