"""authz.clients: registering relying parties, their secrets, redirect and logout URIs."""

from __future__ import annotations

import json

import pytest

from authz import audit, db
from authz import clients as clients_module
from authz.clients import (
    ClientMetadata,
    add_client,
    disable_client,
    find_client,
    hash_secret,
    list_clients,
    rotate_secret,
    validate_redirect_uris,
    verify_secret,
)
from authz.errors import Conflict, InvalidInput, NotFound
from authz.models import AuditEvent, Client, utcnow

ACTOR = "operator:test"
RP = "https://rp.example.test/callback"
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "abc", "y": "def", "kid": "k1"}]}


def add(**overrides):
    arguments = {"name": "Guichet Fictif", "service_domain": "fiscalite", "redirect_uris": [RP]}
    arguments.update(overrides)
    return add_client(ClientMetadata(**arguments), actor=ACTOR)


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
        ("//rp.example.test/callback", "absolute"),
        ("https:///callback", "absolute"),
        ("javascript://rp.example.test/%0aalert(1)", "scheme must be https"),
        ("https://rp.example.test/cb?next=*", "wildcard"),
        ("https://rp*.example.test/cb", "wildcard"),
        ("https://user@rp.example.test/callback", "user information"),
        ("https://@rp.example.test/callback", "user information"),
        ("https://rp.example.test%2F@evil.test/cb", "user information"),
        # Browsers read "\\" as "/": a host Python and the browser would not agree on.
        ("https://evil.test\\rp.example.test/cb", "cannot hold"),
        ("https://rp.exämple.test/cb", "cannot hold"),
        ("https://rp.example.test/<cb>", "cannot hold"),
        ("https://rp.example.test/cb\n", "control characters"),
        ("https://rp.example.test/cb\x00", "control characters"),
        ("https://rp.example.test/" + "c" * 2000, "longer than 2000"),
    ],
)
def test_bad_redirect_uris(uri, reason):
    with pytest.raises(InvalidInput, match=reason):
        validate_redirect_uris([uri])
    # demo mode relaxes the scheme, nothing else
    if "scheme" not in reason:
        with pytest.raises(InvalidInput, match=reason):
            validate_redirect_uris([uri.replace("https:", "http:")], allow_http=True)


@pytest.mark.parametrize("uri", [None, 42, b"https://rp.example.test/cb"])
def test_redirect_uri_must_be_a_string(uri):
    with pytest.raises(InvalidInput, match="non-empty string"):
        validate_redirect_uris([uri])


def test_good_redirect_uris():
    uris = [
        "https://rp.example.test/callback",
        "https://rp.example.test:8443/cb?tenant=a",
        "https://[2001:db8::1]/cb",
        # Percent-encoded: compared exactly, so %2A is no wildcard.
        "https://xn--rp-exmple-t2a.test/cb%2A?a=b&c=%C3%A9",
    ]
    assert validate_redirect_uris(uris) == uris
    assert validate_redirect_uris(RP) == [RP]


def test_http_only_when_allowed(database):
    local = "http://127.0.0.1:5000/callback"
    with pytest.raises(InvalidInput, match="scheme must be https"):
        add(redirect_uris=[local])
    client, _secret = add(redirect_uris=[local], allow_http=True)
    assert client.redirect_uris == (local,)
    with pytest.raises(InvalidInput, match="fragment"):
        add(redirect_uris=["http://127.0.0.1/cb#x"], allow_http=True)
    with pytest.raises(InvalidInput, match="scheme must be https or http"):
        add(redirect_uris=["ftp://127.0.0.1/cb"], allow_http=True)


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
        ({"client_id": "guichet\n"}, "invalid client_id"),
        ({"service_domain": "fiscalite\n"}, "invalid service domain"),
        ({"scopes": ["openid", "profile\n"]}, "invalid scope"),
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


def test_a_client_id_registered_at_the_same_moment_is_a_conflict(database, monkeypatch):
    add(client_id="guichet-fictif")
    # The other registration committed between this one's check and its insert.
    real_select = Client.select
    monkeypatch.setattr(
        Client, "select", classmethod(lambda cls, *a: real_select(*a).where(Client.id < 0))
    )
    with pytest.raises(Conflict, match="already exists"):
        add(client_id="guichet-fictif")
    monkeypatch.undo()
    assert Client.select().where(Client.client_id == "guichet-fictif").count() == 1


