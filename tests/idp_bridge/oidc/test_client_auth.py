"""idp_bridge/oidc/client_auth.py: who is calling the token endpoint.

For each method, the request that authenticates and the ones that must not; every refusal is
an OAuthError with the code, status and challenge the client can act on. Assertions are real
JWTs signed with joserfc; assertion ids are kept in the database store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from urllib.parse import quote

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from werkzeug.datastructures import MultiDict

from authz.clients import ClientMetadata, add_client, disable_client
from idp_bridge.oidc.client_auth import SKEW, ClientAuthenticator
from idp_bridge.oidc.errors import BASIC_CHALLENGE, OAuthError
from idp_bridge.shared import nested_jwt
from idp_bridge.shared.client_assertion import ASSERTION_TYPE
from idp_bridge.shared.db_stores import DatabaseSeenStore
from idp_bridge.shared.transport import HttpResponse
from tests.idp_bridge.itsme_keys import (
    Clock,
)

ISSUER = "https://monespace.example.test"
TOKEN = f"{ISSUER}/oidc/token"
RP = "https://rp.example.test/callback"
JWKS_URI = "https://rp.example.test/jwks.json"
ACTOR = "operator:test"
_SIGNING = jws.JWSRegistry(algorithms=["RS256", "PS256", "ES256"])


@pytest.fixture(scope="module")
def keys() -> dict[str, RSAKey | ECKey]:
    return {
        "rsa": nested_jwt.generate_rsa_key("sig"),
        "rsa_new": nested_jwt.generate_rsa_key("sig"),
        "rsa_other": nested_jwt.generate_rsa_key("sig"),  # registered by nobody
        "ec": ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"}),
    }


class JwksServer:
    """A fake transport serving the clients' JWK Sets, counting the fetches."""

    def __init__(self):
        self.documents: dict[str, dict] = {}
        self.fetches: list[str] = []
        self.down = False

    def __call__(self, method, url, form=None) -> HttpResponse:
        assert (method, form) == ("GET", None)
        self.fetches.append(url)
        if self.down:
            raise ConnectionError(f"{url}: connection refused")
        if url not in self.documents:
            return HttpResponse(404, b"not found")
        return HttpResponse(200, json.dumps(self.documents[url]).encode())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> JwksServer:
    return JwksServer()


@pytest.fixture
def auth(database, clock, server) -> ClientAuthenticator:
    seen = DatabaseSeenStore("client_assertion", clock=clock)
    return ClientAuthenticator(TOKEN, ISSUER, seen, transport=server, clock=clock)


def public(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def register(client_id: str, auth_method: str = "client_secret_basic", **options):
    client, secret = add_client(
        ClientMetadata(
            "Guichet Fictif",
            "fiscalite",
            redirect_uris=[RP],
            auth_method=auth_method,
            client_id=client_id,
            **options,
        ),
        actor=ACTOR,
    )
    return client, secret


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 section 2.3.1: each part form-url-encoded, then base64."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def claims_for(client_id: str, clock: Clock, **overrides) -> dict:
    now = int(clock())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict, key, alg: str = "RS256", **header) -> str:
    head = {"alg": alg, "typ": "JWT", "kid": key.kid, **header}
    head = {name: value for name, value in head.items() if value is not None}
    return jws.serialize_compact(head, json.dumps(claims), key, registry=_SIGNING)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict) -> str:
    head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{_b64(json.dumps(claims).encode())}."


