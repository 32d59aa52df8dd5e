"""The routes of the decision API: each converts an HTTP request to a call and back.

Reading the messages is ``authz.authzen``'s and ``authz.api.messages``'; deciding is the
decision point's (``authz.decisions``). Every error, of any route, is answered by the handlers
here in the API's JSON format.
"""

from __future__ import annotations

import functools

import peewee
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from authz import authzen, openapi
from authz.api import messages
from authz.api.edge import (
    EDGE,
    METADATA_PATH,
    OPENAPI_PATH,
    PATHS,
    Edge,
    authenticate,
    decide,
)
from authz.authzen import AuthzenError

bp = Blueprint("authzen", __name__)


def current_edge() -> Edge:
    """This app's edge, its epoch tracker running in this process (every route calls it)."""
    edge = current_app.extensions[EDGE]
    edge.start_tracker()
    return edge


# -- errors -------------------------------------------------------------------------------


@bp.errorhandler(AuthzenError)
def _authzen_error(exc: AuthzenError) -> Response:
    return messages.error_response(exc)


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


# -- evaluations --------------------------------------------------------------------------


@bp.post(PATHS["access_evaluation_endpoint"])
def evaluation() -> Response:
    edge, environ = current_edge(), request.environ
    client = authenticate(edge, environ)
    return messages.decision_response(
        decide(edge, environ, client, authzen.evaluation(messages.body(environ)))
    )


@bp.post(PATHS["access_evaluations_endpoint"])
def evaluations() -> Response:
    edge, environ = current_edge(), request.environ
    client = authenticate(edge, environ)
    body = messages.body(environ)
    batch = authzen.evaluations(body)
    if batch is None:  # no evaluations array: the single evaluation's request and response
        return messages.decision_response(decide(edge, environ, client, authzen.evaluation(body)))
    questions, semantic = batch
    results = []
    for question in questions:
        try:
            result = decide(edge, environ, client, question)
        except AuthzenError as exc:
            result = authzen.error_result(exc)
        results.append(result)
        if authzen.stops_after(semantic, result["decision"]):
            break
    return messages.json_response({"evaluations": results})


# -- searches -----------------------------------------------------------------------------


def _search_response(edge: Edge, results: list[dict], query: tuple, after: int | None) -> Response:
    # "page" first, as the specification recommends, with "" as next_token on the last page.
    next_token = edge.tokens.issue(query, after)
    return messages.json_response(
        {"page": {"next_token": next_token, "count": len(results)}, "results": results}
    )


def _through(result: dict, firm: tuple[str, str] | None) -> dict:
    """A search result allowed through an intermediary names the firm in its ``properties``
    (``through``: the firm as an AuthZEN resource, with its name)."""
    if firm is not None:
        bce, name = firm
        result["properties"] = {
            "through": {"type": authzen.RESOURCE_TYPE, "id": bce, "properties": {"name": name}}
        }
    return result


@bp.post(PATHS["search_subject_endpoint"])
def search_subject() -> Response:
    """Who may do the action for the enterprise."""
    edge, environ = current_edge(), request.environ
    client = authenticate(edge, environ)
    body = messages.body(environ)
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
    results = [
        _through(
            {"type": authzen.SUBJECT_TYPE, "id": nrn},
            edge.point.through(nrn, permission, bce, domain, allowed=True),
        )
        for nrn in nrns
    ]
    return _search_response(edge, results, query, after)


@bp.post(PATHS["search_resource_endpoint"])
def search_resource() -> Response:
    """For which enterprises the person may do the action."""
    edge, environ = current_edge(), request.environ
    client = authenticate(edge, environ)
    body = messages.body(environ)
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
    results = [
        _through(
            {"type": authzen.RESOURCE_TYPE, "id": bce},
            edge.point.through(nrn, permission, bce, domain, allowed=True),
        )
        for bce in bces
    ]
    return _search_response(edge, results, query, after)


@bp.post(PATHS["search_action_endpoint"])
def search_action() -> Response:
    """What the person may do for the enterprise; paged by position in the list."""
    edge, environ = current_edge(), request.environ
    client = authenticate(edge, environ)
    body = messages.body(environ)
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
    edge = current_edge()
    base = edge.base_url
    response = messages.json_response(
        {"policy_decision_point": base}
        | {k: base + p for k, p in PATHS.items()}
        # An extension of the metadata: the hash of the policy deciding (docs/policies.md).
        | {"policy_version": edge.point.engine.version}
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get(OPENAPI_PATH)
def openapi_document() -> Response:
    """The OpenAPI document of the decision API (no authentication, like the metadata)."""
    response = Response(_openapi_body(current_edge().base_url), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@functools.lru_cache(maxsize=4)
def _openapi_body(base_url: str) -> bytes:
    document = openapi.document(
        base_url, PATHS, METADATA_PATH, OPENAPI_PATH, max_body_bytes=messages.MAX_BODY_BYTES
    )
    return messages.encode(document)
