"""admin_ui/operator.py: the operator's pages (clients, BCE import status, the policy)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest

from authz import audit, bce_import
from authz.clients import verify_secret
from authz.engine import get_engine
from authz.models import AuditEvent, Client, Enterprise, LegalRepresentation
from idp_bridge.sessions import SessionPolicy, open_session
from idp_bridge.shared.identity import VerifiedIdentity
from monespace.app import create_app
from monespace.config import DEMO_OPERATOR_NRN
from policies import POLICY_DIR
from tests.bce_data import REPRESENTATIVE_HEADER, write_csv
from tests.demo_app import (
    app_settings,
    stop,
)
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)

OLIVIER = f"person:{DEMO_OPERATOR_NRN}"
MARC_NRN = "85020200387"
PAGES = (
    "/operateur",
    "/operateur/clients",
    "/operateur/clients/ajouter",
    "/operateur/clients/demo-rp/desactiver",
    "/operateur/bce",
    "/operateur/politique",
)
POSTS = ("/operateur/clients/ajouter", "/operateur/clients/demo-rp/desactiver")


@pytest.fixture
def olivier(app) -> Browser:
    browser = Browser(app)
    browser.login("eid", "person:olivier")
    return browser


def token_of(page) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.get_data(as_text=True))[1]


def add(browser: Browser, **fields):
    form = {
        "name": "Service Test",
        "service_domain": "fiscalite",
        "redirect_uris": "https://rp.example.test/callback",
        "auth_method": "client_secret_basic",
        "subject_type": "pairwise",
        "scopes": ["openid", "profile"],
        **fields,
    }
    if "csrf_token" not in form:
        form["csrf_token"] = token_of(browser.get("/operateur/clients/ajouter"))
    return browser.post("/operateur/clients/ajouter", data=form)


def disable(browser: Browser, client_id: str, **form):
    path = f"/operateur/clients/{client_id}/desactiver"
    if "csrf_token" not in form:
        form["csrf_token"] = token_of(browser.get(path))
    return browser.post(path, data=form)


def client_id_of(response) -> str:
    return re.search(r"<dd><code>([^<]+)</code></dd>", response.get_data(as_text=True))[1]


def secret_of(response) -> str:
    return re.search(r'<code id="client-secret">([^<]+)</code>', response.get_data(as_text=True))[1]


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.seq))


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def client_credentials(app, client_id: str, secret: str):
    return app.test_client().post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )


# -- who gets in ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_a_page_needs_a_login_and_comes_back(app, path):
    response = Browser(app).get(path)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [f"{path}?"]


@pytest.mark.parametrize("path", POSTS)
def test_a_form_without_a_login_goes_to_the_login_page_and_writes_nothing(app, path):
    response = Browser(app).post(path, data={"name": "X", "service_domain": "fiscalite"})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert Client.select().count() == 1 and Client.get().is_enabled


def test_the_operator_sees_the_overview(olivier):
    response = olivier.get("/operateur")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for link in ("/operateur/clients", "/operateur/bce", "/operateur/politique"):
        assert f'href="{link}"' in text
    assert "<title>Opérateur – Mon Espace</title>" in text


def test_someone_who_is_not_an_operator_gets_403_everywhere(app):
    marc = Browser(app)
    marc.login("eid", "person:marc")
    before = AuditEvent.select().count()
    for path in PAGES:
        response = marc.get(path)
        assert response.status_code == 403, path
        assert "Accès réservé aux opérateurs" in page_text(response)
        assert '<html lang="fr">' in response.get_data(as_text=True)
    assert add(marc, csrf_token="0" * 64).status_code == 403
    assert disable(marc, "demo-rp", csrf_token="0" * 64).status_code == 403
    assert Client.select().count() == 1 and Client.get().is_enabled
    assert AuditEvent.select().count() == before


def test_without_operators_configured_nobody_is_one(make_app):
    app = make_app(operators="")
    assert app.config["MONESPACE"].operators == frozenset()
    browser = Browser(app)
    browser.login("eid", "person:olivier")
    for path in PAGES:
        assert browser.get(path).status_code == 403, path
    assert add(browser, csrf_token="0" * 64).status_code == 403


def test_the_operators_are_the_configured_ones(make_app):
    app = make_app(operators=f"{MARC_NRN}")
    marc, olivier = Browser(app), Browser(app)
    marc.login("eid", "person:marc")
    olivier.login("eid", "person:olivier")
    assert marc.get("/operateur/clients").status_code == 200
    assert olivier.get("/operateur/clients").status_code == 403


def production_browser(database_url, tmp_path, nrn: str, **settings):
    """A production app (no simulators: the session is opened as a login would) and a
    browser logged in as ``nrn``."""
    app = create_app(
        app_settings(
            database_url,
            tmp_path,
            mode="production",
            base_url="https://monespace.test",
            simulators=False,
            **settings,
        )
    )
    identity = VerifiedIdentity(
        nrn=nrn,
        given_name="Olivier",
        family_name="Opérateur",
        acr="http://eidas.europa.eu/LoA/high",
        amr=("eid",),
        upstream="eid",
        session_ref="upstream-1",
    )
    raw_id, _session = open_session(identity, SessionPolicy())
    browser = Browser(app, "https://monespace.test")
    browser.set_session(raw_id)
    return app, browser


def test_production_has_no_operator_unless_configured(
    database, database_url, tmp_path, monkeypatch
):
    monkeypatch.delenv("MONESPACE_SIMULATORS", raising=False)
    monkeypatch.delenv("MONESPACE_OPERATORS", raising=False)
    app, browser = production_browser(database_url, tmp_path, DEMO_OPERATOR_NRN)
    try:
        assert app.config["MONESPACE"].operators == frozenset()
        assert browser.get("/operateur/clients").status_code == 403
    finally:
        stop(app)


def test_production_refuses_http_redirect_uris(database, database_url, tmp_path, monkeypatch):
    monkeypatch.delenv("MONESPACE_SIMULATORS", raising=False)
    app, browser = production_browser(
        database_url, tmp_path, DEMO_OPERATOR_NRN, operators=DEMO_OPERATOR_NRN
    )
    try:
        refused = add(browser, redirect_uris="http://rp.example.test/callback")
        assert refused.status_code == 400
        assert "scheme must be https" in page_text(refused)
        assert "http est aussi accepté" not in page_text(refused)
        assert Client.select().count() == 0
        ok = add(browser)
        assert ok.status_code == 200, page_text(ok)
        assert Client.select().count() == 1
    finally:
        stop(app)


# -- clients --------------------------------------------------------------------------------


def test_the_operator_lists_the_clients(olivier):
    response = olivier.get("/operateur/clients")
    assert response.status_code == 200
    text = page_text(response)
    assert "demo-rp" in text and "client_secret_basic" in text
    assert "http://localhost/demo-rp/callback" in text
    assert "<caption>" in text and '<th scope="col">' in text and '<th scope="row">' in text
    assert 'href="/operateur/clients/demo-rp/desactiver"' in text


def test_the_form_offers_the_providers_scopes(olivier):
    text = olivier.get("/operateur/clients/ajouter").get_data(as_text=True)
    for scope in ("openid", "profile", "nrn", "enterprise"):
        assert f'<label for="scope-{scope}">' in text
    assert text.count("<fieldset>") == text.count("<legend>") == 6
    assert "<script" not in text and "style=" not in text


def test_a_secret_client_is_added_and_its_secret_shown_once(app, olivier):
    response = add(olivier, name="Fisc <Test>", may_receive_nrn="yes", scopes=["openid", "nrn"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "il ne sera plus jamais affiché" in page_text(response)
    client = Client.get(Client.client_id == client_id_of(response))
    secret = secret_of(response)
    assert client.name == "Fisc <Test>" and "Fisc &lt;Test&gt;" in response.get_data(as_text=True)
    assert client.may_receive_nrn and client.allowed_scopes == "openid nrn"
    assert client.redirect_uri_list == ["https://rp.example.test/callback"]
    assert verify_secret(client, secret)
    assert client_credentials(app, client.client_id, secret).status_code == 200
    # The secret is not anywhere else.
    assert secret not in olivier.get("/operateur/clients").get_data(as_text=True)
    assert secret not in client.secret_hash
    (event,) = [e for e in events("client.add") if e.target_id == client.client_id]
    assert event.actor == OLIVIER and event.ip == "127.0.0.1"
    assert audit.verify().ok


def test_a_public_client_is_added_without_a_secret(olivier):
    response = add(olivier, auth_method="none", client_id="app-mobile", subject_type="public")
    assert response.status_code == 200
    assert 'id="client-secret"' not in response.get_data(as_text=True)
    assert "PKCE" in page_text(response)
    client = Client.get(Client.client_id == "app-mobile")
    assert client.auth_method == "none" and client.secret_hash is None
    assert client.subject_type == "public"
    (event,) = [e for e in events("client.add") if e.target_id == "app-mobile"]
    assert event.actor == OLIVIER


def test_a_private_key_jwt_client_registers_its_keys(olivier):
    jwks = json.dumps({"keys": [{"kty": "RSA", "n": "abc", "e": "AQAB", "kid": "k1"}]})
    response = add(
        olivier,
        auth_method="private_key_jwt",
        jwks=jwks,
        post_logout_redirect_uris="https://rp.example.test/bye\nhttps://rp.example.test/bye2",
        backchannel_logout_uri="https://rp.example.test/backchannel",
        sector_identifier="rp.example.test",
    )
    assert response.status_code == 200
    client = Client.get(Client.client_id == client_id_of(response))
    assert client.auth_method == "private_key_jwt" and json.loads(client.jwks)["keys"]
    assert json.loads(client.post_logout_redirect_uris) == [
        "https://rp.example.test/bye",
        "https://rp.example.test/bye2",
    ]
    assert client.backchannel_logout_uri == "https://rp.example.test/backchannel"
    assert client.sector_identifier == "rp.example.test"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"redirect_uris": "https://rp.example.test/cb#top"}, "must not contain a fragment"),
        ({"redirect_uris": "https://*.example.test/cb"}, "wildcards are not allowed"),
        ({"redirect_uris": "ftp://rp.example.test/cb"}, "scheme must be https or http"),
        ({"auth_method": "none", "redirect_uris": ""}, "needs at least one redirect URI"),
        ({"service_domain": "Fiscalité"}, "invalid service domain"),
        ({"name": ""}, "a client name is required"),
        ({"scopes": []}, "at least one scope"),
        ({"scopes": ["openid", "admin"]}, "portée non proposée"),
        ({"auth_method": "private_key_jwt"}, "private_key_jwt needs the client's public keys"),
        ({"jwks_uri": "https://rp.example.test/jwks"}, "ne servent qu'à private_key_jwt"),
        ({"auth_method": "private_key_jwt", "jwks": "{"}, "not valid JSON"),
        ({"client_id": "demo-rp"}, "already exists"),
    ],
    ids=[
        "fragment",
        "wildcard",
        "scheme",
        "public-without-uri",
        "domain",
        "no-name",
        "no-scope",
        "unknown-scope",
        "no-keys",
        "keys-for-a-secret-client",
        "bad-jwks",
        "taken-client-id",
    ],
)
def test_a_bad_client_is_a_form_error_and_writes_nothing(olivier, fields, words):
    fields = {"name": "Service Test", **fields}
    before = AuditEvent.select().count()
    response = add(olivier, **fields)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert words in page_text(response)
    assert 'role="alert" id="form-error"' in text and 'aria-describedby="form-error"' in text
    assert f'id="name" name="name" value="{fields["name"]}"' in text  # the form is kept
    assert Client.select().count() == 1
    assert AuditEvent.select().count() == before


def test_a_client_is_disabled_after_a_confirmation(app, olivier):
    added = add(olivier, client_id="to-disable")
    secret = secret_of(added)
    confirm = olivier.get("/operateur/clients/to-disable/desactiver")
    assert confirm.status_code == 200
    assert "ne peut plus connecter d'utilisateurs" in page_text(confirm)
    assert Client.get(Client.client_id == "to-disable").is_enabled  # a GET changes nothing
    done = disable(olivier, "to-disable")
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/operateur/clients?desactive=to-disable")
    listing = olivier.follow(done.headers["Location"])
    assert "Le client Service Test (to-disable) est désactivé." in page_text(listing)
    client = Client.get(Client.client_id == "to-disable")
    assert not client.is_enabled
    assert not verify_secret(client, secret)
    assert client_credentials(app, "to-disable", secret).status_code == 401
    (event,) = events("client.disable")
    assert event.actor == OLIVIER and event.target_id == "to-disable"
    assert event.ip == "127.0.0.1"
    assert audit.verify().ok
    # Once disabled, the page says so and offers no form; disabling again changes nothing.
    again = olivier.get("/operateur/clients/to-disable/desactiver")
    assert "déjà désactivé" in page_text(again)
    assert 'action="/operateur/clients/to-disable/desactiver"' not in page_text(again)


def test_disabling_an_unknown_client_is_404(olivier):
    assert olivier.get("/operateur/clients/nobody/desactiver").status_code == 404


def test_forms_without_their_token_are_refused(olivier):
    before = AuditEvent.select().count()
    assert add(olivier, csrf_token="").status_code == 400
    assert add(olivier, csrf_token="0" * 64).status_code == 400
    assert disable(olivier, "demo-rp", csrf_token="").status_code == 400
    # A token of another form does not do either.
    add_token = token_of(olivier.get("/operateur/clients/ajouter"))
    assert disable(olivier, "demo-rp", csrf_token=add_token).status_code == 400
    assert Client.select().count() == 1 and Client.get().is_enabled
    assert AuditEvent.select().count() == before


def test_a_token_is_bound_to_the_login(app, olivier):
    other = Browser(app)
    other.login("eid", "person:olivier")
    stolen = token_of(other.get("/operateur/clients/ajouter"))
    assert add(olivier, csrf_token=stolen).status_code == 400


# -- BCE imports ----------------------------------------------------------------------------


def test_the_bce_page_shows_the_demo_import(olivier):
    response = olivier.get("/operateur/bce")
    assert response.status_code == 200
    text = page_text(response)
    assert "enterprises.csv" in text and "representatives.csv" in text
    assert "operator:demo-seed" in text
    for event in events("bce.import"):
        assert json.loads(event.details)["sha256"] in text
    active = Enterprise.select().where(Enterprise.status == "active").count()
    stopped = Enterprise.select().where(Enterprise.status == "stopped").count()
    in_force = LegalRepresentation.select().where(LegalRepresentation.ended_on.is_null()).count()
    assert f"<dt>Entreprises actives</dt><dd>{active}</dd>" in text
    assert f"<dt>Entreprises cessées</dt><dd>{stopped}</dd>" in text
    assert f"<dt>Représentations légales en cours</dt><dd>{in_force}</dd>" in text


def test_the_bce_page_counts_what_an_import_ended(olivier, tmp_path):
    path = write_csv(
        tmp_path / "fin-mandat.csv",
        REPRESENTATIVE_HEADER,
        [
            ("0999999922", "80060600186", "Paul", "Leroy-Démo", "président", "2020-01-31"),
            ("0000000000", "80060600186", "Paul", "Leroy-Démo", "président", ""),
        ],
    )
    bce_import.import_file(path, actor="operator:cli")
    text = olivier.get("/operateur/bce").get_data(as_text=True)
    row = re.search(r"<tr>\s*<th scope=\"row\">fin-mandat\.csv.*?</tr>", text, re.S)[0]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    # date, by, kind, rows, new, updated, unchanged, ended, bad
    assert cells[1:] == [
        "<code>operator:cli</code>",
        "représentants légaux",
        "2",
        "0",
        "1",
        "0",
        "1",
        "1",
    ]


# -- policy ---------------------------------------------------------------------------------


def test_the_policy_page_shows_the_loaded_version_and_files(olivier):
    response = olivier.get("/operateur/politique")
    assert response.status_code == 200
    raw = response.get_data(as_text=True)
    assert f'<code id="policy-version">{get_engine().version}</code>' in raw
    # The start of the app recorded it in the audit log; anyone can recompute it.
    assert re.search(r'<dd id="policy-since">\d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>', raw)
    assert "<code>LC_ALL=C sha256sum *.polar | sha256sum</code>" in raw
    assert "ne correspondent plus" not in raw
    polar = POLICY_DIR / "enterprise.polar"
    content = polar.read_text(encoding="utf-8")
    assert '"' in content  # so that escaping shows
    assert escape(content).replace("&quot;", "&#34;").replace("&#x27;", "&#39;") in raw
    assert hashlib.sha256(polar.read_bytes()).hexdigest() in raw
    assert "truth_table.toml" in raw
    content_of_page = raw.split('<main id="content">', 1)[1]  # the header has "log out"
    assert "<form" not in content_of_page and "<textarea" not in content_of_page


# -- the catalogue entry of a client ---------------------------------------------------------

CATALOGUE = "/operateur/clients/demo-rp/catalogue"


def catalogue_form(browser: Browser, **fields):
    form = {
        "name_fr": "Guichet de démonstration",
        "name_de": "Demo-Schalter",
        "description_fr": "Essayez Mon Espace.",
        "start_url": "https://rp.example.test/start",
        "espaces": ["citoyen", "professionnel"],
        **fields,
    }
    if "csrf_token" not in form:
        form["csrf_token"] = token_of(browser.get(CATALOGUE))
    return browser.post(CATALOGUE, data=form)


def test_the_operator_sets_a_catalogue_entry_audited(olivier):
    assert 'href="/operateur/clients/demo-rp/catalogue"' in olivier.get(
        "/operateur/clients"
    ).get_data(as_text=True)
    before = len(events("client.update"))
    response = catalogue_form(olivier)
    assert response.status_code == 303
    page = olivier.get(response.headers["Location"])
    assert "La fiche du catalogue est enregistrée." in page_text(page)
    assert 'value="Demo-Schalter"' in page.get_data(as_text=True)
    stored = json.loads(Client.get(Client.client_id == "demo-rp").catalogue)
    assert stored["names"] == {"fr": "Guichet de démonstration", "de": "Demo-Schalter"}
    assert stored["start_url"] == "https://rp.example.test/start"
    updates = events("client.update")
    assert len(updates) == before + 1
    assert updates[-1].actor == OLIVIER
    assert json.loads(updates[-1].details)["catalogue"]["espaces"] == ["citoyen", "professionnel"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"name_fr": ""}, "the French display name is required"),
        ({"start_url": "ftp://rp.example.test/"}, "must be an absolute https"),
        ({"espaces": []}, "at least one espace"),
        ({"description_nl": "x" * 1001}, "longer than 1000"),
    ],
)
def test_an_invalid_catalogue_entry_is_a_form_message(olivier, fields, reason):
    before = Client.get(Client.client_id == "demo-rp").catalogue
    response = catalogue_form(olivier, **fields)
    assert response.status_code == 400
    text = page_text(response)
    assert "La fiche du catalogue n'a pas été enregistrée" in text
    assert reason in text
    assert Client.get(Client.client_id == "demo-rp").catalogue == before


def test_the_catalogue_page_is_refused_to_a_non_operator(app):
    marc = Browser(app)
    marc.login("eid", "person:marc")
    before = AuditEvent.select().count()
    assert marc.get(CATALOGUE).status_code == 403
    assert catalogue_form(marc, csrf_token="0" * 64).status_code == 403
    assert AuditEvent.select().count() == before


def test_the_catalogue_form_needs_its_token_and_a_known_client(olivier):
    assert catalogue_form(olivier, csrf_token="0" * 64).status_code == 400
    assert olivier.get("/operateur/clients/nobody/catalogue").status_code == 404
