"""authz/api.py: AuthZEN evaluations, metadata, callers, errors (searches: test_api_search)."""

from __future__ import annotations

import json
import os
import time

import flask
import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from authz import api as api_module
from authz import authzen, db
from authz.clients import ClientMetadata, add_client, disable_client
from authz.engine import get_engine
from authz.models import Person, RoleGrant
from authz.services import Caller as ServiceCaller
from authz.services import revoke_role
from tests.authz.conftest import (
    ALICE,
    BASE_URL,
    BOULANGERIE,
    DEMO_AUTH,
    EMMA,
    LUC,
    MARC,
    SOPHIE,
    Caller,
    basic,
    enterprise,
    person,
    question,
)

EVALUATION, EVALUATIONS = "/access/v1/evaluation", "/access/v1/evaluations"


def add_api_client(client_id: str, domain: str) -> str:
    _client, secret = add_client(
        ClientMetadata("Test caller", domain, client_id=client_id, allow_http=True),
        actor="operator:test",
    )
    return secret


# -- single evaluations -------------------------------------------------------------------


def test_agent_may_act_for_the_enterprise(api):
    response = api.post(EVALUATION, question(LUC, "act_for", BOULANGERIE))
    assert response.status_code == 200
    assert response.get_json() == {"decision": True}


def test_reader_may_not_act_for_the_enterprise(api):
    response = api.post(EVALUATION, question(EMMA, "act_for", BOULANGERIE))
    assert response.status_code == 200
    assert response.get_json() == {"decision": False}


def test_identifiers_are_accepted_in_their_usual_spellings(api):
    assert api.decide(question("90.01.01-001.23", "act_for", "BE 0123.456.749"))
    assert not api.decide(question("90.01.01-002.22", "act_for", "0123.456.749"))


def test_unknown_person_or_enterprise_is_denied(api):
    assert not api.decide(question("80010100107", "read_dossier", BOULANGERIE))
    assert not api.decide(question(SOPHIE, "read_dossier", "0200000142"))


def test_properties_and_unknown_keys_are_ignored(api):
    body = question(LUC, "act_for", BOULANGERIE, extra={"x": 1})
    body["subject"]["properties"] = {"ip_address": "192.0.2.1"}
    body["action"]["properties"] = {"method": "GET"}
    assert api.decide(body)


def test_decisions_use_the_callers_service_domain(api_app, api):
    # Luc's agent grant is scoped to fiscalite (the demo client's domain); Sophie's is not.
    secret = add_api_client("env-rp", "environnement")
    other = Caller(api_app.test_client(), basic("env-rp", secret))
    assert api.decide(question(LUC, "act_for", BOULANGERIE))
    assert not other.decide(question(LUC, "act_for", BOULANGERIE))
    assert other.decide(question(SOPHIE, "act_for", BOULANGERIE))


def test_the_callers_own_service_domain_may_be_named(api):
    body = question(LUC, "act_for", BOULANGERIE, context={"service_domain": "fiscalite"})
    assert api.decide(body)


@pytest.mark.parametrize(
    "path", [EVALUATION, EVALUATIONS, "/access/v1/search/subject", "/access/v1/search/action"]
)
def test_another_service_domain_is_forbidden(api, path):
    body = question(LUC, "act_for", BOULANGERIE, context={"service_domain": "environnement"})
    response = api.post(path, body)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert "fiscalite" in response.get_json()["error_description"]


def test_explain_adds_the_explanation_to_the_context(api):
    allowed = api.post(EVALUATION, question(LUC, "act_for", BOULANGERIE, context={"explain": True}))
    denied = api.post(EVALUATION, question(EMMA, "act_for", BOULANGERIE, context={"explain": True}))
    allow = allowed.get_json()
    assert allow["decision"] is True
    explanation = allow["context"]["explanation"]
    assert explanation["paths"][0]["path"] == "grant:agent"
    assert explanation["paths"][0]["rules"]
    assert explanation["policy_version"] == get_engine().version
    assert explanation["service_domain"] == "fiscalite"
    assert explanation["facts"][0].startswith("grant#")
    deny = denied.get_json()
    assert deny["decision"] is False
    assert deny["context"]["explanation"]["paths"] == []
    assert "does not give act_for" in deny["context"]["explanation"]["reasons"][0]


