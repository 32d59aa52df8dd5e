"""RFC 7662 token introspection: ``POST /introspect``.

Each parameter once (RFC 6749 section 3.2, which RFC 7662 section 2.1 builds on); ``token``
is required; errors are OAuth JSON (RFC 7662 section 2.3).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request

from authz.clients import RegisteredClient
from idp_bridge.oidc.edge import (
    Edge,
    answer_errors_as_oauth,
    current_edge,
    grant_claims,
    no_store,
    oauth_json,
)
from idp_bridge.oidc.errors import OAuthError, invalid_request, single_params
from idp_bridge.oidc.token_reads import read_token
from idp_bridge.oidc.userinfo import subject_user

bp = Blueprint("oidc_introspection", __name__)
answer_errors_as_oauth(bp)


@bp.post("/introspect")
def introspect() -> Response:
    """RFC 7662, for the client the token was issued to (:func:`answer`)."""
    edge = current_edge()
    try:
        client, token_value = authenticated_request(edge, request.form, request.headers)
    except OAuthError as exc:
        return oauth_json(exc)
    return no_store(jsonify(answer(edge, client, token_value)))


def authenticated_request(
    edge: Edge, form: Mapping[str, str], headers: Mapping[str, str]
) -> tuple[RegisteredClient, str]:
    """The client that authenticated and the token it asks about, or OAuthError: each
    parameter once, the client authenticated, ``token`` present (RFC 7662 section 2.1)."""
    params = single_params(form)
    client = edge.authenticator.authenticate(form, headers.get("Authorization"))
    token_value = params.get("token") or ""
    if not token_value:  # RFC 7662 section 2.1: REQUIRED
        raise invalid_request("token is required")
    return client, token_value


def answer(edge: Edge, client: RegisteredClient, token_value: str) -> dict[str, Any]:
    """``active`` is false for a token revoked, expired, of another client, whose
    representation the policy no longer allows, or (an access token) that userinfo refuses
    for want of a person (its subject no longer indexed, the person gone); when active, what
    the token is for, the ``represents`` claim included. The access tokens of both kinds are
    read in one statement (:func:`~idp_bridge.oidc.token_reads.read_token`), or kept
    (``edge.records``); a refresh token is read after them; a person's access token costs two
    reads more (subject, kept too, and person)."""
    state = edge.provider.provider().authz_state
    found = read_token(token_value, (edge.client_tokens, state.access_tokens), edge.records)
    own = found.get(edge.client_tokens.collection)
    if own is not None and own["client_id"] == client.client_id and own["exp"] >= time.time():
        return {"active": True, "token_type": "Bearer", "iss": edge.issuer, **own}
    record = found.get(state.access_tokens.collection)
    # ProviderAuthorizationState.active_access_token's rule (and clock), on the record read.
    if record is not None and record["exp"] < state._now():
        record = None
    kind = "access_token"
    if record is None:
        record, kind = state.active_refresh_token(token_value), "refresh_token"
    if record is None or record.get("client_id") != client.client_id:
        return {"active": False}
    if kind == "access_token":
        # Active only if userinfo would answer for it: its subject still indexed, the person
        # still there (a token userinfo refuses must not pass for active here).
        user_id = subject_user(edge, record)
        if user_id is None or user_id not in edge.provider.provider().userinfo:
            return {"active": False}
        auth_req = record.get(state.KEY_AUTHORIZATION_REQUEST) or {}
    else:
        grant = state.families.live(record.get("family")) or {}
        auth_req = grant.get(state.KEY_AUTHORIZATION_REQUEST) or {}
    try:
        extra = grant_claims(auth_req, client, edge)
    except OAuthError:
        return {"active": False}  # the representation is no longer allowed
    scope = record.get("scope")
    return {
        "active": True,
        "scope": " ".join(scope) if isinstance(scope, list) else scope,
        "client_id": client.client_id,
        "token_type": "Bearer" if kind == "access_token" else "refresh_token",
        "exp": record.get("exp"),
        "iss": edge.issuer,
        **({"iat": record["iat"]} if "iat" in record else {}),
        **({"sub": record["sub"]} if "sub" in record else {}),
        **{k: v for k, v in extra.items() if k in ("espace", "represents", "acr")},
    }
