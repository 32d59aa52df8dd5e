"""idp_bridge/oidc/authorization.py: what an authorization request may ask (``prompt``,
``max_age``, ``id_token_hint``, ``response_mode``) and how it is answered."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt

from authz import db
from authz.catalogue import CatalogueEntry
from authz.clients import ClientMetadata, add_client, set_catalogue
from idp_bridge.models import LoginSession, PendingLogin
from idp_bridge.oidc.authorization import CHOOSER_TIME
from idp_bridge.oidc.edge import EXTENSION, PENDING_TTL
from idp_bridge.shared.nested_jwt import generate_rsa_key
from tests.idp_bridge.oidc.client_requests import (
    BOULANGERIE,
    CALLBACK,
    authorize_query,
    basic,
    callback_params,
    choose,
    id_token_claims,
    redeem,
)
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)


def authorize(browser: Browser, **extra):
    return browser.get("/authorize?" + urlencode(authorize_query(**extra)))


def asks_to_log_in(response) -> bool:
    return response.status_code == 303 and response.headers["Location"].startswith("/login?")


def log_in_again(browser: Browser, started, who: str = "person:claire"):
    """Log in from the login page the request was sent to; the answer to the request."""
    assert asks_to_log_in(started), started.headers.get("Location")
    next_path = parse_qs(urlsplit(started.headers["Location"]).query)["next"][0]
    return browser.follow(browser.login("eid", who, next_path).headers["Location"])


def age_sessions(seconds: int) -> None:
    """Make the live login sessions look ``seconds`` older."""
    with db.connection():
        for session in LoginSession.select().where(LoginSession.ended_at.is_null()):
            session.created_at -= timedelta(seconds=seconds)
            session.save()


def id_token_for(browser: Browser, secret: str, client_id: str = "fisc") -> str:
    params = callback_params(authorize(browser, client_id=client_id))
    return redeem(browser, params["code"], None, basic(client_id, secret)).get_json()["id_token"]


# -- prompt=login and max_age: one fresh login, then the answer --------------------------------


@pytest.mark.parametrize("asked", [{"max_age": "0"}, {"prompt": "login"}, {"max_age": "60"}])
def test_a_fresh_login_is_asked_once_then_the_request_is_answered(browser, confidential, asked):
    browser.login("eid", "person:claire")
    age_sessions(120)
    started_at = int(time.time())
    answered = log_in_again(browser, authorize(browser, **asked))
    params = callback_params(answered)
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    assert id_token_claims(browser, tokens["id_token"])["auth_time"] >= started_at


@pytest.fixture
def local_time_not_utc(monkeypatch):
    """The process's local time zone is not UTC (as on a server set to Brussels time)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_login_times_are_utc_whatever_the_local_time_zone(
    browser, confidential, local_time_not_utc
):
    browser.login("eid", "person:claire")
    params = callback_params(authorize(browser, max_age="60"))  # younger than a minute
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    assert abs(id_token_claims(browser, tokens["id_token"])["auth_time"] - time.time()) < 60


def test_a_login_younger_than_max_age_is_answered_at_once(browser, confidential):
    browser.login("eid", "person:claire")
    age_sessions(120)
    assert "code" in callback_params(authorize(browser, max_age="3600"))
    assert asks_to_log_in(authorize(browser, max_age="119"))


def test_max_age_under_prompt_none_is_login_required(browser, confidential):
    browser.login("eid", "person:claire")
    age_sessions(120)
    params = callback_params(authorize(browser, max_age="60", prompt="none"))
    assert params["error"] == "login_required" and params["state"] == "st-1"


# -- malformed prompt and max_age ----------------------------------------------------------


@pytest.mark.parametrize(
    "asked",
    [
        {"prompt": "bogus"},
        {"prompt": "none login"},
        {"max_age": "abc"},
        {"max_age": "-1"},
        {"max_age": "1.5"},
        {"max_age": "9" * 30},
        {"display": "nowhere"},
    ],
)
def test_a_malformed_parameter_is_invalid_request_at_the_client(browser, confidential, asked):
    browser.login("eid", "person:claire")
    params = callback_params(authorize(browser, **asked))
    assert params["error"] == "invalid_request"
    assert params["state"] == "st-1" and params["iss"] == "http://localhost"