def test_no_context_without_explain(api):
    body = question(LUC, "act_for", BOULANGERIE, context={"explain": False})
    assert api.post(EVALUATION, body).get_json() == {"decision": True}


def test_a_revocation_is_denied_on_the_next_evaluation(api):
    body = question(LUC, "act_for", BOULANGERIE)
    assert api.decide(body)
    assert api.decide(body)  # now from the decision cache
    luc, marc = Person.get(Person.nrn == LUC), Person.get(Person.nrn == MARC)
    grant = RoleGrant.get((RoleGrant.person == luc) & RoleGrant.ended_at.is_null())
    revoke_role(ServiceCaller.for_person(marc), grant.id)
    assert not api.decide(body)


# -- batches ------------------------------------------------------------------------------


def batch(semantic: str | None, *nrns: str, **extra) -> dict:
    body = {
        "action": {"name": "act_for"},
        "resource": enterprise(BOULANGERIE),
        "evaluations": [{"subject": person(nrn)} for nrn in nrns],
        **extra,
    }
    if semantic:
        body["options"] = {"evaluations_semantic": semantic}
    return body


def decisions(response) -> list[bool]:
    assert response.status_code == 200, response.get_json()
    return [item["decision"] for item in response.get_json()["evaluations"]]


@pytest.mark.parametrize("semantic", [None, "execute_all"])
def test_batch_executes_all_by_default(api, semantic):
    response = api.post(EVALUATIONS, batch(semantic, LUC, EMMA, SOPHIE))
    assert decisions(response) == [True, False, True]
    assert "decision" not in response.get_json()


def test_batch_deny_on_first_deny_stops_at_the_first_deny(api):
    response = api.post(EVALUATIONS, batch("deny_on_first_deny", LUC, EMMA, SOPHIE))
    assert decisions(response) == [True, False]


def test_batch_permit_on_first_permit_stops_at_the_first_permit(api):
    response = api.post(EVALUATIONS, batch("permit_on_first_permit", EMMA, LUC, SOPHIE))
    assert decisions(response) == [False, True]


def test_batch_short_circuits_run_to_the_end_without_a_match(api):
    assert decisions(api.post(EVALUATIONS, batch("deny_on_first_deny", LUC, SOPHIE))) == [
        True,
        True,
    ]
    assert decisions(api.post(EVALUATIONS, batch("permit_on_first_permit", EMMA, ALICE))) == [
        False,
        False,
    ]


def test_batch_items_override_the_top_level_defaults(api):
    body = {
        "subject": person(LUC),
        "action": {"name": "submit_dossier"},
        "context": {"explain": True},
        "evaluations": [
            {"resource": enterprise(BOULANGERIE)},
            {"action": {"name": "act_for"}, "resource": enterprise(BOULANGERIE), "context": {}},
            {"subject": person(SOPHIE), "resource": enterprise(BOULANGERIE)},
            {"subject": None, "action": {"name": "act_for"}, "resource": enterprise(BOULANGERIE)},
        ],
    }
    results = api.post(EVALUATIONS, body).get_json()["evaluations"]
    assert [r["decision"] for r in results] == [False, True, True, True]  # null: the default
    assert "explanation" in results[0]["context"]
    assert "context" not in results[1]
    assert results[2]["context"]["explanation"]["paths"][0]["path"] == "grant:owner"


def test_batch_item_errors_fail_only_their_item(api):
    body = {
        "evaluations": [
            question(LUC, "act_for", BOULANGERIE),
            question("12345678901", "act_for", BOULANGERIE),
            question(LUC, "fly", BOULANGERIE),
            {**question(LUC, "act_for", BOULANGERIE), "resource": {"type": "account", "id": "1"}},
            question(LUC, "act_for", BOULANGERIE, context={"service_domain": "environnement"}),
            question(SOPHIE, "act_for", "0123456789"),
        ]
    }
    results = api.post(EVALUATIONS, body).get_json()["evaluations"]
    assert results[0] == {"decision": True}
    statuses = [r["context"]["error"]["status"] for r in results[1:]]
    assert statuses == [400, 400, 400, 403, 400]
    assert all(r["decision"] is False for r in results[1:])
    assert "national register number" in results[1]["context"]["error"]["message"]
    assert "fly" in results[2]["context"]["error"]["message"]


