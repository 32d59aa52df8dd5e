"""What the OpenID provider's endpoints share: their configuration, keys, pyop's provider and
state, the client authenticator, and the claims of a grant.

Each endpoint lives in the module named after what it implements (``authorization``,
``token``, ``revocation``, ``introspection``, ``userinfo``, ``metadata``); ``endpoints``
wires them into the app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import peewee
from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from authz.clients import ClientCache, RegisteredClient
from authz.espaces import ActingFor, acting_for
from authz.kept import KeptUntilRevoked
from idp_bridge.oidc import claims
from idp_bridge.oidc.client_auth import ClientAuthenticator
from idp_bridge.oidc.errors import OAuthError
from idp_bridge.oidc.keys import KeyStore
from idp_bridge.oidc.provider import OpenIdProvider, SubjectIdentifiers, subject_salt
from idp_bridge.oidc.state import ProviderAuthorizationState
from idp_bridge.oidc.storage import DatabaseStorage
from idp_bridge.oidc.token_reads import RecordCache
from idp_bridge.shared.db_stores import DatabaseRequestStore, DatabaseSeenStore
from idp_bridge.shared.transport import urllib_transport

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

EXTENSION = "monespace.oidc"
PENDING_TTL = 900  # seconds a person may take to log in and choose
CODE_TTL = 60
ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 8 * 3600
BACKCHANNEL_TIMEOUT = 5.0  # seconds a client's back-channel logout endpoint may take
# Seconds a client record read by the token, introspection, revocation and userinfo endpoints
# is kept: a client disabled, or its secret rotated, on another node is refused here within
# them (a change made through this process, at once).
CLIENT_CACHE_SECONDS = 0.5
# Persons whose claims a process keeps for introspection and userinfo (a few hundred bytes
# each: some 10 MB at most).
PERSONS_KEPT = 20_000
LOA_RANK = {"http://eidas.europa.eu/LoA/substantial": 1, "http://eidas.europa.eu/LoA/high": 2}
# Stashed in the authentication request pyop stores with the code and the access token, so the
# token and userinfo endpoints know how the person logged in and which enterprise they chose.
LOGIN = "monespace_login"
ESPACE = "monespace_espace"


class Edge:
    """What the provider's routes share. The keys and pyop's provider are made on first use:
    the first start of a node creates the signing keys, and an app that never serves the
    provider (a CLI command, the decision API alone) pays nothing for it."""

    def __init__(self, config: Any):
        self.issuer = config.base_url
        self.secret = config.secret_key.encode()
        # With the secret keys it replaced, which named the login sessions opened before.
        self.secrets = (self.secret, *(key.encode() for key in config.previous_secret_keys))
        self.keys = KeyStore(
            config.secret_key,
            previous_secret_keys=config.previous_secret_keys,
            max_token_lifetime=REFRESH_TOKEN_TTL,
        )
        self.pending = DatabaseRequestStore("authorize")
        # Client assertions may live an hour: what common client libraries sign by default
        # (authlib); each one is single-use all the same (its jti is kept until it expires).
        self.clients = ClientCache(CLIENT_CACHE_SECONDS)
        self.authenticator = ClientAuthenticator(
            self.issuer + "/token",
            self.issuer,
            DatabaseSeenStore("client_assertion"),
            max_assertion_lifetime=3600,
            lookup=self.clients.get,
        )
        self._provider: OpenIdProvider | None = None
        self._lock = threading.Lock()
        # Access tokens of the client credentials grant (callers of the decision API).
        self.client_tokens = DatabaseStorage("client_tokens", ttl=ACCESS_TOKEN_TTL, write_once=True)
        # Which clients got tokens in each login session (by sid), for back-channel logout.
        self.session_clients = DatabaseStorage(
            "session_clients", ttl=config.session_absolute_timeout + REFRESH_TOKEN_TTL
        )
        self.backchannel_transport = urllib_transport(
            timeout=BACKCHANNEL_TIMEOUT, allow_http=config.is_demo
        )
        # The decision API's edge (authz.api), when the app has one: its decision point
        # caches the answers behind ``represents`` under the enterprises' epochs.
        self.decisions: Any = None
        # The token and subject records introspection and userinfo read, kept until a
        # removal is announced to the epoch tracker (none kept without a tracker).
        self.records = RecordCache(self.revocation_tracker)
        # The persons' claims they answer with, kept until a person's change is announced.
        self.persons: KeptUntilRevoked[dict[str, Any]] = KeptUntilRevoked(
            self.revocation_tracker, PERSONS_KEPT
        )

    def revocation_tracker(self) -> Any:
        """The decision point's epoch tracker, started in this process; None without one."""
        decisions = self.decisions
        if decisions is None:
            return None
        decisions.start_tracker()  # a forked worker: its own epoch listener
        return decisions.point.tracker

    def acting_for(self, nrn: str, bce: str, service_domain: str) -> ActingFor | None:
        """What the person may do for the enterprise now: the decision point's cached
        answer (invalidated on every node by the enterprise's epoch), else the policy's."""
        decisions = self.decisions
        if decisions is None:
            return acting_for(nrn, bce, service_domain)
        decisions.start_tracker()  # a forked worker: its own epoch listener
        return decisions.point.acting_for(nrn, bce, service_domain)

    def client_of_token(self, token_value: str) -> str | None:
        """The client a live client-credentials access token was issued to, else None."""
        record = self.client_tokens.get(token_value) if token_value else None
        if record is None or record["exp"] < time.time():
            return None
        return record["client_id"]

    @property
    def provider(self) -> OpenIdProvider:
        with self._lock:
            if self._provider is None:
                self.keys.ensure()
                state = ProviderAuthorizationState(
                    SubjectIdentifiers(subject_salt()),
                    authorization_code_lifetime=CODE_TTL,
                    access_token_lifetime=ACCESS_TOKEN_TTL,
                    refresh_token_lifetime=REFRESH_TOKEN_TTL,
                    grant_deadline=session_end,
                )
                self._provider = OpenIdProvider(self.issuer, self.keys, state, self.persons)
            return self._provider