# -- logout URIs --------------------------------------------------------------------------

LOGOUT = "https://rp.example.test/logged-out"
BACKCHANNEL = "https://rp.example.test/backchannel-logout"


def test_logout_uris_are_stored_and_audited(database):
    add(
        client_id="rp-logout",
        post_logout_redirect_uris=[LOGOUT, LOGOUT, "https://rp.example.test/bye?lang=fr"],
        backchannel_logout_uri=BACKCHANNEL,
    )
    stored = Client.get(Client.client_id == "rp-logout")
    logout_uris = [LOGOUT, "https://rp.example.test/bye?lang=fr"]
    assert json.loads(stored.post_logout_redirect_uris) == logout_uris
    assert stored.backchannel_logout_uri == BACKCHANNEL
    [event] = AuditEvent.select().where(AuditEvent.action == "client.add")
    details = json.loads(event.details)
    assert details["post_logout_redirect_uris"] == logout_uris
    assert details["backchannel_logout_uri"] == BACKCHANNEL


def test_logout_uris_are_optional(database):
    client, _secret = add()
    stored = Client.get(Client.client_id == client.client_id)
    assert (stored.post_logout_redirect_uris, stored.backchannel_logout_uri) == ("[]", None)
    [event] = AuditEvent.select().where(AuditEvent.action == "client.add")
    assert "post_logout_redirect_uris" not in json.loads(event.details)
    assert "backchannel_logout_uri" not in json.loads(event.details)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"post_logout_redirect_uris": ["https://rp.example.test/*"]}, "wildcards"),
        ({"post_logout_redirect_uris": [LOGOUT + "#top"]}, "fragment"),
        ({"post_logout_redirect_uris": ["http://rp.example.test/bye"]}, "scheme must be https"),
        ({"post_logout_redirect_uris": ["/bye"]}, "absolute"),
        ({"post_logout_redirect_uris": ["https://u@rp.example.test/bye"]}, "user information"),
        ({"post_logout_redirect_uris": [""]}, "post-logout redirect URI must be a non-empty"),
        ({"backchannel_logout_uri": "https://rp.example.test/*"}, "wildcards"),
        ({"backchannel_logout_uri": BACKCHANNEL + "#x"}, "fragment"),
        ({"backchannel_logout_uri": "http://rp.example.test/bc"}, "scheme must be https"),
        ({"backchannel_logout_uri": "bc"}, "absolute"),
        ({"backchannel_logout_uri": "https://u:p@rp.example.test/bc"}, "user information"),
        ({"backchannel_logout_uri": ""}, "back-channel logout URI must be a non-empty"),
        # The column holds 255 characters.
        ({"backchannel_logout_uri": "https://rp.example.test/" + "b" * 232}, "longer than 255"),
    ],
)
def test_bad_logout_uris(database, overrides, message):
    with pytest.raises(InvalidInput, match=message) as info:
        add(**overrides)
    what = "post-logout redirect" if "post_logout_redirect_uris" in overrides else "back-channel"
    assert what in str(info.value)
    assert Client.select().count() == 0
    assert AuditEvent.select().count() == 0


def test_longest_backchannel_logout_uri_fits_the_column(database):
    uri = "https://rp.example.test/" + "b" * 231
    assert len(uri) == 255
    client, _secret = add(backchannel_logout_uri=uri)
    assert Client.get(Client.client_id == client.client_id).backchannel_logout_uri == uri


def test_http_logout_uris_only_when_allowed(database):
    local = "http://127.0.0.1:5000/"
    client, _secret = add(
        redirect_uris=[local + "cb"],
        post_logout_redirect_uris=[local + "bye"],
        backchannel_logout_uri=local + "bc",
        allow_http=True,
    )
    stored = Client.get(Client.client_id == client.client_id)
    assert json.loads(stored.post_logout_redirect_uris) == [local + "bye"]
    assert stored.backchannel_logout_uri == local + "bc"


# -- secret rotation ----------------------------------------------------------------------


