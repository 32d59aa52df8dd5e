"""The decision API: OpenID AuthZEN Authorization API 1.0, HTTPS JSON binding, over Flask.

This package only converts HTTP to calls and back. Reading the messages is ``authz.authzen``'s;
deciding is :class:`authz.decisions.DecisionPoint`'s (policy, cache, epochs, decision log). The
endpoints, by section of the final specification (January 2026):

- *Access Evaluation API*: ``POST /access/v1/evaluation``;
- *Access Evaluations API*: ``POST /access/v1/evaluations``;
- *Search APIs*: ``POST /access/v1/search/subject``, ``.../resource``, ``.../action``;
- *Policy Decision Point Metadata*: ``GET /.well-known/authzen-configuration``.

*HTTPS JSON Binding*: requests must be ``application/json`` objects; answers are JSON, errors
included (``{"error": code, "error_description": text}`` with 400, 401, 403, 413, 500 or 503);
an ``X-Request-ID`` header is sent back unchanged on every response.

Callers are registered clients sending an access token of the client credentials grant
(``Authorization: Bearer``, RFC 6750) issued by this service's token endpoint, or their
``client_secret_basic`` credentials (HTTP Basic, RFC 6749 section 2.3.1); a missing or wrong
one is 401 with ``WWW-Authenticate``. Basic credentials are checked by ``authz.client_auth``,
as at the token endpoint. Client records are cached for :data:`CLIENT_CACHE_SECONDS`, so the
hot path reads no credentials from the database, and a client disabled is refused within that
time. A client gets decisions for its own service domain only.

The parts: ``edge`` (what the routes share; authenticate, decide), ``messages`` (the JSON
binding), ``routes`` (the Flask blueprint and its error handlers), ``fastlane`` (the hot
endpoint below Flask's dispatch), ``caches`` (who is calling, for a few seconds).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from authz.api.caches import CLIENT_CACHE_SECONDS
from authz.api.edge import EDGE, EXTENSION, METADATA_PATH, OPENAPI_PATH, PATHS, Edge
from authz.api.fastlane import EchoRequestId, FastEvaluation
from authz.api.messages import MAX_BODY_BYTES, REALM
from authz.api.routes import bp
from authz.decisionlog import DecisionLog
from authz.decisions import DecisionPoint
from authz.epochs import tracker_for

__all__ = [
    "CLIENT_CACHE_SECONDS",
    "EDGE",
    "EXTENSION",
    "MAX_BODY_BYTES",
    "METADATA_PATH",
    "OPENAPI_PATH",
    "PATHS",
    "REALM",
    "bp",
    "init_app",
    "register_bearer_tokens",
]


def init_app(app: Flask) -> None:
    """Build the app's one decision point from its configuration; register the routes."""
    config = app.config["MONESPACE"]
    point = DecisionPoint(
        tracker_for(config.database_url, config.database_connect_timeout),
        cache_size=config.decision_cache_size,
        ttl=config.decision_cache_ttl,
        log=DecisionLog(
            config.decision_log, config.decision_log_sample_rate, config.decision_log_file
        ),
    )
    edge = Edge(
        point, config.base_url, app.config["SECRET_KEY"], cache_seconds=CLIENT_CACHE_SECONDS
    )
    app.extensions[EXTENSION] = point
    app.extensions[EDGE] = edge
    app.register_blueprint(bp)
    app.wsgi_app = EchoRequestId(FastEvaluation(app.wsgi_app, edge))


def register_bearer_tokens(app: Flask, client_of: Callable[[str], str | None]) -> None:
    """Let the decision API accept bearer access tokens: ``client_of(token)`` is the id of
    the client the token was issued to, or None for a token unknown, expired or revoked.
    A token once accepted is trusted for CLIENT_CACHE_SECONDS, like Basic credentials."""
    app.extensions[EDGE].bearer = client_of
