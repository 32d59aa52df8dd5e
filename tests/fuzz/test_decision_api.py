"""Fuzzing the decision API (authz/api.py, AuthZEN): whatever the body, headers or method, the
answer is never a 5xx, always JSON, and of the shape the OpenAPI document gives its status.

Bodies: drawn from the document's request schemas (valid in shape, reaching the decisions
with the demo's people and enterprises), any JSON value, JSON with strange strings (NUL,
lone surrogates, right-to-left marks), huge or non-finite numbers, deep nesting, bytes that
are not UTF-8, and valid bodies cut or spliced; sent with their length, chunked, or chunked
and broken off. Headers: odd credentials (Basic and Bearer),
Content-Types and X-Request-IDs. Methods: every one on every path.
"""

from __future__ import annotations

import base64
import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from authz import api
from monespace import demo
from tests.demo_app import (
    BASE_URL,
)
from tests.fuzz.conftest import FUZZ
from tests.fuzz.openapi_document import check_answer, requests
from tests.fuzz.strategies import JSON_VALUES, TEXT, encoded

POST_PATHS = tuple(api.PATHS.values())
# Characters no header value may hold (RFC 9110 section 5.5): every request with one is
# refused before it reaches the API.
HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
ALL_PATHS = (*POST_PATHS, api.METADATA_PATH, api.OPENAPI_PATH)
DEMO_BASIC = (
    "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
)

# -- bodies ---------------------------------------------------------------------------------


def _nested(depth: int, opening: str) -> bytes:
    closing = {"[": "]", '{"a":': "}"}[opening]
    return (opening * depth + "1" + closing * depth).encode()


RAW_BODIES = st.one_of(
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'"text"',
            b"NaN",
            b'{"subject": NaN}',
            b'{"page": {"limit": Infinity}}',
            b'{"page": {"limit": 1e999999}}',
            b'{"subject": {"type": "person", "id": "\\u0000"}}',
            b'{"subject": {"type": "person", "id": "\\ud800"}, "action": {"name": "act_for"},'
            b' "resource": {"type": "enterprise", "id": "0123456749"}}',
            b'{"evaluations": [{"subject": {"type": "person", "id": "\\udc00"}}],'
            b' "action": {"name": "act_for"}, "resource": {"type": "enterprise", "id": "x"}}',
            b'{"a": 1, "a": 2}',
            b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
            b"\xff\xfe{\x00}\x00",  # UTF-16
            b'{"subject": "\xff"}',
            b"{" * 3,
        ]
    ),
    st.builds(_nested, st.sampled_from([64, 999, 5000, 100_000]), st.sampled_from(["[", '{"a":'])),
    # integers of more digits than Python converts (4300)
    st.sampled_from([4000, 5000]).map(
        lambda digits: b'{"page": {"limit": -' + b"9" * digits + b"}}"
    ),
    st.binary(max_size=64),
)


def _splice(body: bytes, at: int, insert: bytes, cut: bool) -> bytes:
    at %= len(body) + 1
    return body[:at] + insert if cut else body[:at] + insert + body[at:]


def bodies(path: str) -> st.SearchStrategy[bytes]:
    valid = encoded(requests(path))
    return st.one_of(
        valid,
        encoded(JSON_VALUES),
        RAW_BODIES,
        st.builds(_splice, valid, st.integers(min_value=0), st.binary(max_size=4), st.booleans()),
    )


# -- headers --------------------------------------------------------------------------------

# Header values are latin-1 in WSGI; the test client sends what it is given.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)