def session_end(auth_req: Mapping[str, Any]) -> int | None:
    """When the login session a grant came from ends at the latest (its absolute timeout):
    no token of the grant outlives it, however often its refresh tokens rotate."""
    return (auth_req.get(LOGIN) or {}).get("session_expires")


def current_edge() -> Edge:
    """The app's edge (inside a request)."""
    return current_app.extensions[EXTENSION]


def oauth_json(error: OAuthError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    response.headers.update(error.headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def grant_claims(auth_req, client: RegisteredClient, edge: Edge | None = None) -> dict[str, Any]:
    """The claims a grant carries besides the person's: how they logged in, and with the
    ``enterprise`` scope the espace, ``represents`` computed now from the policy
    (``invalid_grant`` when it no longer allows it). ``edge``: the app's (default: the
    current request's), for callers outside Flask's request context (the fast lane)."""
    edge = edge if edge is not None else current_edge()
    login = dict(auth_req.get(LOGIN) or {})
    extra = {k: login[k] for k in ("acr", "amr", "auth_time", "sid") if k in login}
    scope = auth_req.get("scope") or []
    if "enterprise" in (scope.split() if isinstance(scope, str) else scope):  # stored: a string
        bce = auth_req.get(ESPACE)
        if bce is None:
            extra.update(claims.citizen_claims())
        else:
            nrn = nrn_of(auth_req)
            represents = claims.represents_claim(
                nrn, bce, client.service_domain, edge.issuer, edge.acting_for
            )
            if represents is None:
                raise OAuthError(
                    "invalid_grant", "the person may no longer act for this enterprise"
                )
            extra.update(claims.professional_claims(represents))
    return extra


def nrn_of(auth_req) -> str:
    return auth_req[LOGIN]["nrn"]


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def http_error_as_oauth(exc: HTTPException) -> Response:
    """An HTTP error (a wrong method, an unknown path, a body too large) at a machine endpoint,
    as OAuth JSON (RFC 6749 section 5.2's shape) with the same status and its headers
    (``Allow`` of a 405, RFC 9110 section 15.5.6; ``Retry-After``)."""
    status = exc.code or 500
    if status == 503:
        error = "temporarily_unavailable"
    elif status >= 500:
        error = "server_error"
    else:
        error = "invalid_request"
    description = (exc.name or "error").lower()
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        methods = [m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS")]
        description += "; use " + " or ".join(sorted(methods))
    response = oauth_json(OAuthError(error, description, status))
    for name in ("Allow", "Retry-After"):
        value = exc.get_response().headers.get(name)
        if value:
            response.headers[name] = value
    return response


def answer_errors_as_oauth(bp: Blueprint) -> None:
    """Every error at a machine endpoint is OAuth JSON, never an HTML page: HTTP errors keep
    their status (:func:`http_error_as_oauth`); a failure nobody foresaw is 500 (the log has
    the traceback); an unavailable database is 503, worth a retry."""

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return http_error_as_oauth(exc)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        return oauth_json(unexpected_error(exc))


def unexpected_error(exc: Exception) -> OAuthError:
    """What a failure nobody foresaw at a machine endpoint answers, logged (called while it is
    handled): 503 for an unavailable database, else 500 (the log has the traceback)."""
    if isinstance(exc, peewee.OperationalError | peewee.InterfaceError):
        logger.error("OpenID provider: database unavailable: %s", exc)
        return OAuthError("temporarily_unavailable", "the database is unavailable", 503)
    logger.exception("OpenID provider: unexpected error")
    return OAuthError("server_error", "internal error", 500)
