"""The userinfo endpoint (OpenID Connect Core 1.0, section 5.3): ``GET|POST /userinfo`` with a
bearer access token (RFC 6750).

The token comes in the ``Authorization`` header (section 2.1) or, with POST, as
``access_token`` in a form body (section 2.2); never in both (section 2: "Clients MUST NOT use
more than one method to transmit the token in each request"). The URI query parameter of
section 2.3 is refused: URLs end up in logs and browser histories, which is why the RFC
advises against it and OpenID Connect Core 5.3.1 asks for the header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify, request
from pyop.exceptions import BearerTokenError, InvalidAccessToken

from authz.clients import find_client
from idp_bridge.oidc.edge import answer_errors_as_oauth, current_edge, grant_claims, oauth_json
from idp_bridge.oidc.errors import OAuthError, single_params

if TYPE_CHECKING:
    pass

bp = Blueprint("oidc_userinfo", __name__)
answer_errors_as_oauth(bp)


def _refused(description: str) -> OAuthError:
    """RFC 6750 section 3.1: a malformed request is ``invalid_request``, 400."""
    return OAuthError(
        "invalid_request", description, 400, {"WWW-Authenticate": 'Bearer error="invalid_request"'}
    )


def _access_token() -> str | None:
    """The access token of the request, from the one place it was sent; None when absent."""
    try:
        query = single_params(request.args)
        form = single_params(request.form) if request.method == "POST" else {}
    except OAuthError as exc:
        raise _refused(exc.description) from None
    if "access_token" in query:
        raise _refused("send the access token in the Authorization header, not in the URL")
    header = request.headers.get("Authorization")
    if header is not None and "access_token" in form:
        raise _refused("send the access token once: in the Authorization header or the body")
    if header is None:
        return form.get("access_token") or None
    # The scheme is case-insensitive (RFC 9110 section 11.1).
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    try:
        access_token = _access_token()
    except OAuthError as exc:
        return oauth_json(exc)
    pyop = current_edge().provider.provider()
    try:
        if access_token is None:
            raise BearerTokenError("no bearer token")
        response = pyop.handle_userinfo_request(None, {"Authorization": "Bearer " + access_token})
        auth_req = pyop.authz_state.get_authorization_request_for_access_token(access_token)
        client = find_client(auth_req["client_id"])
        if client is None:  # removed since the token was issued
            raise InvalidAccessToken("no such client")
        answer = response.to_dict()
        answer.update(grant_claims(auth_req, client))
    except (BearerTokenError, InvalidAccessToken, KeyError):
        return oauth_json(
            OAuthError(
                "invalid_token",
                "the access token is unknown, expired or revoked",
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        )
    except OAuthError as exc:  # the representation is no longer allowed
        return oauth_json(
            OAuthError("invalid_token", exc.description, 401, {"WWW-Authenticate": "Bearer"})
        )
    for name in ("acr", "amr", "auth_time"):  # ID token claims, not userinfo
        answer.pop(name, None)
    result = jsonify(answer)
    result.headers["Cache-Control"] = "no-store"
    return result
