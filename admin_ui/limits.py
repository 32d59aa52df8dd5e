"""Rate limits on the forms that reach other people: role requests and invitations.

Each of these forms sends an email to someone else, so a person (or a stolen session) could
flood a GAP or any address with them. ``hit(kind, person)`` counts one submission and raises
:class:`TooMany` past the configured rate (``role_request_limit``, ``invitation_limit``),
counted per person in a moving window by the ``limits`` library. The counters live in
``rate_limit_storage``: ``memory://`` counts per worker process (the demo; the limit is then
per worker, and production refuses it with more than one worker:
:func:`monespace.config.check_workers`), ``redis://`` shares them between workers and hosts,
under ``rate_limit_key_prefix`` (the ``redis`` client comes with the ``limits[redis]``
dependency). A failed submission counts too: guessing BCE numbers or addresses is what the
limit is for. No Flask here except for the configuration read from the current app.

The storage is checked when the app starts (:func:`check_storage`). A Redis that stops
answering later fails closed: the limited forms answer 503 (``ServiceUnavailable``, never
500) until it answers again, since an uncounted form is an unlimited flood of email to other
people; nothing else in the service needs Redis, so every other page and endpoint goes on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import limits
from flask import current_app
from limits.errors import ConfigurationError, StorageError
from werkzeug.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

ROLE_REQUEST, INVITATION = "role_request", "invitation"
_SETTING = {ROLE_REQUEST: "role_request_limit", INVITATION: "invitation_limit"}

# Seconds to connect to Redis and for each command: a silent Redis must not hold a request.
REDIS_TIMEOUT = 2.0
KEY_PREFIX = "monespace-limits"

_lock = threading.Lock()
_limiters: dict[tuple[str, str], limits.strategies.RateLimiter] = {}


class TooMany(Exception):
    """Too many submissions; ``retry_after`` is how many seconds until the next one counts."""

    def __init__(self, retry_after: int):
        super().__init__(f"rate limit reached, retry in {retry_after} s")
        self.retry_after = retry_after


def _limiter(storage_uri: str, key_prefix: str = KEY_PREFIX) -> limits.strategies.RateLimiter:
    with _lock:
        limiter = _limiters.get((storage_uri, key_prefix))
        if limiter is None:
            options = {}
            if not storage_uri.startswith("memory://"):
                options = {
                    "key_prefix": key_prefix,
                    "wrap_exceptions": True,  # limits.errors.StorageError, whatever the client
                    "socket_connect_timeout": REDIS_TIMEOUT,
                    "socket_timeout": REDIS_TIMEOUT,
                }
            storage = limits.storage.storage_from_string(storage_uri, **options)
            limiter = limits.strategies.MovingWindowRateLimiter(storage)
            _limiters[(storage_uri, key_prefix)] = limiter
        return limiter


def hit(kind: str, person_id: int) -> None:
    """Count one submission of ``kind`` by the person; raise TooMany past the limit."""
    config = current_app.config["MONESPACE"]
    rate = limits.parse(getattr(config, _SETTING[kind]))
    limiter = _limiter(config.rate_limit_storage, config.rate_limit_key_prefix)
    key = ("monespace", kind, str(person_id))
    try:
        if not limiter.hit(rate, *key):
            reset_at, _remaining = limiter.get_window_stats(rate, *key)
            raise TooMany(max(1, int(reset_at - time.time()) + 1))
    except StorageError as exc:
        logger.error("rate limits: the counters' storage does not answer: %s", exc.storage_error)
        raise ServiceUnavailable() from exc


def check_storage(storage_uri: str, key_prefix: str = KEY_PREFIX) -> str | None:
    """Why the counters cannot be kept at ``storage_uri`` (its client library missing, its
    server not answering), or None when they can."""
    try:
        limiter = _limiter(storage_uri, key_prefix)
    except ConfigurationError as exc:
        return str(exc)
    if not limiter.storage.check():
        return "the server does not answer"
    return None


def reset() -> None:
    """Forget every counter of this process (tests)."""
    with _lock:
        for limiter in _limiters.values():
            # A server gone since keeps nothing of this process to forget.
            with contextlib.suppress(StorageError):
                limiter.storage.reset()
        _limiters.clear()
