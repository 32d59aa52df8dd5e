"""Short-lived login state shared by every node: requests awaiting an answer, answers already used.

Two small interfaces, so that a database implementation is one class each:

- ``RequestStore``: what a login started (``put``), taken back exactly once by whichever node
  receives the answer (``pop``), forgotten after its time to live.
- ``SeenStore``: identifiers of single-use messages (SAML assertion IDs, ...) recorded until the
  message would expire anyway; ``add`` says whether the identifier was new.

Both operations must be atomic across nodes: ``pop`` is ``DELETE ... RETURNING`` (or a select
then a delete that must remove one row), ``add`` is an insert that fails on the primary key.
The in-memory implementations here serve one process (the demo, the tests).
"""

from __future__ import annotations

import heapq
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping


class StoreFull(Exception):
    """The store cannot record one more entry without forgetting one that still matters."""


class RequestStore(ABC):
    @abstractmethod
    def put(self, key: str, value: Mapping[str, str], ttl: float) -> None:
        """Remember ``value`` under ``key`` for ``ttl`` seconds."""

    @abstractmethod
    def pop(self, key: str) -> dict[str, str] | None:
        """Remove and return the value under ``key``; None if unknown, expired or already taken."""

    @abstractmethod
    def peek(self, key: str) -> dict[str, str] | None:
        """The value under ``key``, left in place; None if unknown, expired or already taken."""


class SeenStore(ABC):
    @abstractmethod
    def add(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until ``expires_at`` (Unix time); False if it is already recorded."""


class MemoryRequestStore(RequestStore):
    """Bounded: past ``max_entries`` the oldest request is forgotten (its login must restart)."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.time):
        self._entries: OrderedDict[str, tuple[float, dict[str, str]]] = OrderedDict()
        self._max, self._clock = max_entries, clock
        self._lock = threading.Lock()

    def put(self, key: str, value: Mapping[str, str], ttl: float) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + ttl, dict(value))
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def pop(self, key: str) -> dict[str, str] | None:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def peek(self, key: str) -> dict[str, str] | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return dict(entry[1])

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class MemorySeenStore(SeenStore):
    """Bounded: when full of unexpired entries it refuses new ones (``StoreFull``) rather than
    forget one, since forgetting an identifier early would let its message be replayed."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time):
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._max, self._clock = max_entries, clock
        self._lock = threading.Lock()

    def add(self, key: str, expires_at: float) -> bool:
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._expiry:
                return False
            if len(self._expiry) >= self._max:
                raise StoreFull(f"{len(self._expiry)} single-use identifiers still valid")
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return True

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)
