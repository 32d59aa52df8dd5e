"""monespace/wsgi.py: the request gate (body size, unreadable bodies, control characters) and
the Retry-After of every 503, through the whole app on both databases."""

from __future__ import annotations

import base64
import gc
import io
import json
import re
import socket
import threading
import time

import pytest
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from authz import db
from monespace import demo, logs
from monespace.wsgi import Observed
from tests.idp_bridge.web_client import (
    Browser,
)

OAUTH_PATHS = ("/token", "/introspect", "/revoke", "/userinfo")
DECISION_PATHS = ("/access/v1/evaluation", "/access/v1/evaluations")
JSON_PATHS = ("/healthz", "/readyz", "/jwks")
NUL = "a\x00b"
FORM = {
    name: NUL
    for name in (
        "client_id",
        "client_secret",
        "grant_type",
        "code",
        "token",
        "redirect_uri",
        "refresh_token",
        "csrf_token",
        "SAMLResponse",
        "state",
        "id_token_hint",
        "bce",
        "email",
        "nrn",
        "message",
        "role",
    )
}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def routes(app, value: str):
    """(method, path, routed) of every rule of the app, its variables filled with ``value``
    (numbers with 1); a NUL is appended to a path without variables, which then matches no
    rule (``routed`` is false)."""

    def fill(match: re.Match) -> str:
        return "1" if match.group(1) in ("int", "float") else value

    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", fill, rule.rule)
        routed = value != NUL or NUL in path
        if not routed:
            path += NUL
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, routed


def assert_answered_in_format(path: str, response) -> None:
    if path in OAUTH_PATHS:
        assert response.get_json()["error"] == "invalid_request", path
    elif path.startswith("/access/v1/"):
        assert response.get_json()["error"] in ("invalid_request", "request_too_large"), path
    elif path in JSON_PATHS or path.startswith("/.well-known/"):
        assert response.mimetype == "application/json", path
    elif path.startswith("/simulators/"):  # the simulated upstreams have machine endpoints too
        assert response.mimetype in ("text/html", "application/json"), path
    else:
        assert response.mimetype == "text/html", path


# -- control characters ---------------------------------------------------------------------

NUL_REQUESTS = {
    "path": lambda path: (path, {}),
    "query": lambda path: (path, {"query_string": {"x": NUL, "client_id": NUL, "next": NUL}}),
    "form": lambda path: (path, {"data": FORM}),
    "multipart form": lambda path: (path, {"data": FORM, "content_type": "multipart/form-data"}),
    "basic credentials": lambda path: (path, {"headers": {"Authorization": basic(NUL, "s")}}),
    "percent-encoded basic credentials": lambda path: (
        path,
        {"headers": {"Authorization": basic("demo%00rp", "s")}},
    ),
    "header": lambda path: (path, {"headers": {"X-Request-ID": NUL}}),
}


@pytest.mark.parametrize("where", list(NUL_REQUESTS))
def test_a_nul_anywhere_in_a_request_to_any_route_is_refused_in_the_endpoints_format(
    app, where, caplog
):
    browser = Browser(app)
    browser.login("eid", "person:marc")
    value = NUL if where == "path" else "x"
    failures = []
    for method, path, routed in routes(app, value):
        target, options = NUL_REQUESTS[where](path)
        for client in (app.test_client(), browser.client):
            response = client.open(target, method=method, **options)
            if response.status_code != 400:
                failures.append((method, path, response.status_code))
            elif routed:
                assert_answered_in_format(path, response)
    assert not failures
    assert "Traceback" not in caplog.text


def test_tab_cr_and_lf_pass_the_gate_in_typed_text(app):
    alice = Browser(app)
    alice.login("eid", "person:alice")
    page = alice.get("/entreprises/ajouter").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)[1]
    form = {"csrf_token": token, "bce": "0123456749", "role": "agent", "message": "A\tB\r\nC"}
    response = alice.post("/entreprises/ajouter", data=form)
    assert response.status_code in (200, 303)


