"""Hypothesis strategies of the fuzz tests: JSON values with the strings and numbers parsers
trip on, and values drawn from a JSON Schema of the OpenAPI document.

:func:`from_schema` draws from the keywords the decision API's document uses (``$ref``,
``anyOf``, ``enum``, ``type``, ``properties``, ``required``, ``items``, ``maxItems``,
``minimum``, ``format``) and refuses a schema with any other constraint, so that a document
that grows a new one fails here rather than being fuzzed with values it does not describe.
Objects also get keys the schema does not name, which the API must ignore.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "9001\x000100123",
        "\ud800",  # a lone surrogate: valid JSON ("\ud800"), not encodable as UTF-8
        "\udfff\ud800",
        "\u202e0123456749",
        "\ufeff",
        "é" * 50,
        "𝕏" * 50,
        "act_for\n",
    ]
)
# Built when drawn: a long literal would fill every report that prints the strategy.
TEXT = st.one_of(st.text(max_size=20), ODD_TEXT, st.just(5000).map(lambda size: "0" * size))
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 1e308, 5e-324, -0.0]),
    st.just(4000).map(lambda digits: 10**digits),
)
KEYS = st.one_of(
    TEXT,
    st.sampled_from(["subject", "action", "resource", "context", "evaluations", "options"]),
    st.sampled_from(["type", "id", "name", "properties", "page", "token", "limit"]),
    st.sampled_from(["explain", "service_domain", "evaluations_semantic"]),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=16,
)
JSON_OBJECTS = st.dictionaries(KEYS, JSON_VALUES, max_size=4)


def dumps(value: Any, ensure_ascii: bool) -> bytes:
    """JSON text as Python writes it, including what JSON cannot hold: 10**4000 as 4001
    digits, lone surrogates (escaped with ``ensure_ascii``, else raw bytes no UTF-8 allows)."""
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def encoded(values: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    return st.builds(dumps, values, st.booleans())


_ANNOTATIONS = {"description", "default", "examples", "title", "format"}
_DRAWN = {"$ref", "anyOf", "enum", "type", "properties", "required", "items", "maxItems", "minimum"}


def from_schema(
    schema: Mapping[str, Any],
    resolve: Callable[[str], Mapping[str, Any]],
    formats: Mapping[str, st.SearchStrategy[str]],
) -> st.SearchStrategy:
    """Values valid against ``schema``; ``resolve`` turns a ``$ref`` into its schema,
    ``formats`` gives the strings of each ``format``."""
    unknown = set(schema) - _ANNOTATIONS - _DRAWN
    if unknown:
        raise ValueError(f"keywords this strategy does not draw: {sorted(unknown)}")

    def draw(child: Mapping[str, Any]) -> st.SearchStrategy:
        return from_schema(child, resolve, formats)

    if "$ref" in schema:
        return st.deferred(lambda: draw(resolve(schema["$ref"])))
    if "anyOf" in schema:
        return st.one_of([draw(choice) for choice in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        return _objects(schema, draw)
    if kind == "array":
        return st.lists(draw(schema["items"]), max_size=min(schema.get("maxItems", 4), 4))
    if kind == "string":
        return formats.get(schema.get("format", ""), TEXT)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"))
    if kind == "boolean":
        return st.booleans()
    raise ValueError(f"no values drawn for {dict(schema)}")


def _objects(schema: Mapping[str, Any], draw: Callable) -> st.SearchStrategy[dict]:
    properties = schema.get("properties")
    if not properties:
        return JSON_OBJECTS
    required = set(schema.get("required", ()))
    named = st.fixed_dictionaries(
        {key: draw(value) for key, value in properties.items() if key in required},
        optional={key: draw(value) for key, value in properties.items() if key not in required},
    )
    others = st.dictionaries(
        KEYS.filter(lambda key: key not in properties), JSON_VALUES, max_size=2
    )
    return st.builds(lambda extra, given: {**extra, **given}, others, named)
