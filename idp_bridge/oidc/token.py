"""The token endpoint (RFC 6749 section 3.2; OpenID Connect Core 1.0, section 3.1.3).

Clients authenticate as ``client_auth`` says. Grants: ``authorization_code`` (the code
redeemed once, the PKCE verifier checked, ``represents`` computed now from the policy),
``refresh_token`` (section 6: only by the client it was issued to; rotated; the representation
checked again) and ``client_credentials`` (section 4.4: access tokens for callers of the
decision API). Errors are OAuth JSON (section 5.2), never cached.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pyop.access_token import AccessToken
from pyop.exceptions import InvalidAuthorizationCode, InvalidSubjectIdentifier, InvalidTokenRequest
from pyop.exceptions import OAuthError as PyopOAuthError

from authz import db
from authz.clients import RegisteredClient
from idp_bridge import metrics
from idp_bridge.oidc import pkce
from idp_bridge.oidc.edge import (
    ACCESS_TOKEN_TTL,
    Edge,
    answer_errors_as_oauth,
    current_edge,
    grant_claims,
    no_store,
    oauth_json,
)
from idp_bridge.oidc.errors import OAuthError, invalid_request, single_params
from idp_bridge.oidc.provider import remember_client
from idp_bridge.oidc.storage import reads_remembered

logger = logging.getLogger(__name__)

# The grants whose code or refresh token the first use spends.
SPENDING_GRANTS = ("authorization_code", "refresh_token")

bp = Blueprint("oidc_token", __name__)
answer_errors_as_oauth(bp)


@bp.post("/token")
def token() -> Response:
    response = _token()
    metrics.count_token(request.form.get("grant_type"), response.status_code == 200)
    return response


def _token() -> Response:
    edge = current_edge()
    try:
        form = single_params(request.form)
        client = edge.authenticator.authenticate(request.form, request.headers.get("Authorization"))
        remember_client(client)  # pyop looks the client up again: this request read it
        form["client_id"] = client.client_id  # pyop checks the code was issued to it
        grant_type = form.get("grant_type")
        if not grant_type:
            raise invalid_request("grant_type is required")
        if grant_type == "client_credentials":
            return no_store(jsonify(client_credentials_answer(edge, client)))
        if grant_type not in SPENDING_GRANTS:
            raise OAuthError(
                "unsupported_grant_type",
                "grant types: authorization_code, refresh_token, client_credentials",
            )
        answer = grant_answer(edge, client, form)
    except OAuthError as exc:
        return oauth_json(exc)
    return no_store(jsonify(answer))


def grant_answer(edge: Edge, client: RegisteredClient, form: dict[str, str]) -> dict[str, Any]:
    """The token answer of an ``authorization_code`` or ``refresh_token`` grant (``form``: the
    request's parameters, ``client_id`` set to the authenticated ``client``), else OAuthError.
    The route and the fast lane (``fastlane.FastProvider``) call it; it may spend the code or
    refresh token (or, for a replay, revoke its grant), so its caller answers every outcome."""
    # pyop reads the code (or refresh token) and its family several times, and the access
    # token back: each is read once. Every decision taken on those reads is confirmed by
    # the compare-and-swap of the code or refresh token and of the family that issues the
    # tokens (state.ProviderAuthorizationState._issue), so none rests on a stale read.
    try:
        with reads_remembered():
            if form["grant_type"] == "authorization_code":
                answer = _redeem_code(edge, client, form)
            else:
                answer = _refresh(edge, client, form)
    except (
        InvalidAuthorizationCode,
        InvalidTokenRequest,
        InvalidSubjectIdentifier,  # the code's subject no longer indexed
        PyopOAuthError,
    ) as exc:
        logger.warning("token request refused: %s", exc)
        error = getattr(exc, "oauth_error", None) or "invalid_grant"
        raise OAuthError(error, "the grant cannot be used") from None
    return answer


def _granted_scope(state: Any, access_token: str) -> str:
    """The scope of the access token just issued (read back from ``state``, where the grant
    remembered it). Always sent: RFC 6749 section 5.1 makes it required whenever it differs
    from the scope requested, and a client asking for scopes it was not registered for gets
    fewer (section 3.3)."""
    record = state.active_access_token(access_token) or {}
    scope = record.get("scope") or ""
    return " ".join(scope) if isinstance(scope, list | tuple) else scope


def client_credentials_answer(edge: Edge, client: RegisteredClient) -> dict[str, Any]:
    """RFC 6749 section 4.4: an access token for the client itself, to call the decision API
    (its answers stay limited to the client's service domain). Confidential clients only.
    The token answer, as the route and the fast lane (``fastlane.FastProvider``) send it; its
    one statement stores the token."""
    if client.auth_method == "none":
        raise OAuthError("unauthorized_client", "a public client cannot use client credentials")
    now = int(time.time())
    token_value = secrets.token_urlsafe(32)
    edge.client_tokens[token_value] = {
        "client_id": client.client_id,
        "iat": now,
        "exp": now + ACCESS_TOKEN_TTL,
        "scope": "decisions",
    }
    answer = {
        "access_token": token_value,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL,
        "scope": "decisions",
    }
    return answer


def _redeem_code(edge: Edge, client: RegisteredClient, form: dict[str, str]) -> dict[str, Any]:
    """Section 4.1.3: the code's client and ``redirect_uri``, its PKCE verifier and the
    representation it carries checked before it is spent; then the tokens (the code marked
    used as they are stored: one statement or one transaction) and the ID token (Core
    3.1.3.3), signed once the request's database connection is given back."""
    provider = edge.provider.provider()
    state = provider.authz_state
    code = form.get("code", "")
    try:
        auth_req, sub = state.unused_code(code)
    except (InvalidAuthorizationCode, KeyError):
        raise OAuthError("invalid_grant", "unknown, expired or used code") from None
    if auth_req["client_id"] != client.client_id:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    if form.get("redirect_uri") != auth_req["redirect_uri"]:  # RFC 6749 4.1.3
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
    pkce.verify(form.get("code_verifier"), auth_req.get("code_challenge"))
    extra_claims = grant_claims(auth_req, client, edge)
    user_id = state.get_user_id_for_subject_identifier(sub)
    requested = (auth_req.get("claims") or {}).get("id_token") or {}  # Core 5.5
    user_claims = provider.userinfo.get_claims_for(user_id, requested)
    access_token, refresh_token = state.redeem_code(code)
    answer = _token_answer(access_token, refresh_token)
    answer["scope"] = _granted_scope(state, access_token.value)
    # The signature is CPU only: another request may have the slot. Nothing below reads the
    # database (the code is spent: a 503 now would lose the tokens, and a retry revoke them).
    db.give_back_for_now()
    answer["id_token"] = provider._create_signed_id_token(
        client.client_id,
        sub,
        user_claims,
        auth_req.get("nonce"),
        None,
        access_token.value,
        extra_claims,
    )
    return answer


def _refresh(edge: Edge, client: RegisteredClient, form: dict[str, str]) -> dict[str, Any]:
    """RFC 6749 section 6: only the client the token was issued to; the representation it
    carries must still be allowed (else the whole grant is revoked); rotated at every use."""
    state = edge.provider.provider().authz_state
    refresh_token = form.get("refresh_token", "")
    record = state.active_refresh_token(refresh_token) if refresh_token else None
    if record is None or record.get("client_id") != client.client_id:
        # A used one is also caught by the state below, which revokes its grant.
        if record is None and refresh_token:
            state.use_refresh_token(refresh_token)
        raise OAuthError("invalid_grant", "unknown, expired, used or revoked refresh token")
    grant = state.families.live(record.get("family"))
    auth_req = grant[state.KEY_AUTHORIZATION_REQUEST] if grant else {}
    try:
        grant_claims(auth_req, client, edge)
    except OAuthError:
        state.revoke_refresh_token(refresh_token)
        raise
    scope = form.get("scope")
    access_token, new_refresh_token = state.use_refresh_token(
        refresh_token, scope.split() if scope else None
    )
    answer = _token_answer(access_token, new_refresh_token)
    answer["scope"] = _granted_scope(state, access_token.value)
    return answer


def _token_answer(access_token: AccessToken, refresh_token: str | None) -> dict[str, Any]:
    """Section 5.1's answer; the caller adds the scope, and a code's ID token."""
    answer: dict[str, Any] = {
        "access_token": access_token.value,
        "token_type": access_token.type,
        "expires_in": access_token.expires_in,
    }
    if refresh_token:
        answer["refresh_token"] = refresh_token
    return answer
