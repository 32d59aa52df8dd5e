"""An OpenID relying party's requests to the demo app, made through :class:`Browser`: the
authorization request with PKCE, the callback's parameters, the token requests (code, refresh)
with HTTP Basic client authentication, the ID token's claims, the espace chooser.

The registered client ``fisc`` (the ``confidential`` fixture of
tests/idp_bridge/oidc/conftest.py) redirects to :data:`CALLBACK`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)

CALLBACK = "https://rp.example.test/cb"
BOULANGERIE = "0123456749"
SCOPES = ["openid", "profile", "enterprise", "nrn"]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_query(client_id: str = "fisc", challenge: str | None = None, **extra) -> dict:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
    }
    if challenge:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return {**query, **extra}


def callback_params(response) -> dict[str, str]:
    assert response.status_code == 303, page_text(response)
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def redeem(browser: Browser, code: str, verifier: str | None, headers=None, **form):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **form}
    if verifier:
        data["code_verifier"] = verifier
    return browser.client.post(
        "/token", data=data, headers=headers or {}, base_url=browser.base_url
    )


def id_token_claims(browser: Browser, token: str) -> dict:
    keys = KeySet.import_key_set(browser.get("/jwks").get_json())
    return jwt.decode(token, keys).claims


def choose(browser: Browser, page, espace: str):
    text = page.get_data(as_text=True)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', text))
    form = {k: unescape(v) for k, v in hidden.items()} | {"espace": espace}
    return browser.post("/authorize/espace", data=form)


def refresh(browser: Browser, token: str, headers):
    return browser.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=headers,
        base_url=browser.base_url,
    )


def userinfo_status(browser: Browser, access_token: str) -> int:
    return browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code