def hs256(claims: dict, secret: bytes, kid: str | None = None) -> str:
    head = {"alg": "HS256", "typ": "JWT"} | ({"kid": kid} if kid else {})
    signing_input = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def jwt_form(assertion: str, **extra) -> dict:
    return {
        "grant_type": "authorization_code",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


def refused(auth, form, header=None, error="invalid_client") -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        auth.authenticate(form, header)
    exc = caught.value
    assert exc.error == error
    if error == "invalid_client":
        assert exc.status == 401
        assert exc.headers == {"WWW-Authenticate": BASIC_CHALLENGE}
    else:
        assert exc.status == 400
    assert exc.to_dict() == {"error": error, "error_description": exc.description}
    return exc


@pytest.fixture
def jwt_client(database, keys):
    client, _secret = register("rp-jwt", "private_key_jwt", jwks=public(keys["rsa"], keys["ec"]))
    return client


# -- client_secret_basic -------------------------------------------------------------------


def test_basic_authenticates_the_client(auth):
    client, secret = register("guichet-fictif")
    got = auth.authenticate({"grant_type": "authorization_code"}, basic("guichet-fictif", secret))
    assert got.client_id == client.client_id
    # client_id may also be in the form, when it is the same one.
    form = {"client_id": "guichet-fictif"}
    assert auth.authenticate(form, basic("guichet-fictif", secret)).client_id == "guichet-fictif"


def test_basic_credentials_are_form_url_decoded(auth):
    _client, secret = register("guichet.fictif_1")
    pair = f"guichet%2Efictif%5F1:{quote(secret, safe='')}"
    header = "basic  " + base64.b64encode(pair.encode()).decode()
    assert auth.authenticate({}, header).client_id == "guichet.fictif_1"


def test_basic_wrong_secret_unknown_or_disabled_client_are_one_refusal(auth):
    _client, secret = register("guichet-fictif")
    wrong = refused(auth, {}, basic("guichet-fictif", secret[:-1] + "x"))
    unknown = refused(auth, {}, basic("nobody-here", secret))
    disable_client("guichet-fictif", actor=ACTOR)
    disabled = refused(auth, {}, basic("guichet-fictif", secret))
    assert wrong.description == unknown.description == disabled.description
    for exc in (wrong, unknown, disabled):
        assert secret not in str(exc) and secret[:-1] not in exc.description


@pytest.mark.parametrize(
    "header",
    [
        "Basic not base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic " + "A" * 5000,
        "Bearer abc",
    ],
    ids=["not-base64", "no-colon", "no-client-id", "not-utf8", "too-long", "bearer"],
)
def test_malformed_or_other_authorization_is_refused(auth, header):
    register("guichet-fictif")
    refused(auth, {}, header)


def test_basic_for_a_client_registered_otherwise_is_refused(auth, jwt_client):
    exc = refused(auth, {}, basic("rp-jwt", "guess"))
    assert "private_key_jwt" in exc.description


def test_basic_with_another_client_id_in_the_form_is_refused(auth):
    _client, secret = register("guichet-fictif")
    register("other-rp")
    refused(auth, {"client_id": "other-rp"}, basic("guichet-fictif", secret))


def test_client_secret_post_is_not_supported(auth):
    _client, secret = register("guichet-fictif")
    exc = refused(auth, {"client_id": "guichet-fictif", "client_secret": secret})
    assert "Basic" in exc.description
    assert secret not in exc.description


def test_no_authentication_at_all_is_refused(auth):
    refused(auth, {"grant_type": "authorization_code"})
    refused(auth, {"client_id": "", "client_secret": ""}, "  ")


# -- one method per request ----------------------------------------------------------------


def test_basic_and_a_secret_in_the_form_is_a_malformed_request(auth):
    _client, secret = register("guichet-fictif")
    form = {"client_id": "guichet-fictif", "client_secret": secret}
    refused(auth, form, basic("guichet-fictif", secret), error="invalid_request")


def test_basic_and_an_assertion_is_a_malformed_request(auth, jwt_client, keys, clock):
    _client, secret = register("guichet-fictif")
    form = jwt_form(sign(claims_for("rp-jwt", clock), keys["rsa"]))
    refused(auth, form, basic("guichet-fictif", secret), error="invalid_request")


def test_an_assertion_and_a_secret_is_a_malformed_request(auth, jwt_client, keys, clock):
    form = jwt_form(sign(claims_for("rp-jwt", clock), keys["rsa"]), client_secret="s")
    refused(auth, form, error="invalid_request")


def test_a_repeated_parameter_is_a_malformed_request(auth):
    form = MultiDict([("client_id", "public-app"), ("client_id", "other-app")])
    refused(auth, form, error="invalid_request")


# -- private_key_jwt -------------------------------------------------------------------------


@pytest.mark.parametrize(("key_name", "alg"), [("rsa", "RS256"), ("rsa", "PS256"), ("ec", "ES256")])
def test_a_signed_assertion_authenticates_the_client(auth, jwt_client, keys, clock, key_name, alg):
    assertion = sign(claims_for("rp-jwt", clock), keys[key_name], alg)
    assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-jwt"


@pytest.mark.parametrize(
    "overrides",
    [
        lambda now: {"aud": ISSUER},
        lambda now: {"aud": [TOKEN, "https://elsewhere.example.test"]},
        lambda now: {"iat": None},
        lambda now: {"iat": now - 90, "exp": now - 30},  # expired by less than the skew
    ],
    ids=["aud-issuer", "aud-list", "no-iat", "within-skew"],
)
def test_other_acceptable_assertions(auth, jwt_client, keys, clock, overrides):
    assertion = sign(claims_for("rp-jwt", clock, **overrides(int(clock()))), keys["rsa"])
    form = jwt_form(assertion, client_id="rp-jwt")
    assert auth.authenticate(form, None).client_id == "rp-jwt"


def test_without_kid_the_one_key_for_the_alg_is_used(auth, jwt_client, keys, clock):
    assertion = sign(claims_for("rp-jwt", clock), keys["rsa"], kid=None)
    assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-jwt"


def test_an_unsigned_assertion_is_refused(auth, jwt_client, clock):
    exc = refused(auth, jwt_form(unsigned(claims_for("rp-jwt", clock))))
    assert "algorithm" in exc.description


def test_an_assertion_macd_with_the_client_secret_is_refused(auth, clock, keys):
    # client_secret_jwt is not offered: a secret never signs anything here.
    _client, secret = register("guichet-fictif", jwks=public(keys["rsa"]))
    assertion = hs256(claims_for("guichet-fictif", clock), secret.encode())
    refused(auth, jwt_form(assertion))


def test_an_assertion_macd_with_the_public_key_is_refused(auth, jwt_client, keys, clock):
    # The classic algorithm confusion: HMAC keyed with the (public) RSA key.
    pem = keys["rsa"].as_pem(private=False)
    assertion = hs256(claims_for("rp-jwt", clock), pem, kid=keys["rsa"].kid)
    refused(auth, jwt_form(assertion))


def test_a_key_the_client_did_not_register_is_refused(auth, jwt_client, keys, clock):
    claims = claims_for("rp-jwt", clock)
    refused(auth, jwt_form(sign(claims, keys["rsa_other"])))
    # Signed with another key, claiming the registered key's kid.
    exc = refused(auth, jwt_form(sign(claims, keys["rsa_other"], kid=keys["rsa"].kid)))
    assert "signature" in exc.description
    # A registered EC key, but an RSA algorithm named.
    refused(auth, jwt_form(sign(claims, keys["rsa"], kid="ec-1")))


def test_a_tampered_assertion_is_refused(auth, jwt_client, keys, clock):
    head, _payload, signature = sign(claims_for("rp-jwt", clock), keys["rsa"]).split(".")
    forged = _b64(json.dumps(claims_for("rp-jwt", clock, exp=int(clock()) + 200)).encode())
    refused(auth, jwt_form(f"{head}.{forged}.{signature}"))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sub": "someone-else"}, "iss and sub"),
        ({"sub": None}, "iss and sub"),
        ({"aud": "https://elsewhere.example.test/token"}, "aud"),
        ({"aud": ["https://elsewhere.example.test/token"]}, "aud"),
        ({"aud": None}, "aud"),
        ({"exp": None}, "exp"),
        ({"exp": "soon"}, "exp"),
        ({"exp": float("nan")}, "exp"),
        ({"exp": True}, "exp"),
        ({"iat": "now"}, "NumericDate"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"jti": "j" * 256}, "jti"),
        ({"jti": 42}, "jti"),
    ],
)
def test_assertion_claims_that_are_refused(auth, jwt_client, keys, clock, overrides, reason):
    assertion = sign(claims_for("rp-jwt", clock, **overrides), keys["rsa"])
    assert reason in refused(auth, jwt_form(assertion)).description


