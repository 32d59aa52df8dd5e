"""``monespace clients``: add, list, rotate-secret, disable; one-line errors."""

from __future__ import annotations

import json

import pytest

from authz import audit
from authz.clients import verify_secret
from authz.models import AuditEvent, Client
from tests.monespace.conftest import run_cli

RP = "https://rp.example.test/callback"


def add_args(*extra: str) -> list[str]:
    return [
        "clients",
        "add",
        "--name",
        "Guichet Fictif",
        "--service-domain",
        "fiscalite",
        "--redirect-uri",
        RP,
        *extra,
    ]


def test_add_prints_id_and_secret_once(cli_env, capsys):
    code, out, err = run_cli(capsys, *add_args("--client-id", "guichet-fictif", "--nrn"))

    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["client_id"] == "guichet-fictif"
    secret = lines["client_secret"]
    assert err.startswith("warning: this is the only time the secret is shown")
    client = Client.get(Client.client_id == "guichet-fictif")
    assert secret not in client.secret_hash
    assert verify_secret(client, secret)
    assert client.may_receive_nrn is True
    assert client.subject_type == "pairwise"
    assert client.allowed_scopes == "openid profile"


def test_add_options(cli_env, capsys, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}))
    code, out, err = run_cli(
        capsys,
        *add_args(
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            str(jwks),
            "--scope",
            "openid",
            "--scope",
            "enterprise",
            "--public-subject",
            "--redirect-uri",
            "https://rp.example.test/second",
        ),
    )
    assert code == 0, err
    assert "client_secret" not in out
    client = Client.get()
    assert client.auth_method == "private_key_jwt"
    assert client.allowed_scopes == "openid enterprise"
    assert client.subject_type == "public"
    assert client.redirect_uri_list == [RP, "https://rp.example.test/second"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--redirect-uri", "https://rp.example.test/*"), "wildcards are not allowed"),
        (("--redirect-uri", "http://rp.example.test/cb"), "scheme must be https"),
        (("--auth-method", "magic"), "unknown auth method 'magic'"),
        (("--auth-method", "private_key_jwt"), "needs the client's public keys"),
        (("--jwks", "/nonexistent/jwks.json"), "cannot read the JWKS file"),
        (("--client-id", "bad id"), "invalid client_id"),
        (("--jwks-uri", "http://rp.example.test/jwks"), "must be an absolute https URL"),
        (
            ("--auth-method", "private_key_jwt", "--jwks-uri", "https://rp.example.test/jwks#k"),
            "no fragment",
        ),
        (("--post-logout-redirect-uri", "https://rp.example.test/*"), "wildcards are not allowed"),
        (("--post-logout-redirect-uri", "https://rp.example.test/bye#x"), "fragment"),
        (("--post-logout-redirect-uri", "http://rp.example.test/bye"), "scheme must be https"),
        (("--backchannel-logout-uri", "https://u@rp.example.test/bc"), "user information"),
        (("--backchannel-logout-uri", "/bc"), "absolute"),
    ],
)
def test_invalid_input_is_one_line(cli_env, capsys, extra, message):
    code, out, err = run_cli(capsys, *add_args(*extra))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ") and message in err
    assert Client.select().count() == 0


def test_add_with_jwks_uri_and_logout_uris(cli_env, capsys):
    code, out, err = run_cli(
        capsys,
        *add_args(
            "--client-id",
            "rp-keys",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "https://rp.example.test/jwks.json",
            "--post-logout-redirect-uri",
            "https://rp.example.test/bye",
            "--post-logout-redirect-uri",
            "https://rp.example.test/au-revoir",
            "--backchannel-logout-uri",
            "https://rp.example.test/backchannel",
        ),
    )
    assert (code, out, err) == (0, "client_id: rp-keys\n", "")
    client = Client.get(Client.client_id == "rp-keys")
    assert (client.jwks_uri, client.jwks, client.secret_hash) == (
        "https://rp.example.test/jwks.json",
        None,
        None,
    )
    assert json.loads(client.post_logout_redirect_uris) == [
        "https://rp.example.test/bye",
        "https://rp.example.test/au-revoir",
    ]
    assert client.backchannel_logout_uri == "https://rp.example.test/backchannel"
    [event] = AuditEvent.select().where(AuditEvent.action == "client.add")
    assert json.loads(event.details)["jwks_uri"] == "https://rp.example.test/jwks.json"


