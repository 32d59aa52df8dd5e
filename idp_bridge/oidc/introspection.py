"""RFC 7662 token introspection: ``POST /introspect``.

Each parameter once (RFC 6749 section 3.2, which RFC 7662 section 2.1 builds on); ``token``
is required; errors are OAuth JSON (RFC 7662 section 2.3).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from idp_bridge.oidc.edge import (
    answer_errors_as_oauth,
    current_edge,
    grant_claims,
    no_store,
    oauth_json,
)
from idp_bridge.oidc.errors import OAuthError, invalid_request, single_params

bp = Blueprint("oidc_introspection", __name__)
answer_errors_as_oauth(bp)


@bp.post("/introspect")
def introspect() -> Response:
    """RFC 7662, for the client the token was issued to: ``active`` is false for a token
    revoked, expired, of another client, or whose representation the policy no longer
    allows; when active, what the token is for, the ``represents`` claim included."""
    edge = current_edge()
    try:
        form = single_params(request.form)
        client = edge.authenticator.authenticate(request.form, request.headers.get("Authorization"))
        token_value = form.get("token") or ""
        if not token_value:  # RFC 7662 section 2.1: REQUIRED
            raise invalid_request("token is required")
    except OAuthError as exc:
        return oauth_json(exc)
    answer: dict[str, Any] = {"active": False}
    own = edge.client_tokens.get(token_value) if token_value else None
    if own is not None and own["client_id"] == client.client_id and own["exp"] >= time.time():
        answer = {"active": True, "token_type": "Bearer", "iss": edge.issuer, **own}
        return no_store(jsonify(answer))
    state = edge.provider.provider().authz_state
    record = state.active_access_token(token_value) if token_value else None
    kind = "access_token"
    if record is None and token_value:
        record, kind = state.active_refresh_token(token_value), "refresh_token"
    if record is not None and record.get("client_id") == client.client_id:
        if kind == "access_token":
            auth_req = record.get(state.KEY_AUTHORIZATION_REQUEST) or {}
        else:
            grant = state.families.live(record.get("family")) or {}
            auth_req = grant.get(state.KEY_AUTHORIZATION_REQUEST) or {}
        try:
            extra = grant_claims(auth_req, client)
        except OAuthError:
            extra = None  # the representation is no longer allowed
        if extra is not None:
            scope = record.get("scope")
            answer = {
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
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response