def test_batch_item_error_counts_as_a_deny(api):
    body = batch("deny_on_first_deny", LUC, "12345678901", SOPHIE)
    results = api.post(EVALUATIONS, body).get_json()["evaluations"]
    assert [r["decision"] for r in results] == [True, False]
    assert results[1]["context"]["error"]["status"] == 400


@pytest.mark.parametrize("evaluations", [None, []])
def test_batch_without_evaluations_is_a_single_evaluation(api, evaluations):
    body = question(LUC, "act_for", BOULANGERIE)
    if evaluations is not None:
        body["evaluations"] = evaluations
    assert api.post(EVALUATIONS, body).get_json() == {"decision": True}


@pytest.mark.parametrize(
    "change",
    [
        {"evaluations": {"subject": person(LUC)}},
        {"evaluations": [{"subject": person(LUC)}, "x"]},
        {"resource": None},
        {"evaluations": [{"subject": {"type": "person", "id": 42}}]},
        {"options": "deny_on_first_deny"},
        {"options": {"evaluations_semantic": "first_deny"}},
        {"evaluations": [{"subject": person(LUC)}] * (authzen.MAX_EVALUATIONS + 1)},
    ],
    ids=[
        "not-an-array",
        "item-not-an-object",
        "missing-resource",
        "mistyped-id",
        "options-not-an-object",
        "unknown-semantic",
        "too-many",
    ],
)
def test_batch_that_breaks_the_model_fails_as_a_whole(api, change):
    body = {**batch(None, LUC), **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = api.post(EVALUATIONS, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


# -- metadata, request ids --------------------------------------------------------------


def test_metadata_names_every_endpoint(api_app):
    response = api_app.test_client().get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "policy_decision_point": BASE_URL,
        "access_evaluation_endpoint": f"{BASE_URL}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{BASE_URL}/access/v1/evaluations",
        "search_subject_endpoint": f"{BASE_URL}/access/v1/search/subject",
        "search_resource_endpoint": f"{BASE_URL}/access/v1/search/resource",
        "search_action_endpoint": f"{BASE_URL}/access/v1/search/action",
        "policy_version": get_engine().version,
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("post", EVALUATION, question(LUC, "act_for", BOULANGERIE), DEMO_AUTH, 200),
        ("post", EVALUATIONS, batch(None, LUC, EMMA), DEMO_AUTH, 200),
        ("post", "/access/v1/search/action", question(LUC, "x", BOULANGERIE), DEMO_AUTH, 200),
        ("post", EVALUATION, {"subject": person(LUC)}, DEMO_AUTH, 400),
        ("post", EVALUATION, question(LUC, "act_for", BOULANGERIE), {}, 401),
        (
            "post",
            EVALUATION,
            question(LUC, "act_for", BOULANGERIE, context={"service_domain": "x1"}),
            DEMO_AUTH,
            403,
        ),
        ("get", EVALUATION, None, DEMO_AUTH, 405),
        ("get", "/.well-known/authzen-configuration", None, {}, 200),
    ],
)
def test_request_id_is_echoed_on_every_response(api_app, method, path, body, headers, status):
    response = getattr(api_app.test_client(), method)(
        path, json=body, headers={**headers, "X-Request-ID": "req-42 abc"}
    )
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "req-42 abc"


def test_no_request_id_when_none_was_sent(api):
    response = api.post(EVALUATION, question(LUC, "act_for", BOULANGERIE))
    assert "X-Request-ID" not in response.headers


