"""idp_bridge/simulators/itsme_op.py: the itsme-like provider, its pages and what it refuses."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from idp_bridge.shared import client_assertion, nested_jwt
from idp_bridge.upstreams.itsme_claims import ACR_ADVANCED, CLAIM_NRN
from monespace import demo_logins
from monespace.demo import PERSONS
from tests.idp_bridge.itsme_login import (
    CLIENT_ID,
    ISSUER,
    REDIRECT_URI,
    TOKEN_ENDPOINT,
    hidden_fields,
    make_itsme,
)

PATH = urlsplit(ISSUER).path


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def request_claims(world) -> tuple[dict, dict]:
    """A real authorization request from our relying party: (its query, its request object)."""
    query = dict(parse_qsl(urlsplit(world.rp.start("/next").url).query))
    inner = nested_jwt.decrypt(query["request"], world.keys.op_enc)
    return query, nested_jwt.verify(inner, lambda kid: world.keys.rp_sig)


def authorize(world, query: dict):
    return world.client.get(f"{PATH}/authorization?{urlencode(query)}")


def token_request(world, params: dict, **overrides):
    """POST /token for the code in ``params``, the way our relying party would."""
    key = "itsme:" + params["state"]
    pending = world.states.pop(key)
    world.states.put(key, pending, 600)  # left for the next call
    form = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": pending["code_verifier"],
        "client_assertion_type": client_assertion.ASSERTION_TYPE,
        "client_assertion": client_assertion.make(
            CLIENT_ID, TOKEN_ENDPOINT, world.keys.rp_sig, clock=world.clock
        ),
    }
    form.update(overrides)
    return world.client.post(f"{PATH}/token", data=form), form


# -- what it publishes --------------------------------------------------------------------------


def test_discovery_names_the_endpoints_and_the_itsme_algorithms(itsme):
    document = itsme.client.get(f"{PATH}/.well-known/openid-configuration").get_json()
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == TOKEN_ENDPOINT
    assert document["jwks_uri"] == f"{ISSUER}/jwks"
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert document["id_token_encryption_alg_values_supported"] == ["RSA-OAEP-256"]
    assert document["id_token_encryption_enc_values_supported"] == ["A128CBC-HS256"]
    assert document["request_object_signing_alg_values_supported"] == ["RS256"]


def test_the_jwks_has_one_public_sig_and_one_public_enc_key(itsme):
    keys = itsme.client.get(f"{PATH}/jwks").get_json()["keys"]
    assert {(k["use"], k["kid"]) for k in keys} == {
        ("sig", itsme.keys.op_sig.kid),
        ("enc", itsme.keys.op_enc.kid),
    }
    assert not any("d" in k for k in keys)


# -- the page -----------------------------------------------------------------------------------


def test_the_page_is_plain_french_html_with_labelled_fields(itsme):
    _, page = itsme.authorize()
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="fr">' in html
    assert "Choisir une personne de démonstration" in html and "Annuler" in html
    for field_id in ("nrn", "given_name", "family_name", "locale"):
        assert f'<label for="{field_id}">' in html and f'id="{field_id}"' in html
    assert not re.search(r"<script|<link|<img|<iframe|src=|https?://(?!localhost)", html)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_the_demo_offers_its_persons_on_the_simulator_page(itsme_keys):
    world = make_itsme(itsme_keys, simulator={"persons": demo_logins.simulated_persons()})
    _, page = world.authorize()
    html = page.get_data(as_text=True)
    for person in PERSONS:
        assert f'value="person:{person.key}"' in html
        assert person.family_name in html
    assert world.login("person:emma").nrn == "90010100222"


def test_a_typed_person_with_an_invalid_nrn_is_asked_again(itsme):
    _, page = itsme.authorize()
    answer = itsme.decide(
        page, "custom", nrn="60040400795", given_name="Alice", family_name="Fictive"
    )
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "pas valide" in html and 'value="Fictive"' in html


def test_cancel_goes_back_with_access_denied_the_state_and_the_issuer(itsme):
    state, page = itsme.authorize()
    answer = itsme.decide(page, "cancel")
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = dict(parse_qsl(urlsplit(location).query))
    assert params["error"] == "access_denied"
    assert (params["state"], params["iss"]) == (state, ISSUER)
    assert "code" not in params


# -- request objects it refuses -----------------------------------------------------------------


def test_a_tampered_request_object_is_refused(itsme):
    query, _ = request_claims(itsme)
    assert authorize(itsme, query).status_code == 200
    parts = query["request"].split(".")
    ciphertext = parts[3]
    parts[3] = ciphertext[:10] + ("A" if ciphertext[10] != "A" else "B") + ciphertext[11:]
    answer = authorize(itsme, {**query, "request": ".".join(parts)})
    assert answer.status_code == 400
    assert "objet de requête refusé" in answer.get_data(as_text=True)


def test_a_tampered_request_in_the_submitted_page_is_refused(itsme):
    _, page = itsme.authorize()
    form = hidden_fields(page.get_data(as_text=True))
    form["request"] = form["request"][:-4] + "AAAA"
    answer = itsme.client.post(f"{PATH}/authorization", data={**form, "action": "person:claire"})
    assert answer.status_code == 400 and "Location" not in answer.headers


@pytest.mark.parametrize(
    "protect",
    [
        "signed_only",
        "unsigned_none",
        "signed_by_another_key",
        "encrypted_to_another_key",
    ],
)
def test_a_request_object_not_signed_by_the_client_then_encrypted_to_us_is_refused(itsme, protect):
    query, claims = request_claims(itsme)
    keys = itsme.keys
    if protect == "signed_only":
        request = nested_jwt.sign(claims, keys.rp_sig)
    elif protect == "unsigned_none":
        request = nested_jwt.encrypt(f"{b64({'alg': 'none'})}.{b64(claims)}.", keys.op_enc)
    elif protect == "signed_by_another_key":
        impostor = nested_jwt.rsa_key(
            {**keys.other_sig.as_dict(private=True), "kid": keys.rp_sig.kid}, "sig"
        )
        request = nested_jwt.sign_then_encrypt(claims, impostor, keys.op_enc)
    else:
        request = nested_jwt.sign_then_encrypt(claims, keys.rp_sig, keys.other_enc)
    assert authorize(itsme, {**query, "request": request}).status_code == 400


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"aud": "https://idp.prd.itsme.services/v2"}, "autre fournisseur"),
        ({"iss": "another-client"}, "autre client"),
        ({"exp": -600}, "expiré"),
        ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri"),
        ({"scope": "openid service:OTHER eid"}, "scope"),
        ({"scope": "service:MONESPACE_LOGIN eid"}, "scope"),
        ({"response_type": "token"}, "response_type"),
        ({"nonce": ""}, "nonce"),
        ({"code_challenge_method": "plain"}, "S256"),
    ],
)
def test_a_request_object_asking_for_what_is_not_registered_is_refused(itsme, change, words):
    query, claims = request_claims(itsme)
    for name, value in change.items():
        claims[name] = int(itsme.clock()) + value if name == "exp" else value
        if name in query:
            query[name] = value
    request = nested_jwt.sign_then_encrypt(claims, itsme.keys.rp_sig, itsme.keys.op_enc)
    answer = authorize(itsme, {**query, "request": request})
    assert answer.status_code == 400
    assert words in answer.get_data(as_text=True)


def test_query_parameters_must_match_the_request_object(itsme):
    query, _ = request_claims(itsme)
    answer = authorize(itsme, {**query, "scope": "openid service:OTHER"})
    assert answer.status_code == 400
    assert authorize(itsme, {**query, "client_id": "unknown"}).status_code == 400


# -- the token endpoint -------------------------------------------------------------------------


def test_the_id_token_is_signed_then_encrypted_to_the_client_with_itsme_claims(itsme):
    params = itsme.callback()
    answer, _ = token_request(itsme, params)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["token_type"] == "Bearer"
    assert nested_jwt.header(body["id_token"]) == {
        "alg": "RSA-OAEP-256",
        "enc": "A128CBC-HS256",
        "cty": "JWT",
        "kid": itsme.keys.rp_enc.kid,
    }
    inner = nested_jwt.decrypt(body["id_token"], itsme.keys.rp_enc)
    assert nested_jwt.header(inner)["kid"] == itsme.keys.op_sig.kid
    claims = nested_jwt.verify(inner, lambda kid: itsme.keys.op_sig)
    assert (claims["iss"], claims["aud"]) == (ISSUER, CLIENT_ID)
    assert claims[CLAIM_NRN] == "60040400794"
    assert claims["acr"] == ACR_ADVANCED
    assert claims["sub"] and claims["sub"] != "60040400794"


def test_a_client_assertion_is_usable_once(itsme):
    _, first = token_request(itsme, itsme.callback())
    params = itsme.callback()
    answer, _ = token_request(itsme, params, client_assertion=first["client_assertion"])
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_client"
    assert "already used" in answer.get_json()["error_description"]
    # The code was fine: with a fresh assertion it is redeemed.
    assert token_request(itsme, params)[0].status_code == 200


@pytest.mark.parametrize(
    "assertion",
    ["another_key", "another_audience", "expired", "far_future", "no_jti", "wrong_type"],
)
def test_a_bad_client_assertion_is_invalid_client(itsme, assertion):
    keys, now = itsme.keys, int(itsme.clock())
    claims = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": TOKEN_ENDPOINT,
        "jti": "j-" + assertion,
        "iat": now,
        "exp": now + 60,
    }
    key, overrides = keys.rp_sig, {}
    if assertion == "another_key":
        key = nested_jwt.rsa_key(
            {**keys.other_sig.as_dict(private=True), "kid": keys.rp_sig.kid}, "sig"
        )
    elif assertion == "another_audience":
        claims["aud"] = ISSUER
    elif assertion == "expired":
        claims["exp"] = now - 3600
    elif assertion == "far_future":
        claims["exp"] = now + 86400
    elif assertion == "no_jti":
        del claims["jti"]
    else:
        overrides["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml2"
    answer, _ = token_request(
        itsme, itsme.callback(), client_assertion=nested_jwt.sign(claims, key), **overrides
    )
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
        ({"code": "made-up"}, "invalid_grant"),
        ({"redirect_uri": "https://monespace.test/other"}, "invalid_grant"),
        ({"code_verifier": "x" * 43}, "invalid_grant"),
        ({"code_verifier": ""}, "invalid_grant"),
    ],
)
def test_a_token_request_that_does_not_match_its_code_is_refused(itsme, change, error):
    answer, _ = token_request(itsme, itsme.callback(), **change)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == error


def test_a_code_is_redeemed_once_and_within_its_minute(itsme):
    params = itsme.callback()
    assert token_request(itsme, params)[0].status_code == 200
    assert token_request(itsme, params)[0].get_json()["error"] == "invalid_grant"

    late = itsme.callback()
    itsme.clock.advance(61)
    assert token_request(itsme, late)[0].get_json()["error"] == "invalid_grant"


def test_a_code_verifier_without_a_code_challenge_is_refused(itsme):
    """No PKCE downgrade: a code issued without a challenge takes no verifier either."""
    query, claims = request_claims(itsme)
    del claims["code_challenge"], claims["code_challenge_method"]
    request = nested_jwt.sign_then_encrypt(claims, itsme.keys.rp_sig, itsme.keys.op_enc)
    page = authorize(itsme, {**query, "request": request})
    answer = itsme.decide(page, "person:claire")
    params = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    assert token_request(itsme, params)[0].get_json()["error"] == "invalid_grant"
    assert token_request(itsme, params, code_verifier="")[0].status_code == 400  # code spent

    page = authorize(itsme, {**query, "request": request})
    params = dict(
        parse_qsl(urlsplit(itsme.decide(page, "person:claire").headers["Location"]).query)
    )
    assert token_request(itsme, params, code_verifier="")[0].status_code == 200