def test_an_expired_assertion_is_refused(auth, jwt_client, keys, clock):
    now = int(clock())
    assertion = sign(claims_for("rp-jwt", clock, iat=now - 120, exp=now - SKEW - 1), keys["rsa"])
    assert "expired" in refused(auth, jwt_form(assertion)).description


def test_a_long_lived_or_future_assertion_is_refused(auth, jwt_client, keys, clock):
    now = int(clock())
    too_long = [
        {"iat": now, "exp": now + 301},
        {"iat": now - 1000, "exp": now + 60},
        {"iat": None, "exp": now + 300 + SKEW + 1},
    ]
    for overrides in too_long:
        assertion = sign(claims_for("rp-jwt", clock, **overrides), keys["rsa"])
        assert "300 seconds" in refused(auth, jwt_form(assertion)).description
    for overrides in ({"iat": now + SKEW + 5, "exp": now + 120}, {"nbf": now + SKEW + 5}):
        assertion = sign(claims_for("rp-jwt", clock, **overrides), keys["rsa"])
        assert "not valid yet" in refused(auth, jwt_form(assertion)).description


def test_an_assertion_is_accepted_once(auth, jwt_client, keys, clock, database):
    register("rp-jwt-2", "private_key_jwt", jwks=public(keys["rsa_new"]))
    claims = claims_for("rp-jwt", clock, jti="same-jti")
    assertion = sign(claims, keys["rsa"])
    assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-jwt"
    assert "already used" in refused(auth, jwt_form(assertion)).description
    # Re-signed, same jti: still a replay; the skew keeps it recorded past its exp.
    clock.advance(60 + SKEW - 1)
    again = sign(claims_for("rp-jwt", clock, jti="same-jti"), keys["rsa"])
    assert "already used" in refused(auth, jwt_form(again)).description
    # Another client's jti space is its own.
    other = sign(claims_for("rp-jwt-2", clock, jti="same-jti"), keys["rsa_new"])
    assert auth.authenticate(jwt_form(other), None).client_id == "rp-jwt-2"
    # A second authenticator (another node) sees the same store.
    node2 = ClientAuthenticator(
        TOKEN, ISSUER, DatabaseSeenStore("client_assertion", clock=clock), clock=clock
    )
    assert "already used" in refused(node2, jwt_form(again)).description


