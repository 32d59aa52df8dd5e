"""The decision API: OpenID AuthZEN Authorization API 1.0, HTTPS JSON binding, over Flask.

This module only converts HTTP to calls and back. Reading the messages is ``authz.authzen``'s;
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
one is 401 with ``WWW-Authenticate``. Client records
are cached for :data:`CLIENT_CACHE_SECONDS`, so the hot path reads no credentials from the
database, and a client disabled is refused within that time. A client gets decisions for its own
service domain only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_plus

import peewee
from cachetools import TTLCache
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from authz import authzen, db, openapi
from authz.authzen import AuthzenError
from authz.clients import verify_secret
from authz.decisionlog import DecisionLog
from authz.decisions import DecisionPoint
from authz.epochs import tracker_for
from authz.models import Client

MAX_BODY_BYTES = 1 << 20
CLIENT_CACHE_SECONDS = 30.0
CLIENT_CACHE_SIZE = 1024
MAX_CLIENT_ID_LENGTH = 64
REALM = 'Basic realm="monespace"'
EXTENSION = "monespace.decisions"  # the app's DecisionPoint
_EDGE = "monespace.decisions.edge"

PATHS = {
    "access_evaluation_endpoint": "/access/v1/evaluation",
    "access_evaluations_endpoint": "/access/v1/evaluations",
    "search_subject_endpoint": "/access/v1/search/subject",
    "search_resource_endpoint": "/access/v1/search/resource",
    "search_action_endpoint": "/access/v1/search/action",
}
METADATA_PATH = "/.well-known/authzen-configuration"
OPENAPI_PATH = "/access/v1/openapi.json"  # the OpenAPI 3.1 document of these endpoints
_OUR_PATHS = ("/access/v1/", METADATA_PATH)

bp = Blueprint("authzen", __name__)


class _Edge:
    """What this app's routes share: its decision point, the client cache, page tokens."""

    def __init__(self, point: DecisionPoint, base_url: str, secret_key: str):
        self.point = point
        self.base_url = base_url
        self.tokens = authzen.PageTokens(secret_key)
        # Both expire together: a client disabled, or a secret rotated, is refused within
        # CLIENT_CACHE_SECONDS on every node.
        self.clients: TTLCache = TTLCache(CLIENT_CACHE_SIZE, CLIENT_CACHE_SECONDS)
        self.credentials: TTLCache = TTLCache(CLIENT_CACHE_SIZE, CLIENT_CACHE_SECONDS)
        self.lock = threading.Lock()
        self.started_pid: int | None = None
        # The client id a bearer access token was issued to (client credentials grant), or
        # None; set by the OpenID provider (register_bearer_tokens), which issues them.
        self.bearer: Callable[[str], str | None] | None = None

    def start_tracker(self) -> None:
        # gunicorn forks its workers after create_app, and threads do not survive a fork:
        # each process starts its own epoch tracker, on its first request.
        with self.lock:
            if self.started_pid != os.getpid():
                self.point.tracker.start()
                self.started_pid = os.getpid()

    def client(self, client_id: str) -> Client | None:
        with self.lock:
            client = self.clients.get(client_id)
        if client is None:
            client = Client.get_or_none(Client.client_id == client_id)
            if client is not None:
                with self.lock:
                    self.clients[client_id] = client
        return client

    def verified(self, authorization: str) -> Client | None:
        """The client these exact credentials were verified for in the last seconds.

        Keyed on a digest of the Authorization header: the cache keeps no secret, and a
        caller's repeated requests skip decoding and hashing what was checked already.
        """
        key = hashlib.sha256(authorization.encode()).digest()
        with self.lock:
            return self.credentials.get(key)

    def remember(self, authorization: str, client: Client) -> None:
        key = hashlib.sha256(authorization.encode()).digest()
        with self.lock:
            self.credentials[key] = client


