"""idp_bridge/shared/remote_jwks.py: a provider's keys, cached, fetched again only when needed."""

from __future__ import annotations

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.remote_jwks import RemoteKeySet
from tests.idp_bridge.itsme_keys import (
    Clock,
)


def make(document: dict, clock: Clock) -> tuple[RemoteKeySet, list]:
    served = []

    def fetch():
        served.append(clock())
        return document

    return RemoteKeySet(fetch, ttl=3600, min_refetch_interval=60, clock=clock), served


def test_keys_are_fetched_once_then_served_from_the_cache(itsme_keys):
    clock = Clock()
    keys, served = make(nested_jwt.public_jwks(itsme_keys.op_sig, itsme_keys.op_enc), clock)
    for _ in range(3):
        assert keys.signing_key(itsme_keys.op_sig.kid).kid == itsme_keys.op_sig.kid
        assert keys.encryption_key().kid == itsme_keys.op_enc.kid
    assert len(served) == 1
    clock.advance(3601)
    keys.signing_key(itsme_keys.op_sig.kid)
    assert len(served) == 2


def test_an_unknown_kid_fetches_again_at_most_once_a_minute(itsme_keys):
    clock = Clock()
    document = nested_jwt.public_jwks(itsme_keys.op_sig, itsme_keys.op_enc)
    keys, served = make(document, clock)
    keys.encryption_key()
    clock.advance(120)
    for _ in range(10):
        assert keys.signing_key("unknown") is None
    assert len(served) == 2
    # The provider publishes a new key: seen at the next allowed fetch.
    document["keys"].append(itsme_keys.other_sig.as_dict(private=False))
    assert keys.signing_key(itsme_keys.other_sig.kid) is None
    clock.advance(60)
    assert keys.signing_key(itsme_keys.other_sig.kid).kid == itsme_keys.other_sig.kid
    assert len(served) == 3


def test_public_keys_only_are_ever_returned(itsme_keys):
    clock = Clock()
    keys, _ = make({"keys": [itsme_keys.op_sig.as_dict(private=False)]}, clock)
    assert not keys.signing_key(itsme_keys.op_sig.kid).is_private
    assert keys.encryption_key() is None
