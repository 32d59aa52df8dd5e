"""idp_bridge/shared/client_assertion.py: RFC 7523 private_key_jwt, made and checked."""

from __future__ import annotations

import pytest

from idp_bridge.shared import client_assertion, nested_jwt
from idp_bridge.shared.client_assertion import ASSERTION_TYPE, AssertionRefused
from tests.idp_bridge.itsme_keys import (
    Clock,
)

AUDIENCE = "https://op.example/token"


class Seen:
    """Single-use identifiers, as the stores of idp_bridge keep them (``add`` is False twice)."""

    def __init__(self):
        self.until: dict[str, float] = {}

    def add(self, key: str, expires_at: float) -> bool:
        if key in self.until:
            return False
        self.until[key] = expires_at
        return True


def check(keys, assertion, clock, seen=None, client_id=None):
    return client_assertion.verify(
        assertion,
        ASSERTION_TYPE,
        client_id=client_id,
        audience=AUDIENCE,
        resolve_key=lambda cid, kid: keys.rp_sig if cid == "rp" else None,
        seen=Seen() if seen is None else seen,
        clock=clock,
    )


def test_a_fresh_assertion_authenticates_its_client_once(itsme_keys):
    clock = Clock()
    seen = Seen()
    assertion = client_assertion.make("rp", AUDIENCE, itsme_keys.rp_sig, clock=clock)
    assert check(itsme_keys, assertion, clock, seen) == "rp"
    with pytest.raises(AssertionRefused, match="already used"):
        check(itsme_keys, assertion, clock, seen)


def test_each_assertion_has_its_own_jti_and_a_short_life(itsme_keys):
    clock = Clock()
    one, two = (client_assertion.make("rp", AUDIENCE, itsme_keys.rp_sig, clock=clock) for _ in "12")
    claims = [nested_jwt.verify(a, lambda kid: itsme_keys.rp_sig) for a in (one, two)]
    assert claims[0]["jti"] != claims[1]["jti"]
    assert claims[0]["exp"] - claims[0]["iat"] == client_assertion.DEFAULT_LIFETIME


def test_an_expired_assertion_is_refused(itsme_keys):
    clock = Clock()
    assertion = client_assertion.make("rp", AUDIENCE, itsme_keys.rp_sig, clock=clock)
    clock.advance(client_assertion.DEFAULT_LIFETIME + 31)
    with pytest.raises(AssertionRefused, match="expired"):
        check(itsme_keys, assertion, clock)


def test_an_assertion_for_another_audience_or_client_is_refused(itsme_keys):
    clock = Clock()
    other = client_assertion.make(
        "rp", "https://other.example/token", itsme_keys.rp_sig, clock=clock
    )
    with pytest.raises(AssertionRefused, match="audience"):
        check(itsme_keys, other, clock)
    assertion = client_assertion.make("rp", AUDIENCE, itsme_keys.rp_sig, clock=clock)
    with pytest.raises(AssertionRefused, match="another client"):
        check(itsme_keys, assertion, clock, client_id="someone-else")
    unknown = client_assertion.make("stranger", AUDIENCE, itsme_keys.rp_sig, clock=clock)
    with pytest.raises(AssertionRefused, match="no known signing key"):
        check(itsme_keys, unknown, clock)


def test_iss_and_sub_must_both_be_the_client(itsme_keys):
    clock = Clock()
    now = int(clock())
    claims = {"iss": "rp", "sub": "admin", "aud": AUDIENCE, "jti": "x", "exp": now + 60}
    with pytest.raises(AssertionRefused, match="iss and sub"):
        check(itsme_keys, nested_jwt.sign(claims, itsme_keys.rp_sig), clock)
