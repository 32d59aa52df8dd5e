"""idp_bridge/oidc/ endpoints (authorization, token, revocation, introspection, userinfo):
the code flow through the whole app, a browser logging in through the simulators, a relying
party redeeming the code; and what each endpoint refuses."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from authz.clients import ClientMetadata, add_client
from authz.models import Person, RoleGrant
from authz.services import Caller, revoke_role
from tests.idp_bridge.oidc.client_requests import (
    BOULANGERIE,
    CALLBACK,
    SCOPES,
    authorize_query,
    basic,
    callback_params,
    choose,
    id_token_claims,
    pkce_pair,
    redeem,
    refresh,
    userinfo_status,
)
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)


@pytest.fixture
def public(app) -> None:
    add_client(
        ClientMetadata(
            "Application mobile",
            "fiscalite",
            [CALLBACK],
            auth_method="none",
            scopes=SCOPES,
            client_id="mobile",
        ),
        actor="operator:test",
    )


# -- discovery ------------------------------------------------------------------------------


def test_discovery_and_keys_are_published(browser):
    document = browser.get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == "http://localhost"
    assert document["response_types_supported"] == ["code"]
    keys = browser.get("/jwks").get_json()["keys"]
    assert len(keys) == 2 and all("d" not in key for key in keys)


# -- the citizen and the representative -------------------------------------------------------


def test_a_citizen_logs_in_through_the_provider_with_pkce(browser, public):
    verifier, challenge = pkce_pair()
    started = browser.get("/authorize?" + urlencode(authorize_query("mobile", challenge)))
    assert started.status_code == 303 and started.headers["Location"].startswith("/login?")
    next_path = parse_qs(urlsplit(started.headers["Location"]).query)["next"][0]
    resumed = browser.follow(browser.login("eid", "person:claire", next_path).headers["Location"])
    params = callback_params(resumed)
    assert params["state"] == "st-1" and params["iss"] == "http://localhost"

    tokens = redeem(browser, params["code"], verifier, client_id="mobile").get_json()
    claims = id_token_claims(browser, tokens["id_token"])
    assert claims["aud"] == ["mobile"] and claims["nonce"] == "n-1"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    assert "espace" not in claims and "represents" not in claims
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["sub"] == claims["sub"]
    assert info.get_json()["given_name"] == "Claire" and "nrn" not in info.get_json()


def test_a_representative_chooses_the_enterprise_and_gets_the_policys_claims(browser, confidential):
    browser.login("eid", "person:luc")
    verifier, challenge = pkce_pair()
    query = authorize_query("fisc", challenge, scope="openid profile enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    text = page_text(chooser)
    assert "Boulangerie Démo SA" in text and "0123.456.749" in text and "Espace Citoyen" in text

    params = callback_params(choose(browser, chooser, BOULANGERIE))
    tokens = redeem(browser, params["code"], verifier, basic("fisc", confidential)).get_json()
    claims = id_token_claims(browser, tokens["id_token"])
    assert claims["espace"] == "professionnel"
    represents = claims["represents"]
    assert represents["sub"] == BOULANGERIE and represents["basis"] == "grant"
    assert "act_for" in represents["permissions"] and "agent" in represents["roles"]
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["represents"]["sub"] == BOULANGERIE


def test_the_citizen_espace_is_a_choice_too(browser, confidential):
    browser.login("eid", "person:luc")
    query = authorize_query(scope="openid enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    params = callback_params(choose(browser, chooser, "citoyen"))
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    claims = id_token_claims(browser, tokens["id_token"])
    assert claims["espace"] == "citoyen" and "represents" not in claims


def test_an_enterprise_the_person_may_not_act_for_is_refused_whatever_the_form_says(
    browser, confidential
):
    browser.login("eid", "person:emma")  # a reader: no act_for
    query = authorize_query(scope="openid enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    assert BOULANGERIE not in chooser.get_data(as_text=True)
    refused = choose(browser, chooser, BOULANGERIE)
    assert refused.status_code == 400
    assert "Vous ne pouvez pas agir pour cette entreprise" in page_text(refused)


def test_the_chooser_needs_its_token(browser, confidential):
    browser.login("eid", "person:luc")
    query = authorize_query(scope="openid enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    request_id = re.search(r'name="request" value="([^"]+)"', chooser.get_data(as_text=True))[1]
    forged = browser.post(
        "/authorize/espace", data={"request": request_id, "espace": BOULANGERIE, "token": "0" * 64}
    )
    assert forged.status_code == 400 and "Location" not in forged.headers


def test_a_grant_revoked_before_the_code_is_redeemed_gives_no_token(app, browser, confidential):
    browser.login("eid", "person:luc")
    query = authorize_query(scope="openid enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    params = callback_params(choose(browser, chooser, BOULANGERIE))
    luc = Person.get(Person.given_name == "Luc")
    grant = RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())
    gap = Caller.for_person(grant.enterprise.gap_designations[0].person)
    revoke_role(gap, grant.id, reason="test")

    refused = redeem(browser, params["code"], None, basic("fisc", confidential))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


# -- what /authorize refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"client_id": "nobody"}, {"redirect_uri": "https://evil.example/cb"}, {"client_id": ""}],
    ids=["unknown-client", "unregistered-redirect", "no-client"],
)
def test_without_a_known_client_and_redirect_the_error_is_shown_never_redirected(
    browser, confidential, change
):
    response = browser.get("/authorize?" + urlencode(authorize_query(**change)))
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Connexion impossible" in page_text(response)


@pytest.mark.parametrize(
    ("client_id", "change", "error"),
    [
        ("mobile", {}, "invalid_request"),  # a public client without PKCE
        (
            "mobile",
            {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
            "invalid_request",
        ),
        ("fisc", {"response_type": "token"}, "unsupported_response_type"),
        ("fisc", {"response_type": "code id_token"}, "unsupported_response_type"),
        ("fisc", {"scope": "profile"}, "invalid_scope"),
        ("fisc", {"prompt": "none"}, "login_required"),
        ("fisc", {"request": "eyJ.e30."}, "request_not_supported"),
        ("fisc", {"request_uri": "https://rp.example.test/r"}, "request_uri_not_supported"),
    ],
    ids=[
        "public-no-pkce",
        "plain",
        "implicit",
        "hybrid",
        "no-openid",
        "prompt-none",
        "request-object",
        "request-uri",
    ],
)
def test_a_bad_request_goes_back_to_the_client_with_state_and_iss(
    browser, confidential, public, client_id, change, error
):
    response = browser.get("/authorize?" + urlencode(authorize_query(client_id, **change)))
    params = callback_params(response)
    assert params["error"] == error
    assert params["state"] == "st-1" and params["iss"] == "http://localhost"


def test_the_nrn_is_released_only_to_clients_allowed_it(browser, confidential):
    _client, registry = add_client(
        ClientMetadata(
            "Registre",
            "fiscalite",
            [CALLBACK],
            client_id="reg",
            scopes=SCOPES,
            may_receive_nrn=True,
        ),
        actor="operator:test",
    )
    browser.login("eid", "person:claire")
    for client_id, secret, expect in (("fisc", confidential, False), ("reg", registry, True)):
        query = authorize_query(client_id, scope="openid profile nrn")
        params = callback_params(browser.get("/authorize?" + urlencode(query)))
        tokens = redeem(browser, params["code"], None, basic(client_id, secret)).get_json()
        info = browser.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).get_json()
        assert ("nrn" in info) is expect


# -- what /token refuses ----------------------------------------------------------------------


def test_a_code_is_redeemed_once(browser, confidential, code_and_verifier):
    code, verifier = code_and_verifier
    assert redeem(browser, code, verifier, basic("fisc", confidential)).status_code == 200
    again = redeem(browser, code, verifier, basic("fisc", confidential))
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_grant"), ("w" * 43, "invalid_grant")],
    ids=["missing-verifier", "wrong-verifier"],
)
def test_the_pkce_verifier_must_match(browser, confidential, code_and_verifier, verifier, error):
    code, _right = code_and_verifier
    refused = redeem(browser, code, verifier, basic("fisc", confidential))
    assert refused.status_code == 400 and refused.get_json()["error"] == error


def test_a_wrong_client_secret_is_401(browser, confidential, code_and_verifier):
    code, verifier = code_and_verifier
    refused = redeem(browser, code, verifier, basic("fisc", "not-the-secret"))
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert refused.headers["WWW-Authenticate"].startswith("Basic")


def test_userinfo_needs_a_valid_access_token(browser):
    refused = browser.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_token"


def test_scopes_the_client_was_not_registered_for_are_not_granted(browser):
    add_client(
        ClientMetadata("Simple", "fiscalite", [CALLBACK], client_id="simple"), actor="operator:test"
    )
    browser.login("eid", "person:luc")
    query = authorize_query("simple", scope="openid profile enterprise nrn")
    params = callback_params(browser.get("/authorize?" + urlencode(query)))  # no chooser
    assert "code" in params


# -- refresh tokens -----------------------------------------------------------------------------


def test_a_reused_code_revokes_the_tokens_issued_from_it(browser, confidential, code_and_verifier):
    code, verifier = code_and_verifier
    first = redeem(browser, code, verifier, basic("fisc", confidential)).get_json()
    assert userinfo_status(browser, first["access_token"]) == 200
    assert redeem(browser, code, verifier, basic("fisc", confidential)).status_code == 400
    assert userinfo_status(browser, first["access_token"]) == 401
    assert refresh(browser, first["refresh_token"], basic("fisc", confidential)).status_code == 400


def test_refresh_tokens_rotate_and_a_replayed_one_revokes_the_grant(
    browser, confidential, code_and_verifier
):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    first = redeem(browser, code, verifier, auth).get_json()
    second = refresh(browser, first["refresh_token"], auth)
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert userinfo_status(browser, second["access_token"]) == 200

    replayed = refresh(browser, first["refresh_token"], auth)
    assert replayed.status_code == 400 and replayed.get_json()["error"] == "invalid_grant"
    assert userinfo_status(browser, second["access_token"]) == 401
    assert refresh(browser, second["refresh_token"], auth).status_code == 400


def test_a_refresh_token_works_only_for_its_client(browser, confidential, code_and_verifier):
    code, verifier = code_and_verifier
    tokens = redeem(browser, code, verifier, basic("fisc", confidential)).get_json()
    _client, other = add_client(
        ClientMetadata("Autre", "fiscalite", [CALLBACK], client_id="other"), actor="t"
    )
    stolen = refresh(browser, tokens["refresh_token"], basic("other", other))
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"
    assert refresh(browser, tokens["refresh_token"], basic("fisc", confidential)).status_code == 200


def test_a_refresh_after_the_representation_was_revoked_fails(browser, confidential):
    browser.login("eid", "person:luc")
    query = authorize_query(scope="openid enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    params = callback_params(choose(browser, chooser, BOULANGERIE))
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    assert refresh(browser, tokens["refresh_token"], basic("fisc", confidential)).status_code == 200

    browser.login("eid", "person:luc")
    params = callback_params(
        choose(
            browser,
            browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"]),
            BOULANGERIE,
        )
    )
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    luc = Person.get(Person.given_name == "Luc")
    grant = RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())
    revoke_role(Caller.for_person(grant.enterprise.gap_designations[0].person), grant.id)

    refused = refresh(browser, tokens["refresh_token"], basic("fisc", confidential))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert userinfo_status(browser, tokens["access_token"]) == 401


# -- revocation and introspection -------------------------------------------------------------


def post_form(browser: Browser, path: str, headers, **form):
    return browser.client.post(path, data=form, headers=headers, base_url=browser.base_url)


def test_introspection_tells_the_owner_whether_a_token_is_active(
    browser, confidential, code_and_verifier
):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    tokens = redeem(browser, code, verifier, auth).get_json()
    answer = post_form(browser, "/introspect", auth, token=tokens["access_token"]).get_json()
    assert answer["active"] is True and answer["client_id"] == "fisc"
    assert answer["token_type"] == "Bearer" and "openid" in answer["scope"].split()
    assert answer["iss"] == "http://localhost" and answer["exp"] > answer["iat"]
    refresh_answer = post_form(browser, "/introspect", auth, token=tokens["refresh_token"])
    assert refresh_answer.get_json()["active"] is True

    _client, other = add_client(
        ClientMetadata("Autre", "fiscalite", [CALLBACK], client_id="other"), actor="t"
    )
    theirs = post_form(browser, "/introspect", basic("other", other), token=tokens["access_token"])
    assert theirs.get_json() == {"active": False}
    assert post_form(browser, "/introspect", auth, token="nonsense").get_json() == {"active": False}
    unauthenticated = post_form(browser, "/introspect", {}, token=tokens["access_token"])
    assert unauthenticated.status_code == 401


def test_revoking_a_refresh_token_ends_the_whole_grant(browser, confidential, code_and_verifier):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    tokens = redeem(browser, code, verifier, auth).get_json()
    _client, other = add_client(
        ClientMetadata("Autre", "fiscalite", [CALLBACK], client_id="other"), actor="t"
    )

    # Another client's revocation is answered alike and changes nothing.
    assert (
        post_form(
            browser, "/revoke", basic("other", other), token=tokens["refresh_token"]
        ).status_code
        == 200
    )
    assert userinfo_status(browser, tokens["access_token"]) == 200

    assert post_form(browser, "/revoke", auth, token=tokens["refresh_token"]).status_code == 200
    assert userinfo_status(browser, tokens["access_token"]) == 401
    answer = post_form(browser, "/introspect", auth, token=tokens["access_token"]).get_json()
    assert answer == {"active": False}
    assert refresh(browser, tokens["refresh_token"], auth).status_code == 400


def test_revoking_an_access_token_leaves_the_refresh_token(
    browser, confidential, code_and_verifier
):
    code, verifier = code_and_verifier
    auth = basic("fisc", confidential)
    tokens = redeem(browser, code, verifier, auth).get_json()
    assert post_form(browser, "/revoke", auth, token=tokens["access_token"]).status_code == 200
    assert userinfo_status(browser, tokens["access_token"]) == 401
    assert refresh(browser, tokens["refresh_token"], auth).status_code == 200


def test_introspection_reflects_the_policy_behind_a_representation(browser, confidential):
    browser.login("eid", "person:luc")
    query = authorize_query(scope="openid enterprise")
    chooser = browser.follow(browser.get("/authorize?" + urlencode(query)).headers["Location"])
    params = callback_params(choose(browser, chooser, BOULANGERIE))
    auth = basic("fisc", confidential)
    tokens = redeem(browser, params["code"], None, auth).get_json()
    active = post_form(browser, "/introspect", auth, token=tokens["access_token"]).get_json()
    assert active["active"] is True and active["represents"]["sub"] == BOULANGERIE

    luc = Person.get(Person.given_name == "Luc")
    grant = RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())
    revoke_role(Caller.for_person(grant.enterprise.gap_designations[0].person), grant.id)
    answer = post_form(browser, "/introspect", auth, token=tokens["access_token"]).get_json()
    assert answer == {"active": False}


def test_userinfo_takes_the_bearer_scheme_in_any_case_and_the_token_in_a_form_body(
    browser, confidential, code_and_verifier
):
    code, verifier = code_and_verifier
    token = redeem(browser, code, verifier, basic("fisc", confidential)).get_json()["access_token"]
    lower = browser.get("/userinfo", headers={"Authorization": f"bearer {token}"})
    body = browser.post("/userinfo", data={"access_token": token})
    assert lower.status_code == 200 and body.status_code == 200
    assert lower.get_json()["sub"] == body.get_json()["sub"]


def test_a_redirect_uri_other_than_the_requests_is_invalid_grant(
    browser, confidential, code_and_verifier
):
    code, verifier = code_and_verifier
    refused = redeem(
        browser, code, verifier, basic("fisc", confidential), redirect_uri=CALLBACK + "/x"
    )
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


def test_an_unforeseen_failure_at_the_token_endpoint_is_oauth_json(
    browser, confidential, monkeypatch
):
    from idp_bridge.oidc import token as token_module

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(token_module, "client_credentials_answer", broken)
    response = browser.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic("fisc", confidential),
        base_url=browser.base_url,
    )
    assert response.status_code == 500
    assert response.get_json() == {"error": "server_error", "error_description": "internal error"}


def test_ui_locales_choose_the_language_of_the_login_pages(browser, confidential):
    query = authorize_query(ui_locales="de-BE en")
    to_login = browser.get("/authorize?" + urlencode(query))
    assert to_login.status_code == 303 and "lang=de" in to_login.headers["Location"]
    page = browser.follow(to_login.headers["Location"])
    assert '<html lang="de">' in page.get_data(as_text=True)


def test_a_login_hint_naming_another_person_asks_for_a_new_login(browser, confidential):
    browser.login("eid", "person:claire")
    claire = Person.get(Person.given_name == "Claire")
    same = browser.get("/authorize?" + urlencode(authorize_query(login_hint=claire.nrn)))
    assert "code" in callback_params(same)
    other = browser.get("/authorize?" + urlencode(authorize_query(login_hint="85.07.30-033.28")))
    assert other.status_code == 303 and other.headers["Location"].startswith("/login?")


def test_an_expired_code_is_invalid_grant(browser, confidential, code_and_verifier, monkeypatch):
    code, verifier = code_and_verifier
    state = browser.app.extensions["monespace.oidc"].provider.provider().authz_state
    later = time.time() + 61  # codes live 60 seconds
    monkeypatch.setattr(state, "_clock", lambda: later)
    refused = redeem(browser, code, verifier, basic("fisc", confidential))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


def test_the_claims_parameter_cannot_ask_for_the_nrn(browser, confidential):
    browser.login("eid", "person:claire")
    asked = '{"userinfo": {"nrn": null}, "id_token": {"nrn": null}}'
    query = authorize_query(scope="openid profile", claims=asked)
    params = callback_params(browser.get("/authorize?" + urlencode(query)))
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert "nrn" not in info.get_json()
    assert "nrn" not in id_token_claims(browser, tokens["id_token"])
