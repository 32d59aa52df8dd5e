"""The provider's ID token signing keys and their rotation (OpenID Connect Core 1.0 section 10.1.1).

Each key goes through four states, one step per rotation::

    next  ->  current  ->  previous  ->  retired
    (published,  (signing,      (published,     (neither; its
     not used)    published)     not used)       private half erased)

A key is published in the JWK Set one whole rotation before it signs anything, so relying
parties that cache our JWKS already hold it when the first token signed with it arrives; and it
stays published one rotation after it stops signing, so the tokens it signed can be verified
until they expire. That is why a rotation is refused while the current key is younger than the
longest token lifetime: the step would retire the previous key while tokens it signed may still
be in circulation (and the next key would have been published for less than that).

The keys live in the database, not in files: every node signs with the same key and publishes
the same JWK Set, a rotation made on one node reaches the others (each caches the keys for a few
seconds), and two nodes starting together create one set of keys, not one each. Private keys
are encrypted at rest with AES-256-GCM under a key derived from the application's secret key
(HKDF-SHA256), so a database dump or backup alone does not give away the signing key.

Changing the secret key keeps the keys: the secret keys it replaced (``previous_secret_keys``)
still decrypt them, and :meth:`KeyStore.reencrypt` (``monespace keys reencrypt``) encrypts them
again under the new one, the same keys with the same ``kid``, so relying parties notice nothing.
A node whose secrets decrypt none of them refuses to start (:meth:`KeyStore.check_readable`)
rather than sign with new keys nobody has fetched.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime
from typing import NamedTuple

from cachetools import LRUCache, TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from authz import audit, db
from authz.engine import get_engine
from authz.errors import AuthzError, Conflict
from authz.tables import utcnow
from idp_bridge.oidc.models import SigningKey
from idp_bridge.shared.nested_jwt import SIG_ALG, generate_rsa_key

NEXT, CURRENT, PREVIOUS, RETIRED = "next", "current", "previous", "retired"
PUBLISHED_STATES = (CURRENT, NEXT, PREVIOUS)  # in the order the JWK Set lists them

HKDF_INFO = b"monespace oidc signing keys"
NONCE_BYTES = 12
OPENED_KEYS_KEPT = 8  # decrypted keys kept by a process (three are published at a time)
# Any constant works: it only has to be the same in every process that creates or rotates keys.
_PG_LOCK_KEY = 0x4D45_4B59  # "MEKY"


class SigningKeyError(AuthzError, KeyError):
    """A signing key is missing or cannot be read (encrypted under another secret key)."""

    code = "signing_key"

    def __str__(self) -> str:  # KeyError's own would show the message quoted
        return self.message


class RotationTooSoon(Conflict):
    """A rotation would retire a key whose tokens may still be valid, or sign with a key
    relying parties may not have fetched yet."""

    code = "rotation_too_soon"


class KeyInfo(NamedTuple):
    """One key as ``monespace keys list`` shows it (no key material)."""

    kid: str
    state: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


class KeyStore:
    """The signing keys of one provider, shared by every node through the database.

    ``max_token_lifetime`` (seconds) is the longest lifetime of anything signed with these keys:
    the shortest time between two rotations. ``cache_seconds`` is how long this process keeps
    the keys it read, hence how soon it sees a rotation made elsewhere.
    """

    def __init__(
        self,
        secret_key: str,
        *,
        previous_secret_keys: tuple[str, ...] = (),
        max_token_lifetime: int = 3600,
        cache_seconds: float = 30,
    ):
        if not secret_key:
            raise ValueError("the signing keys need the application's secret key")
        # The current secret's first: it encrypts; the previous ones only decrypt.
        self._aeads = tuple(AESGCM(_derive_key(key)) for key in (secret_key, *previous_secret_keys))
        self._aead = self._aeads[0]
        self.max_token_lifetime = max_token_lifetime
        self.cache_seconds = cache_seconds
        # One entry (the published keys); TTLCache is not thread-safe on its own.
        self._cache: TTLCache | None = (
            TTLCache(maxsize=1, ttl=cache_seconds) if cache_seconds > 0 else None
        )
        self._cache_lock = threading.Lock()
        # Keys decrypted, by kid and ciphertext: a reload of the published keys (every
        # ``cache_seconds``) reads their rows again but imports only a key it has not seen,
        # an import of a private RSA key (its consistency check) costing ~40 ms of CPU.
        self._opened: LRUCache = LRUCache(maxsize=OPENED_KEYS_KEPT)

    # -- reading ------------------------------------------------------------------------------

    def signing_key(self) -> RSAKey:
        """The private key ID tokens are signed with now (``kid``, ``use: sig``, ``alg: RS256``)."""
        return self._published()[0]

    def jwks(self) -> dict:
        """The JWK Set document: public halves of the current, next and previous keys."""
        return {"keys": [dict(key) for key in self._published()[1]]}

    def keys(self) -> list[KeyInfo]:
        """Every key, newest first (retired ones included), without key material."""
        rows = SigningKey.select().order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        return [KeyInfo(r.kid, r.state, r.created_at, r.activated_at, r.retired_at) for r in rows]

    def clear_cache(self) -> None:
        if self._cache is not None:
            with self._cache_lock:
                self._cache.clear()

    def _published(self) -> tuple[RSAKey, tuple[dict, ...]]:
        if self._cache is not None:
            with self._cache_lock:
                cached = self._cache.get("published")
            if cached is not None:
                return cached
        value = self._load_published()
        if self._cache is not None:
            with self._cache_lock:
                self._cache["published"] = value
        return value

    def _load_published(self) -> tuple[RSAKey, tuple[dict, ...]]:
        rows = list(
            SigningKey.select()
            .where(SigningKey.state.in_(PUBLISHED_STATES))
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        )
        rows.sort(key=lambda r: PUBLISHED_STATES.index(r.state))
        if not rows or rows[0].state != CURRENT:
            raise SigningKeyError(
                "there is no current signing key: the provider creates one when it starts "
                "(KeyStore.ensure()), or run `monespace keys rotate`"
            )
        keys = [self._decrypt(row) for row in rows]
        public = tuple(key.as_dict(private=False) for key in keys)
        return keys[0], public

    # -- writing ------------------------------------------------------------------------------

    def ensure(self, *, now: datetime | None = None) -> None:
        """Create a current and a next key if there are none; do nothing otherwise.

        Nodes starting together may all call it: the lock makes one of them create the keys
        and the others find them.
        """
        self._ensure(_naive_utc(now), actor=None)

    def rotate(
        self, actor: str = "operator:cli", *, force: bool = False, now: datetime | None = None
    ) -> dict:
        """One step of the life cycle: previous -> retired, current -> previous, next ->
        current, and a new next key. Returns the kids by state (``None`` where there is none).

        On a database without keys the step is creating the first current and next keys.
        Refused with :class:`RotationTooSoon` while the current key is younger than
        ``max_token_lifetime``, unless ``force`` (which may invalidate tokens in circulation).
        """
        now = _naive_utc(now)
        first = self._ensure(now, actor=actor)
        if first is not None:
            return first
        fresh = new_signing_key()
        with db.transaction():
            self._lock()
            current, next_, previous = self._one(CURRENT), self._one(NEXT), self._one(PREVIOUS)
            age = (now - current.activated_at).total_seconds()
            if age < self.max_token_lifetime and not force:
                risk = (
                    f"retire key {previous.kid} while tokens it signed may still be valid"
                    if previous is not None
                    else f"sign with key {next_.kid} before relying parties that cache the JWK "
                    "Set may have fetched it"
                )
                raise RotationTooSoon(
                    f"the current signing key {current.kid} was activated {int(age)} s ago, "
                    f"less than the longest token lifetime ({self.max_token_lifetime} s): "
                    f"rotating now would {risk}. Try again in "
                    f"{int(self.max_token_lifetime - age) + 1} s, or force it"
                )
            # Refuse to promote a key this process cannot read (another secret key).
            self._decrypt(next_)
            if previous is not None:
                # Nothing needs a retired key's private half: keep only its public one.
                public = self._decrypt(previous).as_dict(private=False)
                previous.private_jwk = self._encrypt(previous.kid, public)
                previous.state, previous.retired_at = RETIRED, now
                previous.save()
            current.state = PREVIOUS
            current.save()
            next_.state, next_.activated_at = CURRENT, now
            next_.save()
            self._insert(fresh, NEXT, now)
            result = {
                "current": next_.kid,
                "next": fresh.kid,
                "previous": current.kid,
                "retired": previous.kid if previous else None,
            }
            self._record(actor, result)
        self.clear_cache()
        return result

    def _ensure(self, now: datetime, actor: str | None) -> dict | None:
        """Complete the set of keys; the kids by state if a current key had to be created
        (recorded in the audit log when ``actor`` is given), else None."""
        if self._states() >= {CURRENT, NEXT}:
            return None
        # Generated before taking the lock (RSA generation is slow); unused if another node
        # won the race.
        fresh = iter([new_signing_key(), new_signing_key()])
        created = None
        with db.transaction():
            self._lock()
            if self._one(CURRENT) is None:
                next_ = self._one(NEXT)
                if next_ is not None:
                    # Already published: it becomes the current key rather than a new one.
                    next_.state, next_.activated_at = CURRENT, now
                    next_.save()
                    current_kid = next_.kid
                else:
                    current_kid = self._insert(next(fresh), CURRENT, now, activated_at=now)
                created = {"current": current_kid, "next": None, "previous": None, "retired": None}
            if self._one(NEXT) is None:
                next_kid = self._insert(next(fresh), NEXT, now)
                if created is not None:
                    created["next"] = next_kid
            if created is not None and actor is not None:
                self._record(actor, created)
        self.clear_cache()
        return created

    def _record(self, actor: str, kids: dict) -> None:
        audit.record(
            actor=actor,
            action="oidc.key.rotate",
            target_type="signing_key",
            target_id=kids["current"],
            details=kids,
            policy_version=get_engine().version,
        )

    def _lock(self) -> None:
        # SQLite's write transaction (BEGIN IMMEDIATE) is already exclusive.
        if db.is_postgresql():
            db.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))

    def _states(self) -> set[str]:
        query = SigningKey.select(SigningKey.state).where(SigningKey.state.in_((CURRENT, NEXT)))
        return {row.state for row in query}

    def _one(self, state: str) -> SigningKey | None:
        # There is one key per state but retired; the newest wins should that ever not hold.
        return (
            SigningKey.select()
            .where(SigningKey.state == state)
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
            .first()
        )

    def _insert(
        self, key: RSAKey, state: str, now: datetime, activated_at: datetime | None = None
    ) -> None:
        SigningKey.create(
            kid=key.kid,
            state=state,
            alg=SIG_ALG,
            private_jwk=self._encrypt(key.kid, key.as_dict(private=True)),
            created_at=now,
            activated_at=activated_at,
        )
        return key.kid

    # -- a change of the secret key -----------------------------------------------------------

    def check_readable(self) -> list[str]:
        """Refuse (:class:`SigningKeyError`) when a published key decrypts under none of the
        secret keys; return the kids that decrypt only under a previous one (to re-encrypt)."""
        under_previous = []
        for row in SigningKey.select().where(SigningKey.state.in_(PUBLISHED_STATES)):
            _key, which = self._open(row)
            if which > 0:
                under_previous.append(row.kid)
        return under_previous

    def reencrypt(self, actor: str = "operator:cli") -> list[str]:
        """Encrypt again under the current secret key every key that a previous one still
        protects (retired keys included); return their kids. The keys, and their kids, stay
        the same. Refused, changing nothing, when a published key decrypts under no secret key.
        """
        with db.transaction():
            self._lock()
            changed = []
            for row in SigningKey.select().order_by(SigningKey.id):
                try:
                    key, which = self._open(row)
                except SigningKeyError:
                    if row.state in PUBLISHED_STATES:
                        raise
                    continue  # a retired key's public half: needed by nothing
                if which > 0:
                    private = row.state != RETIRED
                    row.private_jwk = self._encrypt(row.kid, key.as_dict(private=private))
                    row.save()
                    changed.append(row.kid)
            if changed:
                audit.record(
                    actor=actor,
                    action="oidc.key.reencrypt",
                    target_type="signing_key",
                    target_id=changed[0],
                    details={"reencrypted": changed},
                    policy_version=get_engine().version,
                )
        self.clear_cache()
        return changed

    # -- encryption at rest -------------------------------------------------------------------

    def _encrypt(self, kid: str, jwk: dict) -> str:
        # The kid is authenticated with the key: a row's key material cannot be moved to
        # another row unnoticed.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, json.dumps(jwk).encode(), kid.encode())
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def _decrypt(self, row: SigningKey) -> RSAKey:
        seen = (row.kid, row.private_jwk)
        with self._cache_lock:
            key = self._opened.get(seen)
        if key is None:
            key = self._open(row)[0]
            with self._cache_lock:
                self._opened[seen] = key
        return key

    def _open(self, row: SigningKey) -> tuple[RSAKey, int]:
        """The key of ``row`` and which secret key decrypted it (0: the current one)."""
        try:
            blob = base64.urlsafe_b64decode(row.private_jwk + "=" * (-len(row.private_jwk) % 4))
        except (ValueError, TypeError):
            blob = b""
        for which, aead in enumerate(self._aeads):
            try:
                plain = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], row.kid.encode())
                return RSAKey.import_key(json.loads(plain)), which
            except (InvalidTag, ValueError, TypeError, JoseError):
                continue
        tried = "the secret key" + (" or a previous one" if len(self._aeads) > 1 else "")
        raise SigningKeyError(
            f"signing key {row.kid} cannot be decrypted with {tried}: the signing keys were "
            "encrypted under another secret key. Set MONESPACE_SECRET_KEY back to that key, or "
            "keep the new one and list the old one in MONESPACE_PREVIOUS_SECRET_KEYS (then run "
            "`monespace keys reencrypt`); new signing keys are never made in their place"
        )


def new_signing_key() -> RSAKey:
    """A new private RSA 2048 key: ``kid`` its RFC 7638 thumbprint, ``use: sig``, ``alg: RS256``."""
    data = generate_rsa_key("sig").as_dict(private=True)
    data["alg"] = SIG_ALG
    return RSAKey.import_key(data)


def _derive_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
    return hkdf.derive(secret_key.encode("utf-8"))


def _naive_utc(now: datetime | None) -> datetime:
    """Naive UTC, like every timestamp in the database."""
    if now is None:
        return utcnow()
    if now.tzinfo is not None:
        return now.astimezone(UTC).replace(tzinfo=None)
    return now
