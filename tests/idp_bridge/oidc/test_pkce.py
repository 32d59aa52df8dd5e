"""idp_bridge/oidc/pkce.py: PKCE (RFC 7636), S256 only, required of public clients.

For each rule, the requests that pass and the ones refused, with the error code the client
gets: ``invalid_request`` at the authorization endpoint, ``invalid_grant`` at the token one.
"""

from __future__ import annotations

import secrets

import pytest
from werkzeug.datastructures import MultiDict

from idp_bridge.oidc.errors import OAuthError
from idp_bridge.oidc.pkce import METHODS_SUPPORTED, check_challenge, s256, verify

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def pkce(challenge=CHALLENGE, method="S256"):
    params = {"response_type": "code", "client_id": "rp"}
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    return params


def refused(code: str, call, *args, **kwargs) -> str:
    with pytest.raises(OAuthError) as info:
        call(*args, **kwargs)
    assert (info.value.error, info.value.status) == (code, 400)
    return info.value.description


def test_rfc_7636_appendix_b_vector():
    assert s256(VERIFIER) == CHALLENGE
    assert check_challenge(pkce(), public_client=True) == (CHALLENGE, "S256")
    verify(VERIFIER, CHALLENGE)


def test_only_s256_is_advertised():
    assert METHODS_SUPPORTED == ("S256",)


# -- authorization request ----------------------------------------------------------------


@pytest.mark.parametrize("public_client", [True, False])
def test_s256_challenge_is_honoured_for_every_client(public_client):
    assert check_challenge(pkce(), public_client=public_client) == (CHALLENGE, "S256")


def test_public_client_must_send_a_challenge():
    description = refused("invalid_request", check_challenge, pkce(None, None), public_client=True)
    assert description.startswith("code challenge required")
    # Sent empty is the same as not sent (RFC 6749 section 3.1).
    refused("invalid_request", check_challenge, pkce("", ""), public_client=True)


def test_confidential_client_may_omit_the_challenge():
    assert check_challenge(pkce(None, None), public_client=False) is None
    assert check_challenge(pkce("", ""), public_client=False) is None


@pytest.mark.parametrize("public_client", [True, False])
@pytest.mark.parametrize(
    ("challenge", "method", "message"),
    [
        # No method means plain (RFC 7636 section 4.3).
        (CHALLENGE, None, "method is plain"),
        (CHALLENGE, "", "method is plain"),
        (CHALLENGE, "plain", "transform algorithm not supported"),
        (CHALLENGE, "s256", "transform algorithm not supported"),
        (CHALLENGE, "S512", "transform algorithm not supported"),
        (None, "S256", "without a code_challenge"),
        # A plain challenge is the verifier itself: 43 to 128 characters, but not an S256 hash.
        (VERIFIER + "x", "S256", "43 characters of base64url"),
        (CHALLENGE[:-1], "S256", "43 characters of base64url"),
        (CHALLENGE + "A", "S256", "43 characters of base64url"),
        (CHALLENGE[:-1] + "=", "S256", "43 characters of base64url"),
        (CHALLENGE[:-1] + "+", "S256", "43 characters of base64url"),
        ("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM", "S256", "43 characters of base64url"),
        (CHALLENGE + "=", "S256", "43 characters of base64url"),
        (CHALLENGE[:-1] + "N", "S256", "43 characters of base64url"),  # not canonical
        (CHALLENGE[:-1] + "é", "S256", "43 characters of base64url"),
        (CHALLENGE + "\n", "S256", "43 characters of base64url"),
    ],
)
def test_refused_challenges(public_client, challenge, method, message):
    description = refused(
        "invalid_request", check_challenge, pkce(challenge, method), public_client=public_client
    )
    assert message in description


def test_every_s256_output_is_accepted():
    for _ in range(200):
        challenge = s256(secrets.token_urlsafe(32))
        assert check_challenge(pkce(challenge), public_client=True) == (challenge, "S256")


def test_repeated_or_non_string_parameters_are_refused():
    repeated = MultiDict([*pkce().items(), ("code_challenge", CHALLENGE)])
    description = refused("invalid_request", check_challenge, repeated, public_client=False)
    assert description == "the code_challenge parameter is repeated"
    repeated = MultiDict([*pkce().items(), ("code_challenge_method", "plain")])
    refused("invalid_request", check_challenge, repeated, public_client=False)
    assert check_challenge(MultiDict(pkce()), public_client=True) == (CHALLENGE, "S256")
    refused("invalid_request", check_challenge, pkce([CHALLENGE]), public_client=True)


def test_descriptions_never_echo_the_request():
    hostile = '"\\<script>' + "\x00" * 40
    for challenge, method in [(hostile, "S256"), (CHALLENGE, hostile)]:
        description = refused(
            "invalid_request", check_challenge, pkce(challenge, method), public_client=True
        )
        assert hostile not in description


# -- token request --------------------------------------------------------------------------


def test_matching_verifier_is_accepted():
    verifier = secrets.token_urlsafe(96)  # 128 characters
    assert len(verifier) == 128
    verify(verifier, s256(verifier))
    verifier = "A-._~" + "z" * 38  # every punctuation of the alphabet, 43 characters
    verify(verifier, s256(verifier))


def test_no_challenge_and_no_verifier_is_not_pkce():
    verify(None, None)
    verify("", None)
    verify(None, "")


@pytest.mark.parametrize("verifier", [None, ""])
def test_verifier_required_when_a_challenge_was_recorded(verifier):
    description = refused("invalid_grant", verify, verifier, CHALLENGE)
    assert description.startswith("code_verifier required")


@pytest.mark.parametrize("challenge", [None, ""])
def test_verifier_without_a_recorded_challenge_is_refused(challenge):
    # The downgrade of RFC 9700 section 2.1.1: pyop would accept this request.
    description = refused("invalid_grant", verify, VERIFIER, challenge)
    assert "had no code_challenge" in description


@pytest.mark.parametrize(
    "verifier",
    [
        VERIFIER[:-1],  # 42 characters
        "a" * 129,
        VERIFIER[:-1] + "+",
        VERIFIER[:-1] + "/",
        VERIFIER[:-1] + "=",
        VERIFIER[:-1] + " ",
        VERIFIER[:-1] + "é",
        VERIFIER + "\n",
    ],
)
def test_malformed_verifiers_are_refused(verifier):
    description = refused("invalid_grant", verify, verifier, s256(VERIFIER[:-1] + "a"))
    assert description.startswith("code_verifier must be 43 to 128 characters")


def test_wrong_verifier_is_refused():
    description = refused("invalid_grant", verify, VERIFIER[:-1] + "l", CHALLENGE)
    assert description == "code_verifier does not match the code_challenge"
    # plain is not a fallback: the challenge itself is not a verifier for it.
    refused("invalid_grant", verify, CHALLENGE, CHALLENGE)
    refused("invalid_grant", verify, VERIFIER, s256(VERIFIER + "x"))


def test_a_non_ascii_recorded_challenge_does_not_crash():
    refused("invalid_grant", verify, VERIFIER, CHALLENGE[:-1] + "é")
