"""What a process keeps of rows that change only by an announced write, until one is announced.

Some rows are read on every request of a relying party and almost never change: a token
record (written once, then only removed), a person's names and language. Each process may
keep them, provided every write that ends their validity announces itself at commit
(:func:`authz.epochs.revoked`): every process's epoch tracker then moves its ``revocations``
count, and a :class:`KeptUntilRevoked` drops everything it keeps when it sees the count move
(this process at once, the others when the notification arrives, within the tracker's bound).

Nothing is kept, nor served from what is kept, while the tracker is unhealthy (its listener,
which hears of writes made elsewhere, is down) or when there is none. Only values found are
kept, never an absence. At most ``maxsize`` entries, the least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

from authz.epochs import EpochTracker

V = TypeVar("V")


class KeptUntilRevoked(Generic[V]):
    """Values by key, kept until a revocation is announced to ``tracker()`` (the process's
    epoch tracker, started; None: nothing is kept)."""

    def __init__(self, tracker: Callable[[], EpochTracker | None], maxsize: int) -> None:
        self._tracker = tracker
        self._entries: LRUCache = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self._revocations: int | None = None  # the tracker's count the entries were read at
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def maxsize(self) -> int:
        return int(self._entries.maxsize)

    def read(
        self,
        key: Any,
        fetch: Callable[[], V | None],
        usable: Callable[[V], bool] = lambda _value: True,
    ) -> V | None:
        """The value kept under ``key`` if ``usable`` (say, not expired), else ``fetch()``'s
        (kept if not None, and if no revocation was announced meanwhile)."""
        tracker = self._tracker()
        if tracker is None:
            return fetch()
        tracker.refresh()  # SQLite: another connection's commit moves the count
        if not tracker.healthy:
            return fetch()
        count = tracker.revocations
        with self._lock:
            if count != self._revocations:
                self._entries.clear()
                self._revocations = count
            value = self._entries.get(key)
        if value is not None and usable(value):
            self.hits += 1
            return value
        self.misses += 1
        value = fetch()
        if value is not None:
            # A revocation committed while the value was read moved the count (at once here,
            # on SQLite at this refresh, elsewhere when its notification arrives, and then
            # these entries go with the others): a value read before it is not kept.
            tracker.refresh()
            with self._lock:
                if tracker.healthy and tracker.revocations == count == self._revocations:
                    self._entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
