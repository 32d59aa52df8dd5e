"""A third upstream login added by one module and its settings (fixed_login.py): it is offered
on the login page, logs in through /login/<name> up to the relying party's ID token, is bound to
its browser like the others, and its settings are checked by its own type at start-up."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from authz.clients import ClientMetadata, add_client
from idp_bridge.shared.identity import LOA_SUBSTANTIAL
from monespace import config
from monespace.config import ConfigError
from tests.idp_bridge.web_client import (
    Browser,
    login_sessions,
    page_text,
)

MODULE = "tests.idp_bridge.upstreams.fixed_login"
NRN = "85073000061"
CALLBACK = "https://rp.example.test/callback"


@pytest.fixture
def app(make_app):
    return make_app(upstream_plugins=MODULE, fixed_nrn=NRN, fixed_given_name="Fanny")


@pytest.fixture
def browser(app) -> Browser:
    return Browser(app)


def test_the_login_page_offers_it_beside_the_built_in_logins(browser):
    page = page_text(browser.get("/login", query_string={"next": "/entreprises"}))

    assert "Connexion fixe (tests)" in page and "toujours la même personne" in page
    assert 'href="/login/fixed?next=/entreprises"' in page
    assert 'href="/login/eid?next=/entreprises"' in page
    assert 'href="/login/itsme?next=/entreprises"' in page


def test_without_its_settings_it_is_not_offered(make_app):
    browser = Browser(make_app(upstream_plugins=MODULE))

    assert "Connexion fixe" not in page_text(browser.get("/login"))
    assert browser.get("/login/fixed").status_code == 404
    assert browser.get("/login/fixed/answer").status_code == 404


def test_a_login_goes_through_its_own_routes_and_opens_a_session(browser):
    started = browser.start("fixed", "/me")
    assert started.status_code == 303
    assert started.headers["Location"].startswith("http://localhost/login/fixed/answer?state=")

    answered = browser.follow(started.headers["Location"])

    assert answered.status_code == 303 and answered.headers["Location"] == "/me"
    me = page_text(browser.get("/me"))
    assert "Fanny" in me and "Connexion fixe (tests)" in me
    (session,) = login_sessions()
    assert session.upstream == "fixed" and session.acr == LOA_SUBSTANTIAL


def test_its_answer_is_accepted_only_in_the_browser_that_started_it(app, browser):
    started = browser.start("fixed", "/me")
    victim = Browser(app)

    refused = victim.follow(started.headers["Location"])

    assert refused.status_code == 400 and login_sessions() == []
    # The state was spent by the refused attempt: the genuine browser cannot use it either.
    assert browser.follow(started.headers["Location"]).status_code == 400


def test_a_relying_party_gets_an_id_token_for_the_person_it_logged_in(app, browser):
    add_client(
        ClientMetadata(
            "Application mobile",
            "fiscalite",
            [CALLBACK],
            auth_method="none",
            scopes=["openid", "profile"],
            client_id="mobile",
        ),
        actor="operator:test",
    )
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = {
        "response_type": "code",
        "client_id": "mobile",
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    started = browser.get("/authorize?" + urlencode(query))
    next_path = parse_qs(urlsplit(started.headers["Location"]).query)["next"][0]

    answered = browser.follow(browser.start("fixed", next_path).headers["Location"])
    resumed = browser.follow(answered.headers["Location"])
    assert resumed.status_code == 303 and resumed.headers["Location"].startswith(CALLBACK)
    code = parse_qs(urlsplit(resumed.headers["Location"]).query)["code"][0]
    tokens = browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": "mobile",
            "code_verifier": verifier,
        },
    ).get_json()

    keys = KeySet.import_key_set(browser.get("/jwks").get_json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["aud"] == ["mobile"] and claims["nonce"] == "n-1"
    assert claims["acr"] == LOA_SUBSTANTIAL
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["sub"] == claims["sub"]
    assert info.get_json()["given_name"] == "Fanny"


# -- its settings ---------------------------------------------------------------------------


def load(**environ: str):
    return config.load(environ={"MONESPACE_UPSTREAM_PLUGINS": MODULE, **environ})


def test_its_settings_are_read_with_its_type():
    settings = load(MONESPACE_FIXED_NRN="85.07.30-000.61", MONESPACE_FIXED_TTL="30")

    fixed = settings.upstreams["fixed"]
    assert (fixed.nrn, fixed.ttl, fixed.given_name) == (NRN, 30, "Fixe")
    assert "fixed" not in load().upstreams


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MONESPACE_FIXED_NRN": "12345"}, "^MONESPACE_FIXED_NRN must be a national register"),
        (
            {"MONESPACE_FIXED_NRN": NRN, "MONESPACE_FIXED_TTL": "soon"},
            "^MONESPACE_FIXED_TTL must be a number, not 'soon'",
        ),
    ],
)
def test_its_bad_settings_stop_the_start_with_one_line(environ, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load(**environ)
    assert "\n" not in str(caught.value)


def test_its_settings_are_unknown_without_its_module(tmp_path):
    file = tmp_path / "monespace.toml"
    file.write_text(f'fixed_nrn = "{NRN}"\n')

    with pytest.raises(ConfigError, match="unknown setting 'fixed_nrn'"):
        config.load(environ={"MONESPACE_CONFIG": str(file)})
    with pytest.raises(ConfigError, match=r"^MONESPACE_UPSTREAM_PLUGINS: .*cannot be imported"):
        config.load(environ={"MONESPACE_UPSTREAM_PLUGINS": "tests.no_such_module"})