def test_jwks_file_and_jwks_uri_are_exclusive(cli_env, capsys, tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}))
    code, out, err = run_cli(
        capsys,
        *add_args(
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            str(jwks),
            "--jwks-uri",
            "https://rp.example.test/jwks.json",
        ),
    )
    assert (code, out) == (1, "")
    assert err == "error: register the client's keys either inline (JWKS) or by jwks_uri\n"
    assert Client.select().count() == 0


def test_add_public_client_prints_no_secret(cli_env, capsys):
    code, out, err = run_cli(capsys, *add_args("--auth-method", "none", "--client-id", "app"))

    assert (code, out) == (0, "client_id: app\n")
    assert "secret" not in out
    assert err.startswith("note: a public client has no secret; it must use PKCE")
    client = Client.get(Client.client_id == "app")
    assert (client.auth_method, client.secret_hash) == ("none", None)

    no_redirect = ["clients", "add", "--name", "App", "--service-domain", "fiscalite"]
    code, out, err = run_cli(capsys, *no_redirect, "--auth-method", "none")
    assert (code, out) == (1, "")
    assert err == "error: a public client (auth method none) needs at least one redirect URI\n"


def test_rotate_secret(cli_env, capsys):
    _code, out, _err = run_cli(capsys, *add_args("--client-id", "guichet-fictif"))
    old = dict(line.split(": ", 1) for line in out.splitlines())["client_secret"]

    code, out, err = run_cli(capsys, "clients", "rotate-secret", "guichet-fictif")

    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert lines["client_id"] == "guichet-fictif"
    new = lines["client_secret"]
    assert new != old
    assert err.startswith("warning: the old secret stopped working now")
    assert "shown only this time" in err
    client = Client.get(Client.client_id == "guichet-fictif")
    assert verify_secret(client, new)
    assert not verify_secret(client, old)
    [event] = AuditEvent.select().where(AuditEvent.action == "client.rotate_secret")
    assert (event.actor, event.target_id) == ("operator:cli", "guichet-fictif")
    assert new not in event.details
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (("--auth-method", "none"), "is a public client (auth method none): it has no secret"),
        (
            ("--auth-method", "private_key_jwt", "--jwks-uri", "https://rp.example.test/jwks"),
            "authenticates with private_key_jwt: it has no secret to rotate",
        ),
    ],
)
def test_rotate_secret_refused_without_a_secret(cli_env, capsys, setup, message):
    run_cli(capsys, *add_args("--client-id", "no-secret", *setup))

    code, out, err = run_cli(capsys, "clients", "rotate-secret", "no-secret")

    assert (code, out) == (1, "")
    assert err.startswith("error: client 'no-secret' ") and message in err
    assert err.count("\n") == 1
    assert AuditEvent.select().where(AuditEvent.action == "client.rotate_secret").count() == 0


def test_rotate_secret_refused_for_disabled_and_unknown(cli_env, capsys):
    run_cli(capsys, *add_args("--client-id", "gone-app"))
    run_cli(capsys, "clients", "disable", "gone-app")

    code, out, err = run_cli(capsys, "clients", "rotate-secret", "gone-app")
    assert (code, out) == (1, "")
    assert err == "error: client 'gone-app' is disabled; its secret cannot be rotated\n"

    code, out, err = run_cli(capsys, "clients", "rotate-secret", "nobody")
    assert (code, out, err) == (1, "", "error: no client with client_id 'nobody'\n")
    assert AuditEvent.select().where(AuditEvent.action == "client.rotate_secret").count() == 0
    assert audit.verify().ok


def test_bad_domain_and_missing_name(cli_env, capsys):
    code, _out, err = run_cli(capsys, "clients", "add", "--name", "X", "--service-domain", "Bad!")
    assert (code, err.count("\n")) == (1, 1)
    assert err.startswith("error: invalid service domain 'Bad!'")
    code, _out, err = run_cli(capsys, "clients", "add", "--service-domain", "fiscalite")
    assert (code, err) == (1, "error: a client name is required\n")


