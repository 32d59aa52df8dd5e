"""idp_bridge/oidc/introspection.py: an access token is active at introspection exactly when
userinfo answers for it; one whose subject is no longer indexed is refused by both (userinfo's
``invalid_token``, introspection's ``active: false``), by the fast lane as by the route."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.idp_bridge.oidc.client_requests import basic, id_token_claims, redeem

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_an_access_token_userinfo_refuses_is_inactive(
    browser, confidential, code_and_verifier, fast_lane, dispatched, unindex
):
    code, verifier = code_and_verifier
    tokens = redeem(browser, code, verifier, basic("fisc", confidential)).get_json()
    introspect = {
        "headers": {**basic("fisc", confidential), **FORM},
        "data": urlencode({"token": tokens["access_token"]}),
    }
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}

    def ask(answering: bool):
        fast_lane.answering = answering
        try:
            seen = browser.client.post("/introspect", base_url=browser.base_url, **introspect)
            info = browser.client.get("/userinfo", headers=bearer, base_url=browser.base_url)
        finally:
            fast_lane.answering = True
        return seen, info

    dispatched.clear()
    for answering in (True, False):  # the fast lane, then the Flask routes
        seen, info = ask(answering)
        assert seen.status_code == 200 and seen.get_json()["active"] is True
        assert info.status_code == 200
    assert dispatched == ["/introspect", "/userinfo"]  # the fast lane answered the first two

    unindex(id_token_claims(browser, tokens["id_token"])["sub"])
    for answering in (True, False):
        seen, info = ask(answering)
        assert seen.status_code == 200 and seen.get_json() == {"active": False}
        assert info.status_code == 401 and info.get_json()["error"] == "invalid_token"