def test_rotate_secret_replaces_the_secret_at_once(database):
    client, old = add(client_id="guichet-fictif")

    new = rotate_secret("guichet-fictif", actor=ACTOR)

    assert new != old and len(new) >= 43
    stored = Client.get(Client.client_id == "guichet-fictif")
    assert new not in stored.secret_hash
    assert stored.secret_hash != client.secret_hash
    assert verify_secret(stored, new)
    assert not verify_secret(stored, old)
    [event] = AuditEvent.select().where(AuditEvent.action == "client.rotate_secret")
    assert (event.actor, event.target_type, event.target_id) == (ACTOR, "client", "guichet-fictif")
    assert json.loads(event.details) == {"name": "Guichet Fictif"}
    for event in AuditEvent.select():
        assert old not in event.details and new not in event.details
    assert audit.verify().ok


def test_rotate_twice_keeps_only_the_last_secret(database):
    add(client_id="guichet-fictif")
    first = rotate_secret("guichet-fictif", actor=ACTOR)
    second = rotate_secret("guichet-fictif", actor="operator:other")

    stored = Client.get(Client.client_id == "guichet-fictif")
    assert verify_secret(stored, second)
    assert not verify_secret(stored, first)
    events = AuditEvent.select().where(AuditEvent.action == "client.rotate_secret")
    assert [e.actor for e in events.order_by(AuditEvent.seq)] == [ACTOR, "operator:other"]
    assert audit.verify().ok


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth_method": "none"}, "public client .* no secret to rotate"),
        ({"auth_method": "private_key_jwt", "jwks": JWKS}, "private_key_jwt: it has no secret"),
    ],
)
def test_rotate_secret_refused_without_a_secret(database, overrides, message):
    add(client_id="no-secret", **overrides)
    before = AuditEvent.select().count()

    with pytest.raises(InvalidInput, match=message):
        rotate_secret("no-secret", actor=ACTOR)

    assert Client.get(Client.client_id == "no-secret").secret_hash is None
    assert AuditEvent.select().count() == before


def test_rotate_secret_refused_for_disabled_and_unknown_clients(database):
    add(client_id="guichet-fictif")
    disable_client("guichet-fictif", actor=ACTOR)
    before = Client.get(Client.client_id == "guichet-fictif").secret_hash

    with pytest.raises(Conflict, match="'guichet-fictif' is disabled"):
        rotate_secret("guichet-fictif", actor=ACTOR)
    with pytest.raises(NotFound, match="no client with client_id 'nobody'"):
        rotate_secret("nobody", actor=ACTOR)

    assert Client.get(Client.client_id == "guichet-fictif").secret_hash == before
    assert AuditEvent.select().where(AuditEvent.action == "client.rotate_secret").count() == 0
    assert audit.verify().ok


@pytest.mark.parametrize(
    "their_change",
    [{"secret_hash": hash_secret("theirs")}, {"disabled_at": utcnow()}],
    ids=["rotated", "disabled"],
)
def test_a_concurrent_change_makes_rotation_fail(database, monkeypatch, their_change):
    """Another writer rotates or disables between our read and our write: ours fails instead
    of overwriting theirs (the whole transaction rolls back, here theirs too)."""
    _client, old = add(client_id="guichet-fictif")
    real_get_client = clients_module.get_client

    def get_then_race(client_id):
        client = real_get_client(client_id)
        Client.update(**their_change).where(Client.client_id == client_id).execute()
        return client

    monkeypatch.setattr(clients_module, "get_client", get_then_race)
    with pytest.raises(Conflict, match="changed while rotating its secret; try again"):
        rotate_secret("guichet-fictif", actor=ACTOR)

    assert verify_secret(Client.get(Client.client_id == "guichet-fictif"), old)
    assert AuditEvent.select().where(AuditEvent.action == "client.rotate_secret").count() == 0


# -- a given secret, one more redirect URI --------------------------------------------------


def test_given_secret_is_stored_hashed_and_verifies(database):
    given = "s" * clients_module.MIN_GIVEN_SECRET
    _client, secret = add_client(
        ClientMetadata("Guichet Fictif", "fiscalite", redirect_uris=[RP], client_id="moved"),
        actor=ACTOR,
        secret=given,
    )

    assert secret == given
    stored = Client.get(Client.client_id == "moved")
    assert given not in stored.secret_hash and verify_secret(stored, given)
    assert not verify_secret(stored, given + "x")


