"""idp_bridge/upstreams/itsme.py: logins through the itsme simulator, and every way one fails."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.identity import LOA_HIGH, LOA_SUBSTANTIAL
from idp_bridge.upstreams.base import UpstreamError
from idp_bridge.upstreams.itsme import ItsmeConfigError
from idp_bridge.upstreams.itsme_claims import ACR_ADVANCED, ACR_BASIC, CLAIM_NRN
from tests.idp_bridge.itsme_login import (
    CLIENT_ID,
    ISSUER,
    JWKS_URI,
    SERVICE_CODE,
    forged,
    make_itsme,
    rp_config,
)


def refused_with(reason: str, action):
    with pytest.raises(UpstreamError) as caught:
        action()
    assert caught.value.reason == reason, caught.value.message
    return caught.value


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# -- logins that succeed ---------------------------------------------------------------------


def test_login_through_the_simulator_gives_the_person(itsme):
    state, page = itsme.authorize("/authorize?resume=1")
    assert page.status_code == 200
    assert "Lambert-Démo" in page.get_data(as_text=True)
    answer = itsme.decide(page, "person:claire")
    params = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    assert params["state"] == state and params["iss"] == ISSUER

    identity = itsme.rp.complete(params)

    assert identity.nrn == "60040400794"
    assert (identity.given_name, identity.family_name) == ("Claire", "Lambert-Démo")
    assert identity.acr == LOA_HIGH
    assert identity.amr == ("mfa",)
    assert identity.upstream == "itsme"
    assert identity.session_ref == state
    assert identity.language == "fr"
    assert identity.extra["return_to"] == "/authorize?resume=1"
    assert identity.extra["itsme_acr"] == ACR_ADVANCED


def test_basic_level_is_eidas_substantial(itsme_keys):
    world = make_itsme(itsme_keys, acr="basic")
    identity = world.login("person:marc")
    assert identity.nrn == "85020200387"
    assert identity.acr == LOA_SUBSTANTIAL
    assert identity.language == "nl"


def test_a_typed_fictional_person_logs_in(itsme):
    identity = itsme.login(
        "custom", nrn="99.09.09-009.20", given_name="Alice", family_name="Fictive", locale="DE"
    )
    assert identity.nrn == "99090900920"
    assert (identity.given_name, identity.family_name, identity.language) == (
        "Alice",
        "Fictive",
        "de",
    )


def test_complete_checks_the_state_kept_by_the_browser_session(itsme):
    params = itsme.callback()
    refused_with("invalid", lambda: itsme.rp.complete(params, binding="another-state"))
    # The login is spent: the right state cannot finish it any more either.
    refused_with("invalid", lambda: itsme.rp.complete(params, binding=params["state"]))
    params = itsme.callback()
    assert itsme.rp.complete(params, binding=params["state"]).nrn == "60040400794"


def test_our_jwks_publishes_one_sig_and_one_enc_public_key(itsme, itsme_keys):
    keys = itsme.rp.jwks()["keys"]
    assert sorted(k["use"] for k in keys) == ["enc", "sig"]
    assert {k["kid"] for k in keys} == {itsme_keys.rp_sig.kid, itsme_keys.rp_enc.kid}
    assert all(k["kty"] == "RSA" and "d" not in k and "p" not in k for k in keys)


# -- what the relying party sends -------------------------------------------------------------


def test_the_request_object_is_signed_by_us_then_encrypted_to_itsme(itsme, itsme_keys):
    start = itsme.rp.start("/next")
    query = dict(parse_qsl(urlsplit(start.url).query))
    assert set(query) == {"client_id", "response_type", "scope", "request"}
    jwe_header = nested_jwt.header(query["request"])
    assert jwe_header == {
        "alg": "RSA-OAEP-256",
        "enc": "A128CBC-HS256",
        "cty": "JWT",
        "kid": itsme_keys.op_enc.kid,
    }
    inner = nested_jwt.decrypt(query["request"], itsme_keys.op_enc)
    assert nested_jwt.header(inner)["alg"] == "RS256"
    claims = nested_jwt.verify(inner, lambda kid: itsme_keys.rp_sig)
    assert claims["scope"] == f"openid service:{SERVICE_CODE} eid" == query["scope"]
    assert claims["acr_values"] == ACR_ADVANCED
    assert (claims["iss"], claims["aud"], claims["client_id"]) == (CLIENT_ID, ISSUER, CLIENT_ID)
    assert claims["state"] == start.binding
    assert claims["nonce"] and claims["code_challenge_method"] == "S256"
    assert CLAIM_NRN in claims["claims"]["id_token"]
    # Nothing of the request travels in clear in the URL.
    assert start.binding not in start.url and claims["nonce"] not in start.url
    with pytest.raises(nested_jwt.JoseFailure):
        nested_jwt.verify(inner, lambda kid: itsme_keys.other_sig)


def test_the_token_request_authenticates_with_a_fresh_client_assertion(itsme, itsme_keys):
    itsme.login()
    itsme.login()
    first, second = itsme.token_forms
    assert (
        first["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert "client_secret" not in first and first["code_verifier"]
    claims = [
        nested_jwt.verify(form["client_assertion"], lambda kid: itsme_keys.rp_sig)
        for form in (first, second)
    ]
    assert claims[0]["iss"] == claims[0]["sub"] == CLIENT_ID
    assert claims[0]["aud"] == f"{ISSUER}/token"
    assert claims[0]["exp"] - claims[0]["iat"] <= 60
    assert claims[0]["jti"] != claims[1]["jti"]


# -- ID tokens that must be refused -----------------------------------------------------------


def test_an_id_token_signed_by_another_key_is_refused(itsme, itsme_keys):
    # Same kid as itsme's key, so that only the signature itself can tell.
    impostor = nested_jwt.rsa_key(
        {**itsme_keys.other_sig.as_dict(private=True), "kid": itsme_keys.op_sig.kid}, "sig"
    )
    itsme.forge = lambda claims: forged(claims, impostor, itsme_keys.rp_enc)
    error = refused_with("invalid", itsme.login)
    assert "signature" in error.message


def test_an_id_token_with_alg_none_is_refused(itsme, itsme_keys):
    def unsigned(claims):
        inner = f"{b64({'alg': 'none', 'kid': itsme_keys.op_sig.kid})}.{b64(claims)}."
        return nested_jwt.encrypt(inner, itsme_keys.rp_enc)

    itsme.forge = unsigned
    error = refused_with("invalid", itsme.login)
    assert "'none' refused" in error.message


def test_an_id_token_signed_with_hs256_and_the_public_key_is_refused(itsme, itsme_keys):
    import hashlib
    import hmac

    def hmac_signed(claims):
        public_pem = itsme_keys.op_sig.as_pem(private=False)
        signing_input = f"{b64({'alg': 'HS256', 'kid': itsme_keys.op_sig.kid})}.{b64(claims)}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        return nested_jwt.encrypt(f"{signing_input}.{signature}", itsme_keys.rp_enc)

    itsme.forge = hmac_signed
    refused_with("invalid", itsme.login)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"aud": "another-client"}, "another client"),
        ({"aud": [CLIENT_ID, "another-client"]}, "azp"),
        ({"iss": "https://idp.prd.itsme.services/v2"}, "another issuer"),
        ({"nonce": "a-nonce-of-another-login"}, "nonce"),
        ({"exp": -120}, "expired"),
        ({"iat": +300}, "future"),
        ({"iat": -3600}, "too long ago"),
        ({"sub": ""}, "sub"),
        ({CLAIM_NRN: "60040400795"}, "national register number"),
        ({CLAIM_NRN: None}, "national register number"),
        ({"family_name": ""}, "names"),
        ({"acr": ACR_BASIC}, "asked for advanced"),
        ({"acr": "urn:unknown:level"}, "unknown acr"),
    ],
)
def test_an_id_token_with_one_wrong_claim_is_refused(itsme, itsme_keys, change, words):
    def tampered(claims):
        for name, value in change.items():
            if name in ("exp", "iat"):
                value = int(itsme.clock()) + value
            if value is None:
                claims.pop(name)
            else:
                claims[name] = value
        return forged(claims, itsme_keys.op_sig, itsme_keys.rp_enc)

    itsme.forge = tampered
    error = refused_with("invalid", itsme.login)
    assert words in error.message


def test_the_forging_hook_alone_changes_nothing(itsme, itsme_keys):
    """The negative tests above fail for their one change, not for the re-signing."""
    itsme.forge = lambda claims: forged(claims, itsme_keys.op_sig, itsme_keys.rp_enc)
    assert itsme.login().nrn == "60040400794"


def test_clock_skew_is_tolerated_within_the_configured_limit(itsme, itsme_keys):
    def late(claims):
        claims["exp"] = int(itsme.clock()) - 30  # expired 30 s ago, skew is 60 s
        return forged(claims, itsme_keys.op_sig, itsme_keys.rp_enc)

    itsme.forge = late
    assert itsme.login().nrn == "60040400794"


def test_an_unencrypted_id_token_is_refused(itsme, itsme_keys):
    itsme.forge = lambda claims: forged(claims, itsme_keys.op_sig, None)
    error = refused_with("invalid", itsme.login)
    assert "not an encrypted token" in error.message


def test_an_id_token_encrypted_to_another_key_is_refused(itsme, itsme_keys):
    itsme.forge = lambda claims: forged(claims, itsme_keys.op_sig, itsme_keys.other_enc)
    refused_with("invalid", itsme.login)


def test_an_id_token_encrypted_to_another_key_with_our_kid_is_refused(itsme, itsme_keys):
    lying = nested_jwt.rsa_key(
        {**itsme_keys.other_enc.as_dict(private=True), "kid": itsme_keys.rp_enc.kid}, "enc"
    )
    itsme.forge = lambda claims: forged(claims, itsme_keys.op_sig, lying)
    error = refused_with("invalid", itsme.login)
    assert "cannot decrypt" in error.message


# -- answers that must be refused ---------------------------------------------------------------


def test_an_unknown_state_is_refused(itsme):
    params = itsme.callback()
    refused_with("invalid", lambda: itsme.rp.complete({**params, "state": "made-up"}))
    refused_with("invalid", lambda: itsme.rp.complete({"code": params["code"]}))


def test_a_replayed_answer_is_refused(itsme):
    params = itsme.callback()
    assert itsme.rp.complete(params).nrn == "60040400794"
    refused_with("invalid", lambda: itsme.rp.complete(params))


def test_an_answer_naming_another_issuer_is_refused(itsme):
    params = itsme.callback()
    refused_with("invalid", lambda: itsme.rp.complete({**params, "iss": "https://evil.example"}))


def test_a_login_that_took_too_long_timed_out(itsme):
    params = itsme.callback()
    itsme.clock.advance(itsme.rp.config.login_ttl + 1)
    refused_with("timed_out", lambda: itsme.rp.complete(params))


def test_cancelling_at_the_simulator_is_cancelled(itsme):
    params = itsme.callback("cancel")
    assert params["error"] == "access_denied"
    refused_with("cancelled", lambda: itsme.rp.complete(params))


def test_another_error_from_itsme_is_refused(itsme):
    state, _ = itsme.authorize()
    refused_with("refused", lambda: itsme.rp.complete({"error": "login_required", "state": state}))


def test_a_token_endpoint_error_is_refused(itsme):
    params = itsme.callback()
    refused_with("refused", lambda: itsme.rp.complete({**params, "code": "not-a-code"}))


# -- itsme out of reach ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (ConnectionRefusedError("connection refused"), "refused"),
        (TimeoutError("slow"), "timed_out"),
    ],
)
def test_itsme_unreachable_at_the_start(itsme, failure, reason):
    def fail(method, url):
        raise failure

    itsme.fail = fail
    refused_with(reason, lambda: itsme.rp.start("/next").url)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(ConnectionResetError("reset"), "refused"), (TimeoutError("slow"), "timed_out")],
)
def test_itsme_unreachable_at_the_token_endpoint(itsme, failure, reason):
    params = itsme.callback()

    def fail(method, url):
        if url.endswith("/token"):
            raise failure

    itsme.fail = fail
    refused_with(reason, lambda: itsme.rp.complete(params))


# -- itsme's keys ------------------------------------------------------------------------------


def test_a_new_signing_key_is_fetched_once_and_unknown_kids_cannot_storm(itsme, itsme_keys):
    assert itsme.login()
    assert itsme.fetches(JWKS_URI) == 1

    # Later, itsme rotates: a new signing key, published, and used at once.
    itsme.clock.advance(600)
    new_key = nested_jwt.generate_rsa_key("sig")
    itsme.jwks = nested_jwt.public_jwks(itsme_keys.op_sig, new_key, itsme_keys.op_enc)
    itsme.forge = lambda claims: forged(claims, new_key, itsme_keys.rp_enc)
    assert itsme.login().nrn == "60040400794"
    assert itsme.fetches(JWKS_URI) == 2
    assert itsme.login()  # now known: no fetch
    assert itsme.fetches(JWKS_URI) == 2

    # Right after, tokens with kids nobody published: refused, and no fetch again.
    stranger = nested_jwt.generate_rsa_key("sig")
    itsme.forge = lambda claims: forged(claims, stranger, itsme_keys.rp_enc)
    for _ in range(5):
        refused_with("invalid", itsme.login)
    assert itsme.fetches(JWKS_URI) == 2
    # A minute later one more fetch is allowed, and only one.
    itsme.clock.advance(61)
    for _ in range(5):
        refused_with("invalid", itsme.login)
    assert itsme.fetches(JWKS_URI) == 3


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"acr": "medium"}, "acr"),
        ({"client_id": ""}, "client_id"),
        ({"redirect_uri": "/relative"}, "absolute"),
        ({"clock_skew": 3600}, "clock_skew"),
        ({"service_code": "TWO WORDS"}, "one word"),
    ],
)
def test_a_configuration_that_cannot_work_fails_at_start_up(itsme_keys, change, words):
    with pytest.raises(ItsmeConfigError, match=words):
        rp_config(itsme_keys, **change)


def test_keys_must_be_private_distinct_and_for_their_use(itsme_keys):
    public = nested_jwt.rsa_key(itsme_keys.rp_sig.as_dict(private=False), "sig")
    with pytest.raises(ItsmeConfigError, match="private"):
        rp_config(itsme_keys, signing_key=public)
    with pytest.raises(ItsmeConfigError, match="enc"):
        rp_config(itsme_keys, signing_key=itsme_keys.rp_enc)
    same = nested_jwt.rsa_key({**itsme_keys.rp_sig.as_dict(private=True), "use": "enc"}, "enc")
    with pytest.raises(ItsmeConfigError, match="different"):
        rp_config(itsme_keys, encryption_key=same)
    assert "PRIVATE" not in repr(rp_config(itsme_keys)) and "'d'" not in repr(rp_config(itsme_keys))
