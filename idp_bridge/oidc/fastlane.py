"""WSGI fast lane of the provider's hot endpoints: ``POST /introspect``, ``GET|POST /userinfo``,
the JWK Set and the discovery document.

Relying parties call introspection and userinfo on every request they serve, and Flask's
request context, URL matching, hooks and werkzeug's request and response objects cost about
as much as the endpoint's own work. :class:`FastProvider` answers well-formed requests to these
endpoints below Flask's dispatch, with the very same steps as the Flask routes
(``introspection.authenticated_request`` and ``introspection.answer``, ``userinfo.claims_for``,
``Edge.provider.jwks``, ``provider.discovery``), the same client authentication, the same
database connection per request (``db.hold_connections``) and the same JSON encoding. Whatever
it does not answer itself goes to Flask untouched (the body put back): every error (a refused
client, an unknown token, a repeated parameter...), a query string, a content type other than
a form, a browser's ``Origin`` at userinfo, a request the request gate refused. Errors are
therefore rendered in one place, the routes' blueprints; the fast lane's steps have no side
effect that running them again would repeat (HTTP Basic only, no assertion is spent; no
decision is logged). Headers added by outer layers (the security headers) reach its answers as
they reach Flask's.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.datastructures import ImmutableMultiDict

from authz import db
from authz.identifiers import CONTROL_CHARACTERS
from idp_bridge.oidc import cors, introspection, userinfo
from idp_bridge.oidc.edge import Edge
from idp_bridge.oidc.errors import single_params
from idp_bridge.oidc.provider import PATHS, discovery

DISCOVERY_PATH = "/.well-known/openid-configuration"
INTROSPECTION_PATH = PATHS["introspection_endpoint"]
USERINFO_PATH = PATHS["userinfo_endpoint"]
JWKS_PATH = PATHS["jwks_uri"]
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384  # larger forms (none a well-formed request needs) go to Flask
PUBLIC_CACHE = "public, max-age=300"  # as idp_bridge.oidc.metadata

Answer = tuple[bytes, str] | None  # the JSON body and its Cache-Control; None: Flask answers


class FastProvider:
    """WSGI: the provider's hot endpoints answered without Flask's request dispatch.

    ``app`` is the Flask app whose ``wsgi_app`` this wraps: its JSON provider encodes the
    bodies as ``jsonify`` does. ``refused`` is the environ key under which the request gate
    leaves its refusal (such a request goes to Flask, which answers it in the endpoint's
    format).
    ``answering`` off sends every request to Flask (the tests compare both answers).
    """

    def __init__(self, app: Flask, edge: Edge, refused: str):
        self.wsgi_app = app.wsgi_app
        self.app = app
        self.edge = edge
        self.refused = refused
        self.answering = True
        self._discovery: bytes | None = None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if (
            path not in (INTROSPECTION_PATH, USERINFO_PATH, JWKS_PATH, DISCOVERY_PATH)
            or not self.answering
            or environ.get("QUERY_STRING")
            or self.refused in environ
        ):
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if path in (DISCOVERY_PATH, JWKS_PATH):
            if method != "GET" or _has_body(environ):
                return self.wsgi_app(environ, start_response)
            return self._respond(environ, start_response, b"", self._public_document)
        if path == USERINFO_PATH and "HTTP_ORIGIN" in environ:
            return self.wsgi_app(environ, start_response)  # CORS: the registered origins
        if method == "GET" and path == USERINFO_PATH and not _has_body(environ):
            return self._respond(environ, start_response, b"", self._userinfo)
        if method != "POST" or not _form_content_type(environ):
            return self.wsgi_app(environ, start_response)
        announced = environ.get("CONTENT_LENGTH") or "0"
        if not announced.isdigit() or int(announced) > MAX_FORM_BYTES:
            return self.wsgi_app(environ, start_response)
        data = environ["wsgi.input"].read(int(announced)) if int(announced) else b""
        answer = self._introspection if path == INTROSPECTION_PATH else self._userinfo
        return self._respond(environ, start_response, data, answer)

    def _respond(
        self,
        environ: dict,
        start_response: Callable,
        data: bytes,
        answer: Callable[[dict, bytes], Answer],
    ) -> Iterable[bytes]:
        db.hold_connections()  # as the app does for a request: one pool connection at most
        try:
            result = answer(environ, data)
        except Exception:  # answered (and logged if unexpected) by the route below
            result = None
        finally:
            db.release_connections()
            if not db.database.is_closed():
                db.database.close()
        if result is None:
            environ["wsgi.input"] = io.BytesIO(data)
            return self.wsgi_app(environ, start_response)
        body, cache_control = result
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache_control),
        ]
        if environ.get("HTTP_ORIGIN") and environ["PATH_INFO"] in cors.PUBLIC:
            headers.append(("Access-Control-Allow-Origin", "*"))  # as cors answers
        start_response("200 OK", headers)
        return [body]

    # -- the endpoints ---------------------------------------------------------------------

    def _public_document(self, environ: dict, _data: bytes) -> Answer:
        if environ["PATH_INFO"] == JWKS_PATH:
            return self._encode(self.edge.provider.jwks()), PUBLIC_CACHE
        if self._discovery is None:  # the issuer never changes in a running app
            self._discovery = self._encode(discovery(self.edge.issuer))
        return self._discovery, PUBLIC_CACHE

    def _introspection(self, environ: dict, data: bytes) -> Answer:
        form = _form(data)
        if form is None or not environ.get("HTTP_AUTHORIZATION", "").strip():
            return None  # only HTTP Basic here: nothing else is spent by a try
        headers = {"Authorization": environ["HTTP_AUTHORIZATION"]}
        client, token_value = introspection.authenticated_request(self.edge, form, headers)
        return self._encode(introspection.answer(self.edge, client, token_value)), "no-store"

    def _userinfo(self, environ: dict, data: bytes) -> Answer:
        form = _form(data)
        header = environ.get("HTTP_AUTHORIZATION")
        if form is None or header is None or "access_token" in form:
            return None
        single_params(form)  # a repeated parameter is the route's invalid_request
        answer = userinfo.claims_for(self.edge, userinfo.bearer_token(header, {}))
        return self._encode(answer), "no-store"

    def _encode(self, value: Any) -> bytes:
        """``jsonify``'s body: the app's JSON provider, compact unless in debug mode."""
        provider = self.app.json
        if (provider.compact is None and self.app.debug) or provider.compact is False:
            text = provider.dumps(value, indent=2)
        else:
            text = provider.dumps(value, separators=(",", ":"))
        return f"{text}\n".encode()


def _has_body(environ: dict) -> bool:
    return (environ.get("CONTENT_LENGTH") or "0") != "0" or "HTTP_TRANSFER_ENCODING" in environ


def _form_content_type(environ: dict) -> bool:
    """A form body (a charset parameter other than UTF-8's is for the route), or no body."""
    if "CONTENT_TYPE" not in environ:
        return not _has_body(environ)
    mimetype, _, parameters = environ["CONTENT_TYPE"].partition(";")
    charset = parameters.replace(" ", "").lower()
    return mimetype.strip().lower() == FORM and charset in ("", "charset=utf-8")


def _form(data: bytes) -> Mapping[str, str] | None:
    """The form as werkzeug parses it, or None for one the routes must answer: not UTF-8, a
    control character in a name or a value (the app's request check refuses it). A plain dict
    when each name comes once (a missing name is then a dict's miss, not werkzeug's
    ``BadRequestKeyError`` built and caught); a repeated name keeps the multi-dict, whose
    repetition ``single_params`` refuses."""
    try:
        items = parse_qsl(data.decode(), keep_blank_values=True, errors="werkzeug.url_quote")
    except (UnicodeDecodeError, ValueError):
        return None
    for name, value in items:
        if CONTROL_CHARACTERS.search(name) or CONTROL_CHARACTERS.search(value):
            return None
    if len({name for name, _value in items}) == len(items):
        return dict(items)
    return ImmutableMultiDict(items)
