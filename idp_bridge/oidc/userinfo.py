"""The userinfo endpoint (OpenID Connect Core 1.0, section 5.3): ``GET|POST /userinfo`` with a
bearer access token (RFC 6750).

The token comes in the ``Authorization`` header (section 2.1) or, with POST, as
``access_token`` in a form body (section 2.2); never in both (section 2: "Clients MUST NOT use
more than one method to transmit the token in each request"). The URI query parameter of
section 2.3 is refused: URLs end up in logs and browser histories, which is why the RFC
advises against it and OpenID Connect Core 5.3.1 asks for the header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request
from oic.oic import scope2claims
from oic.oic.message import OpenIDSchema
from pyop.exceptions import BearerTokenError, InvalidAccessToken, InvalidSubjectIdentifier
from pyop.message import AuthorizationRequest

from idp_bridge.oidc.edge import (
    Edge,
    answer_errors_as_oauth,
    current_edge,
    grant_claims,
    oauth_json,
)
from idp_bridge.oidc.errors import OAuthError, single_params
from idp_bridge.oidc.token_reads import read_record

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
    return bearer_token(header, form)


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    try:
        access_token = _access_token()
        answer = claims_for(current_edge(), access_token)
    except OAuthError as exc:
        return oauth_json(exc)
    result = jsonify(answer)
    result.headers["Cache-Control"] = "no-store"
    return result


def bearer_token(header: str | None, form: Mapping[str, str]) -> str | None:
    """The access token of the ``Authorization`` header, else of the form body; None when
    absent or sent with another scheme."""
    if header is None:
        return form.get("access_token") or None
    # The scheme is case-insensitive (RFC 9110 section 11.1).
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def subject_user(edge: Edge, record: Mapping[str, Any]) -> str | None:
    """The local user an access token's record stands for, by its subject's index entry
    (pyop's ``get_user_id_for_subject_identifier``); None when the subject is no longer indexed.
    Userinfo answers ``invalid_token`` then, and introspection ``active: false``."""
    index = edge.provider.provider().authz_state.subject_identifiers.index
    subject = read_record(record.get("sub") or "", index, edge.records)
    return None if subject is None else subject.get("user_id")


def claims_for(edge: Edge, access_token: str | None) -> dict[str, Any]:
    """The userinfo answer for the access token, or OAuthError ``invalid_token`` (401).

    The steps of pyop's ``Provider.handle_userinfo_request`` (pyop 3.5.0): the token active,
    its subject's user, the claims of its scopes and of the request's ``claims`` parameter,
    filtered by pyop's ``Userinfo``; with the token read once instead of three times. Then
    the client the token was issued to (still registered) and the grant's claims, the
    ``represents`` of the ``enterprise`` scope asked of the policy again.
    """
    pyop = edge.provider.provider()
    state = pyop.authz_state
    try:
        if access_token is None:
            raise BearerTokenError("no bearer token")
        # ProviderAuthorizationState.active_access_token, then get_user_id_for_subject_
        # identifier (the subject's index), each one read with its statement built once.
        record = read_record(access_token, state.access_tokens, edge.records)
        if record is None or record["exp"] < state._now():  # the state's own clock
            raise InvalidAccessToken("unknown, expired or revoked access token")
        user_id = subject_user(edge, record)
        if user_id is None:
            raise InvalidSubjectIdentifier("unknown subject identifier")
        auth_req = AuthorizationRequest().from_dict(record[state.KEY_AUTHORIZATION_REQUEST])
        requested = scope2claims(record["scope"].split(), extra_scope_dict=pyop.extra_scopes)
        requested.update(pyop._get_requested_claims_in(auth_req, "userinfo"))
        user_claims = pyop.userinfo.get_claims_for(user_id, requested)
        user_claims.setdefault("sub", record["sub"])
        answer = OpenIDSchema(**user_claims).to_dict()
        client = edge.clients.get(auth_req["client_id"])
        if client is None:  # removed since the token was issued
            raise InvalidAccessToken("no such client")
        answer.update(grant_claims(auth_req, client, edge))
    # A subject no longer indexed, a person or an authorization request no longer found: the
    # token no longer stands for anyone, which is the client's invalid_token, never a 500.
    except (BearerTokenError, InvalidAccessToken, InvalidSubjectIdentifier, KeyError):
        raise OAuthError(
            "invalid_token",
            "the access token is unknown, expired or revoked",
            401,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    except OAuthError as exc:  # the representation is no longer allowed
        raise OAuthError(
            "invalid_token", exc.description, 401, {"WWW-Authenticate": "Bearer"}
        ) from None
    for name in ("acr", "amr", "auth_time"):  # ID token claims, not userinfo
        answer.pop(name, None)
    return answer