def test_iss_must_be_the_client_and_the_form_client_id(auth, jwt_client, keys, clock):
    register("rp-jwt-2", "private_key_jwt", jwks=public(keys["rsa_new"]))
    # Claims to be rp-jwt-2, signed with rp-jwt's key.
    refused(auth, jwt_form(sign(claims_for("rp-jwt-2", clock), keys["rsa"])))
    claims = claims_for("rp-jwt", clock)
    exc = refused(auth, jwt_form(sign(claims, keys["rsa"]), client_id="rp-jwt-2"))
    assert "client_id" in exc.description
    refused(auth, jwt_form(sign(claims_for("nobody-here", clock), keys["rsa"])))
    refused(auth, jwt_form(sign(claims_for("rp-jwt", clock, iss=None), keys["rsa"])))


def test_a_disabled_or_differently_registered_client_is_refused(auth, jwt_client, keys, clock):
    register("guichet-fictif", jwks=public(keys["rsa_new"]))
    exc = refused(auth, jwt_form(sign(claims_for("guichet-fictif", clock), keys["rsa_new"])))
    assert "client_secret_basic" in exc.description
    disable_client("rp-jwt", actor=ACTOR)
    exc = refused(auth, jwt_form(sign(claims_for("rp-jwt", clock), keys["rsa"])))
    assert "disabled" in exc.description


