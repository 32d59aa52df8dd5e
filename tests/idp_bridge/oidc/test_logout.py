"""idp_bridge/oidc/logout.py: RP-initiated logout and back-channel logout tokens."""

from __future__ import annotations

import base64
import json
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from authz.clients import ClientMetadata, add_client
from idp_bridge.models import LoginSession
from idp_bridge.oidc.edge import EXTENSION
from idp_bridge.oidc.logout import LOGOUT_EVENT
from idp_bridge.shared.nested_jwt import generate_rsa_key
from idp_bridge.shared.transport import HttpResponse
from tests.idp_bridge.oidc.client_requests import (
    CALLBACK,
    authorize_query,
    basic,
    callback_params,
    redeem,
    refresh,
    userinfo_status,
)
from tests.idp_bridge.web_client import (
    Browser,
)

AFTER = "https://rp.example.test/logged-out"
BACKCHANNEL = "https://rp.example.test/backchannel"


@pytest.fixture
def secret(app) -> str:
    _client, secret = add_client(
        ClientMetadata(
            "Fiscalité en ligne",
            "fiscalite",
            [CALLBACK],
            client_id="fisc",
            post_logout_redirect_uris=[AFTER],
            backchannel_logout_uri=BACKCHANNEL,
        ),
        actor="operator:test",
    )
    return secret


@pytest.fixture
def sent(app) -> list[tuple[str, dict]]:
    """The back-channel logout requests the provider sends (instead of the network)."""
    calls: list[tuple[str, dict]] = []

    def transport(method, url, form=None):
        calls.append((url, dict(form or {})))
        return HttpResponse(200, b"", {})

    app.extensions[EXTENSION].backchannel_transport = transport
    return calls


def logged_in_with_tokens(browser: Browser, secret: str) -> dict:
    browser.login("eid", "person:claire")
    params = callback_params(browser.get("/authorize?" + urlencode(authorize_query())))
    return redeem(browser, params["code"], None, basic("fisc", secret)).get_json()


def live_sessions() -> int:
    return LoginSession.select().where(LoginSession.ended_at.is_null()).count()


def claims_of(browser: Browser, token: str) -> dict:
    keys = KeySet.import_key_set(browser.get("/jwks").get_json())
    return jwt.decode(token, keys).claims


def test_the_id_token_names_the_session(browser, secret):
    tokens = logged_in_with_tokens(browser, secret)
    assert len(claims_of(browser, tokens["id_token"])["sid"]) == 32


def test_a_logout_with_the_sessions_id_token_ends_it_and_tells_the_client(browser, secret, sent):
    tokens = logged_in_with_tokens(browser, secret)
    query = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": AFTER, "state": "x"}
    response = browser.get("/logout/rp?" + urlencode(query))

    assert response.status_code == 303 and response.headers["Location"] == AFTER + "?state=x"
    assert live_sessions() == 0
    assert browser.get("/me").status_code == 303
    ((url, form),) = sent
    assert url == BACKCHANNEL
    header = json.loads(base64.urlsafe_b64decode(form["logout_token"].split(".")[0] + "=="))
    assert header["typ"] == "logout+jwt"
    logout = claims_of(browser, form["logout_token"])
    id_token = claims_of(browser, tokens["id_token"])
    assert logout["aud"] == "fisc" and logout["iss"] == "http://localhost"
    assert logout["sid"] == id_token["sid"] and logout["sub"] == id_token["sub"]
    assert logout["events"] == {LOGOUT_EVENT: {}} and "nonce" not in logout


def test_without_a_hint_the_person_confirms(browser, secret, sent):
    logged_in_with_tokens(browser, secret)
    page = browser.get(
        "/logout/rp?" + urlencode({"client_id": "fisc", "post_logout_redirect_uri": AFTER})
    )
    assert page.status_code == 200 and live_sessions() == 1
    hidden = dict(
        re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.get_data(as_text=True)
        )
    )
    form = {k: unescape(v) for k, v in hidden.items()}

    forged = browser.post("/logout/rp", data={**form, "confirm": "0" * 64})
    assert forged.status_code == 200 and live_sessions() == 1  # asked again, nothing ended

    done = browser.post("/logout/rp", data=form)
    assert done.status_code == 303 and done.headers["Location"] == AFTER
    assert live_sessions() == 0 and len(sent) == 1