def test_demo_mode_allows_http(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("MONESPACE_MODE", "demo")
    monkeypatch.setenv("MONESPACE_SIMULATORS", "false")
    code, _out, err = run_cli(
        capsys,
        *add_args("--redirect-uri", "http://127.0.0.1:5000/cb", "--client-id", "local-dev-rp"),
    )
    assert code == 0, err
    assert (
        "http://127.0.0.1:5000/cb"
        in Client.get(Client.client_id == "local-dev-rp").redirect_uri_list
    )
    code, _out, err = run_cli(
        capsys,
        *add_args(
            "--client-id",
            "local-dev-rp2",
            "--post-logout-redirect-uri",
            "http://127.0.0.1:5000/bye",
            "--backchannel-logout-uri",
            "http://127.0.0.1:5000/bc",
        ),
    )
    assert code == 0, err
    client = Client.get(Client.client_id == "local-dev-rp2")
    assert json.loads(client.post_logout_redirect_uris) == ["http://127.0.0.1:5000/bye"]
    assert client.backchannel_logout_uri == "http://127.0.0.1:5000/bc"


def test_list_and_disable(cli_env, capsys):
    run_cli(capsys, *add_args("--client-id", "zeta-app"))
    run_cli(capsys, *add_args("--client-id", "alpha-app", "--name", "Application Alpha"))

    code, out, _err = run_cli(capsys, "clients", "disable", "zeta-app")
    assert (code, out) == (0, "disabled zeta-app\n")
    code, out, _err = run_cli(capsys, "clients", "list")

    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["client_id", "name", "domain", "auth", "method", "enabled"]
    assert rows[0].startswith("alpha-app  Application Alpha")
    assert rows[0].split()[-2:] == ["client_secret_basic", "yes"]
    assert rows[1].startswith("zeta-app ")
    assert rows[1].split()[-1] == "no"

    code, _out, err = run_cli(capsys, "clients", "disable", "nobody")
    assert (code, err) == (1, "error: no client with client_id 'nobody'\n")


def catalogue_args(*extra: str) -> list[str]:
    return [
        "clients",
        "catalogue",
        "guichet-fictif",
        "--name-fr",
        "Guichet fictif",
        "--name-nl",
        "Fictief loket",
        "--description-fr",
        "Un service pour essayer.",
        "--start-url",
        "https://rp.example.test/",
        "--espaces",
        "citoyen,professionnel",
        *extra,
    ]


def test_catalogue_sets_the_entry_audited(cli_env, capsys):
    assert run_cli(capsys, *add_args("--client-id", "guichet-fictif"))[0] == 0
    code, out, err = run_cli(capsys, *catalogue_args())

    assert code == 0, err
    assert (
        out.strip() == "catalogue entry of guichet-fictif: Guichet fictif (citoyen, professionnel)"
    )
    stored = json.loads(Client.get(Client.client_id == "guichet-fictif").catalogue)
    assert stored["names"] == {"fr": "Guichet fictif", "nl": "Fictief loket"}
    assert stored["espaces"] == ["citoyen", "professionnel"]
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert (event.action, event.actor) == ("client.update", "operator:cli")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--start-url", "http://rp.example.test/"), "must be an absolute https URL"),
        (("--espaces", "citoyen,entreprise"), "unknown espace"),
        (("--name-fr", "x" * 101), "longer than 100"),
    ],
)
def test_catalogue_invalid_input_exits_2(cli_env, capsys, extra, message):
    assert run_cli(capsys, *add_args("--client-id", "guichet-fictif"))[0] == 0
    code, _out, err = run_cli(capsys, *catalogue_args(*extra))

    assert code == 2
    assert message in err
    assert Client.get(Client.client_id == "guichet-fictif").catalogue is None


def test_catalogue_of_an_unknown_client(cli_env, capsys):
    code, _out, err = run_cli(capsys, *catalogue_args())
    assert code == 1
    assert err.strip() == "error: no client with client_id 'guichet-fictif'"
