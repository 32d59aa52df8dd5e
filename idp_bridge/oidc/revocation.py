"""RFC 7009 token revocation: ``POST /revoke``.

Each parameter once (RFC 6749 section 3.2, which RFC 7009 section 2.1 builds on); ``token``
is required; errors are OAuth JSON (RFC 7009 section 2.2.1).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from idp_bridge.oidc.edge import answer_errors_as_oauth, current_edge, no_store, oauth_json
from idp_bridge.oidc.errors import OAuthError, single_params

bp = Blueprint("oidc_revocation", __name__)
answer_errors_as_oauth(bp)


@bp.post("/revoke")
def revoke() -> Response:
    """RFC 7009: the client's own access or refresh token (a refresh token with its whole
    grant). Unknown tokens and tokens of other clients get the same 200, so the answer tells
    nothing of tokens the caller does not hold (section 2.2)."""
    edge = current_edge()
    try:
        form = single_params(request.form)
        client = edge.authenticator.authenticate(request.form, request.headers.get("Authorization"))
        token_value = form.get("token") or ""
        if not token_value:
            raise OAuthError("invalid_request", "token is required")
    except OAuthError as exc:
        return oauth_json(exc)
    own = edge.client_tokens.get(token_value)
    if own is not None and own["client_id"] == client.client_id:
        edge.client_tokens.pop(token_value, None)
        return no_store(Response(status=200))
    state = edge.provider.provider().authz_state
    access = state.active_access_token(token_value)
    if access is not None and access["client_id"] == client.client_id:
        state.revoke_access_token(token_value)
    else:
        refresh = state.active_refresh_token(token_value)
        if refresh is not None and refresh.get("client_id") == client.client_id:
            state.revoke_refresh_token(token_value)
    return no_store(Response(status=200))