def test_a_malformed_parameter_with_an_unknown_redirect_uri_is_a_page(browser, confidential):
    response = authorize(browser, prompt="bogus", redirect_uri="https://evil.example.test/cb")
    assert response.status_code == 400 and response.mimetype == "text/html"


@pytest.mark.parametrize("prompt", ["none", "login", "consent", "select_account", "login consent"])
def test_each_known_prompt_value_is_accepted(browser, confidential, prompt):
    browser.login("eid", "person:claire")
    response = authorize(browser, prompt=prompt)
    assert asks_to_log_in(response) or "code" in callback_params(response)


# -- id_token_hint ------------------------------------------------------------------------------


def resigned(browser: Browser, token: str, key=None, **changes) -> str:
    """The ID token's claims with ``changes``, signed with ``key`` (the provider's current
    key by default) under the provider's current kid."""
    edge = browser.app.extensions[EXTENSION]
    current = edge.keys.signing_key()
    claims = {**id_token_claims(browser, token), **changes}
    header = {"alg": "RS256", "kid": current.kid}
    return jwt.encode(header, claims, key or current)


def unsigned(browser: Browser, token: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return part({"alg": "none"}) + "." + part(id_token_claims(browser, token)) + "."


def test_a_hint_of_the_person_logged_in_is_answered(browser, confidential):
    browser.login("eid", "person:claire")
    hint = id_token_for(browser, confidential)
    assert "code" in callback_params(authorize(browser, id_token_hint=hint, prompt="none"))
    assert "code" in callback_params(authorize(browser, id_token_hint=hint))


def test_an_expired_hint_is_accepted(browser, confidential):
    browser.login("eid", "person:claire")
    hint = id_token_for(browser, confidential)
    past = int(time.time()) - 7200
    expired = resigned(browser, hint, iat=past, exp=past + 300)
    assert "code" in callback_params(authorize(browser, id_token_hint=expired, prompt="none"))


def test_a_hint_signed_with_the_previous_key_is_accepted(browser, confidential):
    browser.login("eid", "person:claire")
    hint = id_token_for(browser, confidential)
    keys = browser.app.extensions[EXTENSION].keys
    keys.rotate(force=True)
    keys.clear_cache()
    assert keys.signing_key().kid != json.loads(base64.b64decode(hint.split(".")[0] + "=="))["kid"]
    assert "code" in callback_params(authorize(browser, id_token_hint=hint, prompt="none"))


@pytest.mark.parametrize("forgery", ["other key", "alg none", "other issuer", "garbage"])
def test_a_hint_this_provider_did_not_sign_is_invalid_request(browser, confidential, forgery):
    browser.login("eid", "person:claire")
    hint = id_token_for(browser, confidential)
    forged = {
        "other key": lambda: resigned(browser, hint, key=generate_rsa_key("sig")),
        "alg none": lambda: unsigned(browser, hint),
        "other issuer": lambda: resigned(browser, hint, iss="https://evil.example.test"),
        "garbage": lambda: "not.a.token",
    }[forgery]()
    params = callback_params(authorize(browser, id_token_hint=forged))
    assert params["error"] == "invalid_request" and params["state"] == "st-1"


def test_a_hint_issued_to_another_client_is_invalid_request(browser, confidential):
    _client, other_secret = add_client(
        ClientMetadata("Autre service", "fiscalite", [CALLBACK], client_id="other"),
        actor="operator:test",
    )
    browser.login("eid", "person:claire")
    hint = id_token_for(browser, other_secret, client_id="other")
    params = callback_params(authorize(browser, id_token_hint=hint))
    assert params["error"] == "invalid_request"


def test_a_hint_for_another_person_asks_for_a_login_or_is_login_required(app, confidential):
    luc = Browser(app)
    luc.login("eid", "person:luc")
    hint = id_token_for(luc, confidential)
    browser = Browser(app)
    browser.login("eid", "person:claire")

    refused = callback_params(authorize(browser, id_token_hint=hint, prompt="none"))
    assert refused["error"] == "login_required" and refused["state"] == "st-1"
    # Without prompt=none: one new login, and the answer is for whoever logged in.
    params = callback_params(log_in_again(browser, authorize(browser, id_token_hint=hint)))
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    assert id_token_claims(browser, tokens["id_token"])["sub"] != id_token_claims(luc, hint)["sub"]


# -- prompt=none and the espace chooser ---------------------------------------------------------


def test_prompt_none_where_the_chooser_would_be_shown_is_interaction_required(
    browser, confidential
):
    browser.login("eid", "person:luc")
    params = callback_params(authorize(browser, scope="openid enterprise", prompt="none"))
    assert params["error"] == "interaction_required" and params["state"] == "st-1"
    # Interactively, the chooser is shown.
    chooser = authorize(browser, scope="openid enterprise")
    assert chooser.headers["Location"].startswith("/authorize/espace?")


def test_prompt_none_with_only_the_citizen_espace_answers_with_it(browser, confidential):
    browser.login("eid", "person:alice")
    params = callback_params(authorize(browser, scope="openid enterprise", prompt="none"))
    tokens = redeem(browser, params["code"], None, basic("fisc", confidential)).get_json()
    claims = id_token_claims(browser, tokens["id_token"])
    assert claims["espace"] == "citoyen" and "represents" not in claims


# -- response modes -------------------------------------------------------------------------------


def form_post_fields(response) -> tuple[str, dict[str, str]]:
    assert response.status_code == 200, page_text(response)
    text = response.get_data(as_text=True)
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', text)[1])
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', text)
    return action, {name: unescape(value) for name, value in fields}


def test_form_post_answers_in_a_form_the_browser_posts_to_the_redirect_uri(browser, confidential):
    browser.login("eid", "person:claire")
    response = authorize(browser, response_mode="form_post")
    assert "Location" not in response.headers
    action, fields = form_post_fields(response)
    assert action == CALLBACK
    assert fields["state"] == "st-1" and fields["iss"] == "http://localhost" and fields["code"]
    assert response.headers["Cache-Control"] == "no-store"

    # The page's CSP allows its own script (by hash) and a form to the client's origin only.
    policy = response.headers["Content-Security-Policy"]
    text = response.get_data(as_text=True)
    script = re.search(r"<script>(.*)</script>", text)[1]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert "form-action https://rp.example.test;" in policy
    assert "<noscript><button" in text

    tokens = redeem(browser, fields["code"], None, basic("fisc", confidential)).get_json()
    assert "id_token" in tokens


def test_form_post_carries_errors_too(browser, confidential):
    action, fields = form_post_fields(authorize(browser, response_mode="form_post", prompt="none"))
    assert action == CALLBACK and fields["error"] == "login_required"
    assert fields["state"] == "st-1" and fields["iss"] == "http://localhost"


def test_form_post_after_the_login_and_the_chooser(browser, confidential):
    started = authorize(browser, response_mode="form_post", scope="openid enterprise")
    chooser = browser.follow(log_in_again(browser, started, "person:luc").headers["Location"])
    _action, fields = form_post_fields(choose(browser, chooser, BOULANGERIE))
    assert fields["code"] and fields["state"] == "st-1"


@pytest.mark.parametrize("mode", ["fragment", "query.jwt", "web_message"])
def test_a_response_mode_not_supported_is_refused(browser, confidential, mode):
    browser.login("eid", "person:claire")
    response = authorize(browser, response_mode=mode)
    params = callback_params(response)
    assert params["error"] == "invalid_request" and "code" not in params


def test_discovery_advertises_the_response_modes(browser):
    document = browser.get("/.well-known/openid-configuration").get_json()
    assert document["response_modes_supported"] == ["query", "form_post"]


@pytest.mark.parametrize(
    ("lang", "named"),
    [("fr", "Impôts en ligne"), ("nl", "Belastingen online"), ("de", "Impôts en ligne")],
)
def test_the_chooser_names_the_service_from_the_catalogue(browser, confidential, lang, named):
    browser.login("eid", "person:luc")
    chooser = browser.follow(authorize(browser, scope="openid enterprise").headers["Location"])
    assert "Pour qui agissez-vous auprès de Fiscalité en ligne ?" in page_text(chooser)
    set_catalogue(
        "fisc",
        CatalogueEntry(
            {"fr": "Impôts en ligne", "nl": "Belastingen online"},
            {"fr": "Vos impôts."},
            "https://fisc.example.test/",
            ["citoyen", "professionnel"],
        ),
        actor="operator:test",
    )
    location = authorize(browser, scope="openid enterprise").headers["Location"]
    page = browser.get(
        re.sub(r"lang=\w+", f"lang={lang}", location)
        if "lang=" in location
        else f"{location}&lang={lang}"
    )
    assert page.status_code == 200
    assert named in page_text(page)
    assert f'<html lang="{lang}">' in page.get_data(as_text=True)


# -- the chooser with many clients through a firm ----------------------------------------------


def _firm_of_many_clients(count: int) -> None:
    """``count`` more clients of the demo firm (``Client NN Démo SRL``), mandates accepted."""
    from authz.models import Enterprise, LegalRepresentation, Person
    from authz.services import Caller, accept_mandate, propose_mandate
    from monespace import demo
    from tests.authz.services import make_bce, make_nrn

    with db.connection():
        representative = Person.create(nrn=make_nrn("600101", 7), given_name="Rep")
        victor = Caller.for_person(Person.get(Person.nrn == "78021414619"))
        for i in range(count):
            client = Enterprise.create(bce=make_bce(6_000_000 + i), name=f"Client {i:02d} Démo SRL")
            LegalRepresentation.create(person=representative, enterprise=client)
            mandate = propose_mandate(
                Caller.for_person(representative), client.bce, demo.FIRM_BCE, ["fiscalite"]
            )
            accept_mandate(victor, mandate.id)


def test_the_chooser_pages_and_searches_the_clients_of_a_firm(browser, confidential):
    _firm_of_many_clients(25)  # with the demo's three: 28 clients
    browser.login("eid", "person:ines")
    chooser = browser.follow(authorize(browser, scope="openid enterprise").headers["Location"])
    text = chooser.get_data(as_text=True)
    assert text.count("– via Fiduciaire Démo SRL") == 20
    assert 'role="search"' in text and "Première page" not in text
    next_link = unescape(re.search(r'<a href="([^"]+)" rel="next">', text)[1])

    second = browser.get(next_link).get_data(as_text=True)
    assert second.count("– via Fiduciaire Démo SRL") == 8
    assert 'rel="next"' not in second and "Première page" in second
    assert "Librairie Démo SRL" in second  # after every "Client NN", by name

    request_id = re.search(r'name="request" value="([^"]+)"', text)[1]
    found = browser.get(f"/authorize/espace?request={request_id}&q=client+07").get_data(
        as_text=True
    )
    assert found.count("– via Fiduciaire Démo SRL") == 1 and "Client 07 Démo SRL" in found
    params = callback_params(choose(browser, browser.get(next_link), "0444888817"))
    assert "code" in params


@pytest.mark.parametrize("after", ["abc", "-1", "0", "99999999999999999999999", "4"])
def test_a_page_cursor_not_given_by_the_page_is_no_error(browser, confidential, after):
    browser.login("eid", "person:ines")
    chooser = browser.follow(authorize(browser, scope="openid enterprise").headers["Location"])
    request_id = re.search(r'name="request" value="([^"]+)"', chooser.get_data(as_text=True))[1]
    page = browser.get(f"/authorize/espace?request={request_id}&after={after}")
    assert page.status_code == 200
    if after != "4":  # not a cursor at all: the first page
        assert "Fleuriste Démo SC" in page.get_data(as_text=True)


# -- the waiting request: one row, taken with the code ------------------------------------------


def pending_rows() -> list[PendingLogin]:
    with db.connection():
        return list(PendingLogin.select().where(PendingLogin.kind == "authorize"))


def writes(sql_log, verb: str, table: str) -> int:
    return sum(1 for sql, _inside in sql_log.statements if sql.startswith(f"{verb} {table}"))


def test_a_request_waits_in_one_row_taken_with_its_code_in_one_commit(
    browser, confidential, sql_log
):
    started = authorize(browser, scope="openid enterprise")
    assert len(pending_rows()) == 1
    sql_log.clear()
    chooser = browser.follow(log_in_again(browser, started, "person:luc").headers["Location"])
    assert chooser.status_code == 200
    # Back from the login and at the chooser: the same row, read, never written again.
    assert [row.key for row in pending_rows()] == [
        re.search(r'name="request" value="([^"]+)"', chooser.get_data(as_text=True))[1]
    ]
    assert writes(sql_log, "INSERT INTO", '"pending_login"') == 1  # the eID login's, not ours
    sql_log.clear()

    params = callback_params(choose(browser, chooser, BOULANGERIE))

    # Taken in the transaction that wrote the code: one commit, no read before the taking.
    assert sql_log.commits == 1 and sql_log.writes(in_transaction=False) == []
    reads = [sql for sql, _ in sql_log.statements if sql.startswith("SELECT")]
    assert not any("pending_login" in sql for sql in reads)
    assert "code" in params and pending_rows() == []


def test_a_resumed_request_answered_at_once_is_taken_with_its_code(browser, confidential, sql_log):
    started = authorize(browser)
    next_path = parse_qs(urlsplit(started.headers["Location"]).query)["next"][0]
    logged_in = browser.login("eid", "person:claire", next_path)
    sql_log.clear()

    answered = browser.follow(logged_in.headers["Location"])

    assert "code" in callback_params(answered) and pending_rows() == []
    # The request taken, the code, its family, its subject: one commit for all.
    assert sql_log.commits == 1 and sql_log.writes(in_transaction=False) == []


def test_a_resume_url_used_again_after_the_answer_finds_the_request_gone(browser, confidential):
    started = authorize(browser)
    next_path = parse_qs(urlsplit(started.headers["Location"]).query)["next"][0]
    resumed = browser.follow(browser.login("eid", "person:claire", next_path).headers["Location"])
    assert "code" in callback_params(resumed)

    again = browser.get(next_path)

    assert again.status_code == 400 and "a expiré" in page_text(again)


def test_a_chooser_refused_leaves_the_request_waiting_and_one_choice_gets_a_code(
    browser, confidential
):
    browser.login("eid", "person:emma")  # a reader: may not act for the Boulangerie
    chooser = browser.follow(authorize(browser, scope="openid enterprise").headers["Location"])

    refused = choose(browser, chooser, BOULANGERIE)
    assert refused.status_code == 400 and len(pending_rows()) == 1  # the taking was undone
    first = choose(browser, chooser, "citoyen")
    second = choose(browser, chooser, "citoyen")  # another tab, the same form

    assert "code" in callback_params(first)
    assert second.status_code == 400 and "a expiré" in page_text(second)


def test_a_request_that_waited_long_gets_time_to_choose(browser, confidential):
    started = authorize(browser, scope="openid enterprise")
    with db.connection():  # it waited 12 minutes for the login: 3 left, fewer than CHOOSER_TIME
        row = PendingLogin.get(PendingLogin.kind == "authorize")
        value = json.loads(row.value)
        value["_asked_at"] = str(float(value["_asked_at"]) - 720)
        row.value, row.expires_at = json.dumps(value), row.expires_at - timedelta(seconds=720)
        row.save()
        before = row.expires_at

    chooser = browser.follow(log_in_again(browser, started, "person:luc").headers["Location"])

    [row] = pending_rows()
    assert row.expires_at - before >= timedelta(seconds=CHOOSER_TIME)
    assert "code" in callback_params(choose(browser, chooser, "citoyen"))


def test_an_expired_request_is_not_resumed(browser, confidential):
    started = authorize(browser)
    with db.connection():
        for row in PendingLogin.select():
            row.expires_at -= timedelta(seconds=PENDING_TTL)
            row.save()

    resumed = log_in_again(browser, started)

    assert resumed.status_code == 400 and "a expiré" in page_text(resumed)


# What a whole login through the chooser costs the database (docs/performance.md, "Complete
# logins"): the request waiting, the eID login's pending request, the answer with the
# session, the code; reads of the session, the client, the chooser's policy questions.
LOGIN_COMMITS = 4
LOGIN_STATEMENTS = 30


def test_a_whole_login_through_the_chooser_stays_within_its_commits_and_statements(
    app, browser, confidential, sql_log
):
    def whole_login(browser: Browser) -> dict:
        started = authorize(browser, scope="openid enterprise")
        chooser = browser.follow(log_in_again(browser, started, "person:luc").headers["Location"])
        return callback_params(choose(browser, chooser, "citoyen"))

    whole_login(browser)  # the first one makes the provider's keys and salt
    sql_log.clear()

    params = whole_login(Browser(app))  # another browser: a whole login again

    assert "code" in params
    # Written: the request waiting, the eID login's pending request (one statement each,
    # committed alone), the answer with the session, the code (a transaction each).
    assert len(sql_log.writes(in_transaction=False)) == 2
    assert sql_log.commits + 2 == LOGIN_COMMITS, sql_log.commits
    assert len(sql_log.statements) <= LOGIN_STATEMENTS, len(sql_log.statements)
