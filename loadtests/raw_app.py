"""The floor the decision API is compared with: a raw WSGI callable answering a constant.

It answers ``{"decision": true}`` to every request without reading the request, routing,
authenticating or deciding anything, and without Flask: the decision API's cached answers take
a fast lane that skips Flask too, so this is what the server and HTTP cost on their own under
the same settings. (:mod:`loadtests.bare_app`, the same answer through Flask, is the floor of
the Flask breakdown in :mod:`loadtests.breakdown`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

DECISION = b'{"decision":true}'
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(DECISION)))]


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", list(_HEADERS))
    return [DECISION]
