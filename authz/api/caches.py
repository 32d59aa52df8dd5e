"""The decision API's two short-lived caches of who is calling.

Relying parties call the decision API on their hot path, many times a second with the same
credentials: reading the client from the database and hashing its secret on every call would
cost more than the decision. Both caches forget after the same few seconds, so a client
disabled, or a secret rotated, is refused within that time on every node.
"""

from __future__ import annotations

import hashlib
import threading

from cachetools import TTLCache

from authz.clients import ClientCache, RegisteredClient

CLIENT_CACHE_SECONDS = 30.0
CLIENT_CACHE_SIZE = 1024

__all__ = ["CLIENT_CACHE_SECONDS", "CLIENT_CACHE_SIZE", "ClientCache", "CredentialCache"]


class CredentialCache:
    """The client an exact ``Authorization`` header was verified for in the last seconds.

    Keyed on a digest of the header: the cache keeps no secret, and a caller's repeated
    requests skip decoding and hashing what was checked already.
    """

    def __init__(self, ttl: float = CLIENT_CACHE_SECONDS, size: int = CLIENT_CACHE_SIZE):
        self._verified: TTLCache = TTLCache(size, ttl)
        self._lock = threading.Lock()

    def get(self, authorization: str) -> RegisteredClient | None:
        key = hashlib.sha256(authorization.encode()).digest()
        with self._lock:
            return self._verified.get(key)

    def remember(self, authorization: str, client: RegisteredClient) -> None:
        key = hashlib.sha256(authorization.encode()).digest()
        with self._lock:
            self._verified[key] = client
