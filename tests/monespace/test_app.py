"""monespace/app.py: start-up, /healthz and /readyz, cookie flags and error responses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from flask import request, session

from authz import db, schema
from authz.errors import SchemaError
from monespace import bootstrap, config
from monespace.app import create_app
from tests.conftest import TEST_AUDIT_KEY

SECRET = "s" * 40


@pytest.fixture
def app(empty_database, database_url):
    return create_app({"database_url": database_url})


def test_demo_start_creates_the_schema_and_the_node_is_live_and_ready(app):
    from authz.engine import get_engine

    live = app.test_client().get("/healthz")
    ready = app.test_client().get("/readyz")

    assert live.status_code == 200
    assert live.get_json() == {"status": "ok", "policy": get_engine().version}
    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "ok",
        "database": "ok",
        "schema_version": schema.CURRENT_VERSION,
        "schema": "current",
        "policy": get_engine().version,
    }


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("eid_key_file", "No such file"),
        ("eid_idp_metadata", "eID: cannot load"),
    ],
)
def test_a_login_that_cannot_be_built_stops_the_start_with_one_message(
    database, database_url, tmp_path, setting, words
):
    from idp_bridge.shared.selfsigned import ensure_key_pair
    from idp_bridge.simulators.saml_idp import SamlIdpConfig, write_metadata

    key, cert = ensure_key_pair(tmp_path, "sp", "SP (tests)")
    idp = SamlIdpConfig(base_url="https://fas.example.test/idp", data_dir=str(tmp_path))
    settings = {
        "mode": "production",
        "database_url": database_url,
        "secret_key": SECRET,
        "base_url": "https://monespace.example.be",
        "eid_idp_metadata": str(write_metadata(idp, tmp_path / "idp.xml")),
        "eid_key_file": str(key),
        "eid_cert_file": str(cert),
    }
    assert create_app(settings)  # the control: this one works
    settings[setting] = str(tmp_path / "missing")
    with pytest.raises(config.ConfigError, match=words) as caught:
        create_app(settings)
    assert str(caught.value).startswith("login: ")


def test_production_start_needs_a_current_schema(empty_database, database_url):
    settings = {
        "mode": "production",
        "database_url": database_url,
        "secret_key": SECRET,
        "base_url": "https://monespace.example.be",
    }
    with pytest.raises(SchemaError, match="run `monespace db upgrade`"):
        create_app(settings)

    db.connect(database_url)
    with db.connection():
        bootstrap.upgrade_schemas()
    response = create_app(settings).test_client().get("/readyz")

    assert response.status_code == 200
    assert response.get_json()["schema_version"] == schema.CURRENT_VERSION


def test_create_app_accepts_a_config_object(empty_database, database_url):
    settings = config.load({"database_url": database_url}, environ={})

    assert create_app(settings).config["MONESPACE"] is settings


def test_readyz_is_503_without_a_traceback_when_the_database_is_unusable(tmp_path):
    path = tmp_path / "gone.sqlite3"
    app = create_app({"database_url": f"sqlite:///{path}"})
    path.unlink()
    path.mkdir()  # a directory where the database file was: SQLite cannot open it
    db.database.close_all()  # pooled connections would still hold the old file open

    ready = app.test_client().get("/readyz")
    live = app.test_client().get("/healthz")

    assert ready.status_code == 503
    assert ready.get_json()["status"] == "error"
    assert ready.get_json()["database"] == "unavailable"
    assert live.status_code == 200  # the process itself is fine: no restart


def test_other_pages_are_503_json_when_the_database_is_unusable(tmp_path):
    path = tmp_path / "gone.sqlite3"
    app = create_app({"database_url": f"sqlite:///{path}"})
    app.add_url_rule("/needs-the-database", "needs_db", lambda: str(schema.current_version()))
    path.unlink()
    path.mkdir()
    db.database.close_all()

    response = app.test_client().get("/needs-the-database", headers={"Accept": "application/json"})

    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"


def _set_authz_version(request, version, runs_from):
    """The authz version row as an upgrade by another release left it; this software's
    again at the end (the next test's database fixture expects it)."""
    with db.connection():
        schema.SchemaInfo.update(version=version, compatible_from=runs_from).execute()
    current = schema.CURRENT_VERSION

    def restore():
        with db.connection():
            schema.SchemaInfo.update(version=current, compatible_from=current).execute()

    request.addfinalizer(restore)


def test_readyz_stays_ready_on_a_newer_schema_this_software_still_runs_on(app, request):
    # The next release's `db upgrade` ran, its steps backward compatible: this node, of the
    # release before, stays in the load balancer until it is replaced.
    _set_authz_version(request, schema.CURRENT_VERSION + 1, schema.CURRENT_VERSION)

    response = app.test_client().get("/readyz")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["schema"] == "compatible"
    assert body["schema_version"] == schema.CURRENT_VERSION + 1
    assert body["compatible"] == {
        "authz": {
            "database": schema.CURRENT_VERSION + 1,
            "software": schema.CURRENT_VERSION,
            "runs_from": schema.CURRENT_VERSION,
        }
    }


def test_readyz_refuses_a_newer_schema_this_software_does_not_run_on(app, request):
    _set_authz_version(request, schema.CURRENT_VERSION + 1, schema.CURRENT_VERSION + 1)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["schema"] == "incompatible"
    assert body["schema_version"] == schema.CURRENT_VERSION + 1
    assert body["outdated"] == ["authz"]
    assert body["schema_errors"] == {
        "authz": f"the database is at schema version {schema.CURRENT_VERSION + 1}, newer than "
        f"this software ({schema.CURRENT_VERSION}) and not compatible with it (software of "
        f"version {schema.CURRENT_VERSION + 1} or later runs on it): upgrade monespace before "
        "using it"
    }


def test_readyz_refuses_a_newer_schema_beyond_the_window(app, request):
    # Two releases ahead: the upgrade recorded the release before it, not this one.
    _set_authz_version(request, schema.CURRENT_VERSION + 2, schema.CURRENT_VERSION + 1)

    response = app.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["outdated"] == ["authz"]


def test_a_rolling_upgrade_keeps_the_nodes_of_the_release_before_ready_and_working(app, request):
    from peewee import CharField
    from playhouse.migrate import migrate

    from authz.models import Person

    @schema.backward_compatible
    def _next_nickname(migrator):
        """Persons may have a nickname."""
        migrate(migrator.add_column("person", "nickname", CharField(null=True)))

    next_version = schema.CURRENT_VERSION + 1
    next_release = schema.SchemaSet(
        "authz",
        schema.SchemaInfo,
        schema.AUTHZ.models,
        {**schema.STEPS, next_version: _next_nickname},
    )

    def undo():
        with db.connection():
            migrate(schema._migrator().drop_column("person", "nickname"))
            current = schema.CURRENT_VERSION
            schema.SchemaInfo.update(version=current, compatible_from=current).execute()

    request.addfinalizer(undo)
    with db.connection():
        assert next_release.upgrade() == [next_version]  # the next release's `db upgrade`

    response = app.test_client().get("/readyz")

    assert response.status_code == 200
    assert response.get_json()["schema"] == "compatible"
    with db.connection():  # and the node of the release before still writes its rows
        Person.create(nrn="85073003328", given_name="Anne")
        assert Person.get(Person.nrn == "85073003328").given_name == "Anne"


def test_a_node_of_the_release_before_starts_on_a_compatible_schema_not_on_another(
    database, database_url, request
):
    settings = {
        "mode": "production",
        "database_url": database_url,
        "secret_key": SECRET,
        "audit_key": TEST_AUDIT_KEY,
        "base_url": "https://monespace.example.be",
    }
    db.connect(database_url)
    _set_authz_version(request, schema.CURRENT_VERSION + 1, schema.CURRENT_VERSION)
    assert create_app(settings).test_client().get("/readyz").status_code == 200

    _set_authz_version(request, schema.CURRENT_VERSION + 1, schema.CURRENT_VERSION + 1)
    with pytest.raises(SchemaError, match=r"newer than this software .* not compatible"):
        create_app(settings)


def _cookie_header(app) -> str:
    @app.get("/test-session")
    def set_session():
        session["seen"] = True
        return "ok"

    response = app.test_client().get("/test-session")
    return response.headers["Set-Cookie"]


def test_cookie_flags_in_demo_over_http(app):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    header = _cookie_header(app)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header


def test_cookie_flags_in_demo_over_https(empty_database, database_url):
    app = create_app({"database_url": database_url, "base_url": "https://demo.example.be"})

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert "Secure" in _cookie_header(app)


def test_cookie_flags_in_production(database, database_url):
    settings = config.load(
        {
            "mode": "production",
            "database_url": database_url,
            "secret_key": SECRET,
            "audit_key": TEST_AUDIT_KEY,
            "base_url": "https://monespace.example.be",
        },
        environ={},
    )
    app = create_app(settings)

    assert app.config["SESSION_COOKIE_SECURE"] is True
    header = _cookie_header(app)
    assert "Secure" in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_unknown_url_and_wrong_method_are_json_for_api_clients(app):
    client = app.test_client()

    not_found = client.get("/no-such-page", headers={"Accept": "application/json"})
    wrong_method = client.post("/healthz", headers={"Accept": "application/json"})

    assert not_found.status_code == 404
    assert not_found.get_json()["error"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


def test_unknown_url_stays_html_for_browsers(app):
    response = app.test_client().get("/no-such-page", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_unexpected_failure_is_a_plain_500(app):
    @app.get("/test-boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/test-boom", headers={"Accept": "application/json"})

    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_server_error"
    assert b"secret internals" not in response.data
    assert b"Traceback" not in response.data


def test_security_headers(app):
    response = app.test_client().get("/healthz")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert "default-src 'self'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # the demo, over http


def test_pages_carry_the_policy_and_production_adds_hsts(database, database_url, tmp_path):
    from authz import db as authz_db

    with authz_db.connection():
        bootstrap.upgrade_schemas()
    production = create_app(
        {
            "mode": "production",
            "database_url": database_url,
            "secret_key": SECRET,
            "base_url": "https://monespace.example.be",
            "data_dir": str(tmp_path),
        }
    )
    page = production.test_client().get("/login", base_url="https://monespace.example.be")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_readyz_names_a_package_whose_tables_are_behind(app):
    from idp_bridge.models import IdpBridgeSchemaInfo

    with db.connection():
        IdpBridgeSchemaInfo.update(version=0).execute()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["schema_errors"] == {
        "idp_bridge": "the idp_bridge tables are at schema version 0, this software needs "
        "version 1: run `monespace db upgrade`"
    }
    assert response.get_json()["outdated"] == ["idp_bridge"]


def test_api_paths_open_no_cookie_session(app):
    from flask import session

    with app.test_request_context("/access/v1/evaluation"):
        app.preprocess_request()
        assert app.session_interface.is_null_session(session)
    with app.test_request_context("/"):
        assert not app.session_interface.is_null_session(session)


def test_home_page_points_to_the_decision_api(app):
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert b'href="/.well-known/authzen-configuration"' in response.data


def test_an_error_is_a_page_of_the_site_in_the_persons_language(app):
    client = app.test_client()
    missing = client.get("/nowhere", headers={"Accept-Language": "nl"})
    assert missing.status_code == 404
    page = missing.get_data(as_text=True)
    assert '<html lang="nl">' in page and "Pagina niet gevonden" in page
    assert "monespace.css" in page and "<main" in page  # the layout, with its landmarks
    assert "The requested URL" not in page  # werkzeug's English default is not shown
    wrong = client.delete("/entreprises")
    assert wrong.status_code == 405 and "Allow" in wrong.headers  # headers kept
    assert "Méthode non permise" in wrong.get_data(as_text=True)


def test_a_message_written_for_the_person_is_shown(app):
    with app.test_request_context("/"):
        from werkzeug.exceptions import BadRequest

        from monespace.app import _error_page

        response = _error_page(BadRequest("Le formulaire a expiré. Rechargez la page."))
    assert response.status_code == 400
    assert "Le formulaire a expiré. Rechargez la page." in response.get_data(as_text=True)


# -- the policy in force ------------------------------------------------------------------------


def _policy_events():
    from authz import policyaudit
    from authz.models import AuditEvent

    return list(
        AuditEvent.select().where(AuditEvent.action == policyaudit.ACTION).order_by(AuditEvent.seq)
    )


def test_a_start_records_the_policy_in_force_once(make_app):
    from authz.engine import get_engine

    make_app()
    make_app()  # a restart, or a second node, with the same policy
    with db.connection():
        events = _policy_events()

    assert [(e.target_id, e.actor) for e in events] == [(get_engine().version, "system:start-up")]
    assert events[0].policy_version == get_engine().version


def test_a_start_with_a_changed_policy_records_it(make_app, policy_copy):
    from authz import audit
    from authz.engine import PolicyEngine, get_engine, set_engine

    make_app()
    path = policy_copy / "enterprise.polar"
    path.write_text(path.read_text().replace('"act_for" if "agent";', '"act_for" if "owner";'))
    installed = get_engine()
    set_engine(PolicyEngine(policy_copy))
    try:
        make_app()
        make_app()
        changed = get_engine().version
    finally:
        set_engine(installed)
    with db.connection():
        events = _policy_events()
        verified = audit.verify()

    assert [e.target_id for e in events] == [installed.version, changed]
    assert json.loads(events[1].details)["previous"] == installed.version
    assert verified.ok


def _as_seen(app, forwarded_for: str, proto: str) -> tuple[str, str]:
    """(remote_addr, scheme) as the app sees a request that the peer 10.0.0.5 passed on."""
    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": proto}
    seen = {}

    @app.get("/_seen")
    def _seen():
        seen.update(addr=request.remote_addr, scheme=request.scheme)
        return "", 204

    app.test_client().get("/_seen", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    return seen["addr"], seen["scheme"]


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "proto", "seen"),
    [
        # No trusted proxy: the headers are anybody's words; the peer is the client.
        (0, "203.0.113.9", "https", ("10.0.0.5", "http")),
        # One trusted proxy: the last address it appended is the client's.
        (1, "203.0.113.9", "https", ("203.0.113.9", "https")),
        # A client that writes its own X-Forwarded-For gains nothing: the proxy appends after it.
        (1, "127.0.0.1, 203.0.113.9", "https", ("203.0.113.9", "https")),
        # Two proxies in a row: a load balancer ending TLS, then nginx over plain http.
        (2, "203.0.113.9, 10.0.0.4", "https, http", ("203.0.113.9", "https")),
    ],
)
def test_forwarded_headers_are_believed_from_trusted_proxies_only(
    empty_database, database_url, trusted, forwarded_for, proto, seen
):
    app = create_app({"database_url": database_url, "trusted_proxies": trusted})

    assert _as_seen(app, forwarded_for, proto) == seen


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "status"),
    [
        (0, "127.0.0.1", 403),  # the header of an untrusted peer is not believed
        (1, "127.0.0.1", 200),  # the trusted proxy saw a client on this machine
        (1, "127.0.0.1, 192.0.2.7", 403),  # a spoofed first entry is not the client
    ],
)
def test_the_demo_outbox_sees_the_client_behind_a_trusted_proxy(
    empty_database, database_url, trusted, forwarded_for, status
):
    app = create_app({"database_url": database_url, "trusted_proxies": trusted})

    answer = app.test_client().get(
        "/demo/outbox",
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )

    assert answer.status_code == status


