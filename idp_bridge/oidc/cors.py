"""Cross-origin requests to the provider, for clients that run in a browser (the Fetch
Standard's CORS protocol, section 3.2; OAuth 2.0 for Browser-Based Applications, section 6.3).

- The public documents, discovery and the JWK Set, may be read from any origin
  (``Access-Control-Allow-Origin: *``): they hold nothing personal.
- The token, userinfo and revocation endpoints answer the web origins of the registered,
  enabled clients: the origins of their redirect URIs (a browser-based client is served from
  where its redirect URI is). Any other origin gets no CORS header, so the browser keeps the
  answer from the page. The client itself is still authenticated by the request (PKCE, a
  bearer token); the origin check only decides what a browser may show a page.
- Preflight requests (``OPTIONS``) are answered with the methods and the two headers these
  endpoints read (``Authorization``, ``Content-Type``).
- Credentials are never allowed: no cookie is read by these endpoints, and none may be sent.

A small layer rather than flask-cors: the allowed origins come from the client registry at
each request (a client disabled or registered a moment ago counts at once, on every node),
which flask-cors' static configuration cannot express.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from authz import db
from authz.clients import enabled_redirect_uris

PUBLIC = {"/.well-known/openid-configuration": "GET", "/jwks": "GET"}
FOR_CLIENTS = {"/token": "POST", "/userinfo": "GET, POST", "/revoke": "POST"}
ALLOWED_HEADERS = "Authorization, Content-Type"
# What a page may read of an answer besides the simple headers: the bearer token challenge.
EXPOSED_HEADERS = "WWW-Authenticate"
PREFLIGHT_MAX_AGE = "600"  # seconds a browser may keep a preflight's answer
_DEFAULT_PORTS = {"http": 80, "https": 443}


def init_app(app: Flask) -> None:
    app.after_request(_cors_headers)


def web_origin(uri: str) -> str | None:
    """The origin of an http(s) URI as a browser sends it in ``Origin`` (RFC 6454 section
    6.2: scheme and host in lower case, the default port left out); None for other URIs."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    origin = f"{scheme}://{parts.hostname.lower()}"
    return origin if port in (None, _DEFAULT_PORTS[scheme]) else f"{origin}:{port}"


def registered_origins() -> set[str]:
    """The web origins of the enabled clients' redirect URIs."""
    with db.connection():
        uris = enabled_redirect_uris()
    return {origin for origin in map(web_origin, uris) if origin is not None}


def _cors_headers(response: Response) -> Response:
    origin = request.headers.get("Origin")
    path = request.path
    if not origin or (path not in PUBLIC and path not in FOR_CLIENTS):
        return response
    if path in PUBLIC:
        response.headers["Access-Control-Allow-Origin"] = "*"
        methods = PUBLIC[path]
    else:
        response.vary.add("Origin")
        if origin not in registered_origins():
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        methods = FOR_CLIENTS[path]
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
