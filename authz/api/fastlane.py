"""WSGI layers of the decision API: the fast lane of ``POST /access/v1/evaluation`` and the
echo of ``X-Request-ID``."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from typing import Any

from cachetools import LRUCache

from authz import authzen, db
from authz.api.edge import OUR_PATHS, PATHS, Edge, Terms, authenticate, decide_terms, terms_of
from authz.api.messages import (
    DECISION_BODIES,
    MAX_BODY_BYTES,
    check_json_content_type,
    encode,
    json_object,
)

_EVALUATION = PATHS["access_evaluation_endpoint"]
# The terms of the evaluations asked lately, by request body: a relying party asks the same
# few questions again and again, and parsing and checking them cost as much as a cached
# decision. Small bodies only, at most TERMS_CACHE_SIZE of them (under 1 MB in all).
TERMS_CACHE_SIZE = 1024
TERMS_CACHE_BODY = 1024


class FastEvaluation:
    """WSGI: ``POST /access/v1/evaluation`` answered without Flask's request dispatch.

    Relying parties call this endpoint on their hot path, and Flask's request context, URL
    matching and hooks cost several times a cached decision. This layer runs the very same
    steps as the Flask route (``authenticate``, ``json_object``, ``authzen.evaluation``,
    ``decide``) on well-formed requests; the terms of a small body it has read lately come
    from a bounded cache. Whatever it does not answer itself (an error of any kind, a body
    without a length or too large) goes to the Flask route with the body put back, so every
    error is answered in one place, the Flask route, in the API's format. Headers added by
    outer layers (security headers, request id) reach its answers as they reach Flask's.
    """

    def __init__(self, wsgi_app: Callable, edge: Edge):
        self.wsgi_app = wsgi_app
        self.edge = edge
        self._terms: LRUCache = LRUCache(TERMS_CACHE_SIZE)
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        announced = environ.get("CONTENT_LENGTH", "")
        if (
            environ.get("PATH_INFO") != _EVALUATION
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
        edge.start_tracker()
        client = authenticate(edge, environ)
        check_json_content_type(environ)
        result = decide_terms(edge, environ, client, self._terms_of(data))
        if len(result) == 1:
            return DECISION_BODIES[result["decision"]]
        return encode(result)

    def _terms_of(self, data: bytes) -> Terms:
        with self._lock:
            terms = self._terms.get(data)
        if terms is None:
            terms = terms_of(authzen.evaluation(json_object(data)))
            if len(data) <= TERMS_CACHE_BODY:
                with self._lock:
                    self._terms[data] = terms
        return terms


class EchoRequestId:
    """WSGI middleware: ``X-Request-ID`` sent back on every response under the API's paths,
    including the app's own 404 and 405 (a list append, where an ``after_request`` hook would
    build werkzeug ``Headers`` on the hot path)."""

    def __init__(self, wsgi_app: Callable):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        value = environ.get("HTTP_X_REQUEST_ID")
        if value is None or not environ.get("PATH_INFO", "").startswith(OUR_PATHS):
            return self.wsgi_app(environ, start_response)

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            headers.append(("X-Request-ID", value))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)
