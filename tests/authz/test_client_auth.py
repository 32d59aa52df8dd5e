"""authz/client_auth.py: one client authentication, whatever the endpoint.

The token, revocation and introspection endpoints (OAuth) and the decision API (AuthZEN)
refuse an unknown client, a wrong secret, a disabled client, a client registered for another
method and malformed Basic credentials alike: 401, ``invalid_client``, the Basic challenge,
the same description; each in its own protocol's JSON. The core is also tested alone: an
unknown or disabled client costs the hash a wrong secret costs.
"""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from authz import client_auth
from authz.client_auth import (
    UNKNOWN_CLIENT,
    ClientAuthentication,
    ClientAuthError,
    Credentials,
    basic_credentials,
)
from authz.clients import ClientMetadata, RegisteredClient, add_client, disable_client, hash_secret
from tests.authz.conftest import BOULANGERIE, LUC, basic, question

JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "abc", "y": "def", "kid": "k1"}]}
REALM = 'Basic realm="monespace"'


def _form(headers: dict, **data) -> dict:
    return {"data": data, "headers": headers}


# Each endpoint a client calls with its credentials, and a request it accepts.
ENDPOINTS = {
    "token": ("/token", lambda h: _form(h, grant_type="client_credentials")),
    "revocation": ("/revoke", lambda h: _form(h, token="no-such-token")),
    "introspection": ("/introspect", lambda h: _form(h, token="no-such-token")),
    "decision API": (
        "/access/v1/evaluation",
        lambda h: {"json": question(LUC, "act_for", BOULANGERIE), "headers": h},
    ),
}


def _post(app, endpoint: str, headers: dict):
    path, request = ENDPOINTS[endpoint]
    return app.test_client().post(path, **request(headers))


@pytest.fixture
def callers(api_app) -> dict[str, dict[str, str]]:
    """The Authorization header of each case, with the client it names registered."""
    _client, secret = add_client(
        ClientMetadata("Caller", "fiscalite", client_id="caller"), actor="operator:test"
    )
    _old, old_secret = add_client(
        ClientMetadata("Old caller", "fiscalite", client_id="old-caller"), actor="operator:test"
    )
    disable_client("old-caller", actor="operator:test")
    keyed = ClientMetadata(
        "Keyed", "fiscalite", auth_method="private_key_jwt", jwks=JWKS, client_id="keyed"
    )
    add_client(keyed, actor="operator:test")
    return {
        "right": basic("caller", secret),
        "wrong secret": basic("caller", secret + "x"),
        "unknown client": basic("nobody", secret),
        "disabled client": basic("old-caller", old_secret),
        "another method": basic("keyed", secret),
        "not base64": {"Authorization": "Basic !!!"},
        "no colon": {"Authorization": "Basic " + base64.b64encode(b"caller").decode()},
        "not UTF-8": {"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()},
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_right_credentials_are_accepted_everywhere(api_app, callers, endpoint):
    response = _post(api_app, endpoint, callers["right"])
    assert response.status_code == 200


@pytest.mark.parametrize(
    "case",
    [
        "wrong secret",
        "unknown client",
        "disabled client",
        "another method",
        "not base64",
        "no colon",
        "not UTF-8",
    ],
)
def test_every_endpoint_refuses_the_same_way(api_app, callers, case):
    answers = {endpoint: _post(api_app, endpoint, callers[case]) for endpoint in ENDPOINTS}
    for response in answers.values():
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == REALM
        assert response.get_json()["error"] == "invalid_client"
    descriptions = {r.get_json()["error_description"] for r in answers.values()}
    assert len(descriptions) == 1, descriptions


def test_unknown_wrong_and_disabled_are_one_refusal(api_app, callers):
    cases = ("wrong secret", "unknown client", "disabled client")
    descriptions = {
        _post(api_app, "decision API", callers[case]).get_json()["error_description"]
        for case in cases
    }
    assert descriptions == {UNKNOWN_CLIENT}


def test_the_decision_api_says_which_method_the_client_registered(api_app, callers):
    response = _post(api_app, "decision API", callers["another method"])
    assert "private_key_jwt" in response.get_json()["error_description"]


# -- the core alone ------------------------------------------------------------------------


def registered(client_id: str, secret: str, **fields) -> RegisteredClient:
    return RegisteredClient(
        client_id,
        "Caller",
        "client_secret_basic",
        "fiscalite",
        secret_hash=hash_secret(secret),
        **fields,
    )


@pytest.fixture
def hashes(monkeypatch) -> list[str | None]:
    """The hashes a secret was compared with, in order."""
    seen: list[str | None] = []
    real = client_auth.secret_matches

    def recording(secret_hash, secret):
        seen.append(secret_hash)
        return real(secret_hash, secret)

    monkeypatch.setattr(client_auth, "secret_matches", recording)
    return seen


def test_an_unknown_or_disabled_client_costs_a_hash(hashes):
    clients = {
        "rp": registered("rp", "s3cret"),
        "gone": registered("gone", "s3cret", disabled_at=datetime(2026, 1, 1)),
    }
    authentication = ClientAuthentication(clients.get)

    assert authentication.basic("rp", "s3cret").client_id == "rp"
    assert hashes == [clients["rp"].secret_hash]
    for client_id in ("nobody", "gone"):
        hashes.clear()
        with pytest.raises(ClientAuthError) as refused:
            authentication.basic(client_id, "s3cret")
        assert refused.value.description == UNKNOWN_CLIENT
        assert not refused.value.malformed
        # One comparison, against a hash that is not the client's: the time of a wrong secret.
        assert len(hashes) == 1 and hashes[0] and hashes[0] != clients["gone"].secret_hash


def test_basic_credentials_are_form_url_decoded():
    header = "Basic " + base64.b64encode(b"rp%2Eone:a%2Bb+c").decode()
    assert basic_credentials(header) == ("rp.one", "a+b c")


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic", "Basic " + "A" * 5000, "Basic " + base64.b64encode(b":s").decode()],
)
def test_unreadable_basic_credentials_are_refused(header):
    with pytest.raises(ClientAuthError):
        basic_credentials(header)


def test_without_an_assertion_verifier_an_assertion_is_no_authentication():
    authentication = ClientAuthentication(lambda _client_id: None)
    with pytest.raises(ClientAuthError, match="required"):
        authentication.authenticate(Credentials(assertion="a.b.c", assertion_type="jwt"))
    with pytest.raises(ClientAuthError, match="required"):
        authentication.authenticate(Credentials(client_id="public-app"))


def test_two_methods_in_one_request_is_a_malformed_request():
    authentication = ClientAuthentication(lambda _client_id: None)
    with pytest.raises(ClientAuthError) as refused:
        authentication.authenticate(
            Credentials(authorization=basic("rp", "s")["Authorization"], client_secret="s")
        )
    assert refused.value.malformed
