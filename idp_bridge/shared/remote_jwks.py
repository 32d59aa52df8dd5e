"""A provider's JWK Set (RFC 7517 section 5), fetched from its ``jwks_uri`` and cached.

Providers rotate keys by publishing a new one and signing with it: a token whose ``kid`` is
not in the cached set makes us fetch the set again, once. Fetches are bounded: at most one per
``min_refetch_interval`` seconds whatever the tokens say, so a stream of tokens with invented
``kid`` values cannot make us hammer the provider (or ourselves).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from idp_bridge.shared import nested_jwt
from idp_bridge.shared.nested_jwt import KeySet, RSAKey


class RemoteKeySet:
    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        *,
        ttl: float = 3600,
        min_refetch_interval: float = 60,
        max_keys: int = 16,
        clock: Callable[[], float] = time.time,
    ):
        self._fetch, self._ttl, self._min_interval = fetch, ttl, min_refetch_interval
        self._max_keys, self._clock = max_keys, clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the set was fetched (for tests and metrics)

    def signing_key(self, kid: str | None) -> RSAKey | None:
        """The provider's signature key ``kid``; fetched again once if it is not known."""
        return self._find("sig", kid)

    def encryption_key(self) -> RSAKey | None:
        """The provider's one encryption key."""
        return self._find("enc", None)

    def _find(self, use: str, kid: str | None) -> RSAKey | None:
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self._ttl:
                self._refresh(now)
            key = nested_jwt.pick_key(self._keys, use, kid)
            if key is None and now - self._fetched_at >= self._min_interval:
                self._refresh(now)
                key = nested_jwt.pick_key(self._keys, use, kid)
            return key

    def _refresh(self, now: float) -> None:
        # Dated even when the fetch fails: an unknown kid does not retry a failing provider at once.
        self._fetched_at = now
        self.fetches += 1
        self._keys = nested_jwt.key_set(self._fetch(), self._max_keys)
