"""WSGI middleware around the Flask app: the headers every response carries.

Headers added here cost a list append per response, where Flask's ``after_request`` hooks
build and search werkzeug ``Headers``; and they reach every response, including those that no
Flask hook sees (an error in a hook, a response from another WSGI layer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

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
