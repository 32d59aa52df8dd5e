"""authz/openapi.py and its route: the decision API's OpenAPI 3.1 document, valid, complete,
and true to the answers (the fuzz tests, tests/fuzz, check it on many more)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from authz import api, openapi
from tests.authz.conftest import BASE_URL, BOULANGERIE, EMMA, LUC, question
from tests.fuzz.openapi_document import check_answer


def served(api_app):
    return api_app.test_client().get(api.OPENAPI_PATH, headers={"X-Request-ID": "doc-1"})


def test_the_document_is_served_without_credentials(api_app):
    response = served(api_app)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["X-Request-ID"] == "doc-1"
    document = response.get_json()
    assert document == openapi.document(
        BASE_URL, api.PATHS, api.METADATA_PATH, api.OPENAPI_PATH, max_body_bytes=api.MAX_BODY_BYTES
    )
    assert document["servers"] == [{"url": BASE_URL}]
    assert document["components"]["securitySchemes"]["clientCredentials"]["flows"][
        "clientCredentials"
    ]["tokenUrl"] == (BASE_URL + "/token")


def test_the_document_is_valid_openapi_3_1(api_app):
    document = served(api_app).get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any fault


def test_every_route_of_the_api_is_documented_and_nothing_else(api_app):
    routes = {
        (rule.rule, method.lower())
        for rule in api_app.url_map.iter_rules()
        if rule.endpoint.startswith("authzen.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (path, method)
        for path, operations in served(api_app).get_json()["paths"].items()
        for method in operations
    }
    assert documented == routes


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (api.PATHS["access_evaluation_endpoint"], question(LUC, "act_for", BOULANGERIE)),
        (
            api.PATHS["access_evaluation_endpoint"],
            question(EMMA, "act_for", BOULANGERIE, context={"explain": True}),
        ),
        (
            api.PATHS["access_evaluations_endpoint"],
            {
                "subject": {"type": "person", "id": LUC},
                "resource": {"type": "enterprise", "id": BOULANGERIE},
                "evaluations": [
                    {"action": {"name": "act_for"}},
                    {"action": {"name": "no_such_action"}},
                ],
            },
        ),
        (
            api.PATHS["search_subject_endpoint"],
            {
                "subject": {"type": "person"},
                "action": {"name": "act_for"},
                "resource": {"type": "enterprise", "id": BOULANGERIE},
                "page": {"limit": 1},
            },
        ),
        (
            api.PATHS["search_resource_endpoint"],
            {
                "subject": {"type": "person", "id": LUC},
                "action": {"name": "act_for"},
                "resource": {"type": "enterprise"},
            },
        ),
        (
            api.PATHS["search_action_endpoint"],
            {
                "subject": {"type": "person", "id": LUC},
                "resource": {"type": "enterprise", "id": BOULANGERIE},
            },
        ),
        # refusals: 400, 403
        (api.PATHS["access_evaluation_endpoint"], {"subject": "Luc"}),
        (
            api.PATHS["search_action_endpoint"],
            question(LUC, "act_for", BOULANGERIE, context={"service_domain": "environnement"}),
        ),
    ],
)
def test_answers_are_as_documented(api, path, body):
    check_answer(path, "POST", api.post(path, body))


def test_refused_callers_and_the_metadata_are_as_documented(api_app):
    client = api_app.test_client()
    path = api.PATHS["access_evaluation_endpoint"]
    refused = client.post(path, json=question(LUC, "act_for", BOULANGERIE))
    assert refused.status_code == 401
    check_answer(path, "POST", refused)
    check_answer(api.METADATA_PATH, "GET", client.get(api.METADATA_PATH))
