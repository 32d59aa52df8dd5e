"""Token families: a grant and what of it may still be live, listed under its subject; new
tokens refused a place in a revoked family; revocation returning what it listed. On SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest

from idp_bridge.oidc.token_families import FamilyClosedError, TokenFamilies
from tests.idp_bridge.oidc.test_storage import Clock

GRANT = {"sub": "sub-1", "client_id": "client-1", "granted_scope": "openid", "auth_req": {}}


def test_a_family_holds_its_grant_and_is_listed_under_its_subject(database):
    clock = Clock()
    families = TokenFamilies(ttl=1000, clock=clock)
    family_id = families.open(GRANT, until=int(clock.now) + 600, code="code-1")
    assert len(family_id) >= 43
    record = TokenFamilies(ttl=1000).live(family_id)
    assert record == {
        **GRANT,
        "revoked": False,
        "exp": int(clock.now) + 600,
        "code": "code-1",
        "access_tokens": {},
        "refresh_tokens": {},
    }
    assert families.of("sub-1") == [family_id]
    assert families.of("sub-2") == []
    assert families.live("unknown") is None
    assert families.live(None) is None


def test_tokens_are_listed_until_they_expire_or_are_rotated_away(database):
    clock = Clock()
    families = TokenFamilies(ttl=1000, clock=clock)
    now = int(clock.now)
    family_id = families.open(GRANT, until=now + 600)
    families.add(family_id, access={"a1": now + 10}, refresh={"r1": now + 900})
    clock.now += 11
    families.add(family_id, access={"a2": now + 21}, refresh={"r2": now + 911}, retire=["r1"])
    record = families.live(family_id)
    assert record["access_tokens"] == {"a2": now + 21}
    assert record["refresh_tokens"] == {"r2": now + 911}
    assert record["exp"] == now + 911


def test_a_revoked_family_lists_nothing_and_takes_no_new_token(database):
    families = TokenFamilies(ttl=1000)
    family_id = families.open(GRANT, until=2**31, code="code-1")
    families.add(family_id, access={"a1": 2**31}, refresh={"r1": 2**31})
    assert families.revoke(family_id) == {
        "code": "code-1",
        "access_tokens": ["a1"],
        "refresh_tokens": ["r1"],
    }
    assert families.live(family_id) is None
    assert families.records[family_id]["revoked"] is True
    with pytest.raises(FamilyClosedError):
        families.add(family_id, access={"a2": 2**31})
    assert families.revoke(family_id) == {"code": None, "access_tokens": [], "refresh_tokens": []}
    assert families.revoke("unknown") is None
    with pytest.raises(FamilyClosedError):
        families.add("unknown", access={"a2": 2**31})


def test_the_subject_index_drops_families_that_are_over_and_keeps_extended_ones(database):
    clock = Clock()
    families = TokenFamilies(ttl=1000, clock=clock)
    now = int(clock.now)
    extended = families.open(GRANT, until=now + 10)
    families.add(extended, refresh={"r1": now + 900})  # a rotation took it further
    revoked = families.open(GRANT, until=now + 10)
    families.revoke(revoked)
    over = families.open(GRANT, until=now + 10)
    clock.now += 11
    latest = families.open(GRANT, until=now + 611)
    assert families.of_subject["sub-1"]["families"] == {extended: now + 900, latest: now + 611}
    assert over not in families.of("sub-1")
    families.forget("sub-1", [extended])
    assert extended not in families.of("sub-1")
    families.forget("sub-2", [extended])  # no index: nothing to do
