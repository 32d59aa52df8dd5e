"""The decision API's OpenAPI document as the tests use it: request bodies drawn from its
schemas, and answers checked against the responses it documents (jsonschema), so a fuzz test
also proves that the document tells the truth."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from authz import api, openapi
from tests.demo_app import (
    BASE_URL,
)
from tests.fuzz.strategies import TEXT, from_schema

# The document the test app publishes (tests/authz/test_openapi.py checks it is this one).
DOCUMENT = openapi.document(
    BASE_URL, api.PATHS, api.METADATA_PATH, api.OPENAPI_PATH, max_body_bytes=api.MAX_BODY_BYTES
)

# People and enterprises of the demo data, so that drawn requests reach the decisions, and
# some spellings of numbers that are not theirs.
NRNS = ("85020200387", "70030300538", "90010100123", "90010100222", "75070700353")
BCES = ("0123456749", "0888888895")


def _spellings(numbers: tuple[str, ...], invalid: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(numbers),
        st.sampled_from(numbers).map(lambda n: f" {n[:2]}.{n[2:4]}-{n[4:]} "),
        st.sampled_from(invalid),
        TEXT,
    )


IDENTIFIER_FORMATS = {
    openapi.NRN_FORMAT: _spellings(NRNS, ("90010100124", "0" * 11, "9" * 41, "BE 90010100123")),
    openapi.BCE_FORMAT: _spellings(BCES, ("BE 0123.456.749", "0123456748", "1" * 50, "")),
}


def with_components(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema of the document made standalone: its ``#/components/...`` references resolve
    against the document's components, carried along at its root."""
    return {**schema, "components": DOCUMENT["components"]}


def resolve(ref: str) -> dict[str, Any]:
    """What a ``#/...`` reference of the document points at."""
    node: Any = DOCUMENT
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _resolve(item: dict[str, Any]) -> dict[str, Any]:
    return resolve(item["$ref"]) if "$ref" in item else item


def request_schema(path: str) -> dict[str, Any]:
    body = DOCUMENT["paths"][path]["post"]["requestBody"]
    return body["content"]["application/json"]["schema"]


def requests(path: str) -> st.SearchStrategy[dict]:
    """Request bodies of ``path`` as its schema describes them (valid in shape)."""
    return from_schema(request_schema(path), resolve, IDENTIFIER_FORMATS)


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The schema the document gives the answer; any status it does not list for the
    operation (404, 405) is an error of the API's one error shape."""
    operation = DOCUMENT["paths"].get(path, {}).get(method.lower(), {})
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        return with_components({"$ref": "#/components/schemas/Error"})
    return with_components(_resolve(response)["content"]["application/json"]["schema"])


def check_answer(path: str, method: str, response) -> None:
    """The answer is no server error, and is JSON of the schema documented for its status."""
    body = response.get_data()
    assert response.status_code < 500, (response.status_code, body[:2000])
    if method in ("HEAD", "OPTIONS"):  # no body: the headers of a GET, or the allowed methods
        return
    assert response.mimetype == "application/json", (response.status_code, body[:2000])
    payload = json.loads(body)
    schema = response_schema(path, method, response.status_code)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(payload)]
    assert errors == [], (response.status_code, payload)
