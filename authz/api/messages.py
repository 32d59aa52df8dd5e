"""The HTTPS JSON binding of the decision API: reading requests, writing answers and errors.

Requests must be ``application/json`` objects of at most :data:`MAX_BODY_BYTES`; answers are
JSON, errors included (``{"error": code, "error_description": text}``). Headers are read from
the WSGI environ: werkzeug's ``Headers`` cost more on this hot path.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from authz import authzen
from authz.authzen import AuthzenError

MAX_BODY_BYTES = 1 << 20
REALM = 'Basic realm="monespace"'

# The two answers most requests get, encoded once.
DECISION_BODIES = {True: b'{"decision":true}', False: b'{"decision":false}'}


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(encode(payload), status=status, mimetype="application/json")


def decision_response(result: dict) -> Response:
    if len(result) == 1:  # {"decision": bool}, the usual answer
        return Response(DECISION_BODIES[result["decision"]], mimetype="application/json")
    return json_response(result)


def error_response(exc: AuthzenError) -> Response:
    response = json_response({"error": exc.code, "error_description": exc.description}, exc.status)
    if exc.status == 401:
        # RFC 6750 section 3 for a refused bearer token; HTTP Basic's challenge otherwise.
        bearer = exc.code == "invalid_token"
        response.headers["WWW-Authenticate"] = (
            'Bearer realm="monespace", error="invalid_token"' if bearer else REALM
        )
    return response


def body(environ: dict) -> dict:
    """The request's JSON object (inside a Flask request)."""
    check_json_content_type(environ)
    announced = environ.get("CONTENT_LENGTH", "")
    if announced.isdigit():
        # The usual case, read straight from the server's input (werkzeug's stream wrapper
        # costs more than the rest of reading the request).
        length = int(announced)
        if length > MAX_BODY_BYTES:
            raise too_large()
        data = environ["wsgi.input"].read(length) if length else b""
    else:  # no length (chunked): werkzeug knows what may be read
        data = request.stream.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            raise too_large()
    return json_object(data)


def check_json_content_type(environ: dict) -> None:
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0]
    if mimetype.strip().lower() != "application/json":
        raise authzen.bad_request(
            "invalid_request", "send the request as JSON (Content-Type: application/json)"
        )


def json_object(data: bytes) -> dict:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise authzen.bad_request("invalid_request", "the body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise authzen.bad_request("invalid_request", "the body must be a JSON object")
    return parsed


def too_large() -> AuthzenError:
    return AuthzenError(413, "request_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
