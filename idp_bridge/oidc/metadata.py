"""OpenID Connect Discovery 1.0: the provider's metadata (section 4) and its JWK Set."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from idp_bridge.oidc.edge import current_edge
from idp_bridge.oidc.provider import discovery

bp = Blueprint("oidc_metadata", __name__)


@bp.get("/.well-known/openid-configuration")
def configuration() -> Response:
    response = jsonify(discovery(current_edge().issuer))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(current_edge().provider.jwks())
    # Well under a key's time as "next": relying parties see a new key before it signs.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
