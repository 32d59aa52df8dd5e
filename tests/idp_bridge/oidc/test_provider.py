"""idp_bridge/oidc/provider.py: pyop's Provider with this service's clients, persons,
subjects and keys."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from pyop.authz_state import AuthorizationState
from pyop.exceptions import InvalidAuthenticationRequest

from authz.clients import ClientMetadata, add_client, disable_client
from authz.models import Person
from idp_bridge.oidc.keys import KeyStore
from idp_bridge.oidc.provider import (
    ClientDirectory,
    OpenIdProvider,
    PersonClaims,
    SubjectIdentifiers,
    discovery,
    subject_salt,
)
from idp_bridge.oidc.storage import DatabaseStorage

ISSUER = "https://id.example.test"
NRN = "85073003328"
REDIRECT = "https://rp.example.test/callback"


def test_discovery_offers_the_code_flow_with_pkce_s256_only():
    document = discovery(ISSUER)
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == ISSUER + "/authorize"
    assert document["jwks_uri"] == ISSUER + "/jwks"
    assert document["response_types_supported"] == ["code"]
    assert "implicit" not in document["grant_types_supported"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert "none" not in document["id_token_signing_alg_values_supported"]
    assert "client_secret_post" not in document["token_endpoint_auth_methods_supported"]


@pytest.fixture
def client(database):
    registered, _secret = add_client(
        ClientMetadata(
            "Fiscalité en ligne",
            "fiscalite",
            [REDIRECT],
            client_id="fisc-rp",
            sector_identifier="fiscalite.example.test",
        ),
        actor="operator:test",
    )
    return registered


def test_the_directory_describes_enabled_clients_as_registration_metadata(client):
    directory = ClientDirectory()
    assert "fisc-rp" in directory
    metadata = directory["fisc-rp"]
    assert metadata["redirect_uris"] == [REDIRECT]
    assert metadata["response_types"] == ["code"]
    assert metadata["subject_type"] == "pairwise"
    assert metadata["sector_identifier_uri"] == "https://fiscalite.example.test/"
    assert list(directory) == ["fisc-rp"] and len(directory) == 1


def test_a_disabled_or_unknown_client_is_not_in_the_directory(client):
    disable_client("fisc-rp", actor="operator:test")
    directory = ClientDirectory()
    assert "fisc-rp" not in directory and "nobody" not in directory and 42 not in directory
    with pytest.raises(KeyError):
        directory["fisc-rp"]
    assert len(directory) == 0


def test_person_claims_by_nrn(database):
    Person.create(nrn=NRN, given_name="Claire", family_name="Lambert", language="nl")
    claims = PersonClaims()
    assert claims[NRN] == {
        "given_name": "Claire",
        "family_name": "Lambert",
        "name": "Claire Lambert",
        "locale": "nl",
        "nrn": NRN,
    }
    assert NRN in claims and "00000000000" not in claims
    with pytest.raises(KeyError):
        claims["00000000000"]
    with pytest.raises(TypeError):
        list(claims)


def test_subjects_are_pairwise_per_sector_and_reveal_no_nrn():
    subjects = SubjectIdentifiers(b"s" * 32)
    one = subjects.create_pairwise_identifier(NRN, "fiscalite.example.test")
    other = subjects.create_pairwise_identifier(NRN, "environnement.example.test")
    assert one != other
    assert one == subjects.create_pairwise_identifier(NRN, "fiscalite.example.test")
    assert subjects.create_public_identifier(NRN) not in (one, other)
    assert NRN not in one
    assert SubjectIdentifiers(b"t" * 32).create_pairwise_identifier(NRN, "x") != (
        subjects.create_pairwise_identifier(NRN, "x")
    )


def test_the_subject_salt_is_made_once_for_every_node(database):
    salts: list[bytes] = []
    threads = [threading.Thread(target=lambda: salts.append(subject_salt())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(salts) == 4 and len(set(salts)) == 1 and len(salts[0]) == 32
    assert subject_salt() == salts[0]


@pytest.fixture
def keys(database) -> KeyStore:
    store = KeyStore("k" * 40, cache_seconds=0)
    store.ensure()
    return store


@pytest.fixture
def provider(client, keys) -> OpenIdProvider:
    Person.create(nrn=NRN, given_name="Claire", family_name="Lambert")
    state = AuthorizationState(
        SubjectIdentifiers(subject_salt()),
        authorization_code_db=DatabaseStorage("codes", ttl=60),
        access_token_db=DatabaseStorage("access_tokens", ttl=3600),
        refresh_token_db=DatabaseStorage("refresh_tokens", ttl=86400),
        subject_identifier_db=DatabaseStorage("subjects"),
    )
    return OpenIdProvider(ISSUER, keys, state)


def authentication_request(**extra) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": "fisc-rp",
            "redirect_uri": REDIRECT,
            "scope": "openid profile",
            "state": "st-1",
            "nonce": "n-1",
            **extra,
        }
    )


def test_pyop_issues_a_code_for_a_registered_client_with_a_pairwise_subject(provider):
    pyop = provider.provider()
    request = pyop.parse_authentication_request(authentication_request())
    response = pyop.authorize(request, NRN)
    assert response["state"] == "st-1" and response["code"]
    sub = pyop.authz_state.get_subject_identifier_for_code(response["code"])
    expected = SubjectIdentifiers(subject_salt()).create_pairwise_identifier(
        NRN, "fiscalite.example.test"
    )
    assert sub == expected


def test_id_tokens_are_signed_with_the_current_key_and_follow_a_rotation(provider, keys):
    def id_token() -> str:
        pyop = provider.provider()
        return pyop._create_signed_id_token("fisc-rp", "sub-1", {}, "n-1", None, None, None)

    first = id_token()
    verified = jwt.decode(first, KeySet.import_key_set(provider.jwks()))
    assert verified.header["kid"] == keys.signing_key().kid
    assert verified.claims["iss"] == ISSUER and verified.claims["aud"] == ["fisc-rp"]

    keys.rotate(force=True)
    second = id_token()
    assert (
        jwt.decode(second, KeySet.import_key_set(provider.jwks())).header["kid"]
        != (verified.header["kid"])
    )
    # The token signed before the rotation still verifies: its key is "previous".
    assert jwt.decode(first, KeySet.import_key_set(provider.jwks())).claims["sub"] == "sub-1"


def test_an_unregistered_redirect_uri_is_refused_by_pyop(provider):
    with pytest.raises(InvalidAuthenticationRequest):
        provider.provider().parse_authentication_request(
            authentication_request(redirect_uri="https://evil.example/callback")
        )


def test_the_configuration_pyop_reads_is_the_discovery_document_read_only(provider, caplog):
    """Read once for every request (not deep-copied each time), it cannot be changed through
    what pyop is given; pyop still finds a scope outside it (and warns: the scopes a client
    gets are chosen before pyop sees the request)."""
    configuration = provider.provider().provider_configuration
    assert dict(configuration)["issuer"] == ISSUER
    assert set(configuration["scopes_supported"]) == set(discovery(ISSUER)["scopes_supported"])
    with pytest.raises(TypeError):
        configuration["scopes_supported"] = ["openid", "admin"]
    with pytest.raises(AttributeError):
        configuration["scopes_supported"].append("admin")
    assert provider.provider().provider_configuration is configuration
    provider.provider().parse_authentication_request(authentication_request(scope="openid admin"))
    assert "unsupported/unknown scopes: admin" in caplog.text
    caplog.clear()
    provider.provider().parse_authentication_request(authentication_request())
    assert "unsupported" not in caplog.text


def test_the_configuration_is_frozen_once_complete_with_the_real_issuer(provider):
    """The demo's plain-http issuer is checked on its https spelling, then put back: the
    frozen copy holds the one the ID tokens carry."""
    served = OpenIdProvider("http://127.0.0.1:8000", provider.keys, provider.provider().authz_state)
    configuration = served.provider().provider_configuration
    assert configuration["issuer"] == "http://127.0.0.1:8000"
    assert configuration["token_endpoint"].startswith("http://127.0.0.1:8000/")


def test_id_tokens_are_signed_by_openssl_as_jwkest_would_sign_them(app, confidential):
    """``SigningProvider``: pyop's claims, the current key's kid, and an RS256 signature that
    jwkest (pyop's own library) verifies with the published key."""
    import base64
    import json

    from jwkest import BadSignature
    from jwkest.jws import JWS
    from pyop.provider import Provider

    pyop = app.extensions["monespace.oidc"].provider.provider()
    args = ("fisc", "a-subject", {"name": "Claire"}, "a-nonce", None, "an-access-token")
    extra = {"acr": "http://eidas.europa.eu/LoA/high", "sid": "s1"}
    ours = pyop._create_signed_id_token(*args, dict(extra))
    theirs = Provider._create_signed_id_token(pyop, *args, dict(extra))

    def parts(token: str) -> tuple[dict, dict]:
        header, payload, _signature = token.split(".")
        return tuple(
            json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (header, payload)
        )

    (our_header, our_claims), (their_header, their_claims) = parts(ours), parts(theirs)
    assert our_header == their_header == {"alg": "RS256", "kid": pyop.signing_key.kid}
    times = ("iat", "exp")
    assert {k: v for k, v in our_claims.items() if k not in times} == {
        k: v for k, v in their_claims.items() if k not in times
    }
    assert our_claims["exp"] - our_claims["iat"] == their_claims["exp"] - their_claims["iat"]
    assert JWS().verify_compact(ours, [pyop.signing_key])["sub"] == "a-subject"
    tampered = ours[:-4] + ("AAAA" if not ours.endswith("AAAA") else "BBBB")
    with pytest.raises(BadSignature):
        JWS().verify_compact(tampered, [pyop.signing_key])
