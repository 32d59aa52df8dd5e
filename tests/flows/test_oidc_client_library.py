"""The OpenID provider against a client library that is not pyop: authlib's requests client.

The app runs over real HTTP on 127.0.0.1 (``person_browser``); authlib reads the discovery
document, builds the authorization URL with PKCE (S256), redeems the code at the token endpoint
authenticating the way each client registered (``none``, ``client_secret_basic``,
``private_key_jwt``) and calls userinfo with the access token. The ID token is checked with
authlib's own OpenID Connect rules (``CodeIDToken``: iss, aud, exp, iat, nonce, azp, at_hash),
its signature against the provider's JWK Set. A person's browser (requests) does the front
channel: the login at the eID simulator and, for a representative, the espace chooser.

Citizen: Claire (scope ``openid profile``). Representative: Luc, agent of Boulangerie Démo SA
(0123456749) in the ``fiscalite`` domain only (scope ``openid profile enterprise``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet, RSAKey

from authz.clients import ClientMetadata, add_client
from tests.flows.person_browser import (
    PersonBrowser,
)

pytestmark = pytest.mark.slow

CALLBACK = "https://rp.example.test/oidc/callback"
BOULANGERIE = "0123456749"
CITIZEN = ("claire", "openid profile")
REPRESENTATIVE = ("luc", "openid profile enterprise")
AUTH_METHODS = ("none", "client_secret_basic", "private_key_jwt")


@functools.cache
def rp_key(name: str = "registered") -> RSAKey:
    """The relying party's key pair ("registered": its public half is registered), or one it
    never registered ("stranger"). Made once per run, on first use."""
    return RSAKey.generate_key(2048, parameters={"kid": "rp-2025"})


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """authlib's ``private_key_jwt``, with assertions that live 60 seconds.

    authlib signs them for an hour (the longest the provider accepts), and has no setting for
    it: passing ``claims={"exp": ...}`` would also freeze the ``jti``, since authlib stores the
    first generated one in that dict and every later assertion reuses it. Short assertions are
    what a careful relying party sends.
    """

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret, auth.client_id, token_endpoint, self.alg, expires_in=60
        )


class FixedAssertion(PrivateKeyJWT):
    """``private_key_jwt`` that sends the same ``client_assertion`` every time."""

    def __init__(self, assertion: str):
        super().__init__()
        self.assertion = assertion

    def sign(self, auth, token_endpoint):
        return self.assertion


# -- the relying party ------------------------------------------------------------------------


@dataclass
class RelyingParty:
    """One registered client as authlib sees it, with what it keeps between the two legs."""

    metadata: dict
    client_id: str
    session: OAuth2Session
    state: str = ""
    nonce: str = ""
    verifier: str = ""

    def authorization_url(self, scope: str) -> str:
        self.nonce, self.verifier = generate_token(20), generate_token(48)
        url, self.state = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"],
            scope=scope,
            nonce=self.nonce,
            code_verifier=self.verifier,
        )
        return url

    def redeem(self, callback_url: str, verifier: str | None = None, **extra: str) -> dict:
        return self.session.fetch_token(
            authorization_response=callback_url,
            state=self.state,
            code_verifier=verifier or self.verifier,
            **extra,
        )

    def id_token(self, token: dict, nonce: str | None = None) -> CodeIDToken:
        """The ID token, verified and validated as authlib's OpenID client does."""
        keys = KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())
        algorithms = self.metadata["id_token_signing_alg_values_supported"]
        decoded = jwt.decode(token["id_token"], keys, algorithms=algorithms)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": self.metadata["issuer"]},
                "aud": {"essential": True, "value": self.client_id},
            },
            {
                "nonce": nonce or self.nonce,
                "client_id": self.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate(leeway=0)
        return claims

    def userinfo(self) -> dict:
        response = self.session.get(self.metadata["userinfo_endpoint"], timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def metadata(live_app) -> dict:
    response = requests.get(live_app.url + "/.well-known/openid-configuration", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def register(live_app, metadata) -> Iterator:
    """``register(auth_method)``: a client of the ``fiscalite`` domain allowed the enterprise
    scope, registered as its method needs, and the authlib session that speaks for it."""
    sessions: list[OAuth2Session] = []

    def make(auth_method: str) -> RelyingParty:
        client, secret = add_client(
            ClientMetadata(
                f"Guichet fiscal ({auth_method})",
                "fiscalite",
                [CALLBACK],
                auth_method=auth_method,
                scopes=["openid", "profile", "enterprise"],
                jwks={"keys": [rp_key().as_dict(private=False)]}
                if auth_method == "private_key_jwt"
                else None,
                client_id=f"rp-{auth_method.replace('_', '-')}",
            ),
            actor="operator:test",
        )
        credential = rp_key() if auth_method == "private_key_jwt" else secret
        session = OAuth2Session(
            client.client_id,
            credential,
            token_endpoint_auth_method=auth_method,
            redirect_uri=CALLBACK,
            code_challenge_method="S256",
            token_endpoint=metadata["token_endpoint"],
        )
        if auth_method == "private_key_jwt":
            session.register_client_auth_method(ShortLivedPrivateKeyJWT(metadata["token_endpoint"]))
        sessions.append(session)
        return RelyingParty(metadata, client.client_id, session)

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def person(live_app) -> Iterator[PersonBrowser]:
    with PersonBrowser(live_app.url) as browser:
        yield browser


def callback_query(url: str) -> dict[str, str]:
    assert url.startswith(CALLBACK + "?"), url
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# -- discovery ----------------------------------------------------------------------------------


def test_the_discovery_document_passes_authlibs_validation(live_app, metadata):
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == live_app.url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(AUTH_METHODS) <= set(metadata["token_endpoint_auth_methods_supported"])


# -- the whole flow -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth_method", AUTH_METHODS)
def test_a_citizen_logs_in(register, person, live_app, auth_method):
    rp = register(auth_method)
    who, scope = CITIZEN
    callback = person.authorize(rp.authorization_url(scope), who)
    query = callback_query(callback)
    assert query["state"] == rp.state and query["iss"] == live_app.url  # RFC 9207

    token = rp.redeem(callback)
    assert token["token_type"].lower() == "bearer"
    claims = rp.id_token(token)
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    assert claims["exp"] > time.time() and claims["auth_time"] <= time.time()
    assert "espace" not in claims and "represents" not in claims
    info = rp.userinfo()
    assert info["sub"] == claims["sub"]
    assert (info["given_name"], info["family_name"]) == ("Claire", "Lambert-Démo")
    assert "nrn" not in info and "represents" not in info
    # The validation is not a formality: an ID token for another login is refused.
    with pytest.raises(InvalidClaimError):
        rp.id_token(token, nonce="another-nonce")


@pytest.mark.parametrize("auth_method", AUTH_METHODS)
def test_a_representative_chooses_the_enterprise(register, person, live_app, auth_method):
    rp = register(auth_method)
    who, scope = REPRESENTATIVE
    callback = person.authorize(rp.authorization_url(scope), who, espace=BOULANGERIE)
    assert callback_query(callback)["state"] == rp.state

    token = rp.redeem(callback)
    claims = rp.id_token(token)
    assert claims["espace"] == "professionnel"
    represents = claims["represents"]
    assert represents["sub"] == BOULANGERIE
    assert represents["sub_id_type"] == "urn:be:fgov:kbo-bce:organization:cbe-number"
    assert represents["iss"] == live_app.url and represents["basis"] == "grant"
    assert "agent" in represents["roles"] and "act_for" in represents["permissions"]
    info = rp.userinfo()
    assert info["sub"] == claims["sub"] and info["given_name"] == "Luc"
    assert info["espace"] == "professionnel" and info["represents"] == represents


def test_a_representative_may_also_act_as_a_citizen(register, person):
    rp = register("client_secret_basic")
    who, scope = REPRESENTATIVE
    callback = person.authorize(rp.authorization_url(scope), who, espace="citoyen")
    token = rp.redeem(callback)
    claims = rp.id_token(token)
    assert claims["espace"] == "citoyen" and "represents" not in claims
    assert rp.userinfo()["espace"] == "citoyen"


# -- what the token endpoint refuses ------------------------------------------------------------


def signed_in(person: PersonBrowser, rp: RelyingParty, who: str = "claire") -> str:
    """A callback URL with a fresh code (the person logs in the first time only)."""
    return person.authorize(rp.authorization_url("openid profile"), who)


def assert_refused(error: pytest.ExceptionInfo, code: str) -> None:
    assert error.value.error == code, error.value.description


@pytest.mark.parametrize("auth_method", AUTH_METHODS)
def test_a_wrong_code_verifier_is_invalid_grant(register, person, auth_method):
    rp = register(auth_method)
    callback = signed_in(person, rp)
    with pytest.raises(OAuthError) as refused:
        rp.redeem(callback, verifier=generate_token(48))
    assert_refused(refused, "invalid_grant")


def test_a_code_is_redeemed_once(register, person):
    rp = register("client_secret_basic")
    callback = signed_in(person, rp)
    rp.redeem(callback)
    with pytest.raises(OAuthError) as refused:
        rp.redeem(callback)
    assert_refused(refused, "invalid_grant")


def test_a_wrong_client_secret_is_invalid_client(register, person):
    rp = register("client_secret_basic")
    callback = signed_in(person, rp)
    rp.session.client_secret = "not-" + rp.session.client_secret
    with pytest.raises(OAuthError) as refused:
        rp.redeem(callback)
    assert_refused(refused, "invalid_client")
    rp.session.client_secret = rp.session.client_secret.removeprefix("not-")
    assert rp.redeem(callback)["access_token"]  # the refusal did not use up the code


def test_an_assertion_signed_with_an_unregistered_key_is_invalid_client(register, person):
    rp = register("private_key_jwt")
    callback = signed_in(person, rp)
    # authlib's assertion names no kid: the provider verifies it with the one key registered.
    rp.session.client_secret = rp_key("stranger")
    with pytest.raises(OAuthError) as refused:
        rp.redeem(callback)
    assert_refused(refused, "invalid_client")
    rp.session.client_secret = rp_key()
    assert rp.redeem(callback)["access_token"]


def test_authlibs_stock_hour_long_assertion_is_accepted(register, person, metadata):
    """authlib's stock ``PrivateKeyJWT`` signs assertions valid for an hour, the longest the
    provider takes: a relying party using the library's defaults needs no configuration."""
    rp = register("private_key_jwt")
    rp.session.register_client_auth_method(PrivateKeyJWT(metadata["token_endpoint"]))
    assert rp.redeem(signed_in(person, rp))["access_token"]


@pytest.mark.parametrize("replay", ["same assertion", "same jti"])
def test_a_replayed_assertion_is_invalid_client(register, person, metadata, replay):
    rp = register("private_key_jwt")
    endpoint = metadata["token_endpoint"]
    jti, issued_at = generate_token(36), int(time.time())
    assertion = private_key_jwt_sign(
        rp_key(), rp.client_id, endpoint, claims={"jti": jti}, issued_at=issued_at, expires_in=60
    )
    rp.session.register_client_auth_method(FixedAssertion(assertion))
    assert rp.redeem(signed_in(person, rp))["access_token"]

    if replay == "same jti":  # signed again: another iat and exp, the same jti
        again = private_key_jwt_sign(
            rp_key(),
            rp.client_id,
            endpoint,
            claims={"jti": jti},
            issued_at=issued_at - 5,
            expires_in=60,
        )
        assert again != assertion
        rp.session.register_client_auth_method(FixedAssertion(again))
    with pytest.raises(OAuthError) as refused:
        rp.redeem(signed_in(person, rp))
    assert_refused(refused, "invalid_client")
    assert "already used" in refused.value.description


# -- found through the library ------------------------------------------------------------------


def test_userinfo_takes_the_access_token_in_the_form_body(register, person, metadata):
    rp = register("client_secret_basic")
    token = rp.redeem(signed_in(person, rp))
    # authlib's token_placement="body" adds access_token to the body, not the Content-Type.
    with OAuth2Session(rp.client_id, token=token, token_placement="body") as body_placement:
        response = body_placement.post(
            rp.metadata["userinfo_endpoint"],
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
    assert response.status_code == 200, response.status_code
    assert response.json()["sub"] == rp.id_token(token)["sub"]


def test_a_redirect_uri_other_than_the_authorization_requests_is_invalid_grant(register, person):
    rp = register("client_secret_basic")
    callback = signed_in(person, rp)
    with pytest.raises(OAuthError) as refused:
        rp.redeem(callback, redirect_uri="https://rp.example.test/elsewhere")
    assert_refused(refused, "invalid_grant")
