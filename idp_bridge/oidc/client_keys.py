"""The public keys a client signs its assertions with (RFC 7517 JWK Sets), registered inline
or published at its ``jwks_uri`` (OpenID Connect Dynamic Client Registration section 2).

Only signature keys of the types the accepted algorithms need are kept: RSA of 2048 bits or
more (RS256, PS256) and EC P-256 (ES256). A key is chosen by ``kid`` and algorithm; without a
``kid``, only when exactly one key fits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

logger = logging.getLogger(__name__)

MAX_KEYS = 16  # per client
MIN_RSA_BITS = 2048

Key = RSAKey | ECKey

_KEY_FIELDS = {
    "RSA": ("kty", "n", "e", "kid", "alg", "use", "key_ops"),
    "EC": ("kty", "crv", "x", "y", "kid", "alg", "use", "key_ops"),
}


class KeysUnavailable(Exception):
    """The client's keys cannot be read: unreachable ``jwks_uri``, invalid JWK Set."""


class KeySource(Protocol):
    def find(self, kid: str | None, alg: str) -> Key | None:
        """The client's key for ``alg`` named ``kid``; None if it has none such."""


class StaticKeys:
    """Keys registered inline, parsed once."""

    def __init__(self, document: object):
        self._keys = signing_keys(document)

    def find(self, kid: str | None, alg: str) -> Key | None:
        return pick(self._keys, kid, alg)


class RemoteKeys:
    """A client's keys read from its ``jwks_uri``, as ``idp_bridge.shared.remote_jwks.RemoteKeySet``
    reads a provider's, but with the EC keys ES256 needs (that one holds RSA keys only).

    Fetched again after ``ttl``, or when an assertion names a key not in the set (the client
    rotated its keys), at most once per ``min_refetch_interval`` whatever the assertions say,
    failures included. A failed fetch keeps the keys already read until they are ``ttl`` old.
    """

    def __init__(
        self,
        fetch: Callable[[], object],
        *,
        ttl: float = 3600,
        min_refetch_interval: float = 60,
        clock: Callable[[], float] = time.time,
        label: str = "",
    ):
        self._fetch, self._ttl, self._min_interval = fetch, ttl, min_refetch_interval
        self._clock, self._label = clock, label
        self._keys: list[Key] | None = None
        self._loaded_at = self._tried_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0  # for tests and metrics

    def find(self, kid: str | None, alg: str) -> Key | None:
        """Raises :class:`KeysUnavailable` when no usable set could be read lately."""
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._loaded_at >= self._ttl:
                self._refresh(now)
            key = pick(self._keys or [], kid, alg)
            if key is None:
                self._refresh(now)
                key = pick(self._keys or [], kid, alg)
            if self._keys is None:
                raise KeysUnavailable("the client's JWK Set could not be read")
            return key

    def _refresh(self, now: float) -> None:
        if now - self._tried_at < self._min_interval:
            return
        self._tried_at = now
        self.fetches += 1
        try:
            self._keys, self._loaded_at = signing_keys(self._fetch()), now
        except KeysUnavailable as exc:
            logger.warning("client %s: keys at jwks_uri unusable: %s", self._label, exc)
            if now - self._loaded_at >= self._ttl:
                self._keys = None


def signing_keys(document: object) -> list[Key]:
    """The public RSA and P-256 signature keys of a JWK Set; other key types are ignored."""
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise KeysUnavailable("a JWK Set needs a list of keys")
    keys: list[Key] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        ops = entry.get("key_ops")
        if isinstance(ops, list) and "verify" not in ops:
            continue
        kty = entry.get("kty")
        if kty not in _KEY_FIELDS or (kty == "EC" and entry.get("crv") != "P-256"):
            continue
        keys.append(_public_key(kty, entry))
    if not keys:
        raise KeysUnavailable("no RSA or P-256 signature key")
    if len(keys) > MAX_KEYS:
        raise KeysUnavailable(f"more than {MAX_KEYS} signature keys")
    return keys


def _public_key(kty: str, entry: Mapping[str, Any]) -> Key:
    # Public members only: a private key published by mistake is used as its public half.
    public = {name: entry[name] for name in _KEY_FIELDS[kty] if name in entry}
    try:
        key = RSAKey.import_key(public) if kty == "RSA" else ECKey.import_key(public)
    except (JoseError, ValueError, TypeError) as exc:
        raise KeysUnavailable(f"invalid {kty} key: {exc.__class__.__name__}") from exc
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        raise KeysUnavailable(f"RSA keys need at least {MIN_RSA_BITS} bits")
    return key


def pick(keys: list[Key], kid: str | None, alg: str) -> Key | None:
    """The one key for ``alg`` named ``kid``; without a ``kid``, only when one key fits."""
    kty = ECKey if alg == "ES256" else RSAKey
    fits = [k for k in keys if isinstance(k, kty) and k.get("alg", alg) == alg]
    if kid is not None:
        fits = [k for k in fits if k.kid == kid]
    return fits[0] if len(fits) == 1 else None
