"""The OpenID Foundation's Basic OP plan (``oidcc-basic-certification-test-plan``), code flow.

One test per module of the plan, named after it (``oidcc-max-age-1`` is
``test_oidcc_max_age_1``), each doing what the module does and checking what it checks, with
the plan's default variant: ``response_type=code``, ``client_secret_basic``, the default
response mode. Every successful flow goes through :class:`RelyingParty`'s checks (state,
``iss``, the token response, the ID token's signature and claims; see ``relying_party``).

Where a module lets a provider choose (support a feature, or refuse it as unsupported), the
test asserts the choice this provider made, as its discovery document says: no
``client_secret_post``, no request objects (``request_not_supported``,
``request_uri_not_supported``), no ``email``, ``address`` or ``phone`` scopes (asked for,
they are left out of the grant: RFC 6749 3.3), ``claims`` not supported (ignored).

Every module of the plan runs; ``oidcc-codereuse-30seconds`` on one database only
(``one_database``, see ``conftest``): it waits 30 seconds, and ``oidcc-codereuse`` checks the
same on each. From the dynamic plan, ``oidcc-ensure-redirect-uri-in-authorization-request``
applies to registered clients too and runs here. Not run, and why:

- The implicit and hybrid plans (``oidcc-implicit-certification-test-plan``,
  ``oidcc-hybrid-certification-test-plan``: these modules with ``response_type=id_token``,
  ``id_token token``, ``code id_token``..., ``c_hash`` and tokens in the authorization
  response): the provider has the code flow only (``response_types_supported: ["code"]``);
  ``test_oidcc_server`` checks that an implicit request is refused.
- The dynamic plan's registration modules (``oidcc-registration-*``, ``-sector-*``,
  ``-jwks-uri``, ``oidcc-redirect-uri-query-*``, ``oidcc-redirect-uri-regfrag``,
  ``oidcc-server-rotate-keys``...): they register clients at a ``registration_endpoint``;
  here the operator registers clients (``monespace clients add``).
- The dynamic plan's ``oidcc-request-uri-unsigned`` and ``oidcc-request-uri-signed-rs256``:
  they need ``request_uri`` support; the Basic plan's module for it runs, and checks the
  refusal.
- The form post plan (the same modules with ``response_mode=form_post``) runs in
  ``test_formpost_basic_op`` for the modules whose answer the mode changes.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from tests.conformance.relying_party import (
    NEEDS_INTERACTION,
    TIMEOUT,
    b64url,
    b64url_json,
    error_page,
    oauth_error,
)

pytestmark = pytest.mark.slow

PROFILE_CLAIMS = ("given_name", "family_name", "name", "locale")


def granted_scope(tokens) -> set[str]:
    return set(tokens.response["scope"].split())


# -- oidcc-server and the ID token ----------------------------------------------------------


def test_oidcc_server(register, person, provider):
    """A whole code flow; every answer checked; the tokens' scope said (RFC 6749 5.1); the
    access token works at userinfo. An implicit request is refused (code flow only)."""
    rp = register()
    request = rp.request()
    visit = person.authorize(rp.url(request))
    assert visit.logged_in
    code = rp.code(visit.callback, request)
    response = rp.redeem(code)
    tokens = rp.tokens(response, request["nonce"])
    assert tokens.claims["aud"] in (rp.client_id, [rp.client_id])
    assert granted_scope(tokens) == {"openid"}
    assert rp.claims_of(tokens)["sub"] == tokens.claims["sub"]

    implicit = rp.request(response_type="id_token")
    refused = person.authorize(rp.url(implicit)).callback
    assert rp.error(refused, implicit) == "unsupported_response_type"


def test_oidcc_response_type_missing(register, person):
    rp = register()
    request = rp.request(response_type=None)
    callback = person.authorize(rp.url(request)).callback
    assert rp.error(callback, request) in ("invalid_request", "unsupported_response_type")


def test_oidcc_id_token_signature(register, person):
    """The ID token verifies with the JWKS key its kid names (RS256), and the check is not a
    formality: altered, or signed by another key under the same kid, it is refused."""
    rp = register()
    request = rp.request()
    tokens = rp.sign_in(person, request)
    assert tokens.header["alg"] == "RS256" and tokens.header["kid"]
    head, body, signature = tokens.id_token.split(".")
    altered = json.dumps({**b64url_json(body), "sub": "someone-else"}).encode()
    with pytest.raises(BadSignatureError):
        rp.verify_id_token(f"{head}.{b64url(altered)}.{signature}", request["nonce"])
    stranger = RSAKey.generate_key(2048, parameters={"kid": tokens.header["kid"]})
    with pytest.raises(BadSignatureError):
        rp.verify_id_token(jwt.encode(tokens.header, tokens.claims, stranger), request["nonce"])


def test_oidcc_id_token_unsigned(register, person, provider):
    """The module runs only when ``none`` is offered for ID tokens: it is not, and the ID
    tokens are signed."""
    assert "none" not in provider.metadata["id_token_signing_alg_values_supported"]
    rp = register()
    tokens = rp.sign_in(person, rp.request())
    assert tokens.header["alg"] != "none" and tokens.id_token.split(".")[2]


# -- userinfo -------------------------------------------------------------------------------


@pytest.fixture
def signed_in(register, person):
    """A client and its tokens for ``openid profile``."""
    rp = register()
    return rp, rp.sign_in(person, rp.request(scope="openid profile"))


def test_oidcc_userinfo_get(signed_in):
    rp, tokens = signed_in
    assert rp.claims_of(tokens, "get")["given_name"] == "Claire"


def test_oidcc_userinfo_post_header(signed_in):
    rp, tokens = signed_in
    assert rp.claims_of(tokens, "post-header")["given_name"] == "Claire"


def test_oidcc_userinfo_post_body(signed_in):
    rp, tokens = signed_in
    assert rp.claims_of(tokens, "post-body")["given_name"] == "Claire"


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(register, person):
    rp = register()
    request = rp.request(nonce=None)
    tokens = rp.sign_in(person, request)
    assert "nonce" not in tokens.claims


# -- scopes ---------------------------------------------------------------------------------


def scopes_flow(register, person, provider, scope: str) -> tuple[dict, set[str]]:
    """(userinfo claims, granted scope) for a request of ``scope``; the client is allowed
    every scope the provider offers."""
    rp = register(scopes=["openid", "profile"])
    tokens = rp.sign_in(person, rp.request(scope=scope))
    granted = granted_scope(tokens)
    assert granted <= set(provider.metadata["scopes_supported"])
    return rp.claims_of(tokens), granted


def test_oidcc_scope_profile(register, person, provider):
    claims, granted = scopes_flow(register, person, provider, "openid profile")
    assert granted == {"openid", "profile"}
    assert all(isinstance(claims[name], str) and claims[name] for name in PROFILE_CLAIMS)
    assert (claims["given_name"], claims["family_name"]) == ("Claire", "Lambert-Démo")


def unsupported_scope(register, person, provider, scope: str, claims: tuple[str, ...]):
    """A scope the provider does not offer: the request succeeds, the scope is left out of
    the grant (RFC 6749 3.3) and none of its claims (Core 5.4) is released."""
    assert scope not in provider.metadata["scopes_supported"]
    userinfo, granted = scopes_flow(register, person, provider, f"openid {scope}")
    assert granted == {"openid"}
    assert not set(claims) & set(userinfo), userinfo


def test_oidcc_scope_email(register, person, provider):
    unsupported_scope(register, person, provider, "email", ("email", "email_verified"))


def test_oidcc_scope_address(register, person, provider):
    unsupported_scope(register, person, provider, "address", ("address",))


def test_oidcc_scope_phone(register, person, provider):
    unsupported_scope(register, person, provider, "phone", ("phone_number",))


def test_oidcc_scope_all(register, person, provider):
    claims, granted = scopes_flow(register, person, provider, "openid profile email address phone")
    assert granted == {"openid", "profile"}
    assert all(name in claims for name in PROFILE_CLAIMS)
    assert not {"email", "address", "phone_number"} & set(claims)


def test_oidcc_ensure_other_scope_order_succeeds(register, person, provider):
    """The module sends ``openid email`` reversed; ``email`` is not offered here, so the
    reversed pair is ``openid profile`` (RFC 6749 3.3: the order does not matter)."""
    claims, granted = scopes_flow(register, person, provider, "profile openid")
    assert granted == {"openid", "profile"} and claims["given_name"] == "Claire"


# -- request parameters that must not get in the way ----------------------------------------


def test_oidcc_display_page(register, person):
    rp = register()
    rp.sign_in(person, rp.request(display="page"))


def test_oidcc_display_popup(register, person):
    rp = register()
    rp.sign_in(person, rp.request(display="popup"))


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(register, person):
    rp = register()
    rp.sign_in(person, rp.request(extra_parameter=generate_token(10)))


def test_oidcc_login_hint(register, person):
    rp = register()
    rp.sign_in(person, rp.request(login_hint="claire@demo.monespace.invalid"))


def test_oidcc_ui_locales(register, person):
    """The request succeeds, and the login page speaks the language asked for."""
    rp = register()
    request = rp.request(ui_locales="nl-BE fr")
    assert person.login_page_language(rp.url(request)) == "nl"
    rp.sign_in(person, request)


def test_oidcc_claims_locales(register, person):
    rp = register()
    rp.sign_in(person, rp.request(claims_locales="fr-BE nl"))


def test_oidcc_ensure_request_with_acr_values_succeeds(register, person, provider):
    rp = register()
    asked = provider.metadata["acr_values_supported"]
    tokens = rp.sign_in(person, rp.request(acr_values=" ".join(asked)))
    assert tokens.claims["acr"] in asked


def test_oidcc_ensure_post_request_succeeds(register, person, provider):
    rp = register()
    request = rp.request()
    visit = person.authorize_by_post(provider.endpoint("authorization"), request)
    assert visit.callback is not None, visit.page.text
    rp.tokens(rp.redeem(rp.code(visit.callback, request)), request["nonce"])


def test_oidcc_ensure_request_with_valid_pkce_succeeds(register, person):
    rp = register()
    request, verifier = rp.with_pkce(rp.request())
    rp.sign_in(person, request, code_verifier=verifier)


# -- prompt, max_age, id_token_hint ---------------------------------------------------------


def second_authorization(rp, person, first, wait: float = 0, **params):
    """After a first login (``first``: its tokens), a second request with ``params``: the
    visit and its tokens."""
    if wait:
        time.sleep(wait)
    request = rp.request(**params)
    visit = person.authorize(rp.url(request))
    tokens = rp.tokens(rp.redeem(rp.code(visit.callback, request)), request["nonce"])
    assert tokens.claims["sub"] == first.claims["sub"]
    return visit, tokens


def test_oidcc_prompt_login(register, person):
    """prompt=login: the person logs in again; the new auth_time is later (Core 3.1.2.1)."""
    rp = register()
    first = rp.sign_in(person, rp.request())
    # auth_time counts seconds: a second login in the same second could not be told apart.
    visit, second = second_authorization(rp, person, first, wait=1.1, prompt="login")
    assert visit.logged_in
    assert second.claims["auth_time"] > first.claims["auth_time"]
    assert second.claims["auth_time"] >= visit.started  # this login, not an older one


def test_oidcc_prompt_none_not_logged_in(register, person):
    rp = register()
    request = rp.request(prompt="none", state=generate_token(128))
    visit = person.authorize(rp.url(request))
    assert not visit.logged_in
    assert rp.error(visit.callback, request) in NEEDS_INTERACTION


def test_oidcc_prompt_none_logged_in(register, person):
    rp = register()
    first = rp.sign_in(person, rp.request())
    visit, second = second_authorization(rp, person, first, prompt="none")
    assert not visit.logged_in
    assert second.claims["auth_time"] == first.claims["auth_time"]


def test_oidcc_max_age_1(register, person):
    """max_age=1, two seconds after a login: a new login, its auth_time (Core 3.1.2.1)."""
    rp = register()
    first = rp.sign_in(person, rp.request())
    visit, second = second_authorization(rp, person, first, wait=2, max_age="1")
    assert visit.logged_in
    assert second.claims["auth_time"] > first.claims["auth_time"]
    assert second.claims["auth_time"] >= visit.started  # recent: this login


def test_oidcc_max_age_10000(register, person):
    rp = register()
    first = rp.sign_in(person, rp.request())
    visit, second = second_authorization(rp, person, first, max_age="10000")
    assert not visit.logged_in
    assert second.claims["auth_time"] == first.claims["auth_time"]


def test_oidcc_id_token_hint(register, person):
    """prompt=none with the first ID token as hint: an answer without any interaction, for
    the same person and the same login."""
    rp = register()
    first = rp.sign_in(person, rp.request())
    visit, second = second_authorization(
        rp, person, first, prompt="none", id_token_hint=first.id_token
    )
    assert not visit.logged_in
    assert second.claims["auth_time"] == first.claims["auth_time"]


# -- codes ----------------------------------------------------------------------------------


def code_reused(rp, person, wait: float = 0) -> None:
    """A code redeemed twice: the second time ``invalid_grant``, and the access token of the
    first redemption is revoked (RFC 6749 4.1.2, 10.5)."""
    request = rp.request()
    code = rp.code(person.authorize(rp.url(request)).callback, request)
    tokens = rp.tokens(rp.redeem(code), request["nonce"])
    assert rp.userinfo(tokens.access_token).status_code == 200
    if wait:
        time.sleep(wait)
    assert oauth_error(rp.redeem(code)) == "invalid_grant"
    assert rp.userinfo(tokens.access_token).status_code == 401


def test_oidcc_codereuse(register, person):
    code_reused(register(), person)


@pytest.mark.one_database
def test_oidcc_codereuse_30seconds(register, person):
    code_reused(register(), person, wait=30)


# -- redirect URIs, client authentication ---------------------------------------------------


def test_oidcc_ensure_registered_redirect_uri(register, person):
    """An unregistered redirect URI: an error page, never a redirect to it (Core 3.1.2.1)."""
    rp = register()
    request = rp.request(redirect_uri=f"https://rp.example.test/{generate_token(10)}")
    error_page(person.open(rp.url(request)))


def test_oidcc_ensure_redirect_uri_in_authorization_request(register, person):
    """From the dynamic plan, and it applies here: no redirect_uri (OpenID Connect requires
    it, Core 3.1.2.1) is an error page, even for a client with a single redirect URI."""
    rp = register()
    error_page(person.open(rp.url(rp.request(redirect_uri=None))))


def test_oidcc_server_client_secret_post(register, person, provider):
    """The plan's client_secret_post variant of oidcc-server. The provider does not offer the
    method (secrets travel only in the Authorization header): a client sending its secret in
    the form is refused with ``invalid_client``, and the code stays good for the method the
    client registered."""
    assert "client_secret_post" not in provider.metadata["token_endpoint_auth_methods_supported"]
    rp = register()
    request = rp.request()
    code = rp.code(person.authorize(rp.url(request)).callback, request)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "client_id": rp.client_id,
        "client_secret": rp.secret,
    }
    refused = requests.post(provider.endpoint("token"), data=form, timeout=TIMEOUT)
    assert oauth_error(refused, 401) == "invalid_client"
    rp.tokens(rp.redeem(code), request["nonce"])


# -- request objects and the claims parameter -----------------------------------------------


def unsigned_request_object(rp, request: dict[str, str]) -> str:
    """The request as an unsigned request object (Core 6.1, ``alg: none``)."""
    header = b64url(json.dumps({"alg": "none"}).encode())
    claims = {**request, "iss": rp.client_id, "aud": rp.provider.metadata["issuer"]}
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    register, person, provider
):
    assert provider.metadata["request_parameter_supported"] is False
    rp = register()
    request = rp.request()
    sent = {**request, "request": unsigned_request_object(rp, request)}
    callback = person.authorize(rp.url(sent)).callback
    assert rp.error(callback, request) == "request_not_supported"


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    register, person, provider
):
    assert provider.metadata["request_uri_parameter_supported"] is False
    rp = register()
    request = rp.request(request_uri="https://rp.example.test/request.jwt")
    callback = person.authorize(rp.url(request)).callback
    assert rp.error(callback, request) == "request_uri_not_supported"


def test_oidcc_ensure_request_object_with_redirect_uri(register, person):
    """The request object names the registered redirect URI, the query another one. The
    provider does not read request objects: it must not send the person to the address in
    the query, which is not registered."""
    rp = register()
    request = rp.request()
    stray = f"https://rp.example.test/{generate_token(10)}"
    sent = {**request, "redirect_uri": stray, "request": unsigned_request_object(rp, request)}
    page = person.open(rp.url(sent))
    error_page(page)


def test_oidcc_claims_essential(register, person, provider):
    """``name`` asked for as essential in userinfo: the request succeeds and userinfo has
    it (the profile scope releases it); the claims parameter itself is not supported."""
    assert provider.metadata["claims_parameter_supported"] is False
    rp = register()
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    tokens = rp.sign_in(person, rp.request(scope="openid profile", claims=claims))
    assert rp.claims_of(tokens)["name"] == "Claire Lambert-Démo"
    assert "name" not in tokens.claims


# -- refresh tokens -------------------------------------------------------------------------


def test_oidcc_refresh_token(register, person, provider):
    """Refresh tokens: a new access token and ID token for the same person and login
    (Core 12.2); bound to the client they were issued to (RFC 6749 6, 10.4)."""
    assert "refresh_token" in provider.metadata["grant_types_supported"]
    first_client, second_client = register(), register()
    tokens = first_client.sign_in(person, first_client.request(scope="openid profile"))
    assert tokens.refresh_token

    refreshed = first_client.refreshed(first_client.refresh(tokens.refresh_token))
    assert refreshed.access_token != tokens.access_token
    claims = first_client.claims_of(refreshed, sub=tokens.claims["sub"])
    assert claims["given_name"] == "Claire"  # the grant's scope, kept
    if refreshed.claims:  # an ID token is optional in a refresh (Core 12.2)
        for claim in ("iss", "sub", "aud", "auth_time", "acr"):
            assert refreshed.claims[claim] == tokens.claims[claim], claim
        assert refreshed.claims["iat"] >= tokens.claims["iat"]
    # Rotation: the new refresh token replaces the old one, which is spent.
    assert refreshed.refresh_token and refreshed.refresh_token != tokens.refresh_token
    assert oauth_error(first_client.refresh(tokens.refresh_token)) == "invalid_grant"

    # The second client's refresh token, presented by the first client.
    theirs = second_client.sign_in(person, second_client.request())
    assert oauth_error(first_client.refresh(theirs.refresh_token)) == "invalid_grant"
    # Refused to another client, the token stays good for its own.
    second_client.refreshed(second_client.refresh(theirs.refresh_token))