# -- a change of the secret key ------------------------------------------------------------------

NEW_SECRET = "n" * 40


def test_a_changed_secret_key_keeps_the_signing_keys_and_the_cookies(empty_database, database_url):
    old = create_app({"database_url": database_url, "secret_key": SECRET})
    jwks = old.test_client().get("/jwks").get_json()

    @old.get("/test-remember")
    def remember():
        session["seen"] = "before the change"
        return "ok"

    browser = old.test_client()
    browser.get("/test-remember")
    cookie = browser.get_cookie("session").value

    new = create_app(
        {"database_url": database_url, "secret_key": NEW_SECRET, "previous_secret_keys": SECRET}
    )

    @new.get("/test-recall")
    def recall():
        return session.get("seen", "forgotten")

    assert new.test_client().get("/jwks").get_json() == jwks  # the same keys, the same kids
    again = new.test_client()
    again.set_cookie("session", cookie)
    assert again.get("/test-recall").text == "before the change"


def test_a_secret_key_that_reads_none_of_the_signing_keys_stops_the_start(
    empty_database, database_url
):
    from idp_bridge.oidc.keys import SigningKeyError
    from idp_bridge.oidc.models import SigningKey

    create_app({"database_url": database_url, "secret_key": SECRET}).test_client().get("/jwks")
    with db.connection():
        before = {row.kid: row.private_jwk for row in SigningKey.select()}

    with pytest.raises(SigningKeyError) as refused:
        create_app({"database_url": database_url, "secret_key": NEW_SECRET})

    assert "cannot be decrypted with the secret key" in str(refused.value)
    assert "MONESPACE_PREVIOUS_SECRET_KEYS" in str(refused.value)
    with db.connection():  # nothing generated in their place
        assert {row.kid: row.private_jwk for row in SigningKey.select()} == before


WORKER_START = """
import gc, json
from monespace.app import create_served_app
app = create_served_app()
frozen = gc.get_freeze_count()
answer = app.test_client().get("/healthz").status_code

class Cycle:
    pass

cycle = Cycle()
cycle.me = cycle  # garbage made after the start: still collected
del cycle
print(json.dumps({"frozen": frozen, "healthz": answer, "collected": gc.collect()}))
"""


def test_a_worker_keeps_its_start_up_objects_out_of_the_collector_and_collects_later_garbage(
    tmp_path,
):
    env = {
        **os.environ,
        "MONESPACE_MODE": "demo",
        "MONESPACE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "MONESPACE_DATA_DIR": str(tmp_path / "instance"),
        "MONESPACE_AUDIT_KEY": TEST_AUDIT_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-c", WORKER_START],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["frozen"] > 50_000  # the app, its libraries and the policy engine
    assert seen["healthz"] == 200
    assert seen["collected"] >= 1