def test_the_decision_api_refuses_a_nul_client_id_without_asking_the_database(app, monkeypatch):
    def no_database(*args, **kwargs):
        raise AssertionError("the database was asked")

    monkeypatch.setattr(db.database.obj, "execute_sql", no_database)
    response = app.test_client().post(
        "/access/v1/evaluation",
        json={},
        headers={"Authorization": basic(NUL, demo.DEMO_CLIENT_SECRET)},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


# -- body size ------------------------------------------------------------------------------


class Endless(io.RawIOBase):
    """A body that never ends, counting what was read of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"a" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def call(app, path: str, stream, headers: dict, content_length: int | None):
    environ = EnvironBuilder(path=path, method="POST", headers=headers).get_environ()
    environ["wsgi.input"] = stream
    environ["CONTENT_TYPE"] = headers.get("Content-Type", "application/x-www-form-urlencoded")
    if content_length is None:  # chunked: the server ends the stream, no length known
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    app_iter, status, response_headers = run_wsgi_app(app, environ)
    return int(status.split()[0]), response_headers, b"".join(app_iter)


BODY_PATHS = [
    ("/token", {}),
    ("/login/eid/acs", {}),
    ("/access/v1/evaluation", {"Content-Type": "application/json"}),
    ("/entreprises/ajouter", {}),
]


@pytest.mark.parametrize(("path", "headers"), BODY_PATHS)
@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_without_being_read(make_app, path, headers, announced):
    app = make_app(max_request_body=4096)
    stream = Endless()
    status, _headers, body = call(
        app, path, stream, {"Accept": "*/*", **headers}, 100 << 20 if announced else None
    )
    assert status == 413
    # Announced: not a byte read. Chunked: read up to the limit, and no further.
    assert stream.read_bytes == 0 if announced else stream.read_bytes <= 4096 + 64 * 1024
    if path == "/token":
        assert json.loads(body)["error"] == "invalid_request"
    elif path.startswith("/access/v1/"):
        assert json.loads(body)["error"] == "request_too_large"
    else:
        assert "La demande dépasse la taille permise." in body.decode()


def test_a_body_within_the_limit_is_read_whole(make_app):
    app = make_app(max_request_body=4096)
    client = app.test_client()
    within = {"grant_type": "client_credentials", "pad": "x" * 3000}
    response = client.post("/token", data=within)
    assert response.status_code == 401  # read and answered: no client credentials
    response = client.post("/token", data={**within, "pad": "x" * 5000})
    assert response.status_code == 413


class Broken(io.RawIOBase):
    """A chunked body whose chunk size the server cannot read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise OSError("Invalid chunk header")


@pytest.mark.parametrize(("path", "headers"), BODY_PATHS)
def test_an_unreadable_body_is_400(app, path, headers):
    status, _headers, body = call(app, path, Broken(), {"Accept": "*/*", **headers}, None)
    assert status == 400
    if path.startswith("/access/v1/"):
        assert json.loads(body)["error"] == "invalid_request"


@pytest.fixture
def served(app):
    """The app behind werkzeug's HTTP server, which decodes chunked bodies itself."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join(5)
    server.server_close()


@pytest.mark.parametrize("path", ["/access/v1/evaluation", "/token", "/login/eid/acs"])
def test_a_malformed_chunk_size_over_http_is_400(served, path):
    request = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Authorization: {basic(demo.DEMO_CLIENT_ID, demo.DEMO_CLIENT_SECRET)}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", served), timeout=10) as connection:
        connection.sendall(request.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]


# -- 503 ------------------------------------------------------------------------------------


def test_every_503_says_when_to_come_back(app):
    browser = Browser(app)
    browser.login("eid", "person:marc")
    db.database.close()
    db.connect("postgresql://nobody@127.0.0.1:9/nothing")  # nothing listens there
    for response in (
        browser.get("/readyz"),
        browser.post(
            "/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic(demo.DEMO_CLIENT_ID, "x")},
        ),
        browser.get("/entreprises"),
        browser.post("/access/v1/evaluation", json={}, headers={"Authorization": basic("a", "b")}),
    ):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"


# -- Observed: a request's CPU time -------------------------------------------------------------


def _burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


class _Recorded:
    def __init__(self):
        self.seen: list[tuple[str, str, float, float]] = []

    def observe(self, environ, status, seconds, cpu_seconds):
        self.seen.append((environ["PATH_INFO"], status[:3], seconds, cpu_seconds))


def test_a_request_is_charged_its_own_cpu_time_not_that_of_requests_it_makes_in_process():
    recorded = _Recorded()

    def inner(environ, start_response):
        _burn(0.05)
        start_response("200 OK", [])
        return [b"inner"]

    def outer(environ, start_response):
        if environ["PATH_INFO"] == "/inner":
            return inner(environ, start_response)
        _burn(0.03)
        body = b"".join(run_wsgi_app(app, EnvironBuilder(path="/inner").get_environ())[0])
        time.sleep(0.05)  # waiting spends no CPU time
        start_response("200 OK", [])
        return [body]

    app = Observed(outer, recorded)
    gc.disable()  # a collection's CPU time, landing anywhere, would blur the bounds below
    try:
        body, status, _headers = run_wsgi_app(app, EnvironBuilder(path="/outer").get_environ())
    finally:
        gc.enable()
    assert b"".join(body) == b"inner" and status == "200 OK"
    (inner_path, _, _, inner_cpu), (outer_path, _, outer_seconds, outer_cpu) = recorded.seen
    assert (inner_path, outer_path) == ("/inner", "/outer")
    assert 0.05 <= inner_cpu < 0.07
    assert 0.03 <= outer_cpu < 0.045  # its own, without the inner request's
    assert outer_seconds >= 0.13  # its time from arrival to response includes both
    assert logs.current_environ.get() is None  # the next request on this thread is an outer one


def test_a_request_that_fails_is_charged_its_cpu_time_and_counted_500():
    recorded = _Recorded()

    def failing(environ, start_response):
        _burn(0.02)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_wsgi_app(Observed(failing, recorded), EnvironBuilder(path="/x").get_environ())
    ((path, status, _seconds, cpu),) = recorded.seen
    assert (path, status) == ("/x", "500") and cpu >= 0.02
    assert logs.current_environ.get() is None

    # The next request on this thread is an outer one again.
    def empty(environ, start_response):
        start_response("204 No Content", [])
        return []

    run_wsgi_app(Observed(empty, recorded), EnvironBuilder(path="/y").get_environ())
    assert recorded.seen[-1][:2] == ("/y", "204")
    assert logs.current_environ.get() is None