class _FastEvaluation:
    """WSGI: ``POST /access/v1/evaluation`` answered without Flask's request dispatch.

    Relying parties call this endpoint on their hot path, and Flask's request context, URL
    matching and hooks cost several times a cached decision. This layer runs the very same
    steps as the Flask route (:func:`_authenticate`, :func:`_json_object`,
    ``authzen.evaluation``, :func:`_decide`) on well-formed requests. Whatever it does not
    answer itself (an error of any kind, a body without a length or too large) goes to the
    Flask route with the body put back, so every error is answered in one place, the Flask
    route, in the API's format. Headers added by outer layers (security headers, request id)
    reach its answers as they reach Flask's.
    """

    def __init__(self, wsgi_app: Callable, edge: _Edge):
        self.wsgi_app = wsgi_app
        self.edge = edge

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        announced = environ.get("CONTENT_LENGTH", "")
        if (
            environ.get("PATH_INFO") != PATHS["access_evaluation_endpoint"]
            or environ.get("REQUEST_METHOD") != "POST"
            or not announced.isdigit()
            or int(announced) > MAX_BODY_BYTES
        ):
            return self.wsgi_app(environ, start_response)
        data = environ["wsgi.input"].read(int(announced))
        try:
            payload = self._answer(environ, data)
        except Exception:  # answered (and logged if unexpected) by the route below
            payload = None
        finally:
            if not db.database.is_closed():  # a cache miss read the facts
                db.database.close()
        if payload is None:
            environ["wsgi.input"] = io.BytesIO(data)
            return self.wsgi_app(environ, start_response)
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _answer(self, environ: dict, data: bytes) -> bytes:
        edge = self.edge
        if edge.started_pid != os.getpid():
            edge.start_tracker()
        client = _authenticate(edge, environ)
        _check_json_content_type(environ)
        question = authzen.evaluation(_json_object(data))
        result = _decide(edge, environ, client, question)
        if len(result) == 1:
            return _DECISION_BODIES[result["decision"]]
        return _encode(result)


def init_app(app: Flask) -> None:
    """Build the app's one decision point from its configuration; register the routes."""
    config = app.config["MONESPACE"]
    point = DecisionPoint(
        tracker_for(config.database_url),
        cache_size=config.decision_cache_size,
        ttl=config.decision_cache_ttl,
        log=DecisionLog(
            config.decision_log, config.decision_log_sample_rate, config.decision_log_file
        ),
    )
    app.extensions[EXTENSION] = point
    app.extensions[_EDGE] = _Edge(point, config.base_url, app.config["SECRET_KEY"])
    app.register_blueprint(bp)
    app.wsgi_app = _EchoRequestId(_FastEvaluation(app.wsgi_app, app.extensions[_EDGE]))


def _edge() -> _Edge:
    """This app's edge, its epoch tracker running in this process (every route calls it)."""
    edge = current_app.extensions[_EDGE]
    if edge.started_pid != os.getpid():
        edge.start_tracker()
    return edge


class _EchoRequestId:
    """WSGI middleware: ``X-Request-ID`` sent back on every response under the API's paths,
    including the app's own 404 and 405 (a list append, where an ``after_request`` hook would
    build werkzeug ``Headers`` on the hot path)."""

    def __init__(self, wsgi_app: Callable):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        value = environ.get("HTTP_X_REQUEST_ID")
        if value is None or not environ.get("PATH_INFO", "").startswith(_OUR_PATHS):
            return self.wsgi_app(environ, start_response)

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            headers.append(("X-Request-ID", value))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


# The two answers most requests get, encoded once.
_DECISION_BODIES = {True: b'{"decision":true}', False: b'{"decision":false}'}


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _json(payload: Any, status: int = 200) -> Response:
    return Response(_encode(payload), status=status, mimetype="application/json")


# -- errors -------------------------------------------------------------------------------


@bp.errorhandler(AuthzenError)
def _authzen_error(exc: AuthzenError) -> Response:
    response = _json({"error": exc.code, "error_description": exc.description}, exc.status)
    if exc.status == 401:
        # RFC 6750 section 3 for a refused bearer token; HTTP Basic's challenge otherwise.
        bearer = exc.code == "invalid_token"
        response.headers["WWW-Authenticate"] = (
            'Bearer realm="monespace", error="invalid_token"' if bearer else REALM
        )
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    return _authzen_error(AuthzenError(exc.code or 500, code, exc.description or code))


@bp.errorhandler(peewee.OperationalError)
@bp.errorhandler(peewee.InterfaceError)
def _database_error(exc: Exception) -> Response:
    current_app.logger.error("decision API: database unavailable: %s", exc)
    return _authzen_error(
        AuthzenError(503, "temporarily_unavailable", "the database is unavailable; try again")
    )


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    # A safety net only: the caller learns nothing of the failure, the log has the traceback.
    current_app.logger.exception("decision API: unexpected error")
    return _authzen_error(AuthzenError(500, "server_error", "internal error"))