def test_unusable_registered_keys_are_refused(auth, clock, keys):
    # add_client checks the JWKS's shape, not its keys: an EC point that is not on the curve.
    bogus = {"keys": [{"kty": "EC", "crv": "P-256", "x": "abc", "y": "def", "kid": "k1"}]}
    register("rp-bogus", "private_key_jwt", jwks=bogus)
    assertion = sign(claims_for("rp-bogus", clock), keys["ec"], "ES256", kid="k1")
    assert "could not be read" in refused(auth, jwt_form(assertion)).description


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"client_assertion_type": ASSERTION_TYPE}, "invalid_request"),
        ({"client_assertion": "a.b.c"}, "invalid_request"),
        ({"client_assertion_type": "urn:other", "client_assertion": "a.b.c"}, "invalid_client"),
        ({"client_assertion_type": ASSERTION_TYPE, "client_assertion": "a.b"}, "invalid_client"),
        ({"client_assertion_type": ASSERTION_TYPE, "client_assertion": "é.b.c"}, "invalid_client"),
        (
            {"client_assertion_type": ASSERTION_TYPE, "client_assertion": "e30.W10.x"},
            "invalid_client",
        ),
    ],
)
def test_malformed_assertions(auth, jwt_client, form, error):
    refused(auth, form, error=error)


def test_crit_headers_are_refused(auth, jwt_client, keys, clock):
    # RFC 7797 unencoded payloads and whatever else "crit" may bring are not for assertions.
    assertion = sign(claims_for("rp-jwt", clock), keys["rsa"], b64=True, crit=["b64"])
    assert "crit" in refused(auth, jwt_form(assertion)).description


# -- private_key_jwt with jwks_uri ---------------------------------------------------------


def test_keys_are_fetched_from_jwks_uri_and_a_new_kid_picked_up(auth, keys, clock, server):
    server.documents[JWKS_URI] = public(keys["rsa"])
    register("rp-uri", "private_key_jwt", jwks_uri=JWKS_URI)

    for _ in range(3):
        assertion = sign(claims_for("rp-uri", clock), keys["rsa"])
        assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-uri"
    assert server.fetches == [JWKS_URI]

    # The client rotates: publishes a new key and signs with it. Within a minute of the last
    # fetch, an unknown kid fetches nothing (however many assertions name one).
    server.documents[JWKS_URI] = public(keys["rsa_new"], keys["ec"])
    for _ in range(3):
        refused(auth, jwt_form(sign(claims_for("rp-uri", clock), keys["rsa_new"])))
    assert len(server.fetches) == 1
    clock.advance(61)
    assertion = sign(claims_for("rp-uri", clock), keys["rsa_new"])
    assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-uri"
    assert len(server.fetches) == 2
    assertion = sign(claims_for("rp-uri", clock), keys["ec"], "ES256")
    assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-uri"
    # The key it dropped no longer works (already in the set fetched).
    refused(auth, jwt_form(sign(claims_for("rp-uri", clock), keys["rsa"])))
    assert len(server.fetches) == 2


def test_an_unreachable_jwks_uri_is_refused_and_not_hammered(auth, keys, clock, server):
    server.down = True
    register("rp-uri", "private_key_jwt", jwks_uri=JWKS_URI)
    for _ in range(3):
        exc = refused(auth, jwt_form(sign(claims_for("rp-uri", clock), keys["rsa"])))
        assert "could not be read" in exc.description
    assert len(server.fetches) == 1
    server.down = False
    server.documents[JWKS_URI] = public(keys["rsa"])
    clock.advance(61)
    assertion = sign(claims_for("rp-uri", clock), keys["rsa"])
    assert auth.authenticate(jwt_form(assertion), None).client_id == "rp-uri"