@pytest.mark.parametrize(
    ("overrides", "secret", "message"),
    [
        ({}, "s" * (clients_module.MIN_GIVEN_SECRET - 1), "at least 32 characters"),
        ({}, "", "at least 32 characters"),
        ({"auth_method": "private_key_jwt", "jwks": JWKS}, "s" * 40, "no secret to give"),
    ],
)
def test_a_weak_or_needless_given_secret_is_refused(database, overrides, secret, message):
    arguments = {"name": "Guichet Fictif", "service_domain": "fiscalite", "redirect_uris": [RP]}
    with pytest.raises(InvalidInput, match=message):
        add_client(ClientMetadata(**arguments, **overrides), actor=ACTOR, secret=secret)
    assert Client.select().count() == 0


def test_a_demo_mode_client_may_have_a_short_published_secret(database):
    metadata = ClientMetadata(
        "Demo", "fiscalite", redirect_uris=["http://127.0.0.1:8000/cb"], allow_http=True
    )
    _client, secret = add_client(metadata, actor=ACTOR, secret="demo-secret")

    assert secret == "demo-secret"


def test_add_redirect_uri_is_checked_audited_and_idempotent(database):
    add(client_id="guichet-fictif")
    other = "https://rp.example.test/other"

    client = clients_module.add_redirect_uri("guichet-fictif", other, actor=ACTOR)
    again = clients_module.add_redirect_uri("guichet-fictif", other, actor=ACTOR)

    assert client.redirect_uris == again.redirect_uris == (RP, other)
    [event] = AuditEvent.select().where(AuditEvent.action == "client.update")
    assert json.loads(event.details) == {"redirect_uris": [RP, other]}
    with pytest.raises(InvalidInput, match="scheme must be https"):
        clients_module.add_redirect_uri("guichet-fictif", "http://rp.example.test/x", actor=ACTOR)
    assert (
        clients_module.add_redirect_uri(
            "guichet-fictif", "http://rp.example.test/x", allow_http=True, actor=ACTOR
        ).redirect_uris[-1]
        == "http://rp.example.test/x"
    )
    disable_client("guichet-fictif", actor=ACTOR)
    with pytest.raises(Conflict, match="disabled"):
        clients_module.add_redirect_uri("guichet-fictif", "https://rp.example.test/y", actor=ACTOR)
    with pytest.raises(NotFound):
        clients_module.add_redirect_uri("nobody", other, actor=ACTOR)
    assert audit.verify().ok


# -- the client cache of the endpoints called on every request --------------------------------


def test_a_client_cache_keeps_records_for_its_time_and_forgets_what_this_process_changes(
    database,
):
    add(name="Cached", client_id="cached")
    cache = clients_module.ClientCache(ttl=60)
    assert cache.get("cached").is_enabled
    Client.update(name="Changed elsewhere").where(Client.client_id == "cached").execute()
    assert cache.get("cached").name == "Cached"  # another process's change: not yet seen
    disable_client("cached", actor="operator:test")  # this process's change: seen at once
    assert not cache.get("cached").is_enabled
    assert cache.get("cached").name == "Changed elsewhere"
    assert cache.get("nobody") is None


def test_a_client_cache_forgets_nothing_for_a_change_rolled_back(database):
    add(name="Kept", client_id="kept")
    cache = clients_module.ClientCache(ttl=60)
    assert cache.get("kept").is_enabled
    with pytest.raises(RuntimeError), db.transaction():
        disable_client("kept", actor="operator:test")
        raise RuntimeError("the rest of the change failed")
    assert cache.get("kept").is_enabled
    assert find_client("kept").is_enabled


def test_a_client_cache_holds_at_most_its_size(database):
    for n in range(5):
        add(name=f"C{n}", client_id=f"cli{n}")
    cache = clients_module.ClientCache(ttl=60, size=3)
    for n in range(5):
        assert cache.get(f"cli{n}").client_id == f"cli{n}"
    assert len(cache._clients) == 3
