"""The relying party the OpenID Foundation's conformance suite plays, and the person it sends.

The suite's OP test modules are a client that writes its requests by hand (so that it can
leave a parameter out, add an unknown one, send a request object), follows the person's
browser to its redirect URI and checks every answer as a careful client must.
:class:`RelyingParty` does the same over HTTP, with authlib for what a client library does
(client authentication, the PKCE challenge, the ID token's claim rules) and joserfc for the
signatures. Its checks, after the specifications the suite cites:

- authorization response (OpenID Connect Core 1.0, 3.1.2.5 and 3.1.2.6): the ``state`` sent,
  ``iss`` the issuer (RFC 9207, advertised), a ``code`` or an ``error`` of RFC 6749 4.1.2.1;
- token response (Core 3.1.3.3, RFC 6749 5.1): 200 JSON, ``Cache-Control: no-store``,
  ``token_type`` Bearer, an ``access_token``, a positive integer ``expires_in``, an
  ``id_token``; a ``refresh_token`` of the characters RFC 6749 A.17 allows;
- ID token (Core 2, 3.1.3.7, 3.1.3.8, 10.1): signed with the provider's key that its ``kid``
  names, with an algorithm of ``id_token_signing_alg_values_supported`` (never ``none``);
  ``iss`` the issuer, ``aud`` the client (``azp`` when there are several), ``exp`` in the
  future, ``iat`` not in the future, the ``nonce`` sent, ``at_hash`` of the access token when
  present, ``sub`` at most 255 ASCII characters, ``auth_time`` a number in the past;
- userinfo (Core 5.3.2): 200 JSON whose ``sub`` is the ID token's.

:class:`Person` is a person's browser (``requests``, its own cookies) that logs in at the eID
simulator when the provider asks, and says whether it had to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.person_browser import (
    PersonBrowser,
    hidden_fields,
)

CALLBACK = "https://rp.example.test/conformance/callback"
AFTER_LOGOUT = "https://rp.example.test/conformance/post_logout_redirect"
SKEW = 5  # seconds: the provider and the tests share a clock
TIMEOUT = 30  # seconds for one HTTP exchange: a busy test machine is slow, not broken
# RFC 6749 4.1.2.1 and Core 3.1.2.6: the errors that say a person would have had to act.
NEEDS_INTERACTION = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}
VSCHAR = re.compile(r"^[\x20-\x7e]+$")  # RFC 6749 appendix A.17 (refresh_token)
# RFC 6749 4.1.2.1 and appendix A.7, A.8: error = 1*NQSCHAR, error_description = 1*NQSCHAR and
# spaces: printable ASCII without the double quote and the backslash.
ERROR_CODE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
ERROR_DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]+$")
ERROR_RESPONSE = {"error", "error_description", "error_uri", "state", "iss"}


@dataclass
class Provider:
    """The provider under test: its issuer (the base URL) and discovery document."""

    url: str
    metadata: dict[str, Any]

    def endpoint(self, name: str) -> str:
        return self.metadata[f"{name}_endpoint"]

    def jwks(self) -> dict[str, Any]:
        response = requests.get(self.metadata["jwks_uri"], timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()


def b64url_json(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL; a parameter given twice fails the test."""
    pairs = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in pairs.values()), url
    return {name: values[0] for name, values in pairs.items()}


@dataclass
class Tokens:
    """What the token endpoint gave, the ID token's header and claims checked."""

    response: dict[str, Any]
    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def access_token(self) -> str:
        return self.response["access_token"]

    @property
    def id_token(self) -> str:
        return self.response["id_token"]

    @property
    def refresh_token(self) -> str | None:
        return self.response.get("refresh_token")


