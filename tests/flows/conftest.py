"""Fixtures of the flows: the whole app served over real HTTP on 127.0.0.1.

``live_app``: the demo app (demo data seeded, the simulators mounted) on the test's database,
served by werkzeug in a thread on a free port, its ``base_url`` the address clients use
(``http://127.0.0.1:PORT``). The socket is bound before the app is built, so the port is known
without the race of probing for a free one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.serving import make_server


@dataclass
class LiveApp:
    app: Flask
    url: str  # the base_url, e.g. http://127.0.0.1:54321


class _Deferred:
    """A WSGI app set after the server is bound: the app's base_url needs the server's port."""

    app: Flask | None = None

    def __call__(self, environ, start_response):
        assert self.app is not None, "the server was called before the app was built"
        return self.app(environ, start_response)


@pytest.fixture
def live_app(make_app) -> Iterator[LiveApp]:
    deferred = _Deferred()
    server = make_server("127.0.0.1", 0, deferred, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    deferred.app = make_app(base_url=url)
    # A short poll: shutdown() waits for the loop to notice, half a second by default.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-app", daemon=True
    )
    thread.start()
    try:
        yield LiveApp(deferred.app, url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
