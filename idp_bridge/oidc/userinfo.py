"""The userinfo endpoint (OpenID Connect Core 1.0, section 5.3): ``GET|POST /userinfo`` with a
bearer access token (RFC 6750)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, Response, jsonify, request
from pyop.access_token import extract_bearer_token_from_http_request
from pyop.exceptions import BearerTokenError, InvalidAccessToken

from authz.models import Client
from idp_bridge.oidc.edge import answer_errors_as_oauth, current_edge, grant_claims, oauth_json
from idp_bridge.oidc.errors import OAuthError

bp = Blueprint("oidc_userinfo", __name__)
answer_errors_as_oauth(bp)


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    pyop = current_edge().provider.provider()
    body = request.get_data(as_text=True) if request.method == "POST" else ""
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":  # the scheme is case-insensitive (RFC 9110 11.1)
        authorization = "Bearer " + credentials.strip()
    headers = {"Authorization": authorization}
    try:
        response = pyop.handle_userinfo_request(body, headers)
        # RFC 6750: in the Authorization header, or as access_token in a form body (2.2).
        form = dict(parse_qsl(body)) if body else None
        access_token = extract_bearer_token_from_http_request(form, authorization)
        auth_req = pyop.authz_state.get_authorization_request_for_access_token(access_token)
        client = Client.get(Client.client_id == auth_req["client_id"])
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
