"""The OpenID provider in the app: one blueprint per endpoint module, one shared edge."""

from __future__ import annotations

from flask import Flask

from authz import db
from authz.api import EDGE, register_bearer_tokens
from idp_bridge.oidc import (
    authorization,
    cors,
    introspection,
    logout,
    metadata,
    revocation,
    token,
    userinfo,
)
from idp_bridge.oidc.edge import EXTENSION, Edge, answer_errors_as_oauth

MODULES = (metadata, authorization, token, revocation, introspection, userinfo)

# The discovery document and the JWK Set are read by programs: their errors are JSON too.
answer_errors_as_oauth(metadata.bp)


def init_app(app: Flask) -> None:
    edge = Edge(app.config["MONESPACE"])
    # A node whose secret keys decrypt none of the signing keys stops here, saying what to
    # set (idp_bridge.oidc.keys), rather than start and answer every token request with 500.
    with db.connection():
        under_previous = edge.keys.check_readable()
    if under_previous:
        app.logger.warning(
            "signing keys %s are encrypted under a previous secret key: once every node and "
            "the worker have the new secret key, run `monespace keys reencrypt`",
            ", ".join(under_previous),
        )
    edge.decisions = app.extensions.get(EDGE)  # authz.api is initialised first
    app.extensions[EXTENSION] = edge
    for module in MODULES:
        app.register_blueprint(module.bp)
    logout.init_app(app, edge)
    cors.init_app(app)
    # The decision API takes the access tokens of the client credentials grant.
    register_bearer_tokens(app, edge.client_of_token)
