"""``monespace clients``: add, list, disable; one-line errors."""

from __future__ import annotations

import json

import pytest

from authz.clients import verify_secret
from authz.models import Client
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
    ],
)
def test_invalid_input_is_one_line(cli_env, capsys, extra, message):
    code, out, err = run_cli(capsys, *add_args(*extra))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ") and message in err
    assert Client.select().count() == 0


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