def _basic(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
    return "Basic " + base64.b64encode(raw).decode()


AUTHORIZATIONS = st.one_of(
    st.just(DEMO_BASIC),
    st.builds(_basic, TEXT, TEXT),
    st.builds(_basic, st.just(demo.DEMO_CLIENT_ID), TEXT),
    st.builds(_basic, st.sampled_from(["demo-rp%00", "demo%2Drp", "%ff", "a" * 65]), TEXT),
    st.sampled_from(
        [
            "",
            "Basic",
            "Basic ",
            "Basic !!!!",
            "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
            "basic " + DEMO_BASIC.split()[1],
            "Bearer",
            "Bearer ",
            "Bearer \x7f",
            "Negotiate abc",
            "Digest username=x",
        ]
    ),
    HEADER_TEXT.map(lambda token: "Bearer " + token),
    st.just(5000).map(lambda size: "Bearer " + "A" * size),
    HEADER_TEXT,
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
            " application/json ",
            "application/json;",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
            "",
        ]
    ),
    HEADER_TEXT,
)
REQUEST_IDS = st.one_of(
    st.none(),
    HEADER_TEXT,
    st.just("0"),
    st.sampled_from([300, 8000]).map(lambda size: "é" * size),
)


def _headers(authorization, content_type, request_id) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return headers


GOOD_HEADERS = st.builds(_headers, st.just(DEMO_BASIC), st.just("application/json"), REQUEST_IDS)
ANY_HEADERS = st.builds(_headers, st.one_of(st.none(), AUTHORIZATIONS), CONTENT_TYPES, REQUEST_IDS)


class _BrokenChunks(io.BytesIO):
    """A chunked body the server cannot read past its first chunk (a malformed chunk size)."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise OSError("invalid chunk size")
        return super().read(min(size if size and size > 0 else 16, 16))


FRAMINGS = st.sampled_from(["length", "length", "chunked", "broken chunks"])


def post(client, path: str, body: bytes, headers: dict[str, str], framing: str = "length"):
    if framing == "length":
        response = client.post(path, data=body, headers=headers, base_url=BASE_URL)
    else:  # no usable length: the body is read from the stream, as a server hands it on
        stream = io.BytesIO(body) if framing == "chunked" else _BrokenChunks(body)
        chunked = {**headers, "Transfer-Encoding": "chunked"}
        response = client.post(path, input_stream=stream, headers=chunked, base_url=BASE_URL)
    check_answer(path, "POST", response)
    request_id = headers.get("X-Request-ID")
    if request_id is not None and not HEADER_CONTROL.search(request_id):
        # Sent back unchanged; a value with a control character is refused instead (400).
        assert response.headers.get("X-Request-ID") == request_id
    return response


# -- the tests ------------------------------------------------------------------------------


@settings(FUZZ, max_examples=50)
@given(data=st.data())
def test_documented_requests_get_documented_answers(app, data):
    """Requests of the documented shape, from a registered client: 200 or a 4xx, as documented."""
    client = app.test_client()
    for _ in range(4):  # several requests per example: the app is built once per test
        path = data.draw(st.sampled_from(POST_PATHS), label="path")
        body = data.draw(encoded(requests(path)), label="body")
        headers = data.draw(GOOD_HEADERS, label="headers")
        post(client, path, body, headers)


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_malformed_bodies_are_refused_as_json(app, data):
    client = app.test_client()
    for _ in range(4):
        path = data.draw(st.sampled_from(POST_PATHS), label="path")
        body = data.draw(bodies(path), label="body")
        headers = data.draw(GOOD_HEADERS, label="headers")
        post(client, path, body, headers, data.draw(FRAMINGS, label="framing"))


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_odd_headers_are_refused_as_json(app, data):
    client = app.test_client()
    for _ in range(4):
        path = data.draw(st.sampled_from(POST_PATHS), label="path")
        body = data.draw(st.one_of(encoded(requests(path)), RAW_BODIES), label="body")
        headers = data.draw(ANY_HEADERS, label="headers")
        post(client, path, body, headers)


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_every_method_on_every_path(app, data):
    client = app.test_client()
    for _ in range(4):
        path = data.draw(st.sampled_from(ALL_PATHS), label="path")
        method = data.draw(
            st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
            label="method",
        )
        headers = data.draw(ANY_HEADERS, label="headers")
        body = data.draw(st.one_of(st.just(b""), RAW_BODIES), label="body")
        response = client.open(path, method=method, data=body, headers=headers, base_url=BASE_URL)
        check_answer(path, method, response)
