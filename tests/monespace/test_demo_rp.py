"""monespace/demo_rp.py: the demo relying party runs the whole flow and shows the claims."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from authz.clients import get_client
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)


@pytest.fixture
def browser(app) -> Browser:
    return Browser(app)


def through_login(browser: Browser, espace: str, person: str):
    started = browser.post("/demo-rp/start", data={"espace": espace})
    assert started.status_code == 303 and started.headers["Location"].startswith("/authorize?")
    to_login = browser.follow(started.headers["Location"])
    next_path = parse_qs(urlsplit(to_login.headers["Location"]).query)["next"][0]
    return browser.follow(browser.login("eid", person, next_path).headers["Location"])


def test_a_citizen_sees_the_verified_id_token_and_userinfo(browser):
    back = through_login(browser, "citizen", "person:claire")
    assert back.headers["Location"].startswith("http://localhost/demo-rp/callback?")
    page = browser.follow(back.headers["Location"])
    text = page_text(page)
    assert page.status_code == 200 and "Jeton d'identité" in text
    assert '"aud": [\n    "demo-rp"\n  ]' in text and '"given_name": "Claire"' in text
    assert '"espace": ' not in text and '"represents": ' not in text


def test_a_representative_sees_the_represents_claim(browser):
    chooser = through_login(browser, "enterprise", "person:luc")
    chooser = browser.follow(chooser.headers["Location"])
    hidden = dict(
        re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', chooser.get_data(as_text=True)
        )
    )
    back = browser.post(
        "/authorize/espace",
        data={k: unescape(v) for k, v in hidden.items()} | {"espace": "0123456749"},
    )
    text = page_text(browser.follow(back.headers["Location"]))
    assert '"espace": "professionnel"' in text and '"sub": "0123456749"' in text
    assert '"active": true' in text  # the introspection answer


def test_an_answer_for_another_login_is_shown_as_an_error(browser):
    back = through_login(browser, "citizen", "person:claire")
    forged = back.headers["Location"].replace("state=", "state=x")
    text = page_text(browser.follow(forged))
    assert "state mismatch" in text and "Jeton d'identité" not in text


def test_without_a_login_under_way_the_callback_says_so(browser):
    response = browser.get("/demo-rp/callback?code=x&state=y")
    assert response.status_code == 400


def test_the_catalogue_entry_starts_where_the_demo_runs(make_app):
    app = make_app(base_url="http://127.0.0.1:8765")
    with app.app_context():
        entry = get_client("demo-rp").catalogue
    assert entry.start_url == "http://127.0.0.1:8765/demo-rp"
    assert entry.name("en") == "Tax office (demo)"