def test_keys_from_jwks_uri_are_cached_per_client(auth, keys, clock, server):
    server.documents[JWKS_URI] = public(keys["rsa"])
    server.documents["https://other.example.test/jwks"] = public(keys["rsa_new"])
    register("rp-uri", "private_key_jwt", jwks_uri=JWKS_URI)
    register("rp-other", "private_key_jwt", jwks_uri="https://other.example.test/jwks")
    for client_id, key in (("rp-uri", keys["rsa"]), ("rp-other", keys["rsa_new"])) * 2:
        assertion = sign(claims_for(client_id, clock), key)
        assert auth.authenticate(jwt_form(assertion), None).client_id == client_id
    assert sorted(server.fetches) == sorted([JWKS_URI, "https://other.example.test/jwks"])


def test_keys_from_jwks_uri_live_ttl_even_when_the_client_is_down(auth, keys, clock, server):
    server.documents[JWKS_URI] = public(keys["rsa"])
    register("rp-uri", "private_key_jwt", jwks_uri=JWKS_URI)
    assert auth.authenticate(jwt_form(sign(claims_for("rp-uri", clock), keys["rsa"])), None)
    server.down = True
    clock.advance(3000)  # an unknown kid: the fetch fails, the keys read stay
    refused(auth, jwt_form(sign(claims_for("rp-uri", clock), keys["rsa_new"])))
    assert auth.authenticate(jwt_form(sign(claims_for("rp-uri", clock), keys["rsa"])), None)
    clock.advance(601)  # an hour since they were read: not used any more
    exc = refused(auth, jwt_form(sign(claims_for("rp-uri", clock), keys["rsa"])))
    assert "could not be read" in exc.description
    assert len(server.fetches) == 3


def test_the_key_cache_is_bounded(database, keys, clock, server):
    seen = DatabaseSeenStore("client_assertion", clock=clock)
    auth = ClientAuthenticator(TOKEN, ISSUER, seen, transport=server, clock=clock, key_cache_size=1)
    server.documents[JWKS_URI] = public(keys["rsa"])
    server.documents["https://other.example.test/jwks"] = public(keys["rsa_new"])
    register("rp-uri", "private_key_jwt", jwks_uri=JWKS_URI)
    register("rp-other", "private_key_jwt", jwks_uri="https://other.example.test/jwks")
    for client_id, key in (("rp-uri", keys["rsa"]), ("rp-other", keys["rsa_new"])) * 2:
        assertion = sign(claims_for(client_id, clock), key)
        assert auth.authenticate(jwt_form(assertion), None).client_id == client_id
    assert len(server.fetches) == 4  # each one pushed the other out


# -- none (public clients) -----------------------------------------------------------------


def test_a_public_client_names_itself(auth):
    client, secret = register("public-app", "none")
    assert secret is None
    assert auth.authenticate({"client_id": "public-app"}, None).client_id == client.client_id


def test_public_client_refusals(auth):
    register("public-app", "none")
    _client, secret = register("guichet-fictif")
    # A confidential client must authenticate: its client_id alone is not enough.
    exc = refused(auth, {"client_id": "guichet-fictif"})
    assert "client_secret_basic" in exc.description
    refused(auth, {"client_id": "nobody-here"})
    # A public client has no secret to send.
    refused(auth, {}, basic("public-app", ""))
    refused(auth, {}, basic("public-app", secret))
    disable_client("public-app", actor=ACTOR)
    refused(auth, {"client_id": "public-app"})


# -- the error type --------------------------------------------------------------------------


def test_oauth_error_defaults_and_checked_text():
    assert OAuthError("invalid_request", "x").status == 400
    assert OAuthError("invalid_client", "x").status == 401
    assert OAuthError("invalid_grant", "x", headers={"A": "b"}).headers == {"A": "b"}
    with pytest.raises(ValueError, match="description"):
        OAuthError("invalid_request", 'a "quoted" text')
    with pytest.raises(ValueError, match="error code"):
        OAuthError("invalid request")
