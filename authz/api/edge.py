"""What the decision API's routes share, and the two steps every request takes.

:class:`Edge` holds the app's decision point, the caches of who is calling, the page tokens
and the bearer-token check the provider registers. :func:`authenticate` says who is calling
(``authz.client_auth``, the one client authentication of every endpoint, or a bearer token);
:func:`decide` turns an evaluation into a call of the decision point and its answer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import NamedTuple

from authz import authzen
from authz.api.caches import CLIENT_CACHE_SECONDS, ClientCache, CredentialCache
from authz.authzen import AuthzenError
from authz.client_auth import ClientAuthentication, ClientAuthError, Credentials
from authz.clients import RegisteredClient
from authz.decisions import DecisionPoint

EXTENSION = "monespace.decisions"  # the app's DecisionPoint
EDGE = "monespace.decisions.edge"

PATHS = {
    "access_evaluation_endpoint": "/access/v1/evaluation",
    "access_evaluations_endpoint": "/access/v1/evaluations",
    "search_subject_endpoint": "/access/v1/search/subject",
    "search_resource_endpoint": "/access/v1/search/resource",
    "search_action_endpoint": "/access/v1/search/action",
}
METADATA_PATH = "/.well-known/authzen-configuration"
OPENAPI_PATH = "/access/v1/openapi.json"  # the OpenAPI 3.1 document of these endpoints
OUR_PATHS = ("/access/v1/", METADATA_PATH)


class Edge:
    """What this app's routes share: its decision point, the client caches, page tokens."""

    def __init__(
        self,
        point: DecisionPoint,
        base_url: str,
        secret_key: str,
        *,
        cache_seconds: float = CLIENT_CACHE_SECONDS,
    ):
        self.point = point
        self.base_url = base_url
        self.tokens = authzen.PageTokens(secret_key)
        # Both expire together: a client disabled, or a secret rotated, is refused within
        # cache_seconds on every node.
        self.clients = ClientCache(cache_seconds)
        self.credentials = CredentialCache(cache_seconds)
        self.authentication = ClientAuthentication(self.clients.get)
        self.lock = threading.Lock()
        self.started_pid: int | None = None
        # The client id a bearer access token was issued to (client credentials grant), or
        # None; set by the OpenID provider (register_bearer_tokens), which issues them.
        self.bearer: Callable[[str], str | None] | None = None

    def start_tracker(self) -> None:
        # A server may fork its workers after create_app, and threads do not survive a fork:
        # each process starts its own epoch tracker, on its first request. Every request asks:
        # a started one is seen without the lock.
        if self.started_pid == os.getpid():
            return
        with self.lock:
            if self.started_pid != os.getpid():
                self.point.tracker.start()
                self.started_pid = os.getpid()


def authenticate(edge: Edge, environ: dict) -> RegisteredClient:
    """The enabled client whose credentials came with the request: an access token of the
    client credentials grant (``Bearer``), or its id and secret (HTTP Basic, checked as at
    the token endpoint)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    client = edge.credentials.get(authorization) if authorization else None
    if client is not None:
        return client
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and edge.bearer is not None:
        client_id = edge.bearer(credentials.strip())
        client = edge.clients.get(client_id) if client_id else None
        if client is None or not client.is_enabled:
            raise AuthzenError(401, "invalid_token", "unknown, expired or revoked access token")
        edge.credentials.remember(authorization, client)
        return client
    if scheme.lower() != "basic":
        raise AuthzenError(
            401, "invalid_client", "client credentials are required (Bearer token or HTTP Basic)"
        )
    try:
        client = edge.authentication.authenticate(Credentials(authorization=authorization))
    except ClientAuthError as exc:
        raise AuthzenError(401, "invalid_client", exc.description) from None
    edge.credentials.remember(authorization, client)
    return client


class Terms(NamedTuple):
    """What an evaluation asks, checked and normalized: the same for every caller, so the
    fast lane keeps them per request body (``FastEvaluation``)."""

    nrn: str
    permission: str
    bce: str
    asked_domain: str | None  # the context's service_domain, checked against the caller's
    explain: bool


def terms_of(question: authzen.Evaluation) -> Terms:
    """The evaluation's terms; an AuthzenError for an unknown subject, action or resource."""
    return Terms(
        authzen.nrn_of(question.subject),
        authzen.permission_of(question.action),
        authzen.bce_of(question.resource),
        question.context.get("service_domain"),
        question.context.get("explain", False),
    )


def decide(
    edge: Edge, environ: dict, client: RegisteredClient, question: authzen.Evaluation
) -> dict:
    """The answer to one evaluation: ``{"decision": bool}``, with the explanation when asked."""
    return decide_terms(edge, environ, client, terms_of(question))


def decide_terms(edge: Edge, environ: dict, client: RegisteredClient, terms: Terms) -> dict:
    """:func:`decide`, on the terms of the evaluation."""
    domain = authzen.domain_asked(terms.asked_domain, client.service_domain)
    decision = edge.point.evaluate(
        terms.nrn,
        terms.permission,
        terms.bce,
        domain,
        explain=terms.explain,
        client_id=client.client_id,
        request_id=environ.get("HTTP_X_REQUEST_ID"),
    )
    if terms.explain and decision.explanation is not None:
        return {
            "decision": decision.allowed,
            "context": {"explanation": decision.explanation.to_dict()},
        }
    return {"decision": decision.allowed}
