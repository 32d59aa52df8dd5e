"""authz.clients: registering relying parties, their secrets and redirect URIs."""

from __future__ import annotations

import json

import pytest

from authz import audit
from authz.clients import (
    add_client,
    disable_client,
    hash_secret,
    list_clients,
    validate_redirect_uris,
    verify_secret,
)
from authz.errors import Conflict, InvalidInput, NotFound
from authz.models import AuditEvent, Client

ACTOR = "operator:test"
RP = "https://rp.example.test/callback"
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "abc", "y": "def", "kid": "k1"}]}


def add(**overrides):
    arguments = {
        "name": "Guichet Fictif",
        "service_domain": "fiscalite",
        "redirect_uris": [RP],
        "actor": ACTOR,
    }
    arguments.update(overrides)
    return add_client(**arguments)


def test_secret_is_hashed_not_stored_in_clear(database):
    _client, secret = add(client_id="guichet-fictif")

    assert secret and len(secret) >= 43
    stored = Client.get(Client.client_id == "guichet-fictif")
    assert secret not in stored.secret_hash
    scheme, salt, digest = stored.secret_hash.split("$")
    assert scheme == "sha256" and len(salt) == 32 and len(digest) == 64
    for event in AuditEvent.select():
        assert secret not in event.details
    [event] = AuditEvent.select().where(AuditEvent.action == "client.add")
    assert (event.actor, event.target_id) == (ACTOR, "guichet-fictif")
    assert json.loads(event.details)["redirect_uris"] == [RP]


def test_same_secret_hashes_differently():
    assert hash_secret("s") != hash_secret("s")


def test_verify_secret_right_wrong_and_disabled(database):
    client, secret = add()

    assert verify_secret(client, secret)
    assert not verify_secret(client, secret + "x")
    assert not verify_secret(client, "")
    assert not verify_secret(client, None)

    disable_client(client.client_id, actor=ACTOR)
    disabled = Client.get(Client.client_id == client.client_id)
    assert not disabled.is_enabled
    assert not verify_secret(disabled, secret)
    assert AuditEvent.select().where(AuditEvent.action == "client.disable").count() == 1
    # Disabling again changes nothing and audits nothing.
    disable_client(client.client_id, actor=ACTOR)
    assert AuditEvent.select().where(AuditEvent.action == "client.disable").count() == 1
    assert audit.verify().ok


def test_private_key_jwt_has_no_secret(database):
    client, secret = add(auth_method="private_key_jwt", jwks=JWKS)

    assert secret is None
    assert client.secret_hash is None
    assert json.loads(client.jwks) == JWKS
    assert not verify_secret(client, "anything")


def test_private_key_jwt_needs_public_jwks(database):
    with pytest.raises(InvalidInput, match="JWKS"):
        add(auth_method="private_key_jwt")
    with pytest.raises(InvalidInput, match="private or secret key"):
        add(auth_method="private_key_jwt", jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    with pytest.raises(InvalidInput, match="not valid JSON"):
        add(auth_method="private_key_jwt", jwks="{not json")


def test_public_client_has_no_secret_and_needs_redirect_uris(database):
    client, secret = add(auth_method="none", client_id="public-app")

    assert secret is None
    assert client.secret_hash is None
    assert Client.get(Client.client_id == "public-app").auth_method == "none"
    assert not verify_secret(client, "")
    with pytest.raises(InvalidInput, match=r"public client .* redirect URI"):
        add(auth_method="none", redirect_uris=[])


def test_private_key_jwt_with_jwks_uri(database):
    uri = "https://rp.example.test/jwks.json"
    _client, secret = add(auth_method="private_key_jwt", jwks_uri=uri, client_id="rp-uri")

    assert secret is None
    stored = Client.get(Client.client_id == "rp-uri")
    assert (stored.jwks_uri, stored.jwks) == (uri, None)
    [event] = AuditEvent.select().where(AuditEvent.action == "client.add")
    assert json.loads(event.details)["jwks_uri"] == uri


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwks": JWKS}, "either inline"),
        ({"jwks_uri": "http://rp.example.test/jwks"}, "https"),
        ({"jwks_uri": "/jwks"}, "absolute"),
        ({"jwks_uri": "https://rp.example.test/jwks#k"}, "fragment"),
        ({"jwks_uri": "https://u:p@rp.example.test/jwks"}, "user information"),
        ({"jwks_uri": "https://rp.example.test/" + "j" * 255}, "at most 255"),
        ({"jwks_uri": ""}, "non-empty"),
    ],
)
def test_bad_jwks_uri(database, overrides, message):
    arguments = {"auth_method": "private_key_jwt", "jwks_uri": "https://rp.example.test/jwks"}
    with pytest.raises(InvalidInput, match=message):
        add(**(arguments | overrides))
    assert Client.select().count() == 0