@dataclass
class RelyingParty:
    """One registered client (``client_secret_basic``) and the checks the suite makes."""

    provider: Provider
    client_id: str
    secret: str | None
    redirect_uri: str = CALLBACK
    session: OAuth2Session = field(init=False)

    def __post_init__(self):
        self.session = OAuth2Session(
            self.client_id, self.secret, token_endpoint_auth_method="client_secret_basic"
        )

    def close(self) -> None:
        self.session.close()

    # -- the authorization request ------------------------------------------------------

    def request(self, **params: str | None) -> dict[str, str]:
        """An authentication request (Core 3.1.2.1) with a new ``state`` and ``nonce``:
        ``scope=openid``, ``response_type=code``; keywords add parameters or, set to None,
        leave one out."""
        base = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": "openid",
            "state": generate_token(24),
            "nonce": generate_token(24),
        }
        merged = {**base, **params}
        return {name: value for name, value in merged.items() if value is not None}

    def with_pkce(self, request: dict[str, str]) -> tuple[dict[str, str], str]:
        """The request with an S256 challenge (RFC 7636 4.3), and its verifier."""
        verifier = generate_token(64)
        challenge = create_s256_code_challenge(verifier)
        return {**request, "code_challenge": challenge, "code_challenge_method": "S256"}, verifier

    def url(self, request: dict[str, str]) -> str:
        return self.provider.endpoint("authorization") + "?" + urlencode(request)

    def answer(self, callback: str | FormPost, request: dict[str, str]) -> dict[str, str]:
        """The authorization response at the redirect URI, in the query or, when the request
        asked for it, posted (Form Post Response Mode 1.0); its ``state`` and ``iss`` checked
        (Core 3.1.2.5 and 3.1.2.6, RFC 9207 2.4)."""
        if request.get("response_mode") == "form_post":
            assert isinstance(callback, FormPost), callback
            assert callback.action == request["redirect_uri"], callback
            params = callback.fields
        else:
            assert isinstance(callback, str), callback
            assert callback.split("?")[0] == request["redirect_uri"], callback
            params = query_of(callback)
        assert params.get("state") == request.get("state"), params
        assert params.get("iss") == self.provider.metadata["issuer"], params
        assert ("code" in params) != ("error" in params), params
        return params

    def code(self, callback: str | FormPost, request: dict[str, str]) -> str:
        params = self.answer(callback, request)
        assert "error" not in params, params
        return params["code"]

    def error(self, callback: str | FormPost, request: dict[str, str]) -> str:
        """The error code of an error response, checked as the plans check every one: no
        code, no parameter but those of Core 3.1.2.6, an ``error`` and ``error_description``
        of the characters RFC 6749 4.1.2.1 allows."""
        params = self.answer(callback, request)
        assert "error" in params and "code" not in params, params
        assert set(params) <= ERROR_RESPONSE, params
        assert ERROR_CODE.match(params["error"]), params
        if "error_description" in params:
            assert ERROR_DESCRIPTION.match(params["error_description"]), params
        return params["error"]

    # -- the token endpoint -------------------------------------------------------------

    def post_token(self, form: dict[str, str]) -> requests.Response:
        return self.session.post(
            self.provider.endpoint("token"),
            data=form,
            auth=self.session.client_auth("client_secret_basic"),
            timeout=TIMEOUT,
        )

    def redeem(self, code: str, **extra: str) -> requests.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        return self.post_token({**form, **extra})

    def refresh(self, refresh_token: str) -> requests.Response:
        return self.post_token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def tokens(self, response: requests.Response, nonce: str | None) -> Tokens:
        """A successful token response, checked, with its ID token verified."""
        body = check_token_response(response)
        header, claims = self.verify_id_token(body["id_token"], nonce, body["access_token"])
        return Tokens(body, header, claims)

    def refreshed(self, response: requests.Response) -> Tokens:
        """A successful refresh (Core 12.2): a token response that may have no ID token; one
        that has is verified (it carries no new nonce)."""
        body = check_token_response(response, id_token=False)
        if "id_token" not in body:
            return Tokens(body, {}, {})
        header, claims = self.verify_id_token(body["id_token"], None, body["access_token"])
        return Tokens(body, header, claims)

    def sign_in(self, person: Person, request: dict[str, str], **redeem: str) -> Tokens:
        """The whole code flow: the person's browser to the redirect URI, then the token
        endpoint; every answer checked."""
        code = self.code(person.authorize(self.url(request)).callback, request)
        return self.tokens(self.redeem(code, **redeem), request.get("nonce"))

    # -- the ID token -------------------------------------------------------------------

    def verify_id_token(
        self, id_token: str, nonce: str | None, access_token: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(header, claims) of an ID token that passes every check of Core 3.1.3.7."""
        metadata = self.provider.metadata
        header = b64url_json(id_token.split(".")[0])
        assert header["alg"] != "none", header
        assert header["alg"] in metadata["id_token_signing_alg_values_supported"], header
        keys = self.provider.jwks()
        # Core 10.1: with several keys in the set, the kid says which one signed.
        assert header.get("kid") in {key.get("kid") for key in keys["keys"]}, header
        key = KeySet.import_key_set(keys).get_by_kid(header["kid"])
        decoded = jwt.decode(id_token, key, algorithms=[header["alg"]])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "value": self.client_id},
            },
            {"nonce": nonce, "client_id": self.client_id, "access_token": access_token},
        )
        claims.validate(now=int(time.time()), leeway=SKEW)
        if nonce is not None:
            assert claims["nonce"] == nonce
        sub = claims["sub"]
        assert isinstance(sub, str) and 0 < len(sub) <= 255 and sub.isascii(), sub
        assert isinstance(claims["iat"], int) and claims["iat"] <= time.time() + SKEW
        assert isinstance(claims["exp"], int) and claims["exp"] > claims["iat"]
        if "auth_time" in claims:
            assert isinstance(claims["auth_time"], int), claims
            assert claims["auth_time"] <= time.time() + SKEW, claims
        if access_token is not None and "at_hash" in claims:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            assert claims["at_hash"] == b64url(digest[:16])  # Core 3.1.3.8, RS256
        return dict(decoded.header), dict(claims)

    # -- userinfo -----------------------------------------------------------------------

    def userinfo(self, access_token: str, how: str = "get") -> requests.Response:
        """Core 5.3.1 with the access token as RFC 6750 allows: ``get`` and ``post-header``
        (the Authorization header, 2.1), ``post-body`` (a form parameter, 2.2)."""
        endpoint = self.provider.endpoint("userinfo")
        bearer = {"Authorization": f"Bearer {access_token}"}
        if how == "get":
            return requests.get(endpoint, headers=bearer, timeout=TIMEOUT)
        if how == "post-header":
            return requests.post(endpoint, headers=bearer, timeout=TIMEOUT)
        if how == "post-body":
            return requests.post(endpoint, data={"access_token": access_token}, timeout=TIMEOUT)
        raise ValueError(how)

    def claims_of(self, tokens: Tokens, how: str = "get", sub: str | None = None) -> dict[str, Any]:
        """The userinfo claims for these tokens, checked (Core 5.3.2): ``sub`` is the ID
        token's (``sub`` when the tokens have no ID token)."""
        response = self.userinfo(tokens.access_token, how)
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["Content-Type"].startswith("application/json"), response.headers
        claims = response.json()
        assert claims["sub"] == (sub or tokens.claims["sub"]), claims
        return claims

    # -- logout -------------------------------------------------------------------------

    def logout_url(self, **params: str) -> str:
        """The end_session_endpoint with these parameters (RP-Initiated Logout 1.0, 2)."""
        endpoint = self.provider.endpoint("end_session")
        return endpoint + ("?" + urlencode(params) if params else "")


def check_token_response(response: requests.Response, id_token: bool = True) -> dict[str, Any]:
    """A successful token response (Core 3.1.3.3, RFC 6749 5.1), its body; with an ID token
    unless ``id_token`` is false (a refresh, Core 12.2)."""
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    body = response.json()
    assert isinstance(body.get("access_token"), str) and body["access_token"], body
    assert body.get("token_type", "").lower() == "bearer", body
    expires_in = body.get("expires_in")
    assert isinstance(expires_in, int) and not isinstance(expires_in, bool), body
    assert expires_in > 0, body
    if id_token or "id_token" in body:
        assert isinstance(body.get("id_token"), str), body
    if "refresh_token" in body:
        assert VSCHAR.match(body["refresh_token"]), body
    return body


def oauth_error(response: requests.Response, status: int = 400) -> str:
    """The code of an OAuth error response (RFC 6749 5.2): JSON, not cached."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert "no-store" in response.headers.get("Cache-Control", ""), response.headers
    body = response.json()
    assert isinstance(body.get("error"), str), body
    return body["error"]


def error_page(page: requests.Response | str) -> None:
    """The provider showed the person an error (Core 3.1.2.6: never a redirect to an
    address it could not trust)."""
    assert isinstance(page, requests.Response), f"redirected to {page}"
    assert page.status_code == 400, (page.status_code, page.text)
    assert page.headers["Content-Type"].startswith("text/html"), page.headers
    assert 'role="alert"' in page.text, page.text


# -- the person ---------------------------------------------------------------------------


@dataclass
class FormPost:
    """An authorization response posted to the redirect URI (Form Post Response Mode 1.0,
    section 2): the form's ``action`` and its fields."""

    action: str
    fields: dict[str, str]


@dataclass
class Visit:
    """Where the browser ended: the redirect URI it was sent to (``callback``: a URL, or the
    form it was to post there) or the page it stopped at (``page``), and whether it logged in
    on the way."""

    callback: str | FormPost | None
    page: requests.Response | None
    logged_in: bool
    started: int = 0  # when the browser set off (seconds, as auth_time counts)


class Person(PersonBrowser):
    """A demo person's browser on the provider (``who``: a demo key such as ``claire``)."""

    def __init__(self, base_url: str, who: str):
        super().__init__(base_url)
        self.who = who

    def request(self, method, url, *args, **kwargs):
        kwargs["timeout"] = TIMEOUT
        return super().request(method, url, *args, **kwargs)

    def visit(self, step: requests.Response | str) -> Visit:
        """Go on from ``step``: log in at the eID simulator if the provider asks."""
        logged_in = False
        if isinstance(step, requests.Response) and urlsplit(step.url).path == "/login":
            step = self.log_in_with_eid(step, self.who)
            logged_in = True
        if isinstance(step, str):
            return Visit(step, None, logged_in)
        posted = self.form_post(step)
        if posted is not None:
            return Visit(posted, None, logged_in)
        return Visit(None, step, logged_in)

    def form_post(self, page: requests.Response) -> FormPost | None:
        """The answer a page posts to a site other than the provider, if it is one: the
        browser would post it (by script, or the person's click without scripts)."""
        forms = re.findall(r'<form method="post" action="([^"]*)">(.*?)</form>', page.text, re.S)
        if page.status_code != 200 or len(forms) != 1:
            return None
        action = unescape(forms[0][0])
        if self._on_app(urljoin(page.url, action)):
            return None
        return FormPost(action, hidden_fields(forms[0][1]))

    def authorize(self, url: str) -> Visit:  # type: ignore[override] (a URL is enough here)
        """The front channel from an authorization URL; the test says what it expects."""
        started = int(time.time())
        visit = self.visit(self.open(url))
        visit.started = started
        assert visit.callback is not None, (
            f"stopped at {visit.page.url}: {visit.page.status_code} {visit.page.text[:2000]}"
        )
        return visit

    def authorize_by_post(self, endpoint: str, request: dict[str, str]) -> Visit:
        """The authorization request sent as a form POST (Core 3.1.2.1)."""
        first = self.walk(self.post(endpoint, data=request, allow_redirects=False, timeout=TIMEOUT))
        return self.visit(first)

    def login_page_language(self, url: str) -> str:
        """The ``lang`` of the login page an authorization URL leads to."""
        page = self.open(url)
        assert isinstance(page, requests.Response) and urlsplit(page.url).path == "/login", page
        return re.search(r'<html lang="([^"]*)"', page.text)[1]
