"""idp_bridge/oidc/token.py, introspection.py, revocation.py: what their answers always carry
(the granted scope), the requests they refuse as malformed (RFC 6749 sections 3.1, 3.2
and 5.2: a missing grant_type, a parameter given twice), what a grant costs the database
(its writes in one transaction), and a code redeemed twice at once."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import peewee
import pytest

from authz import db
from authz.clients import ClientMetadata, add_client
from idp_bridge.oidc.state import ProviderAuthorizationState
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

    monkeypatch.setattr(token_module, "client_credentials_answer", silent)
    answer = post(
        browser, "/token", [("grant_type", "client_credentials")], basic("fisc", confidential)
    )
    assert answer.status_code == 503
    assert answer.get_json()["error"] == "temporarily_unavailable"


# -- what a grant costs the database -------------------------------------------------------

# Reads: the client, the code or refresh token with its family (one statement), the person
# (the ID token's claims); writes: the new tokens (one statement), the family, the code or
# refresh token, in one transaction; on PostgreSQL the three writes are one statement
# (storage.swap_then_store). Before the writes were merged, a redemption took 16 statements
# and 4 commits, a refresh 13 and 4. By database: (SQLite, PostgreSQL).
REDEMPTION_STATEMENTS = (6, 4)
REFRESH_STATEMENTS = (4, 2)


def most(statements: tuple[int, int]) -> int:
    return statements[db.is_postgresql()]


def test_a_code_redemption_writes_once_as_one_unit(
    browser, confidential, code_and_verifier, sql_log
):
    code, verifier = code_and_verifier
    sql_log.clear()
    answer = redeem(browser, code, verifier, basic("fisc", confidential))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert sql_log.wrote_as_one(writes=3), sql_log
    assert len(sql_log.statements) <= most(REDEMPTION_STATEMENTS), sql_log.statements


def test_a_refresh_writes_once_as_one_unit(browser, confidential, code_and_verifier, sql_log):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    tokens = redeem(browser, code, verifier, auth).get_json()
    sql_log.clear()
    answer = refresh(browser, tokens["refresh_token"], auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert sql_log.wrote_as_one(writes=3), sql_log
    assert len(sql_log.statements) <= most(REFRESH_STATEMENTS), sql_log.statements


def test_a_refused_refresh_writes_nothing_but_the_revocation(
    browser, confidential, code_and_verifier, sql_log
):
    """A rotated-away refresh token presented again: no token is issued, and what is written
    (the family revoked, its tokens deleted) is committed, not undone with the refusal."""
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    first = redeem(browser, code, verifier, auth).get_json()
    second = refresh(browser, first["refresh_token"], auth).get_json()
    sql_log.clear()
    replay = refresh(browser, first["refresh_token"], auth)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert not [sql for sql in sql_log.writes(in_transaction=True) if "INSERT" in sql.upper()]
    assert refresh(browser, second["refresh_token"], auth).status_code == 400
    assert userinfo(browser, second["access_token"]) == 401


def test_a_code_whose_subject_is_no_longer_indexed_is_invalid_grant(
    app, browser, confidential, code_and_verifier, unindex
):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    state = app.extensions["monespace.oidc"].provider.provider().authz_state
    unindex(state.get_subject_identifier_for_code(code))
    answer = redeem(browser, code, verifier, auth)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_grant"
    # The person's next authorization indexes the subject again; its code is redeemed.
    verifier, challenge = pkce_pair()
    query = urlencode(authorize_query("fisc", challenge))
    params = callback_params(browser.get("/authorize?" + query))
    answer = redeem(browser, params["code"], verifier, auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert userinfo(browser, answer.get_json()["access_token"]) == 200


def userinfo(browser, access_token: str) -> int:
    return browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


# -- a code redeemed twice at once (RFC 6749 4.1.2) --------------------------------------------


def test_of_two_redemptions_of_a_code_at_once_one_gets_tokens_then_revoked(
    app, browser, confidential, code_and_verifier, monkeypatch
):
    """Both requests have read the code unused and its family live before either writes: one
    commits its tokens, the other's compare-and-swap of the code fails, which undoes its
    writes and makes it a replay, so the tokens the first got are revoked too."""
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    both_read = threading.Barrier(2, timeout=20)
    issue = ProviderAuthorizationState._issue

    def after_both_read(self, *args, **kwargs):
        both_read.wait()
        return issue(self, *args, **kwargs)

    monkeypatch.setattr(ProviderAuthorizationState, "_issue", after_both_read)
    answers = [None, None]

    def redeem_in_thread(index: int) -> None:
        answers[index] = app.test_client().post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            },
            headers=auth,
            base_url=browser.base_url,
        )

    threads = [threading.Thread(target=redeem_in_thread, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    winner = next(answer.get_json() for answer in answers if answer.status_code == 200)
    loser = next(answer.get_json() for answer in answers if answer.status_code == 400)
    assert loser["error"] == "invalid_grant"
    monkeypatch.setattr(ProviderAuthorizationState, "_issue", issue)
    assert userinfo(browser, winner["access_token"]) == 401
    assert refresh(browser, winner["refresh_token"], auth).status_code == 400
    assert redeem(browser, code, verifier, auth).status_code == 400
