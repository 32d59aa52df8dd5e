"""The OpenID Foundation's Config OP plan (``oidcc-config-certification-test-plan``).

Its one module, ``oidcc-discovery-endpoint-verification``, reads the discovery document
(OpenID Connect Discovery 1.0, sections 3 and 4) and the JWK Set it points to, and checks
what the specifications require of them. The module's check that every endpoint is ``https``
is made here as "every endpoint is under the issuer": the tests serve the provider over plain
HTTP on 127.0.0.1, and production refuses a base URL that is not ``https``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from tests.conformance.relying_party import TIMEOUT

pytestmark = pytest.mark.slow

ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
# RFC 6749 3.3: scope-token = 1*NQCHAR (%x21 / %x23-5B / %x5D-7E).
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
# RFC 5646 language tags as written canonically: language lower case, region upper case.
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2}|-[0-9]{3})?$")
PRIVATE_PARTS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_oidcc_discovery_endpoint_verification(provider):
    discovery_url = provider.url + "/.well-known/openid-configuration"
    response = requests.get(discovery_url, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    metadata = response.json()

    # Discovery 4.3: the issuer is the discovery URL without the well-known suffix, and a URL
    # with no query or fragment (RFC 8414 2).
    issuer = metadata["issuer"]
    assert issuer + "/.well-known/openid-configuration" == discovery_url
    parts = urlsplit(issuer)
    assert parts.scheme in ("https", "http") and parts.netloc
    assert not parts.query and not parts.fragment

    # Core 3 and Discovery 3: the code flow, the subject types, RS256.
    assert "code" in metadata["response_types_supported"]
    assert set(metadata["response_types_supported"]) <= {"code"}  # no implicit, no hybrid
    assert metadata["subject_types_supported"]
    assert set(metadata["subject_types_supported"]) <= {"public", "pairwise"}
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert "authorization_code" in metadata["grant_types_supported"]
    assert "implicit" not in metadata["grant_types_supported"]

    for name in ENDPOINTS:
        assert metadata[name].startswith(issuer + "/"), name
    for name, value in metadata.items():
        if name.endswith(("_endpoint", "_uri")):
            assert value.startswith(issuer + "/"), name
    assert "registration_endpoint" not in metadata  # clients are registered by the operator

    # The JWK Set: public signing keys, each with a kid (Core 10.1), nothing private or
    # symmetric (RFC 7518 6.3.2.1).
    keys = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    assert keys.status_code == 200
    assert keys.headers["Content-Type"].startswith("application/json")
    jwks = keys.json()["keys"]
    assert jwks
    kids = [key.get("kid") for key in jwks]
    assert all(kids) and len(set(kids)) == len(kids)
    for key in jwks:
        assert key["kty"] == "RSA" and key["n"] and key["e"], key
        assert not PRIVATE_PARTS & set(key), key
        assert key.get("use", "sig") == "sig", key

    # Booleans and lists the module reads.
    for flag in (
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "claims_parameter_supported",
    ):
        assert isinstance(metadata[flag], bool), flag
    assert "sub" in metadata["claims_supported"] and "iss" in metadata["claims_supported"]
    assert "openid" in metadata["scopes_supported"]
    assert all(SCOPE_TOKEN.match(scope) for scope in metadata["scopes_supported"])
    for locales in ("ui_locales_supported", "claims_locales_supported"):
        assert all(LANGUAGE_TAG.match(tag) for tag in metadata.get(locales, [])), locales
    assert isinstance(metadata["code_challenge_methods_supported"], list)
    assert metadata["code_challenge_methods_supported"] == ["S256"]
