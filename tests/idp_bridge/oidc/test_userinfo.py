"""idp_bridge/oidc/userinfo.py: the access token comes from one place only (RFC 6750 section
2), never from the URL (section 2.3, refused), each parameter once; a token that no longer
stands for anyone (its subject no longer indexed) is ``invalid_token``, never a 500."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.idp_bridge.oidc.client_requests import (
    basic,
    id_token_claims,
    redeem,
)


@pytest.fixture
def access_token(browser, confidential, code_and_verifier) -> str:
    code, verifier = code_and_verifier
    return redeem(browser, code, verifier, basic("fisc", confidential)).get_json()["access_token"]


def form(pairs: list[tuple[str, str]]) -> dict:
    return {"data": urlencode(pairs), "content_type": "application/x-www-form-urlencoded"}


def assert_invalid_request(response, mentions: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_request"
    assert mentions in response.get_json()["error_description"]
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'
    assert response.headers["Cache-Control"] == "no-store"


def test_the_token_in_the_header_or_in_the_body_is_accepted(browser, access_token):
    header = browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    body = browser.post("/userinfo", **form([("access_token", access_token)]))
    assert header.status_code == 200 and body.status_code == 200
    assert header.get_json()["sub"] == body.get_json()["sub"]


def test_the_token_in_the_header_and_in_the_body_at_once_is_invalid_request(browser, access_token):
    both = browser.post(
        "/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        **form([("access_token", access_token)]),
    )
    assert_invalid_request(both, "send the access token once")


def test_the_token_in_the_url_is_refused(browser, access_token):
    query = urlencode({"access_token": access_token})
    assert_invalid_request(browser.get(f"/userinfo?{query}"), "not in the URL")
    with_header = browser.get(
        f"/userinfo?{query}", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert_invalid_request(with_header, "not in the URL")
    # Other query parameters are no token: the header alone is used.
    other = browser.get("/userinfo?x=1", headers={"Authorization": f"Bearer {access_token}"})
    assert other.status_code == 200


def test_a_repeated_parameter_is_invalid_request(browser, access_token):
    twice = form([("access_token", access_token), ("access_token", access_token)])
    assert_invalid_request(browser.post("/userinfo", **twice), "the access_token parameter")
    header = {"Authorization": f"Bearer {access_token}"}
    assert_invalid_request(browser.get("/userinfo?x=1&x=2", headers=header), "the x parameter")


def test_no_token_or_another_scheme_is_invalid_token(browser, access_token):
    for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="}, {"Authorization": "Bearer "}):
        refused = browser.get("/userinfo", headers=headers)
        assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_token"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_whose_subject_is_no_longer_indexed_is_invalid_token_at_the_route(
    browser, confidential, code_and_verifier, fast_lane, unindex
):
    code, verifier = code_and_verifier
    tokens = redeem(browser, code, verifier, basic("fisc", confidential)).get_json()
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}
    fast_lane.answering = False  # the Flask route answers every request here
    try:
        before = browser.client.get("/userinfo", headers=bearer, base_url=browser.base_url)
        assert before.status_code == 200
        unindex(id_token_claims(browser, tokens["id_token"])["sub"])
        for method in ("GET", "POST"):
            response = browser.client.open(
                "/userinfo", method=method, headers=bearer, base_url=browser.base_url
            )
            assert response.status_code == 401
            assert response.get_json()["error"] == "invalid_token"
            assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            assert response.headers["Cache-Control"] == "no-store"
    finally:
        fast_lane.answering = True


def test_a_token_answered_again_reads_nothing_and_a_renamed_person_is_seen_at_once(
    app, browser, access_token, sql_log
):
    """The token, its subject and the person's claims are kept by the process
    (idp_bridge.oidc.token_reads, authz.kept): answered again without SQL; a change to the
    person, announced at its commit (authz.persons), is in the next answer."""
    from authz.models import Person
    from authz.persons import PersonData, record_person
    from idp_bridge.oidc.edge import EXTENSION

    bearer = {"Authorization": f"Bearer {access_token}"}
    first = browser.get("/userinfo", headers=bearer).get_json()
    tracker = app.extensions[EXTENSION].revocation_tracker()
    if hasattr(tracker, "wait_until_healthy"):
        assert tracker.wait_until_healthy(5)
    assert browser.get("/userinfo", headers=bearer).get_json() == first  # now kept
    sql_log.clear()
    assert browser.get("/userinfo", headers=bearer).get_json() == first
    assert sql_log.statements == []
    with app.app_context():
        nrn = Person.get(Person.given_name == first["given_name"]).nrn
        record_person(PersonData(nrn, given_name="Autre"), actor="test", policy_version="v1")
    assert browser.get("/userinfo", headers=bearer).get_json()["given_name"] == "Autre"
