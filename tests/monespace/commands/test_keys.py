"""``monespace keys``: list and rotate the signing keys; one-line refusals."""

from __future__ import annotations

from authz.models import AuditEvent
from idp_bridge.oidc.keys import KeyStore
from idp_bridge.oidc.models import SigningKey
from tests.monespace.conftest import run_cli

CLI_SECRET = "k" * 40  # the cli_env fixture's MONESPACE_SECRET_KEY


def listed(out: str) -> list[list[str]]:
    lines = out.splitlines()
    assert lines[0].split() == ["kid", "state", "created", "activated", "retired"]
    return [line.split() for line in lines[1:]]


def printed(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines())


def test_list_without_keys_says_so(cli_env, capsys):
    code, out, err = run_cli(capsys, "keys", "list")
    assert (code, err) == (0, "")
    assert out.startswith("no signing keys yet")
    assert "monespace keys rotate" in out


def test_rotate_on_an_empty_database_creates_the_first_keys(cli_env, capsys):
    code, out, err = run_cli(capsys, "keys", "rotate")
    assert (code, err) == (0, "")
    kids = printed(out)
    assert set(kids) == {"current", "next"}
    assert KeyStore(CLI_SECRET).signing_key().kid == kids["current"]
    assert AuditEvent.get().actor == "operator:cli"

    code, out, err = run_cli(capsys, "keys", "list")
    assert code == 0, err
    rows = listed(out)
    assert [(r[0], r[1]) for r in rows] == [(kids["next"], "next"), (kids["current"], "current")]
    assert rows[0][3:] == ["-", "-"]  # the next key was never activated, nor retired
    assert rows[1][3] != "-" and rows[1][3].endswith("Z")


def test_rotate_too_soon_is_one_error_line(cli_env, capsys):
    KeyStore(CLI_SECRET).ensure()
    before = {r.kid: r.state for r in SigningKey.select()}
    code, out, err = run_cli(capsys, "keys", "rotate")
    assert (code, out) == (1, "")
    assert err.startswith("error: the current signing key ")
    assert "monespace keys rotate --force" in err
    assert len(err.strip().splitlines()) == 1
    assert {r.kid: r.state for r in SigningKey.select()} == before


def test_rotate_force_moves_the_keys_and_list_shows_them(cli_env, capsys):
    store = KeyStore(CLI_SECRET)
    store.ensure()
    old_current = store.signing_key().kid
    code, out, err = run_cli(capsys, "keys", "rotate", "--force")
    assert code == 0, err
    kids = printed(out)
    code, out, err = run_cli(capsys, "keys", "list")
    assert code == 0, err
    states = {row[0]: row[1] for row in listed(out)}
    assert states == {kids["next"]: "next", kids["current"]: "current", old_current: "previous"}


def test_keys_made_with_another_secret_key_are_a_clear_error(cli_env, capsys):
    KeyStore("o" * 40).ensure()
    code, out, err = run_cli(capsys, "keys", "rotate", "--force")
    assert (code, out) == (1, "")
    assert err.startswith("error: signing key ")
    assert "Set MONESPACE_SECRET_KEY back to that key" in err


def test_help_names_the_subcommands(cli_env, capsys):
    code, out, _err = run_cli(capsys, "keys", "--help")
    assert code == 0
    assert "list" in out and "rotate" in out


def test_a_new_secret_key_with_the_previous_one_then_reencrypt(cli_env, capsys, monkeypatch):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    old = KeyStore(CLI_SECRET)
    old.ensure()
    signer = old.signing_key()
    token = jwt.encode({"alg": "RS256", "kid": signer.kid}, {"sub": "someone"}, signer)
    jwks = old.jwks()
    new_secret = "n" * 40

    monkeypatch.setenv("MONESPACE_SECRET_KEY", new_secret)
    code, out, err = run_cli(capsys, "keys", "reencrypt")  # without the previous key: refused
    assert (code, out) == (1, "")
    assert err.startswith("error: signing key ") and len(err.splitlines()) == 1
    assert "list the old one in MONESPACE_PREVIOUS_SECRET_KEYS" in err

    monkeypatch.setenv("MONESPACE_PREVIOUS_SECRET_KEYS", CLI_SECRET)
    code, out, err = run_cli(capsys, "keys", "reencrypt")
    assert (code, err) == (0, "")
    assert sorted(line.split(": ")[1] for line in out.splitlines() if "re-encrypted" in line) == (
        sorted(k["kid"] for k in jwks["keys"])
    )
    code, out, err = run_cli(capsys, "keys", "reencrypt")
    assert (code, err) == (0, "")
    assert out.startswith("every signing key is encrypted under the secret key; nothing to do")

    alone = KeyStore(new_secret)  # the previous secret key no longer needed for them
    assert alone.jwks() == jwks
    assert jwt.decode(token, KeySet.import_key_set(alone.jwks())).claims["sub"] == "someone"
