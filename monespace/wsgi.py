"""WSGI middleware around the Flask app: what every request and every response goes through.

:class:`RequestGate` looks at each request before any other layer reads it: a body larger than
the configured limit, a body that cannot be read (a malformed chunked encoding) and control
characters in the path, the query or a header are refused there, once for every endpoint.
:class:`DefaultHeaders` adds the headers every response carries: a list append per response,
where Flask's ``after_request`` hooks build and search werkzeug ``Headers``; and they reach
every response, including those that no Flask hook sees (an error in a hook, a response from
another WSGI layer). :class:`Observed`, outside them all, counts and times every request and
notes it for the log lines written while it is answered.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable, Iterable
from time import perf_counter, thread_time
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from authz.identifiers import CONTROL_CHARACTERS
from monespace import logs

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class DefaultHeaders:
    """Adds each of ``headers`` to every response that does not set it itself."""

    def __init__(self, app: WsgiApp, headers: Iterable[tuple[str, str]]):
        self.app = app
        self.headers = tuple(headers)
        self.names = tuple(name.lower() for name, _value in self.headers)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = [name.lower() for name, _value in headers]
            for name, header in zip(self.names, self.headers, strict=True):
                if name not in present:
                    headers.append(header)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


# environ key: the CPU seconds of the requests answered within this one (the demo's simulators,
# reached in process): theirs, not its own.
INNER_CPU = "monespace.inner_cpu"


class Observed:
    """Outermost layer: every request counted and timed (``monespace.metrics``), whichever
    layer answers it (Flask, or a fast lane below its dispatch: each is counted without having
    to remember it), and the request noted for the log lines written while it is answered
    (``monespace.logs``: their request id). A request's CPU time is its thread's, less that of
    the requests it made to the app in process (each counted once, by the endpoint that spent
    it): the request under way when one starts is its caller."""

    def __init__(self, app: WsgiApp, requests: Any):
        self.app = app
        self.requests = requests

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started, cpu_started = perf_counter(), thread_time()
        caller = logs.current_environ.get()
        environ[INNER_CPU] = 0.0
        token = logs.current_environ.set(environ)
        status = "500"  # unless the app starts a response

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            try:
                cpu = thread_time() - cpu_started
                if caller is not None:
                    caller[INNER_CPU] = caller.get(INNER_CPU, 0.0) + cpu
                own = max(0.0, cpu - environ[INNER_CPU])  # a counter only goes up
                self.requests.observe(environ, status, perf_counter() - started, own)
            finally:
                logs.current_environ.reset(token)


# -- the request gate -----------------------------------------------------------------------

REFUSAL = "monespace.refusal"  # environ key: the HTTPException the app must answer
DEFAULT_MAX_BODY = 1 << 20
_READ_SIZE = 64 * 1024
_CONTROL_BYTES = re.compile(CONTROL_CHARACTERS.pattern.encode())
# RFC 9110 section 5.5: a field value holds no control character but horizontal tab.
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class InvalidCharacters(BadRequest):
    """A control character where none belongs. The name gives the error code of the JSON
    answers (``invalid_request``); the description is for developers, the same for every
    request, so the HTML error page shows its own words instead."""

    name = "Invalid Request"
    description = (
        "the request holds a control character (U+0000 to U+001F but tab, CR and LF, or U+007F) "
        "in its path, query, headers or form fields"
    )


class UnreadableBody(BadRequest):
    name = "Invalid Request"
    description = "the request body could not be read (malformed chunked encoding)"


class BodyTooLarge(RequestEntityTooLarge):
    name = "Request Too Large"
    description = "the request body exceeds the size this service accepts"


class RequestGate:
    """Refuses, before the app reads anything, a request no endpoint could use.

    - a body over ``max_body`` bytes: refused on its announced ``Content-Length`` without
      reading it, and a body of unannounced length (chunked) read up to the limit, then
      handed on with its length (so no layer behind reads a chunked stream itself);
    - a body that cannot be read (a malformed chunk size): 400, not the server's exception;
    - control characters (:data:`authz.identifiers.CONTROL_CHARACTERS`) in the path or the
      query, percent-decoded; in a header (RFC 9110 section 5.5); in HTTP Basic credentials,
      decoded and percent-decoded as RFC 6749 section 2.3.1 encodes them (RFC 7617 section 2
      forbids control characters there).

    A refused request goes on emptied (no body, no query, no credentials) with the refusal in
    ``environ[REFUSAL]``: the app raises it first thing (``create_app``), so each endpoint
    answers it in its protocol's format (OAuth JSON, AuthZEN JSON, a page). Form fields are
    checked there too, once werkzeug has parsed them (urlencoded or multipart alike).
    """

    def __init__(self, app: WsgiApp, max_body: int = DEFAULT_MAX_BODY, retry_after: int = 5):
        self.app = app
        self.max_body = max_body
        self.retry_after = ("Retry-After", str(retry_after))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            self._check_body(environ)
            _check_target(environ)
        except HTTPException as refusal:
            _empty(environ, refusal)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # Every 503 (the database unreachable, its connections all in use) says when to
            # come back (RFC 9110 section 10.2.3), whichever layer answered it.
            if status.startswith("503") and all(k.lower() != "retry-after" for k, _ in headers):
                headers.append(self.retry_after)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

    def _check_body(self, environ: dict) -> None:
        announced = environ.get("CONTENT_LENGTH", "")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if announced and not chunked:
            if not announced.isdigit():
                raise UnreadableBody()
            if int(announced) > self.max_body:
                raise BodyTooLarge()
            return
        if not (chunked or environ.get("wsgi.input_terminated")):
            return  # no length and no chunks: no body (RFC 9112 section 6.3)
        data = self._read_unannounced(environ["wsgi.input"])
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)

    def _read_unannounced(self, stream: Any) -> bytes:
        data = bytearray()
        try:
            while len(data) <= self.max_body:
                chunk = stream.read(_READ_SIZE)
                if not chunk:
                    return bytes(data)
                data += chunk
        except Exception as exc:  # each server raises its own (OSError, granian's errors)
            raise UnreadableBody() from exc
        raise BodyTooLarge()


def _check_target(environ: dict) -> None:
    # A printable string holds no control character: str.isprintable() settles nearly every
    # value at C speed, and only the others (a tab, a non-ASCII character) meet the pattern.
    # PATH_INFO is already percent-decoded (bytes as latin-1); the query is not.
    path = environ.get("PATH_INFO", "")
    if not path.isprintable() and CONTROL_CHARACTERS.search(path):
        raise InvalidCharacters()
    query = environ.get("QUERY_STRING", "")
    if query and _has_control_bytes(query):
        raise InvalidCharacters()
    for key, value in environ.items():
        if (
            (key.startswith("HTTP_") or key == "CONTENT_TYPE")
            and not value.isprintable()
            and _HEADER_CONTROL.search(value)
        ):
            raise InvalidCharacters()
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return  # not Basic credentials at all: the endpoint refuses them in its words
        if _has_control_bytes(decoded):
            raise InvalidCharacters()


def _has_control_bytes(value: str | bytes) -> bool:
    """Control characters in an application/x-www-form-urlencoded string, once decoded."""
    raw = value.encode("latin-1", "replace") if isinstance(value, str) else value
    if b"%" in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return _CONTROL_BYTES.search(raw) is not None


def _empty(environ: dict, refusal: HTTPException) -> None:
    environ[REFUSAL] = refusal
    environ["wsgi.input"] = io.BytesIO()
    environ["CONTENT_LENGTH"] = "0"
    environ["QUERY_STRING"] = ""
    for key in ("HTTP_TRANSFER_ENCODING", "HTTP_AUTHORIZATION", "wsgi.input_terminated"):
        environ.pop(key, None)
    for key in [k for k, v in environ.items() if k.startswith("HTTP_") and isinstance(v, str)]:
        if _HEADER_CONTROL.search(environ[key]):
            del environ[key]


def check_form(form: Any) -> None:
    """Raise :class:`InvalidCharacters` if a form field's name or value holds one."""
    for key, value in form.items(multi=True):
        if CONTROL_CHARACTERS.search(key) or CONTROL_CHARACTERS.search(value):
            raise InvalidCharacters()