@pytest.mark.parametrize("forge", ["alg-none", "other-key"])
def test_a_hint_this_provider_did_not_sign_ends_nothing(browser, secret, sent, forge):
    tokens = logged_in_with_tokens(browser, secret)
    claims = claims_of(browser, tokens["id_token"])
    if forge == "alg-none":
        part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        hint = f"{part({'alg': 'none'})}.{part(claims)}."
    else:
        hint = jwt.encode({"alg": "RS256"}, claims, generate_rsa_key("sig"))
    response = browser.get("/logout/rp?" + urlencode({"id_token_hint": hint}))
    assert response.status_code == 400 and "Location" not in response.headers
    assert live_sessions() == 1 and sent == []


def test_an_unregistered_post_logout_redirect_is_refused(browser, secret):
    tokens = logged_in_with_tokens(browser, secret)
    query = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://evil.example/",
    }
    response = browser.get("/logout/rp?" + urlencode(query))
    assert response.status_code == 400 and "Location" not in response.headers
    assert live_sessions() == 1


def test_without_a_session_the_client_gets_its_person_back(browser, secret):
    query = {"client_id": "fisc", "post_logout_redirect_uri": AFTER}
    response = browser.get("/logout/rp?" + urlencode(query))
    assert response.status_code == 303 and response.headers["Location"] == AFTER


def test_the_logout_button_of_me_tells_the_clients_too(browser, secret, sent):
    logged_in_with_tokens(browser, secret)
    token = re.search(
        r'name="csrf_token" value="([0-9a-f]+)"', browser.get("/me").get_data(as_text=True)
    )[1]
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
    assert [url for url, _form in sent] == [BACKCHANNEL]


