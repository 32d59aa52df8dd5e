"""Rate limits on the forms that reach other people: role requests and invitations.

Each of these forms sends an email to someone else, so a person (or a stolen session) could
flood a GAP or any address with them. ``hit(kind, person)`` counts one submission and raises
:class:`TooMany` past the configured rate (``role_request_limit``, ``invitation_limit``),
counted per person in a moving window by the ``limits`` library. The counters live in
``rate_limit_storage``: ``memory://`` counts per worker process (the demo; the limit is then
per worker), ``redis://`` shares them between workers and hosts. A failed submission counts
too: guessing BCE numbers or addresses is what the limit is for. No Flask here except for the
configuration read from the current app.
"""

from __future__ import annotations

import threading
import time

import limits
from flask import current_app

ROLE_REQUEST, INVITATION = "role_request", "invitation"
_SETTING = {ROLE_REQUEST: "role_request_limit", INVITATION: "invitation_limit"}

_lock = threading.Lock()
_limiters: dict[str, limits.strategies.RateLimiter] = {}


class TooMany(Exception):
    """Too many submissions; ``retry_after`` is how many seconds until the next one counts."""

    def __init__(self, retry_after: int):
        super().__init__(f"rate limit reached, retry in {retry_after} s")
        self.retry_after = retry_after


def _limiter(storage_uri: str) -> limits.strategies.RateLimiter:
    with _lock:
        limiter = _limiters.get(storage_uri)
        if limiter is None:
            storage = limits.storage.storage_from_string(storage_uri)
            limiter = _limiters[storage_uri] = limits.strategies.MovingWindowRateLimiter(storage)
        return limiter


def hit(kind: str, person_id: int) -> None:
    """Count one submission of ``kind`` by the person; raise TooMany past the limit."""
    config = current_app.config["MONESPACE"]
    rate = limits.parse(getattr(config, _SETTING[kind]))
    limiter = _limiter(config.rate_limit_storage)
    key = ("monespace", kind, str(person_id))
    if not limiter.hit(rate, *key):
        reset_at, _remaining = limiter.get_window_stats(rate, *key)
        raise TooMany(max(1, int(reset_at - time.time()) + 1))


def reset() -> None:
    """Forget every counter of this process (tests)."""
    with _lock:
        for limiter in _limiters.values():
            limiter.storage.reset()
