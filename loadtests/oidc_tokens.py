"""Authorization codes and tokens of the OpenID provider, minted in process for its load tests.

A code is what the authorization endpoint stores once a person has logged in and chosen an
espace (here Luc, agent of Boulangerie Démo SA for the demo client's ``fiscalite`` domain),
made with the provider's own state, so it opens a token family as a real one does. Tokens are
those codes redeemed through the provider's state (no HTTP, no ID token). Each code and each
refresh token can be used once: a load test needs one per request it sends.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Flask
from pyop.message import AuthorizationRequest

from idp_bridge.oidc.edge import ESPACE, EXTENSION, LOGIN
from monespace.demo import DEMO_CLIENT_ID

LUC, BOULANGERIE = "90010100123", "0123456749"
REDIRECT_URI = "http://127.0.0.1:8000/demo-rp/callback"
SCOPE = "openid profile enterprise"


@dataclass(frozen=True)
class Code:
    code: str
    verifier: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str


def _request(challenge: str) -> AuthorizationRequest:
    now = int(time.time())
    return AuthorizationRequest(
        response_type="code",
        client_id=DEMO_CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        nonce=secrets.token_urlsafe(8),
        code_challenge=challenge,
        code_challenge_method="S256",
        **{
            LOGIN: {
                "nrn": LUC,
                "acr": "http://eidas.europa.eu/LoA/high",
                "amr": ["eid"],
                "auth_time": now,
                "session_expires": now + 8 * 3600,
                "sid": secrets.token_urlsafe(16),
            },
            ESPACE: BOULANGERIE,
        },
    )


def codes(app: Flask, count: int) -> Iterator[Code]:
    """``count`` fresh codes of the demo client, each with its PKCE verifier."""
    pyop = app.extensions[EXTENSION].provider.provider()
    with app.app_context():
        for _ in range(count):
            verifier = secrets.token_urlsafe(48)
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            yield Code(pyop.authorize(_request(challenge), LUC)["code"], verifier)


def tokens(app: Flask, count: int) -> Iterator[Tokens]:
    """``count`` access and refresh tokens of the demo client, each pair its own grant."""
    state = app.extensions[EXTENSION].provider.provider().authz_state
    with app.app_context():
        for code in codes(app, count):
            access = state.exchange_code_for_token(code.code)
            yield Tokens(access.value, state.create_refresh_token(access.value))