# -- callers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("demo-rp", "wrong-secret"),
        basic("nobody", "demo-secret"),
        basic("", ""),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic ZGVtby1ycA=="},  # "demo-rp", no colon
        {"Authorization": "Basic"},
    ],
    ids=["none", "wrong-secret", "unknown", "empty", "bad-base64", "no-colon", "bare"],
)
def test_missing_or_wrong_credentials_are_401(api_app, headers):
    response = Caller(api_app.test_client(), headers).post(
        EVALUATION, question(LUC, "act_for", BOULANGERIE)
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="monespace"'
    assert response.get_json()["error"] == "invalid_client"


def test_an_unknown_bearer_token_is_401_invalid_token(api_app):
    response = Caller(api_app.test_client(), {"Authorization": "Bearer abc"}).post(
        EVALUATION, question(LUC, "act_for", BOULANGERIE)
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def client_credentials_token(app, client_id: str, secret: str) -> str:
    response = app.test_client().post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["token_type"] == "Bearer"
    return response.get_json()["access_token"]


def test_an_access_token_of_the_client_credentials_grant_is_accepted(api_app):
    secret = add_api_client("token-rp", "fiscalite")
    token = client_credentials_token(api_app, "token-rp", secret)
    caller = Caller(api_app.test_client(), {"Authorization": f"Bearer {token}"})
    assert caller.decide(question(LUC, "act_for", BOULANGERIE))
    # The token's client decides the service domain, as with Basic credentials.
    other = client_credentials_token(api_app, "token-env", add_api_client("token-env", "env"))
    assert not Caller(api_app.test_client(), {"Authorization": f"Bearer {other}"}).decide(
        question(LUC, "act_for", BOULANGERIE)
    )


def test_a_revoked_access_token_is_refused_once_the_cache_forgets_it(
    database_url, monkeypatch, request
):
    monkeypatch.setattr(api_module, "CLIENT_CACHE_SECONDS", 0.3)
    app = request.getfixturevalue("api_app")
    secret = add_api_client("short-token", "fiscalite")
    token = client_credentials_token(app, "short-token", secret)
    caller = Caller(app.test_client(), {"Authorization": f"Bearer {token}"})
    assert caller.decide(question(LUC, "act_for", BOULANGERIE))
    revoked = app.test_client().post(
        "/revoke", data={"token": token}, headers=basic("short-token", secret)
    )
    assert revoked.status_code == 200
    time.sleep(0.35)
    assert caller.post(EVALUATION, question(LUC, "act_for", BOULANGERIE)).status_code == 401


def test_disabled_client_is_401(api_app):
    secret = add_api_client("old-rp", "fiscalite")
    disable_client("old-rp", actor="operator:test")
    response = Caller(api_app.test_client(), basic("old-rp", secret)).post(
        EVALUATION, question(LUC, "act_for", BOULANGERIE)
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="monespace"'


def test_url_encoded_credentials_are_decoded(api_app):
    # RFC 6749 section 2.3.1: client_id and secret are form-encoded before Basic encoding.
    secret = add_api_client("rp.one", "fiscalite")
    caller = Caller(api_app.test_client(), basic("rp%2Eone", secret))
    assert caller.decide(question(LUC, "act_for", BOULANGERIE))


def test_client_records_are_cached_until_their_time_runs_out(database_url, monkeypatch, request):
    monkeypatch.setattr(api_module, "CLIENT_CACHE_SECONDS", 0.3)
    app = request.getfixturevalue("api_app")
    secret = add_api_client("short-rp", "fiscalite")
    caller = Caller(app.test_client(), basic("short-rp", secret))
    assert caller.decide(question(LUC, "act_for", BOULANGERIE))
    disable_client("short-rp", actor="operator:test")
    # Still known as enabled: the credentials were not read from the database again.
    assert caller.decide(question(LUC, "act_for", BOULANGERIE))
    time.sleep(0.35)
    response = caller.post(EVALUATION, question(LUC, "act_for", BOULANGERIE))
    assert response.status_code == 401


def test_tracker_starts_on_the_first_request_of_each_process(api_app, api, monkeypatch):
    point = api_app.extensions["monespace.decisions"]
    started, start = [], point.tracker.start

    def recording_start():
        started.append(os.getpid())
        start()

    monkeypatch.setattr(point.tracker, "start", recording_start)
    assert started == []
    api.decide(question(LUC, "act_for", BOULANGERIE))
    api.decide(question(LUC, "act_for", BOULANGERIE))
    assert started == [os.getpid()]
    # As in a forked worker: the tracker was started by another process, not this one.
    api_app.extensions["monespace.decisions.edge"].started_pid = -1
    api.decide(question(LUC, "act_for", BOULANGERIE))
    assert started == [os.getpid(), os.getpid()]


# -- the fast lane (POST /access/v1/evaluation outside Flask's dispatch) ---------------------


@pytest.fixture
def dispatched(api_app) -> list[str]:
    """The paths of the requests Flask dispatched."""
    paths: list[str] = []

    @api_app.before_request
    def record() -> None:
        paths.append(flask.request.path)

    return paths


def test_well_formed_evaluations_skip_flasks_dispatch(api, dispatched):
    response = api.test_client.post(
        EVALUATION,
        json=question(LUC, "act_for", BOULANGERIE),
        headers={**DEMO_AUTH, "X-Request-ID": "r-1"},
    )
    assert response.status_code == 200
    assert response.get_json() == {"decision": True}
    assert response.mimetype == "application/json"
    assert response.headers["X-Request-ID"] == "r-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    explained = question(LUC, "act_for", BOULANGERIE, context={"explain": True})
    assert api.post(EVALUATION, explained).get_json()["context"]["explanation"]["paths"]
    assert dispatched == []


def test_the_route_answers_what_the_fast_lane_does_not_with_the_body_intact(api, dispatched):
    response = api.post(EVALUATION, question("90010100124", "act_for", BOULANGERIE))
    assert response.status_code == 400
    # The route read the same body the fast lane had read: it names the NRN sent.
    assert "90010100124" in response.get_json()["error_description"]
    assert dispatched == [EVALUATION]
    assert api.test_client.post(EVALUATION, json=good()).status_code == 401
    assert dispatched == [EVALUATION, EVALUATION]


def test_a_body_asked_again_is_decided_for_each_caller_in_its_own_domain(api_app, api):
    # The fast lane keeps the terms of a body it has read; the caller and its service domain
    # are still each request's own.
    secret = add_api_client("env-rp", "environnement")
    other = Caller(api_app.test_client(), basic("env-rp", secret))
    named = question(LUC, "act_for", BOULANGERIE, context={"service_domain": "fiscalite"})
    for _ in range(2):
        assert api.decide(named)
        refused = other.post(EVALUATION, named)
        assert refused.status_code == 403
        assert "environnement" in refused.get_json()["error_description"]
        assert api.decide(question(LUC, "act_for", BOULANGERIE))
        assert not other.decide(question(LUC, "act_for", BOULANGERIE))
        assert api.test_client.post(EVALUATION, json=named).status_code == 401


def test_the_fast_lane_keeps_the_terms_of_a_bounded_number_of_small_bodies(api_app, api):
    from authz.api import fastlane

    lane = api_app.wsgi_app
    while not isinstance(lane, fastlane.FastEvaluation):
        lane = getattr(lane, "wsgi_app", None) or lane.app
    for n in range(fastlane.TERMS_CACHE_SIZE + 50):
        body = question(LUC, "act_for", BOULANGERIE, context={"n": n})
        assert api.decide(body)
    assert len(lane._terms) == fastlane.TERMS_CACHE_SIZE
    padded = question(LUC, "act_for", BOULANGERIE, context={"pad": "x" * 2000})
    assert api.decide(padded)
    assert all(len(body) <= fastlane.TERMS_CACHE_BODY for body in lane._terms)


def test_the_fast_lane_gives_the_database_connection_back(api):
    if not db.database.is_closed():
        db.database.close()
    # The app's first question: a cache miss, which reads the facts from the database.
    assert api.decide(question(LUC, "act_for", BOULANGERIE))
    assert db.database.is_closed()


# -- bad requests -------------------------------------------------------------------------


def _without(body: dict, *path: str) -> dict:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _with(body: dict, value, *path: str) -> dict:
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def good() -> dict:
    return question(LUC, "act_for", BOULANGERIE)


BAD_BODIES = {
    "missing-subject": (_without(good(), "subject"), "invalid_request"),
    "missing-action": (_without(good(), "action"), "invalid_request"),
    "missing-resource": (_without(good(), "resource"), "invalid_request"),
    "null-subject": (_with(good(), None, "subject"), "invalid_request"),
    "subject-not-object": (_with(good(), LUC, "subject"), "invalid_request"),
    "missing-subject-type": (_without(good(), "subject", "type"), "invalid_request"),
    "missing-subject-id": (_without(good(), "subject", "id"), "invalid_request"),
    "numeric-subject-id": (_with(good(), 90010100123, "subject", "id"), "invalid_request"),
    "subject-properties-list": (_with(good(), [], "subject", "properties"), "invalid_request"),
    "missing-resource-id": (_without(good(), "resource", "id"), "invalid_request"),
    "missing-action-name": (_without(good(), "action", "name"), "invalid_request"),
    "action-name-list": (_with(good(), ["act_for"], "action", "name"), "invalid_request"),
    "action-properties-string": (_with(good(), "x", "action", "properties"), "invalid_request"),
    "context-list": (_with(good(), [], "context"), "invalid_request"),
    "explain-string": (_with(good(), {"explain": "yes"}, "context"), "invalid_request"),
    "domain-number": (_with(good(), {"service_domain": 1}, "context"), "invalid_request"),
    "body-array": ([good()], "invalid_request"),
    "body-string": ("act_for", "invalid_request"),
    "subject-type-user": (_with(good(), "user", "subject", "type"), "invalid_subject"),
    "invalid-nrn": (_with(good(), "90010100124", "subject", "id"), "invalid_subject"),
    "resource-type-account": (_with(good(), "account", "resource", "type"), "invalid_resource"),
    "invalid-bce": (_with(good(), "0123456789", "resource", "id"), "invalid_resource"),
    "unknown-action": (_with(good(), "fly", "action", "name"), "invalid_action"),
    "action-case": (_with(good(), "ACT_FOR", "action", "name"), "invalid_action"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_evaluation_is_400_with_a_json_error(api, name):
    body, code = BAD_BODIES[name]
    response = api.post(EVALUATION, body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == code
    assert isinstance(error["error_description"], str) and error["error_description"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"subject": ', "application/json"),
        (b"", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"subject": "\xff"}', "application/json"),
        (b"subject=x", "application/x-www-form-urlencoded"),
        (b'{"subject": {}}', "text/plain"),
        (b'{"subject": {}}', None),
    ],
    ids=["truncated", "empty", "deeply-nested", "not-utf8", "form", "text-plain", "no-type"],
)
def test_unreadable_body_is_400(api, data, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.test_client.post(EVALUATION, data=data, headers={**DEMO_AUTH, **headers})
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "invalid_request"


def test_json_with_a_charset_is_accepted(api):
    response = api.test_client.post(
        EVALUATION,
        data=b'{"subject": {"type": "person", "id": "90010100123"}, "action": {"name": '
        b'"act_for"}, "resource": {"type": "enterprise", "id": "0123456749"}}',
        headers={**DEMO_AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.get_json() == {"decision": True}


def test_oversized_body_is_413(api):
    data = b'{"pad": "' + b"x" * api_module.MAX_BODY_BYTES + b'"}'
    response = api.test_client.post(
        EVALUATION, data=data, headers={**DEMO_AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_too_large"


@pytest.mark.parametrize(("size", "status"), [(0, "200 OK"), (api_module.MAX_BODY_BYTES, "413")])
def test_body_without_a_length_is_read_up_to_the_limit(api_app, size, status):
    # Chunked transfer: no Content-Length, the server says where the body ends.
    body = json.dumps({**question(LUC, "act_for", BOULANGERIE), "pad": "x" * size}).encode()
    environ = EnvironBuilder(
        path=EVALUATION, method="POST", data=body, content_type="application/json"
    ).get_environ()
    environ.update(HTTP_AUTHORIZATION=DEMO_AUTH["Authorization"])
    environ["wsgi.input_terminated"] = True
    del environ["CONTENT_LENGTH"]
    app_iter, got, _headers = run_wsgi_app(api_app, environ)
    answer = b"".join(app_iter)
    assert got.startswith(status), answer
    if size == 0:
        assert json.loads(answer) == {"decision": True}


def test_credentials_are_checked_before_the_body(api_app):
    response = api_app.test_client().post(EVALUATION, data=b"{", content_type="application/json")
    assert response.status_code == 401