def test_a_client_that_cannot_be_reached_does_not_stop_the_logout(app, browser, secret, caplog):
    def unreachable(method, url, form=None):
        raise ConnectionError("connection refused")

    app.extensions[EXTENSION].backchannel_transport = unreachable
    tokens = logged_in_with_tokens(browser, secret)
    response = browser.get("/logout/rp?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert response.status_code == 303 and live_sessions() == 0
    assert "back-channel logout to fisc failed" in caplog.text


def test_discovery_announces_logout(browser):
    document = browser.get("/.well-known/openid-configuration").get_json()
    assert document["end_session_endpoint"] == "http://localhost/logout/rp"
    assert document["backchannel_logout_supported"] is True
    assert parse_qs(urlsplit(document["end_session_endpoint"]).query) == {}


# -- the tokens of a session end with it ------------------------------------------------------


def log_out(browser: Browser, how: str, tokens: dict):
    if how == "rp":
        return browser.get("/logout/rp?" + urlencode({"id_token_hint": tokens["id_token"]}))
    page = browser.get("/me").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    return browser.post("/logout", data={"csrf_token": token})


def assert_ended(browser: Browser, secret: str, tokens: dict) -> None:
    refused = refresh(browser, tokens["refresh_token"], basic("fisc", secret))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert userinfo_status(browser, tokens["access_token"]) == 401


def assert_live(browser: Browser, secret: str, tokens: dict) -> None:
    assert userinfo_status(browser, tokens["access_token"]) == 200
    assert refresh(browser, tokens["refresh_token"], basic("fisc", secret)).status_code == 200


@pytest.mark.parametrize("how", ["rp", "me"])
def test_a_logout_ends_the_tokens_of_the_session_only(app, browser, secret, sent, how):
    tokens = logged_in_with_tokens(browser, secret)
    rotated = refresh(browser, tokens["refresh_token"], basic("fisc", secret)).get_json()
    # The same person logged in on another browser: that session's tokens are not touched.
    elsewhere = Browser(app)
    other_tokens = logged_in_with_tokens(elsewhere, secret)

    assert log_out(browser, how, tokens).status_code == 303
    assert_ended(browser, secret, rotated)
    assert_live(elsewhere, secret, other_tokens)


def test_a_new_login_in_the_same_browser_ends_the_replaced_session_as_a_logout(
    browser, secret, sent
):
    tokens = logged_in_with_tokens(browser, secret)
    sid = claims_of(browser, tokens["id_token"])["sid"]
    assert browser.login("eid", "person:marc").status_code == 303

    ((url, form),) = sent
    assert url == BACKCHANNEL and claims_of(browser, form["logout_token"])["sid"] == sid
    assert_ended(browser, secret, tokens)
    assert live_sessions() == 1


def test_a_login_replacing_no_session_tells_nobody(browser, secret, sent):
    logged_in_with_tokens(browser, secret)
    assert sent == []


def test_offline_access_is_not_granted_and_its_tokens_end_with_the_session(browser, sent):
    _client, secret = add_client(
        ClientMetadata(
            "Hors ligne",
            "fiscalite",
            [CALLBACK],
            scopes=["openid", "profile", "offline_access"],
            client_id="offline",
        ),
        actor="operator:test",
    )
    browser.login("eid", "person:claire")
    query = authorize_query("offline", scope="openid profile offline_access")
    params = callback_params(browser.get("/authorize?" + urlencode(query)))
    tokens = redeem(browser, params["code"], None, basic("offline", secret)).get_json()
    assert tokens["scope"].split() == ["openid", "profile"]

    assert log_out(browser, "rp", tokens).status_code == 303
    refused = refresh(browser, tokens["refresh_token"], basic("offline", secret))
    assert refused.get_json()["error"] == "invalid_grant"


def test_no_token_outlives_the_login_session_however_often_it_rotates(make_app, monkeypatch):
    app = make_app(session_absolute_timeout=3600, session_idle_timeout=600)
    _client, secret = add_client(
        ClientMetadata("Fiscalité en ligne", "fiscalite", [CALLBACK], client_id="fisc"),
        actor="operator:test",
    )
    browser = Browser(app)
    tokens = logged_in_with_tokens(browser, secret)
    state = app.extensions[EXTENSION].provider.provider().authz_state
    start = time.time()

    monkeypatch.setattr(state, "_clock", lambda: start + 3000)  # the session has 10 min left
    rotated = refresh(browser, tokens["refresh_token"], basic("fisc", secret)).get_json()
    assert 0 < rotated["expires_in"] <= 600

    monkeypatch.setattr(state, "_clock", lambda: start + 3700)  # the session is over
    refused = refresh(browser, rotated["refresh_token"], basic("fisc", secret))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert userinfo_status(browser, rotated["access_token"]) == 401


# -- a change of the secret key ---------------------------------------------------------------


def test_a_session_opened_before_the_secret_key_changed_still_ends_with_its_tokens(
    make_app, browser, secret, sent
):
    from tests.demo_app import SECRET_KEY

    tokens = logged_in_with_tokens(browser, secret)
    sid = claims_of(browser, tokens["id_token"])["sid"]
    session_cookie = browser.cookie()
    # The nodes rolled with a new secret key, the one it replaced kept as a previous one.
    changed = make_app(secret_key="n" * 40, previous_secret_keys=SECRET_KEY)
    changed.extensions[EXTENSION].backchannel_transport = lambda method, url, form=None: (
        sent.append((url, dict(form or {}))) or HttpResponse(200, b"", {})
    )
    after = Browser(changed)
    after.set_session(session_cookie)
    assert claims_of(after, tokens["id_token"])["sid"] == sid  # the same signing keys

    response = after.get("/logout/rp?" + urlencode({"id_token_hint": tokens["id_token"]}))

    assert response.status_code == 303  # the hint's sid is the session's: no confirmation
    ((url, form),) = sent
    assert url == BACKCHANNEL and claims_of(after, form["logout_token"])["sid"] == sid
    assert_ended(after, secret, tokens)