# -- reading the request ------------------------------------------------------------------
# Headers are read from the WSGI environ: werkzeug's Headers cost more on this hot path.


def _authenticate(edge: _Edge, environ: dict) -> Client:
    """The enabled client whose credentials came with the request: an access token of the
    client credentials grant (``Bearer``), or its id and secret (HTTP Basic)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    client = edge.verified(authorization) if authorization else None
    if client is not None:
        return client
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and edge.bearer is not None:
        client_id = edge.bearer(credentials.strip())
        client = edge.client(client_id) if client_id else None
        if client is None or not client.is_enabled:
            raise AuthzenError(401, "invalid_token", "unknown, expired or revoked access token")
        edge.remember(authorization, client)
        return client
    if scheme.lower() != "basic":
        raise AuthzenError(
            401, "invalid_client", "client credentials are required (Bearer token or HTTP Basic)"
        )
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error) or not UTF-8 (UnicodeDecodeError)
        decoded = ""
    client_id, colon, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    if colon and 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        client = edge.client(client_id)
    if client is None or not verify_secret(client, secret):
        raise AuthzenError(401, "invalid_client", "unknown client, wrong secret or disabled client")
    edge.remember(authorization, client)
    return client


def register_bearer_tokens(app: Flask, client_of: Callable[[str], str | None]) -> None:
    """Let the decision API accept bearer access tokens: ``client_of(token)`` is the id of
    the client the token was issued to, or None for a token unknown, expired or revoked.
    A token once accepted is trusted for CLIENT_CACHE_SECONDS, like Basic credentials."""
    app.extensions[_EDGE].bearer = client_of


def _body(environ: dict) -> dict:
    _check_json_content_type(environ)
    announced = environ.get("CONTENT_LENGTH", "")
    if announced.isdigit():
        # The usual case, read straight from the server's input (werkzeug's stream wrapper
        # costs more than the rest of reading the request).
        length = int(announced)
        if length > MAX_BODY_BYTES:
            raise _too_large()
        data = environ["wsgi.input"].read(length) if length else b""
    else:  # no length (chunked): werkzeug knows what may be read
        data = request.stream.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            raise _too_large()
    return _json_object(data)


def _check_json_content_type(environ: dict) -> None:
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0]
    if mimetype.strip().lower() != "application/json":
        raise authzen.bad_request(
            "invalid_request", "send the request as JSON (Content-Type: application/json)"
        )


def _json_object(data: bytes) -> dict:
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise authzen.bad_request("invalid_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise authzen.bad_request("invalid_request", "the body must be a JSON object")
    return body


def _too_large() -> AuthzenError:
    return AuthzenError(413, "request_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")


# -- evaluations --------------------------------------------------------------------------


def _decide(edge: _Edge, environ: dict, client: Client, question: authzen.Evaluation) -> dict:
    nrn = authzen.nrn_of(question.subject)
    permission = authzen.permission_of(question.action)
    bce = authzen.bce_of(question.resource)
    domain = authzen.service_domain(question.context, client.service_domain)
    explain = question.context.get("explain", False)
    decision = edge.point.evaluate(
        nrn,
        permission,
        bce,
        domain,
        explain=explain,
        client_id=client.client_id,
        request_id=environ.get("HTTP_X_REQUEST_ID"),
    )
    if explain and decision.explanation is not None:
        return {
            "decision": decision.allowed,
            "context": {"explanation": decision.explanation.to_dict()},
        }
    return {"decision": decision.allowed}


def _decision_response(result: dict) -> Response:
    if len(result) == 1:  # {"decision": bool}, the usual answer
        return Response(_DECISION_BODIES[result["decision"]], mimetype="application/json")
    return _json(result)


@bp.post(PATHS["access_evaluation_endpoint"])
def evaluation() -> Response:
    edge, environ = _edge(), request.environ
    client = _authenticate(edge, environ)
    return _decision_response(_decide(edge, environ, client, authzen.evaluation(_body(environ))))


@bp.post(PATHS["access_evaluations_endpoint"])
def evaluations() -> Response:
    edge, environ = _edge(), request.environ
    client = _authenticate(edge, environ)
    body = _body(environ)
    batch = authzen.evaluations(body)
    if batch is None:  # no evaluations array: the single evaluation's request and response
        return _decision_response(_decide(edge, environ, client, authzen.evaluation(body)))
    questions, semantic = batch
    results = []
    for question in questions:
        try:
            result = _decide(edge, environ, client, question)
        except AuthzenError as exc:
            result = authzen.error_result(exc)
        results.append(result)
        if authzen.stops_after(semantic, result["decision"]):
            break
    return _json({"evaluations": results})


# -- searches -----------------------------------------------------------------------------


def _search_response(edge: _Edge, results: list[dict], query: tuple, after: int | None) -> Response:
    # "page" first, as the specification recommends, with "" as next_token on the last page.
    next_token = edge.tokens.issue(query, after)
    return _json({"page": {"next_token": next_token, "count": len(results)}, "results": results})


@bp.post(PATHS["search_subject_endpoint"])
def search_subject() -> Response:
    """Who may do the action for the enterprise."""
    edge, environ = _edge(), request.environ
    client = _authenticate(edge, environ)
    body = _body(environ)
    subject = authzen.entity(body.get("subject"), "subject", with_id=False)
    action = authzen.action(body.get("action"))
    resource = authzen.entity(body.get("resource"), "resource")
    domain = authzen.service_domain(authzen.context(body.get("context")), client.service_domain)
    token, limit = authzen.page(body)
    authzen.check_subject_type(subject)
    permission, bce = authzen.permission_of(action), authzen.bce_of(resource)
    query = ("subject", client.client_id, domain, bce, permission, limit)
    nrns, after = edge.point.persons_for(
        bce, permission, domain, edge.tokens.cursor(query, token), limit
    )
    results = [{"type": authzen.SUBJECT_TYPE, "id": nrn} for nrn in nrns]
    return _search_response(edge, results, query, after)


@bp.post(PATHS["search_resource_endpoint"])
def search_resource() -> Response:
    """For which enterprises the person may do the action."""
    edge, environ = _edge(), request.environ
    client = _authenticate(edge, environ)
    body = _body(environ)
    subject = authzen.entity(body.get("subject"), "subject")
    action = authzen.action(body.get("action"))
    resource = authzen.entity(body.get("resource"), "resource", with_id=False)
    domain = authzen.service_domain(authzen.context(body.get("context")), client.service_domain)
    token, limit = authzen.page(body)
    nrn, permission = authzen.nrn_of(subject), authzen.permission_of(action)
    authzen.check_resource_type(resource)
    query = ("resource", client.client_id, domain, nrn, permission, limit)
    bces, after = edge.point.enterprises_of(
        nrn, permission, domain, edge.tokens.cursor(query, token), limit
    )
    results = [{"type": authzen.RESOURCE_TYPE, "id": bce} for bce in bces]
    return _search_response(edge, results, query, after)


@bp.post(PATHS["search_action_endpoint"])
def search_action() -> Response:
    """What the person may do for the enterprise; paged by position in the list."""
    edge, environ = _edge(), request.environ
    client = _authenticate(edge, environ)
    body = _body(environ)
    subject = authzen.entity(body.get("subject"), "subject")
    resource = authzen.entity(body.get("resource"), "resource")
    domain = authzen.service_domain(authzen.context(body.get("context")), client.service_domain)
    token, limit = authzen.page(body)
    nrn, bce = authzen.nrn_of(subject), authzen.bce_of(resource)
    query = ("action", client.client_id, domain, nrn, bce, limit)
    start = edge.tokens.cursor(query, token)
    names = edge.point.actions(nrn, bce, domain)[start:]
    after = start + limit if len(names) > limit else None
    return _search_response(edge, [{"name": name} for name in names[:limit]], query, after)


# -- metadata -----------------------------------------------------------------------------


@bp.get(METADATA_PATH)
def metadata() -> Response:
    base = _edge().base_url
    response = _json({"policy_decision_point": base} | {k: base + p for k, p in PATHS.items()})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get(OPENAPI_PATH)
def openapi_document() -> Response:
    """The OpenAPI document of the decision API (no authentication, like the metadata)."""
    response = Response(_openapi_body(_edge().base_url), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@functools.lru_cache(maxsize=4)
def _openapi_body(base_url: str) -> bytes:
    document = openapi.document(
        base_url, PATHS, METADATA_PATH, OPENAPI_PATH, max_body_bytes=MAX_BODY_BYTES
    )
    return _encode(document)
