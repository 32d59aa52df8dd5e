"""An OpenAPI 3.1 description of the decision API (OpenID AuthZEN Authorization API 1.0).

AuthZEN's *Policy Decision Point Metadata* names the endpoints but has no parameter for a
machine-readable description of the messages; this document is that description, served by
``authz.api`` beside the endpoints. It follows the specification's *Information Model*
(Subject, Resource, Action, Context, Decision), its *Access Evaluation* and *Access
Evaluations* requests and responses (defaults, ``options.evaluations_semantic``), the *Search
APIs* with their pagination, the metadata, and the *HTTPS JSON Binding* (``X-Request-ID``,
error statuses), narrowed to what this service answers: subjects are persons (NRN), resources
enterprises (BCE number), actions the permissions of the policy.

Built from the same constants the service checks requests with, so the document cannot drift
from the code: page sizes, batch size, semantics, permission names, body size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authz import authzen
from authz.permissions import ALL_PERMISSIONS

SPECIFICATION = "https://openid.net/specs/authorization-api-1_0-final.html"
OPENAPI_VERSION = "3.1.0"

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_FREE_OBJECT = {"type": "object", "description": "Any JSON object; accepted and ignored."}


# Formats of this document (annotations, as OpenAPI allows any name): the identifiers.
NRN_FORMAT, BCE_FORMAT = "be-nrn", "be-bce"


def _entity(
    kind: str, entity_type: str, identifier: tuple[str, str], *, with_id: bool
) -> dict[str, Any]:
    """A Subject or Resource (Information Model); searches leave out the id."""
    id_format, id_description = identifier
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["type", "id"] if with_id else ["type"],
        "properties": {
            "type": {"type": "string", "enum": [entity_type]},
            "id": {"type": "string", "format": id_format, "description": id_description},
            "properties": _FREE_OBJECT,
        },
    }
    if not with_id:
        schema["description"] = f"The {kind} searched for: its type only (an id is ignored)."
    return schema


def _schemas() -> dict[str, Any]:
    nrn = (
        NRN_FORMAT,
        "National register number (11 digits, mod 97). Usual spellings are accepted "
        "(90.01.01-001.23); answers give the digits.",
    )
    bce = (
        BCE_FORMAT,
        "BCE/KBO enterprise number (10 digits, mod 97). Usual spellings are accepted "
        "(BE 0123.456.749); answers give the digits.",
    )
    decision_context = {
        "type": "object",
        "description": "Present with context.explain, or on a failed item of a batch.",
        "properties": {
            "explanation": {
                "type": "object",
                "description": "Which rules and facts (grants, designations) made the decision.",
            },
            "error": {
                "type": "object",
                "description": "Why this item of a batch was not evaluated (it is denied).",
                "required": ["status", "message"],
                "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
            },
        },
    }
    evaluation_keys = {
        "subject": _ref("Subject"),
        "action": _ref("Action"),
        "resource": _ref("Resource"),
        "context": _ref("Context"),
    }
    return {
        "Subject": _entity("subject", authzen.SUBJECT_TYPE, nrn, with_id=True),
        "Resource": _entity("resource", authzen.RESOURCE_TYPE, bce, with_id=True),
        "SubjectQuery": _entity("subject", authzen.SUBJECT_TYPE, nrn, with_id=False),
        "ResourceQuery": _entity("resource", authzen.RESOURCE_TYPE, bce, with_id=False),
        "Action": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {
                    "type": "string",
                    "enum": list(ALL_PERMISSIONS),
                    "description": "A permission of the policy.",
                },
                "properties": _FREE_OBJECT,
            },
        },
        "Context": {
            "type": "object",
            "description": "Other keys are accepted and ignored.",
            "properties": {
                "explain": {
                    "type": "boolean",
                    "description": "Add the explanation of the decision to the answer's context.",
                },
                "service_domain": {
                    "type": "string",
                    "description": "The caller's own service domain; naming another is 403.",
                },
            },
        },
        "EvaluationRequest": {
            "type": "object",
            "required": ["subject", "action", "resource"],
            "properties": evaluation_keys,
        },
        "EvaluationsRequest": {
            "type": "object",
            "description": (
                "The top-level subject, action, resource and context are defaults: a key given "
                "in an item replaces its default whole. Without evaluations (or with an empty "
                "array) the request and answer are those of the access evaluation endpoint."
            ),
            "properties": {
                **evaluation_keys,
                "evaluations": {
                    "type": "array",
                    "maxItems": authzen.MAX_EVALUATIONS,
                    "items": {"type": "object", "properties": evaluation_keys},
                },
                "options": {
                    "type": "object",
                    "properties": {
                        "evaluations_semantic": {
                            "type": "string",
                            "enum": list(authzen.SEMANTICS),
                            "default": authzen.EXECUTE_ALL,
                        }
                    },
                },
            },
        },
        "Decision": {
            "type": "object",
            "required": ["decision"],
            "properties": {"decision": {"type": "boolean"}, "context": decision_context},
        },
        "EvaluationsResponse": {
            "type": "object",
            "required": ["evaluations"],
            "properties": {
                "evaluations": {
                    "type": "array",
                    "description": (
                        "In the order of the request; a batch stopped by its semantic ends "
                        "with the decision that stopped it."
                    ),
                    "items": _ref("Decision"),
                }
            },
        },
        "PageRequest": {
            "type": "object",
            "properties": {
                "token": {
                    "type": "string",
                    "description": "The next_token of the previous page, for the same query.",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "default": authzen.DEFAULT_PAGE_SIZE,
                    "description": f"Page size; a larger one becomes {authzen.MAX_PAGE_SIZE}.",
                },
            },
        },
        "PageResponse": {
            "type": "object",
            "required": ["next_token", "count"],
            "properties": {
                "next_token": {"type": "string", "description": '"" on the last page.'},
                "count": {"type": "integer", "minimum": 0},
            },
        },
        "SubjectSearchRequest": {
            "type": "object",
            "required": ["subject", "action", "resource"],
            "properties": {
                "subject": _ref("SubjectQuery"),
                "action": _ref("Action"),
                "resource": _ref("Resource"),
                "context": _ref("Context"),
                "page": _ref("PageRequest"),
            },
        },
        "ResourceSearchRequest": {
            "type": "object",
            "required": ["subject", "action", "resource"],
            "properties": {
                "subject": _ref("Subject"),
                "action": _ref("Action"),
                "resource": _ref("ResourceQuery"),
                "context": _ref("Context"),
                "page": _ref("PageRequest"),
            },
        },
        "ActionSearchRequest": {
            "type": "object",
            "required": ["subject", "resource"],
            "properties": {
                "subject": _ref("Subject"),
                "resource": _ref("Resource"),
                "context": _ref("Context"),
                "page": _ref("PageRequest"),
            },
        },
        "SubjectSearchResponse": _search_response(_ref("Subject")),
        "ResourceSearchResponse": _search_response(_ref("Resource")),
        "ActionSearchResponse": _search_response(
            {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
        ),
        "Metadata": {
            "type": "object",
            "required": ["policy_decision_point", "access_evaluation_endpoint"],
            "properties": {
                name: {"type": "string", "format": "uri"}
                for name in (
                    "policy_decision_point",
                    "access_evaluation_endpoint",
                    "access_evaluations_endpoint",
                    "search_subject_endpoint",
                    "search_resource_endpoint",
                    "search_action_endpoint",
                )
            },
        },
        "Error": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {
                "error": {"type": "string", "description": "A stable code."},
                "error_description": {"type": "string", "description": "For developers."},
            },
        },
    }


def _search_response(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["page", "results"],
        "properties": {"page": _ref("PageResponse"), "results": {"type": "array", "items": item}},
    }


_ERRORS = {
    "400": (
        "Bad Request: invalid_request (not a JSON object, not application/json, a key missing, "
        "a value of the wrong JSON type, a bad page or options), invalid_subject, "
        "invalid_resource, invalid_action, invalid_page_token."
    ),
    "401": (
        "Unauthorized: invalid_client (no or wrong credentials, with WWW-Authenticate: Basic) "
        "or invalid_token (a bearer token unknown, expired or revoked)."
    ),
    "403": "Forbidden: context.service_domain is not the caller's.",
    "413": "Content Too Large: request_too_large (a body over {max_body_bytes} bytes).",
    "500": "Internal error: server_error (no details; the server log has them).",
    "503": "Service Unavailable: temporarily_unavailable (the database does not answer).",
}


def _responses(max_body_bytes: int) -> dict[str, Any]:
    request_id = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    return {
        status: {
            "description": description.format(max_body_bytes=max_body_bytes),
            "headers": request_id,
            "content": _json_content(_ref("Error")),
        }
        for status, description in _ERRORS.items()
    }


def _operation(
    operation_id: str, summary: str, section: str, request: str, response: dict[str, Any]
) -> dict[str, Any]:
    errors = {code: {"$ref": f"#/components/responses/Error{code}"} for code in _ERRORS}
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "externalDocs": {"url": f"{SPECIFICATION}#{section}"},
            "parameters": [{"$ref": "#/components/parameters/RequestId"}],
            "requestBody": {"required": True, "content": _json_content(_ref(request))},
            "responses": {
                "200": {
                    "description": "The answer (a denial is an answer, not an error).",
                    "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                    "content": _json_content(response),
                },
                **errors,
            },
        }
    }


def document(
    base_url: str,
    paths: Mapping[str, str],
    metadata_path: str,
    openapi_path: str,
    *,
    max_body_bytes: int,
) -> dict[str, Any]:
    """The OpenAPI document of the decision API served at ``base_url``, itself served at
    ``openapi_path``; ``paths`` maps the metadata parameter names
    (``access_evaluation_endpoint``...) to their paths."""
    operations = {
        "access_evaluation_endpoint": _operation(
            "accessEvaluation",
            "May the person do the action for the enterprise?",
            "name-access-evaluation-api",
            "EvaluationRequest",
            _ref("Decision"),
        ),
        "access_evaluations_endpoint": _operation(
            "accessEvaluations",
            "Several access evaluations in one request.",
            "name-access-evaluations-api",
            "EvaluationsRequest",
            {"anyOf": [_ref("EvaluationsResponse"), _ref("Decision")]},
        ),
        "search_subject_endpoint": _operation(
            "searchSubject",
            "Who may do the action for the enterprise?",
            "name-subject-search-api",
            "SubjectSearchRequest",
            _ref("SubjectSearchResponse"),
        ),
        "search_resource_endpoint": _operation(
            "searchResource",
            "For which enterprises may the person do the action?",
            "name-resource-search-api",
            "ResourceSearchRequest",
            _ref("ResourceSearchResponse"),
        ),
        "search_action_endpoint": _operation(
            "searchAction",
            "What may the person do for the enterprise?",
            "name-action-search-api",
            "ActionSearchRequest",
            _ref("ActionSearchResponse"),
        ),
    }
    api_paths: dict[str, Any] = {paths[name]: operation for name, operation in operations.items()}
    api_paths[metadata_path] = {
        "get": {
            "operationId": "metadata",
            "summary": "Where the endpoints are (Policy Decision Point Metadata).",
            "externalDocs": {"url": f"{SPECIFICATION}#name-policy-decision-point-metadata"},
            "security": [],
            "responses": {
                "200": {
                    "description": "The metadata.",
                    "content": _json_content(_ref("Metadata")),
                }
            },
        }
    }
    api_paths[openapi_path] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": _json_content({"type": "object", "required": ["openapi"]}),
                }
            },
        }
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Mon Espace decision API",
            "version": "1.0",
            "summary": "OpenID AuthZEN Authorization API 1.0, HTTPS JSON binding.",
            "description": (
                "May a person act for an enterprise? Decisions come from the service's Polar "
                "policies, in the caller's own service domain. A denial is a 200 answer with "
                '"decision": false. Errors are {"error", "error_description"} JSON.'
            ),
        },
        "externalDocs": {"description": "AuthZEN Authorization API 1.0", "url": SPECIFICATION},
        "servers": [{"url": base_url}],
        "security": [{"clientCredentials": ["decisions"]}, {"basic": []}],
        "paths": api_paths,
        "components": {
            "schemas": _schemas(),
            "responses": {
                f"Error{code}": response for code, response in _responses(max_body_bytes).items()
            },
            "parameters": {
                "RequestId": {
                    "name": "X-Request-ID",
                    "in": "header",
                    "required": False,
                    "description": "Sent back unchanged, and kept in the decision log.",
                    "schema": {"type": "string"},
                }
            },
            "headers": {
                "RequestId": {
                    "description": "The request's X-Request-ID, when it had one.",
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": {
                "clientCredentials": {
                    "type": "oauth2",
                    "description": (
                        "An access token of the client credentials grant (RFC 6749 section "
                        "4.4), sent as Authorization: Bearer (RFC 6750)."
                    ),
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": base_url + "/token",
                            "scopes": {"decisions": "Ask the decision API."},
                        }
                    },
                },
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The client's id and secret (client_secret_basic).",
                },
            },
        },
    }
