"""Signing keys: creation by several nodes at once, the JWK Set, rotation and its guard, the
audit trail, encryption at rest and the per-process cache."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authz import audit, db
from authz.engine import get_engine
from authz.models import AuditEvent, utcnow
from idp_bridge.oidc.keys import KeyStore, RotationTooSoon, SigningKeyError
from idp_bridge.oidc.models import SigningKey

SECRET = "s" * 40
LIFETIME = 3600
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def store(database) -> KeyStore:
    return KeyStore(SECRET, max_token_lifetime=LIFETIME)


def states() -> dict[str, list[str]]:
    by_state: dict[str, list[str]] = {}
    for row in SigningKey.select().order_by(SigningKey.id):
        by_state.setdefault(row.state, []).append(row.kid)
    return by_state


def later(hours: int):
    return utcnow() + timedelta(seconds=LIFETIME * hours + 1)


def issue(store: KeyStore) -> str:
    key = store.signing_key()
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {"sub": "someone"}, key)


def verifies(token: str, jwks: dict) -> bool:
    try:
        return jwt.decode(token, KeySet.import_key_set(jwks)).claims["sub"] == "someone"
    except (JoseError, ValueError):
        return False


# Creation


def test_ensure_creates_a_current_and_a_next_key_once(store):
    store.ensure()
    first = states()
    assert set(first) == {"current", "next"}
    assert len(first["current"]) == len(first["next"]) == 1
    store.ensure()
    assert states() == first
    assert AuditEvent.select().count() == 0  # start-up creation is not an operator action


def test_nodes_starting_together_create_one_set(database):
    errors, barrier = [], threading.Barrier(2)

    def start_node():
        try:
            node = KeyStore(SECRET)
            barrier.wait()
            node.ensure()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            db.database.close()

    threads = [threading.Thread(target=start_node) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = states()
    assert set(found) == {"current", "next"}
    assert len(found["current"]) == len(found["next"]) == 1


def test_the_signing_key_is_the_current_private_rsa_key(store):
    store.ensure()
    key = store.signing_key()
    assert key.is_private
    assert key.kid == states()["current"][0] == key.thumbprint()
    assert (key.get("use"), key.get("alg"), key.raw_value.key_size) == ("sig", "RS256", 2048)


def test_no_key_yet_is_a_clear_error(store):
    with pytest.raises(SigningKeyError, match="no current signing key"):
        store.signing_key()
    with pytest.raises(SigningKeyError):
        store.jwks()


# The JWK Set


def test_jwks_publishes_public_halves_of_next_current_previous_only(store):
    store.ensure()
    store.rotate(now=later(1))
    store.rotate(now=later(2))
    found = states()
    jwks = store.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [
        found["current"][0],
        found["next"][0],
        found["previous"][0],
    ]
    assert found["retired"][0] not in {k["kid"] for k in jwks["keys"]}
    for key in jwks["keys"]:
        assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
        assert not set(key) & PRIVATE_MEMBERS
        assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")


def test_a_token_verifies_until_its_key_is_retired(store):
    store.ensure()
    token = issue(store)
    assert verifies(token, store.jwks())
    signer = store.signing_key().kid
    store.rotate(now=later(1))
    assert store.signing_key().kid != signer
    assert SigningKey.get(SigningKey.kid == signer).state == "previous"
    assert verifies(token, store.jwks())
    store.rotate(now=later(2))
    assert not verifies(token, store.jwks())


def test_tokens_of_the_new_current_key_verify_with_the_jwks_published_before(store):
    """A relying party holding yesterday's JWK Set verifies today's tokens: next was in it."""
    store.ensure()
    cached_by_rp = store.jwks()
    store.rotate(now=later(1))
    assert verifies(issue(store), cached_by_rp)


# Rotation


def test_rotation_moves_every_key_one_step(store):
    store.ensure()
    before = states()
    result = store.rotate(now=later(1))
    after = states()
    assert result == {
        "current": before["next"][0],
        "previous": before["current"][0],
        "next": after["next"][0],
        "retired": None,
    }
    assert after["current"] == before["next"] and after["previous"] == before["current"]
    second = store.rotate(now=later(2))
    assert second["retired"] == before["current"][0]
    assert states()["retired"] == before["current"]
    retired = SigningKey.get(SigningKey.kid == second["retired"])
    assert retired.retired_at is not None
    current = SigningKey.get(SigningKey.kid == second["current"])
    assert current.activated_at >= later(2) - timedelta(seconds=5)


def test_rotation_too_soon_is_refused_and_changes_nothing(store):
    store.ensure()
    store.rotate(now=later(1))
    before, events = states(), AuditEvent.select().count()
    with pytest.raises(RotationTooSoon, match="longest token lifetime") as refused:
        store.rotate(now=later(1) + timedelta(seconds=LIFETIME - 10))
    assert before["previous"][0] in str(refused.value)
    assert refused.value.code == "rotation_too_soon"
    assert states() == before
    assert AuditEvent.select().count() == events


def test_rotation_too_soon_is_allowed_when_forced(store):
    store.ensure()
    before = states()
    assert store.rotate(force=True)["current"] == before["next"][0]


def test_rotating_a_database_without_keys_creates_them(store):
    result = store.rotate("operator:alice")
    found = states()
    assert result == {
        "current": found["current"][0],
        "next": found["next"][0],
        "previous": None,
        "retired": None,
    }
    assert AuditEvent.get().details == audit.canonical_json(result)


def test_each_rotation_is_audited_in_the_chain(store):
    store.ensure()
    first = store.rotate("operator:alice", now=later(1))
    second = store.rotate("operator:bob", force=True, now=later(1))
    events = list(AuditEvent.select().order_by(AuditEvent.seq))
    assert [(e.actor, e.action, e.target_type, e.target_id) for e in events] == [
        ("operator:alice", "oidc.key.rotate", "signing_key", first["current"]),
        ("operator:bob", "oidc.key.rotate", "signing_key", second["current"]),
    ]
    assert json.loads(events[1].details) == second
    assert events[1].policy_version == get_engine().version
    assert audit.verify().ok


def test_keys_lists_every_key_newest_first(store):
    store.ensure()
    store.rotate(now=later(1))
    store.rotate(now=later(2))
    listed = store.keys()
    assert [k.state for k in listed] == ["next", "current", "previous", "retired"]
    assert listed[0].activated_at is None and listed[-1].retired_at is not None
    assert {k.kid for k in listed} == {r.kid for r in SigningKey.select()}


# Encryption at rest


def test_keys_are_encrypted_at_rest(store):
    store.ensure()
    store.rotate(now=later(1))
    store.rotate(now=later(2))
    private = store.signing_key().as_dict(private=True)
    for row in SigningKey.select():
        for member in ('"d"', '"n"', '"kty"', '"RSA"', private["d"][:16], private["n"][:16]):
            assert member not in row.private_jwk
        assert set(row.private_jwk) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_a_retired_key_keeps_no_private_half(store):
    store.ensure()
    store.rotate(now=later(1))
    retired_kid = store.rotate(now=later(2))["retired"]
    row = SigningKey.get(SigningKey.kid == retired_kid)
    assert not store._decrypt(row).is_private


def test_another_secret_key_cannot_read_the_keys(store):
    store.ensure()
    kid = states()["current"][0]
    other = KeyStore("o" * 40)
    with pytest.raises(SigningKeyError) as failure:
        other.signing_key()
    assert str(failure.value) == (
        f"signing key {kid} cannot be decrypted with the secret key: the signing keys were "
        "encrypted under another secret key. Set MONESPACE_SECRET_KEY back to that key, or keep "
        "the new one and list the old one in MONESPACE_PREVIOUS_SECRET_KEYS (then run "
        "`monespace keys reencrypt`); new signing keys are never made in their place"
    )
    assert isinstance(failure.value, KeyError)
    before = states()
    with pytest.raises(SigningKeyError):
        other.rotate(force=True)
    assert states() == before


def test_key_material_cannot_move_between_rows(store):
    store.ensure()
    current, next_ = (SigningKey.get(SigningKey.state == s) for s in ("current", "next"))
    current.private_jwk, next_.private_jwk = next_.private_jwk, current.private_jwk
    current.save()
    next_.save()
    with pytest.raises(SigningKeyError):
        store.signing_key()


# A change of the secret key


NEW_SECRET = "n" * 40


def rows_by_kid() -> dict[str, str]:
    return {row.kid: row.private_jwk for row in SigningKey.select()}


def test_a_previous_secret_key_still_reads_the_keys_and_tokens_signed_before_verify(store):
    store.rotate(now=utcnow())
    store.rotate(now=later(1))  # a current, a next and a previous key, as in service
    token = issue(store)
    jwks = store.jwks()

    changed = KeyStore(NEW_SECRET, previous_secret_keys=(SECRET,))

    assert changed.jwks() == jwks  # the same keys, the same kids: relying parties see nothing
    assert changed.signing_key().kid == store.signing_key().kid
    assert verifies(token, changed.jwks())
    assert verifies(issue(changed), jwks)
    assert sorted(changed.check_readable()) == sorted(k["kid"] for k in jwks["keys"])


def test_reencrypt_moves_every_key_under_the_new_secret_key_keeping_its_kid(store):
    store.rotate(now=utcnow())
    store.rotate(now=later(1))
    store.rotate(now=later(2))  # and a retired one
    token, jwks, before = issue(store), store.jwks(), rows_by_kid()

    changed = KeyStore(NEW_SECRET, previous_secret_keys=(SECRET,))
    kids = changed.reencrypt("operator:test")

    assert sorted(kids) == sorted(before)  # every row, the retired one's public half too
    after = rows_by_kid()
    assert set(after) == set(before)
    assert all(after[kid] != before[kid] for kid in before)
    alone = KeyStore(NEW_SECRET)  # the previous secret key no longer needed
    assert alone.check_readable() == []
    assert alone.jwks() == jwks
    assert verifies(token, alone.jwks())
    with pytest.raises(SigningKeyError):
        KeyStore(SECRET).signing_key()  # the old secret key alone no longer reads them
    assert changed.reencrypt() == []  # again: nothing to do
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).first()
    assert (event.action, event.actor) == ("oidc.key.reencrypt", "operator:test")
    assert sorted(json.loads(event.details)["reencrypted"]) == sorted(before)
    assert audit.verify().ok


def test_reencrypt_refuses_when_no_secret_key_reads_a_published_key(store):
    store.ensure()
    before = rows_by_kid()

    with pytest.raises(
        SigningKeyError, match="cannot be decrypted with the secret key or a previous one"
    ):
        KeyStore(NEW_SECRET, previous_secret_keys=("w" * 40,)).reencrypt()

    assert rows_by_kid() == before


def test_check_readable_refuses_keys_no_secret_key_reads_and_creates_none(store):
    store.ensure()
    before = rows_by_kid()
    wrong = KeyStore(NEW_SECRET)

    with pytest.raises(SigningKeyError, match="Set MONESPACE_SECRET_KEY back to that key"):
        wrong.check_readable()
    wrong.ensure()  # a current and a next key exist: it makes none in their place

    assert rows_by_kid() == before


def test_check_readable_on_a_database_without_keys(database):
    assert KeyStore(NEW_SECRET, previous_secret_keys=(SECRET,)).check_readable() == []


# Process cache


def test_a_rotation_elsewhere_is_seen_after_the_cache_time(database):
    # 3 s: long enough that a loaded machine still reads node A's cache before it expires.
    node_a = KeyStore(SECRET, cache_seconds=3.0)
    node_b = KeyStore(SECRET, cache_seconds=3.0)
    node_a.ensure()
    old = node_a.signing_key().kid
    new = node_b.rotate(force=True)["current"]
    # Still cached: node A signs with the old key, now previous and still published...
    assert node_a.signing_key().kid == old
    # ...and already publishes the new current key, which it published as next.
    assert new in {k["kid"] for k in node_a.jwks()["keys"]}
    time.sleep(3.1)
    assert node_a.signing_key().kid == new
    assert node_b.signing_key().kid == new  # the rotating node cleared its own cache


def test_a_key_store_without_cache_reads_every_time(database):
    node_a, node_b = KeyStore(SECRET, cache_seconds=0), KeyStore(SECRET)
    node_a.ensure()
    new = node_b.rotate(force=True)["current"]
    assert node_a.signing_key().kid == new


def test_a_reload_reuses_the_keys_it_decrypted_and_opens_a_changed_one(database):
    """The published rows are read again every ``cache_seconds``; a key whose row has not
    changed is not imported again (each import costs ~40 ms of CPU), a re-encrypted or new
    one is."""
    KeyStore(SECRET).ensure()
    store = KeyStore(NEW_SECRET, previous_secret_keys=(SECRET,), cache_seconds=0)
    first = store.signing_key()
    assert store.signing_key() is first  # the rows read again, the key not imported again
    assert store.reencrypt()  # the same key under another secret: another ciphertext
    again = store.signing_key()
    assert again.kid == first.kid and again is not first
    assert store.signing_key() is again
    new = KeyStore(NEW_SECRET).rotate(force=True)["current"]
    assert store.signing_key().kid == new  # a rotation elsewhere is seen at once
