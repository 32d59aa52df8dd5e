"""monespace/app.py with idp_bridge/oidc/edge.py and authz/api.py: every JSON protocol
endpoint answers a wrong method, an unknown path under it or a body too large in its own JSON
format, never with the site's HTML page; the site's pages keep theirs."""

from __future__ import annotations

import pytest

OAUTH = [
    ("GET", "/token", "POST"),
    ("PUT", "/token", "POST"),
    ("GET", "/introspect", "POST"),
    ("GET", "/revoke", "POST"),
    ("DELETE", "/userinfo", "GET, POST"),
    ("POST", "/.well-known/openid-configuration", "GET"),
    ("POST", "/jwks", "GET"),
]


@pytest.mark.parametrize(("method", "path", "allowed"), OAUTH)
def test_a_wrong_method_at_an_oauth_endpoint_is_oauth_json(app, method, path, allowed):
    response = app.test_client().open(path, method=method, headers={"Accept": "text/html"})
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "method not allowed; use " + allowed.replace(", ", " or "),
    }
    for name in allowed.split(", "):
        assert name in response.headers["Allow"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/access/v1/evaluation", 405, "method_not_allowed"),
        ("GET", "/access/v1/evaluations", 405, "method_not_allowed"),
        ("PUT", "/access/v1/search/subject", 405, "method_not_allowed"),
        ("POST", "/.well-known/authzen-configuration", 405, "method_not_allowed"),
        ("POST", "/access/v1/no-such-endpoint", 404, "not_found"),
        ("GET", "/access/v1/search/nothing/here", 404, "not_found"),
    ],
)
def test_a_wrong_method_or_path_at_the_decision_api_is_authzen_json(
    app, method, path, status, code
):
    response = app.test_client().open(path, method=method, headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code and body["error_description"]
    if status == 405:
        assert response.headers["Allow"]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("PUT", "/token", "invalid_request"),
        ("GET", "/revoke", "invalid_request"),
        ("GET", "/access/v1/search/subject", "invalid_request"),
        ("POST", "/access/v1/no-such-endpoint", "invalid_request"),
    ],
)
def test_a_refused_header_at_a_url_that_does_not_route_is_the_protocols_json(
    app, method, path, code
):
    # The request gate's refusal comes before routing's own error; the endpoint's blueprint
    # answers it all the same.
    response = app.test_client().open(
        path, method=method, headers={"Accept": "text/html", "X-Request-ID": "a\x7f"}
    )
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == code


def test_a_body_too_large_at_the_token_endpoint_is_oauth_json(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    response = app.test_client().post("/token", data={"grant_type": "x" * 5000})
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("DELETE", "/entreprises", 405),
        ("POST", "/token/elsewhere", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/.well-known/no-such-document", 404),
    ],
)
def test_the_sites_own_pages_stay_html(app, method, path, status):
    response = app.test_client().open(path, method=method, headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    if status == 405:
        assert response.headers["Allow"]
