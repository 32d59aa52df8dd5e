"""The login pages of the whole app (``idp_bridge.web``), through the real protocols.

The app runs in demo mode, the SAML IdP simulator and the itsme simulator mounted; a browser
(Flask's test client, with its cookies) logs in as a person would: the login page, the
simulator's page, the answer carried back to our endpoint, the session, logout. Each refusal
is checked for what matters: no session, no session cookie, a page that says why in French,
and a warning in the log with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from defusedxml.ElementTree import fromstring
from saml2 import BINDING_HTTP_POST

from authz.models import AuditEvent, Person, utcnow
from idp_bridge import sessions
from idp_bridge.browser_session import SESSION_COOKIE
from idp_bridge.shared.identity import LOA_HIGH
from idp_bridge.web import BINDING_COOKIE, EXTENSION
from monespace.app import create_app
from monespace.config import ConfigError
from tests.demo_app import (
    app_settings,
    stop,
)
from tests.idp_bridge.web_client import (
    METHODS,
    Browser,
    assert_refused,
    html_lang,
    login_sessions,
    page_text,
    set_cookies,
)

MARC_NRN, MARC_NAME, MARC_NRN_SHOWN = "85020200387", "Marc Dupont-Démo", "85.02.02-003.87"
# Not a demo person: the first login creates them.
ANNE_NRN = "85073003328"
EID_SIMULATOR = "http://localhost/simulators/eid/sso?"
ITSME_SIMULATOR = "http://localhost/simulators/itsme/authorization?"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


@pytest.fixture
def browser(app) -> Browser:
    return Browser(app)


def assert_logged_in(response, browser: Browser, to: str = "/me") -> str:
    """The login worked: redirected to ``to`` with a session cookie; returns its value."""
    assert response.status_code == 303, page_text(response)
    assert response.headers["Location"] == to
    assert SESSION_COOKIE in set_cookies(response)
    assert browser.binding() is None  # the login is over
    return browser.cookie()


def assert_sent_to_login(response) -> None:
    """Not logged in: /me sends to the login page, to come back to /me."""
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, parse_qs(location.query)) == ("/login", {"next": ["/me"]})


# -- 1, 2. Logging in --------------------------------------------------------------------------


def test_the_login_page_offers_both_methods_in_french(browser):
    page = browser.get("/login")
    assert page.status_code == 200
    text = page_text(page)
    assert html_lang(page) == "fr"
    assert "Carte d'identité électronique" in text and "itsme" in text
    assert 'href="/login/eid?next=/me"' in text
    assert 'href="/login/itsme?next=/me"' in text


def test_an_eid_login_goes_through_the_saml_simulator_and_opens_a_session(browser):
    started = browser.start("eid", "/me")
    assert started.status_code == 303
    assert started.headers["Location"].startswith(EID_SIMULATOR + "SAMLRequest=")
    binding = set_cookies(started)[BINDING_COOKIE]
    assert binding["value"].startswith("eid:")
    assert (binding["path"], binding["samesite"], binding["max-age"]) == ("/login/", "Lax", "900")
    assert "httponly" in binding and "secure" not in binding

    page = browser.follow(started.headers["Location"])
    assert MARC_NAME in page_text(page)
    answer = browser.choose("eid", page, "person:marc")
    assert answer.path == "/login/eid/acs"
    assert "SAMLResponse" in answer.form
    done = browser.deliver(answer)

    raw_id = assert_logged_in(done, browser)
    cookie = set_cookies(done)[SESSION_COOKIE]
    assert (cookie["path"], cookie["samesite"], cookie["max-age"]) == ("/", "Lax", "28800")
    assert "httponly" in cookie and "secure" not in cookie
    assert set_cookies(done)[BINDING_COOKIE]["max-age"] == "0"

    me = browser.get("/me")
    assert me.status_code == 200
    assert MARC_NAME in page_text(me) and MARC_NRN_SHOWN in page_text(me)
    assert "Carte d'identité électronique" in page_text(me)
    (session,) = login_sessions()
    assert (session.person.nrn, session.upstream, session.acr) == (MARC_NRN, "eid", LOA_HIGH)
    assert session.ended_at is None
    # The database holds the cookie's hash, never the cookie.
    assert session.id_hash == hashlib.sha256(raw_id.encode()).hexdigest()


def test_an_itsme_login_goes_through_the_itsme_simulator_and_opens_a_session(browser):
    started = browser.start("itsme", "/me")
    assert started.status_code == 303
    assert started.headers["Location"].startswith(ITSME_SIMULATOR)
    binding = set_cookies(started)[BINDING_COOKIE]
    assert binding["value"].startswith("itsme:")
    assert (binding["path"], binding["samesite"]) == ("/login/", "Lax")
    assert "httponly" in binding and "secure" not in binding

    page = browser.follow(started.headers["Location"])
    answer = browser.choose("itsme", page, "person:marc")
    assert answer.path == "/login/itsme/callback"
    assert answer.query["state"] == binding["value"].split(":")[1]
    assert "code" in answer.query
    done = browser.deliver(answer)

    assert_logged_in(done, browser)
    cookie = set_cookies(done)[SESSION_COOKIE]
    assert "httponly" in cookie and cookie["samesite"] == "Lax" and "secure" not in cookie
    me = browser.get("/me")
    assert MARC_NAME in page_text(me) and MARC_NRN_SHOWN in page_text(me)
    (session,) = login_sessions()
    assert (session.person.nrn, session.upstream) == (MARC_NRN, "itsme")
    assert session.acr == LOA_HIGH  # itsme "advanced"


def test_over_https_the_demo_marks_its_cookies_secure(make_app):
    app = make_app(base_url="https://monespace.test")
    assert app.config["MONESPACE"].secure_cookies is True
    browser = Browser(app, "https://monespace.test")

    started = browser.start("eid")
    binding = set_cookies(started)[BINDING_COOKIE]
    # FAS posts its answer cross-site: only a SameSite=None cookie goes with that POST.
    assert "secure" in binding and binding["samesite"] == "None"
    answer = browser.choose("eid", browser.follow(started.headers["Location"]), "person:marc")
    done = browser.deliver(answer)

    assert_logged_in(done, browser)
    cookie = set_cookies(done)[SESSION_COOKIE]
    assert "secure" in cookie and "httponly" in cookie and cookie["samesite"] == "Lax"


def test_over_plain_http_only_the_demo_leaves_cookies_unsecured(app):
    config = app.config["MONESPACE"]
    assert config.secure_cookies is False
    assert replace(config, base_url="https://monespace.test").secure_cookies is True
    assert replace(config, mode="production").secure_cookies is True


# -- 3. One person, whichever method ---------------------------------------------------------


def test_eid_then_itsme_with_the_same_nrn_is_one_person_brought_up_to_date(app):
    eid = Browser(app).login(
        "eid", "custom", nrn=ANNE_NRN, given_name="Anne", family_name="Dupont", language="nl"
    )
    assert eid.status_code == 303
    itsme = Browser(app).login(
        "itsme", "custom", nrn=ANNE_NRN, given_name="Anne-Marie", family_name="Dupont", locale="NL"
    )
    assert itsme.status_code == 303

    (person,) = Person.select().where(Person.nrn == ANNE_NRN)
    assert (person.given_name, person.family_name, person.language) == (
        "Anne-Marie",
        "Dupont",
        "nl",
    )
    first, second = login_sessions()
    assert (first.upstream, second.upstream) == ("eid", "itsme")
    assert first.person_id == second.person_id == person.id
    events = list(
        AuditEvent.select().where(AuditEvent.target_id == ANNE_NRN).order_by(AuditEvent.seq)
    )
    assert [e.action for e in events] == ["person.create", "person.update"]
    assert json.loads(events[1].details) == {"fields": ["given_name"]}


def test_a_demo_person_is_the_same_person_through_both_simulators(app):
    before = Person.select().count()
    assert Browser(app).login("eid", "person:marc").status_code == 303
    assert Browser(app).login("itsme", "person:marc").status_code == 303
    assert Person.select().count() == before
    assert {s.person.nrn for s in login_sessions()} == {MARC_NRN}


# -- 4. Refused logins -----------------------------------------------------------------------


def tampered(saml_response: str, old: str, new: str) -> str:
    xml = base64.b64decode(saml_response).decode("utf-8")
    assertion = re.search(r"<ns\d:Assertion .*</ns\d:Assertion>", xml, re.S)
    assert assertion is not None and old in assertion.group(0)
    start, end = assertion.span()
    xml = xml[:start] + assertion.group(0).replace(old, new) + xml[end:]
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def test_an_assertion_whose_signature_is_broken_is_refused(browser, caplog):
    answer = browser.answer("eid", "person:marc")
    genuine = dict(answer.form)
    # Someone changes the national register number in the signed assertion.
    answer.form["SAMLResponse"] = tampered(answer.form["SAMLResponse"], MARC_NRN, "70030300538")

    refused = browser.deliver(answer)

    assert_refused(refused, browser, caplog, reason="invalid", logged="pysaml2", before=0)
    assert browser.cookie() is None
    # A request gets one answer, good or bad: the genuine one cannot follow.
    caplog.clear()
    browser.set_binding(f"eid:{_request_id(genuine)}")
    again = browser.deliver(replace(answer, form=genuine))
    assert_refused(again, browser, caplog, reason="invalid", logged="already answered", before=0)


def _request_id(form: dict[str, str]) -> str:
    xml = base64.b64decode(form["SAMLResponse"]).decode("utf-8")
    return re.search(r'InResponseTo="([^"]+)"', xml).group(1)


def test_a_saml_answer_posted_from_another_browser_is_refused(app, browser, caplog):
    # Login CSRF: someone logs in as themselves and has a victim's browser post the answer.
    answer = browser.answer("eid", "person:marc")
    victim = Browser(app)

    refused = victim.deliver(answer)

    assert_refused(refused, victim, caplog, reason="invalid", logged="another browser", before=0)
    assert victim.cookie() is None


def test_a_saml_answer_for_another_login_than_the_browsers_own_is_refused(app, caplog):
    attacker, victim = Browser(app), Browser(app)
    answer = attacker.answer("eid", "person:marc")
    victim.start("eid")  # the victim's own login is under way
    assert victim.binding() is not None

    refused = victim.deliver(answer)

    assert_refused(refused, victim, caplog, reason="invalid", logged="another browser", before=0)


def test_a_saml_answer_posted_again_is_refused(browser, caplog):
    answer = browser.answer("eid", "person:marc")
    binding = browser.binding()
    raw_id = assert_logged_in(browser.deliver(answer), browser)
    # Even with the binding cookie put back, the same assertion does not log in twice.
    browser.set_binding(binding)

    replayed = browser.deliver(answer)

    assert_refused(replayed, browser, caplog, reason="invalid", logged="already", before=1)
    assert browser.cookie() == raw_id


def test_cancelling_on_the_eid_simulator_is_a_cancelled_login(browser, caplog):
    answer = browser.answer("eid", "cancel")

    refused = browser.deliver(answer)

    assert_refused(refused, browser, caplog, reason="cancelled", logged="AuthnFailed", before=0)
    assert "Vous avez annulé" in page_text(refused)


def test_an_itsme_callback_with_a_wrong_state_is_refused(browser, caplog):
    answer = browser.answer("itsme", "person:marc")
    answer.query["state"] = "x" * 43

    refused = browser.deliver(answer)

    assert_refused(refused, browser, caplog, reason="invalid", logged="unknown state", before=0)


def test_an_itsme_callback_replayed_is_refused(browser, caplog):
    answer = browser.answer("itsme", "person:marc")
    binding = browser.binding()
    raw_id = assert_logged_in(browser.deliver(answer), browser)
    browser.set_binding(binding)

    replayed = browser.deliver(answer)

    assert_refused(replayed, browser, caplog, reason="invalid", logged="already", before=1)
    assert browser.cookie() == raw_id


def test_an_itsme_callback_from_another_browser_is_refused(app, browser, caplog):
    answer = browser.answer("itsme", "person:marc")
    victim = Browser(app)

    refused = victim.deliver(answer)

    assert_refused(refused, victim, caplog, reason="invalid", logged="elsewhere", before=0)
    assert victim.cookie() is None


@pytest.mark.parametrize("method", METHODS)
def test_an_answer_refused_in_another_browser_is_spent_for_the_right_one(
    app, browser, caplog, method
):
    """The answer's checks and the session are one transaction; a refusal commits what the
    answer spent (its pending login, the assertion), so it cannot be tried again."""
    answer = browser.answer(method, "person:marc")
    victim = Browser(app)
    victim.start(method)  # a login of the victim's own is under way
    assert victim.deliver(answer).status_code == 400

    again = browser.deliver(answer)

    logged = "unsolicited" if method == "eid" else "unknown state"
    assert_refused(again, browser, caplog, reason="invalid", logged=logged, before=0)


@pytest.mark.parametrize("method", METHODS)
def test_an_answer_accepted_is_one_commit(browser, sql_log, method):
    """The pending login taken, the assertion recorded, the person, the session: one commit."""
    answer = browser.answer(method, "person:marc")
    sql_log.clear()

    assert_logged_in(browser.deliver(answer), browser)

    assert sql_log.commits == 1 and sql_log.writes(in_transaction=False) == []


def test_cancelling_on_the_itsme_simulator_is_a_cancelled_login(browser, caplog):
    answer = browser.answer("itsme", "cancel")
    assert answer.query["error"] == "access_denied"

    refused = browser.deliver(answer)

    assert_refused(refused, browser, caplog, reason="cancelled", logged="access_denied", before=0)
    assert "Vous avez annulé" in page_text(refused)


def test_an_itsme_error_other_than_a_cancel_is_a_refused_login(browser, caplog):
    answer = browser.answer("itsme", "person:marc")
    answer.query = {"error": "temporarily_unavailable", "state": answer.query["state"]}

    refused = browser.deliver(answer)

    assert_refused(refused, browser, caplog, reason="refused", logged="temporarily", before=0)


def test_a_refused_login_leaves_the_current_session_alone(browser, caplog):
    raw_id = assert_logged_in(browser.login("eid", "person:marc"), browser)

    refused = browser.login("itsme", "cancel")

    assert_refused(refused, browser, caplog, reason="cancelled", logged="itsme", before=1)
    assert browser.cookie() == raw_id
    assert MARC_NAME in page_text(browser.get("/me"))


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(ConnectionRefusedError("connection refused"), "refused"), (TimeoutError(), "timed_out")],
)
def test_itsme_out_of_reach_when_a_login_starts_is_said_and_logged(
    app, browser, caplog, monkeypatch, failure, reason
):
    def unreachable(method, url, form):
        raise failure

    itsme = app.extensions[EXTENSION].upstreams["itsme"]
    monkeypatch.setattr(itsme, "_transport", unreachable)

    refused = browser.start("itsme")

    assert_refused(refused, browser, caplog, reason=reason, logged="itsme", before=0)


# -- 5. Sessions -----------------------------------------------------------------------------


def test_each_login_issues_a_new_session_and_ends_the_one_it_replaces(app, browser):
    first = assert_logged_in(browser.login("eid"), browser)
    second = assert_logged_in(browser.login("itsme"), browser)

    assert first != second
    old, new = login_sessions()
    assert old.ended_at is not None and new.ended_at is None
    assert browser.get("/me").status_code == 200
    stale = Browser(app)
    stale.set_session(first)
    assert_sent_to_login(stale.get("/me"))


def test_a_login_answered_across_sites_still_ends_the_session_it_replaces(app, browser):
    # FAS posts its answer from another site: a SameSite=Lax session cookie does not come
    # with it. The session held when the login started is ended all the same.
    first = assert_logged_in(browser.login("eid"), browser)
    answer = browser.answer("eid", "person:sophie")
    browser.client.delete_cookie(SESSION_COOKIE, domain=browser.host, path="/")
    second = assert_logged_in(browser.deliver(answer), browser)

    assert first != second
    old, new = login_sessions()
    assert old.ended_at is not None and new.ended_at is None
    stale = Browser(app)
    stale.set_session(first)
    assert_sent_to_login(stale.get("/me"))


def test_who_am_i_is_never_cached_and_a_dead_cookie_is_forgotten(app, browser):
    raw_id = assert_logged_in(browser.login("eid"), browser)
    assert browser.get("/me").headers["Cache-Control"] == "no-store"
    browser.post("/logout", data={"csrf_token": csrf_of(browser.get("/me"))})
    stale = Browser(app)
    stale.set_session(raw_id)
    assert_sent_to_login(stale.get("/me"))
    assert stale.cookie() is None


def csrf_of(page) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.get_data(as_text=True))[1]


def test_logout_needs_the_token_of_the_page(app, browser):
    raw_id = assert_logged_in(browser.login("eid"), browser)
    token = csrf_of(browser.get("/me"))

    for form in ({}, {"csrf_token": "0" * 64}):
        refused = browser.post("/logout", data=form)
        assert refused.status_code == 400
        assert SESSION_COOKIE not in set_cookies(refused)
        assert browser.get("/me").status_code == 200

    out = browser.post("/logout", data={"csrf_token": token})

    assert out.status_code == 303
    assert out.headers["Location"] == "/login?logged_out=1"
    assert set_cookies(out)[SESSION_COOKIE]["max-age"] == "0"
    assert browser.cookie() is None
    assert "Vous êtes déconnecté." in page_text(browser.get(out.headers["Location"]))
    (session,) = login_sessions()
    assert session.ended_at is not None
    stale = Browser(app)
    stale.set_session(raw_id)
    assert_sent_to_login(stale.get("/me"))


def test_a_csrf_token_is_bound_to_its_session(app):
    marc, other = Browser(app), Browser(app)
    marc.login("eid", "person:marc")
    other.login("eid", "person:sophie")
    token_of_other = csrf_of(other.get("/me"))

    assert marc.post("/logout", data={"csrf_token": token_of_other}).status_code == 400
    assert marc.get("/me").status_code == 200


def test_without_a_session_me_sends_to_the_login_page(browser):
    assert_sent_to_login(browser.get("/me"))
    browser.set_session("not-a-session")
    assert_sent_to_login(browser.get("/me"))


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sessions, "utcnow", clock)
    return clock


def test_a_session_idle_too_long_is_over(make_app, clock):
    browser = Browser(make_app(session_idle_timeout=120, session_absolute_timeout=3600))
    browser.login("eid")

    for seconds in (100, 100):  # each request keeps it alive
        clock.advance(seconds)
        assert browser.get("/me").status_code == 200
    clock.advance(121)

    assert_sent_to_login(browser.get("/me"))


def test_a_session_ends_at_its_absolute_timeout_however_active(make_app, clock):
    browser = Browser(make_app(session_idle_timeout=120, session_absolute_timeout=300))
    browser.login("itsme")

    for seconds in (100, 100, 90):
        clock.advance(seconds)
        assert browser.get("/me").status_code == 200
    clock.advance(11)

    assert_sent_to_login(browser.get("/me"))


# -- 6. Where the login leads ----------------------------------------------------------------

NEXT = [
    ("/me?x=1", "/me?x=1"),
    ("https://evil.example/", "/me"),
    ("//evil.example/", "/me"),
    ("/\\evil.example/", "/me"),
    ("/me\r\nSet-Cookie: x=1", "/me"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("asked", "landing"), NEXT)
def test_the_login_leads_to_next_only_on_this_site(browser, method, asked, landing):
    done = browser.login(method, next_path=asked)
    assert_logged_in(done, browser, to=landing)


@pytest.mark.parametrize(("asked", "kept"), NEXT)
def test_the_login_page_passes_on_a_safe_next_only(browser, asked, kept):
    text = browser.get("/login", query_string={"next": asked}).get_data(as_text=True)
    links = re.findall(r'href="(/login/(?:eid|itsme)\?[^"]*)"', text)
    assert len(links) == 2
    for link in links:
        assert parse_qs(urlsplit(unescape(link)).query)["next"] == [kept]


def test_without_next_the_login_leads_to_me(browser):
    assert_logged_in(browser.login("eid", next_path=None), browser, to="/me")


# -- 7. Languages ----------------------------------------------------------------------------


def test_a_language_asked_for_is_used_and_remembered(browser):
    page = browser.get("/login", query_string={"lang": "nl"})
    assert html_lang(page) == "nl"
    cookie = set_cookies(page)["monespace_lang"]
    assert (cookie["value"], cookie["samesite"], cookie["path"]) == ("nl", "Lax", "/")
    assert "httponly" in cookie

    assert html_lang(browser.get("/login")) == "nl"
    assert html_lang(browser.get("/login", headers={"Accept-Language": "de"})) == "nl"


@pytest.mark.parametrize(
    "accept", ["de", "de-BE", "de-BE,de;q=0.9,fr;q=0.5", "it, de;q=0.8", "de-BE, fr;q=0.5"]
)
def test_the_browsers_language_is_used_without_being_remembered(browser, accept):
    page = browser.get("/login", headers={"Accept-Language": accept})
    assert html_lang(page) == "de"
    assert "monespace_lang" not in set_cookies(page)


@pytest.mark.parametrize(
    ("query", "accept"), [({}, None), ({"lang": "xx"}, None), ({}, "pt-BR"), ({"lang": "it"}, "es")]
)
def test_an_unknown_language_falls_back_to_french(browser, query, accept):
    headers = {"Accept-Language": accept} if accept else {}
    page = browser.get("/login", query_string=query, headers=headers)
    assert html_lang(page) == "fr"
    assert "monespace_lang" not in set_cookies(page)


# -- 8. Endpoints and configurations ---------------------------------------------------------


def test_the_eid_metadata_names_our_assertion_consumer_service(browser):
    response = browser.get("/login/eid/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    root = fromstring(response.data)
    assert root.tag == f"{MD}EntityDescriptor"
    assert root.get("entityID") == "http://localhost/login/eid/metadata"
    (acs,) = root.iter(f"{MD}AssertionConsumerService")
    assert acs.get("Location") == "http://localhost/login/eid/acs"
    assert acs.get("Binding") == BINDING_HTTP_POST
    (sp,) = root.iter(f"{MD}SPSSODescriptor")
    assert (sp.get("AuthnRequestsSigned"), sp.get("WantAssertionsSigned")) == ("true", "true")
    assert b"PRIVATE KEY" not in response.data


def test_the_itsme_jwks_has_one_sig_and_one_enc_public_key(browser):
    response = browser.get("/login/itsme/jwks")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    keys = response.get_json()["keys"]
    assert sorted(key["use"] for key in keys) == ["enc", "sig"]
    assert len({key["kid"] for key in keys}) == 2
    for key in keys:
        assert key["kty"] == "RSA"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def production(database_url: str, tmp_path, **settings) -> dict:
    return app_settings(
        database_url, tmp_path, mode="production", base_url="https://monespace.test", **settings
    )


def test_production_refuses_the_simulators(database, database_url, tmp_path, monkeypatch):
    monkeypatch.delenv("MONESPACE_SIMULATORS", raising=False)
    with pytest.raises(ConfigError, match="simulators cannot be enabled in production"):
        create_app(production(database_url, tmp_path, simulators=True))


def test_production_without_any_login_configured_starts_and_says_so(
    database, database_url, tmp_path, monkeypatch, caplog
):
    monkeypatch.delenv("MONESPACE_SIMULATORS", raising=False)
    app = create_app(production(database_url, tmp_path, simulators=False))
    try:
        assert "no upstream login is configured" in caplog.text
        browser = Browser(app, "https://monespace.test")
        page = browser.get("/login")
        assert page.status_code == 200
        assert "Aucune méthode de connexion n'est configurée" in page_text(page)
        assert "/login/eid" not in page_text(page) and "/login/itsme" not in page_text(page)
        for path in (
            "/login/eid",
            "/login/eid/metadata",
            "/login/itsme",
            "/login/itsme/jwks",
            "/login/itsme/callback",
            "/simulators/eid/metadata",
            "/simulators/itsme/.well-known/openid-configuration",
            "/demo-rp",
        ):
            assert browser.get(path).status_code == 404, path
        assert browser.post("/login/eid/acs").status_code == 404
    finally:
        stop(app)
