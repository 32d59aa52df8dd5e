"""idp_bridge/shared/transport.py: urllib against local sockets and a local server; the WSGI one."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask, request

from idp_bridge.shared.transport import MAX_RESPONSE_BYTES, urllib_transport, wsgi_transport


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * (MAX_RESPONSE_BYTES + 10))
        else:
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "invalid_request"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body + b"|" + self.headers["Content-Type"].encode())

    def log_message(self, *args):
        pass


@pytest.fixture(name="server")
def server_fixture():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_responses_come_back_whatever_their_status(server):
    send = urllib_transport(timeout=5, allow_http=True)
    answer = send("GET", f"{server}/anything", None)
    assert answer.status == 400 and answer.body == b'{"error": "invalid_request"}'
    posted = send("POST", f"{server}/token", {"code": "a b", "x": "é"})
    assert posted.body == b"code=a+b&x=%C3%A9|application/x-www-form-urlencoded"


def test_redirects_are_not_followed(server):
    answer = urllib_transport(timeout=5, allow_http=True)("GET", f"{server}/redirect", None)
    assert answer.status == 302


def test_a_huge_response_is_refused(server):
    with pytest.raises(ConnectionError, match="larger than"):
        urllib_transport(timeout=5, allow_http=True)("GET", f"{server}/huge", None)


def test_plain_http_is_refused_unless_allowed(server):
    with pytest.raises(ConnectionError, match="refusing"):
        urllib_transport(timeout=5)("GET", f"{server}/anything", None)


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError):
        urllib_transport(timeout=5, allow_http=True)("GET", f"http://127.0.0.1:{port}/", None)


def test_a_silent_server_is_a_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections complete, nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(TimeoutError):
            urllib_transport(timeout=0.3, allow_http=True)("GET", url, None)


def test_the_wsgi_transport_reaches_the_app_under_its_base_url_only():
    app = Flask(__name__)

    @app.post("/sim/token")
    def token():
        return {"got": request.form["code"], "host": request.host}

    send = wsgi_transport(app, "https://monespace.test/sim/")
    answer = send("POST", "https://monespace.test/sim/token", {"code": "c"})
    assert answer.status == 200
    assert json.loads(answer.body) == {"got": "c", "host": "monespace.test"}
    assert send("GET", "https://monespace.test/sim/nothing", None).status == 404
    for elsewhere in ("https://monespace.test/simulated", "https://evil.example/sim/token"):
        with pytest.raises(ConnectionError):
            send("GET", elsewhere, None)
