"""WSGI fast lane of the provider's hot endpoints: ``POST /introspect``, ``GET|POST /userinfo``,
``POST /token`` for ``client_credentials``, the JWK Set and the discovery document.

Relying parties call introspection and userinfo on every request they serve, and the token
endpoint for every login and refresh; Flask's request context, URL matching, hooks and
werkzeug's request and response objects cost about as much as the endpoint's own work.
:class:`FastProvider` answers well-formed requests to these endpoints below Flask's dispatch,
with the very same steps as the Flask routes (``introspection.authenticated_request`` and
``introspection.answer``, ``userinfo.claims_for``, ``token.client_credentials_answer`` and
``token.grant_answer``, ``Edge.provider.jwks``, ``provider.discovery``), the same client
authentication, the same database connection per request (``db.hold_connections``) and the
same JSON encoding. Whatever it does not answer itself goes to Flask untouched (the body put
back): every error found before anything is spent (a refused client, an unknown token, a
repeated parameter...), a query string, a content type other than a form, a browser's
``Origin`` at userinfo or the token endpoint, a request the request gate refused, a client
assertion. Those errors are therefore rendered by the routes' blueprints, and the steps run
before handing a request on have no side effect that running them again would repeat (HTTP
Basic only, no assertion is spent; no decision is logged; a client credentials token is
stored as the last step). The exception: a code or a refresh token is spent by its first use
(a replay revokes its grant), so once the client of such a grant is authenticated, the fast
lane answers every outcome itself, its errors as the route renders them (``OAuthError``'s
body, status and headers; ``edge.unexpected_error``). Headers added by outer layers (the
security headers) reach its answers as they reach Flask's.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.http import HTTP_STATUS_CODES

from authz import db
from authz.identifiers import CONTROL_CHARACTERS
from idp_bridge import metrics
from idp_bridge.oidc import cors, introspection, token, userinfo
from idp_bridge.oidc.edge import Edge, unexpected_error
from idp_bridge.oidc.errors import OAuthError, single_params
from idp_bridge.oidc.provider import PATHS, clients_remembered, discovery, remember_client

DISCOVERY_PATH = "/.well-known/openid-configuration"
INTROSPECTION_PATH = PATHS["introspection_endpoint"]
USERINFO_PATH = PATHS["userinfo_endpoint"]
JWKS_PATH = PATHS["jwks_uri"]
TOKEN_PATH = PATHS["token_endpoint"]
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16_384  # larger forms (none a well-formed request needs) go to Flask
PUBLIC_CACHE = "public, max-age=300"  # as idp_bridge.oidc.metadata

# The JSON body and its Cache-Control, for a 200; or with the status and headers of an error
# (as edge.oauth_json sends them). None: Flask answers.
Answer = tuple[bytes, str] | tuple[bytes, str, int, Mapping[str, str]] | None


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
            path not in (INTROSPECTION_PATH, USERINFO_PATH, JWKS_PATH, DISCOVERY_PATH, TOKEN_PATH)
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
        if path in (USERINFO_PATH, TOKEN_PATH) and "HTTP_ORIGIN" in environ:
            return self.wsgi_app(environ, start_response)  # CORS: the registered origins
        if method == "GET" and path == USERINFO_PATH and not _has_body(environ):
            return self._respond(environ, start_response, b"", self._userinfo)
        if method != "POST" or not _form_content_type(environ):
            return self.wsgi_app(environ, start_response)
        announced = environ.get("CONTENT_LENGTH") or "0"
        if not announced.isdigit() or int(announced) > MAX_FORM_BYTES:
            return self.wsgi_app(environ, start_response)
        data = environ["wsgi.input"].read(int(announced)) if int(announced) else b""
        answer = {
            INTROSPECTION_PATH: self._introspection,
            USERINFO_PATH: self._userinfo,
            TOKEN_PATH: self._token,
        }[path]
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
        body, cache_control, status, more = (*result, 200, {})[:4]
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *more.items(),
            ("Cache-Control", cache_control),
        ]
        if environ.get("HTTP_ORIGIN") and environ["PATH_INFO"] in cors.PUBLIC:
            headers.append(("Access-Control-Allow-Origin", "*"))  # as cors answers
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
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

    def _token(self, environ: dict, data: bytes) -> Answer:
        """The token endpoint with HTTP Basic: the route's steps (the form's parameters once
        each, the client authenticated, then :func:`token.client_credentials_answer` or
        :func:`token.grant_answer`) and its count of answers. Until the client is
        authenticated nothing is spent, and any refusal goes to the route; a code or a refresh
        token is spent by its first use (a replay revokes its grant), so from then on every
        outcome of an ``authorization_code`` or ``refresh_token`` grant is answered here, its
        errors with the route's rendering (:func:`edge.unexpected_error` for the unforeseen).
        Client assertions (each one single-use) are the route's."""
        form = _form(data)
        header = environ.get("HTTP_AUTHORIZATION", "")
        if (
            form is None
            or header[:6].lower() != "basic "
            or "client_assertion" in form
            or "client_assertion_type" in form
        ):
            return None
        params = single_params(form)  # a repeated parameter is the route's invalid_request
        grant_type = params.get("grant_type")
        if grant_type != "client_credentials" and grant_type not in token.SPENDING_GRANTS:
            return None
        client = self.edge.authenticator.authenticate(form, header)
        if grant_type == "client_credentials":
            answer = token.client_credentials_answer(self.edge, client)
            metrics.count_token(grant_type, True)
            return self._encode(answer), "no-store"
        params["client_id"] = client.client_id  # as the route: pyop checks the code's client
        try:
            with clients_remembered():
                remember_client(client)  # pyop looks the client up again
                answer = token.grant_answer(self.edge, client, params)
        except OAuthError as exc:
            error = exc
        except Exception as exc:  # after the point of no return: answered here, as the route
            error = unexpected_error(exc)
        else:
            metrics.count_token(grant_type, True)
            return self._encode(answer), "no-store"
        metrics.count_token(grant_type, False)
        return self._encode(error.to_dict()), "no-store", error.status, error.headers or {}

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