def test_http_jwks_uri_only_when_allowed(database):
    client, _secret = add(
        auth_method="private_key_jwt", jwks_uri="http://127.0.0.1:5001/jwks", allow_http=True
    )
    assert client.jwks_uri == "http://127.0.0.1:5001/jwks"


def test_defaults_and_options_are_stored(database):
    client, _secret = add(
        scopes="openid profile enterprise",
        may_receive_nrn=True,
        subject_type="public",
        redirect_uris=[RP, RP, "https://rp.example.test/other"],
    )
    stored = Client.get(Client.client_id == client.client_id)
    assert stored.allowed_scopes == "openid profile enterprise"
    assert stored.may_receive_nrn is True
    assert stored.subject_type == "public"
    assert stored.redirect_uri_list == [RP, "https://rp.example.test/other"]
    assert [c.client_id for c in list_clients()] == [client.client_id]


def test_list_clients_sorted(database):
    add(client_id="zeta-app")
    add(client_id="alpha-app")
    assert [c.client_id for c in list_clients()] == ["alpha-app", "zeta-app"]


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("/callback", "absolute"),
        ("rp.example.test/callback", "absolute"),
        ("http://rp.example.test/callback", "scheme must be https"),
        ("ftp://rp.example.test/callback", "scheme must be https"),
        ("com.example.app:/callback", "absolute"),
        ("https://rp.example.test/callback#done", "fragment"),
        ("https://rp.example.test/callback#", "fragment"),
        ("https://*.example.test/callback", "wildcard"),
        ("https://rp.example.test/*", "wildcard"),
        ("https://user:pw@rp.example.test/callback", "user information"),
        ("https://rp.example.test/call back", "whitespace"),
        ("https://rp.example.test:99999/callback", "out of range"),
        ("", "non-empty"),
    ],
)
def test_bad_redirect_uris(uri, reason):
    with pytest.raises(InvalidInput, match=reason):
        validate_redirect_uris([uri])


def test_good_redirect_uris():
    uris = [
        "https://rp.example.test/callback",
        "https://rp.example.test:8443/cb?tenant=a",
        "https://[2001:db8::1]/cb",
    ]
    assert validate_redirect_uris(uris) == uris


def test_http_only_when_allowed(database):
    local = "http://127.0.0.1:5000/callback"
    with pytest.raises(InvalidInput, match="scheme must be https"):
        add(redirect_uris=[local])
    client, _secret = add(redirect_uris=[local], allow_http=True)
    assert client.redirect_uri_list == [local]
    with pytest.raises(InvalidInput, match="fragment"):
        add(redirect_uris=["http://127.0.0.1/cb#x"], allow_http=True)


def test_bad_redirect_uri_writes_nothing(database):
    with pytest.raises(InvalidInput):
        add(redirect_uris=[RP, "https://rp.example.test/*"])
    assert Client.select().count() == 0
    assert AuditEvent.select().count() == 0


@pytest.mark.parametrize(
    "domain", ["", "f", "Fiscalite", "1fiscalite", "fisc alite", "fiscalité", "x" * 41, None]
)
def test_bad_service_domain(database, domain):
    with pytest.raises(InvalidInput, match="service domain"):
        add(service_domain=domain)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "  "}, "client name is required"),
        ({"auth_method": "client_secret_post"}, "unknown auth method"),
        ({"subject_type": "random"}, "unknown subject type"),
        ({"scopes": ["openid", 'bad"scope']}, "invalid scope"),
        ({"scopes": []}, "at least one scope"),
        ({"client_id": "a b"}, "invalid client_id"),
        ({"client_id": "x"}, "invalid client_id"),
        ({"subject_type": "public", "sector_identifier": "rp.example.test"}, "pairwise"),
    ],
)
def test_other_invalid_input(database, overrides, message):
    with pytest.raises(InvalidInput, match=message):
        add(**overrides)


def test_duplicate_client_id_and_unknown_client(database):
    add(client_id="guichet-fictif")
    with pytest.raises(Conflict, match="already exists"):
        add(client_id="guichet-fictif")
    with pytest.raises(NotFound):
        disable_client("nobody", actor=ACTOR)
