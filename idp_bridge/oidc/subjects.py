"""Subject identifiers (OpenID Connect Core 1.0 section 8): each user's public and pairwise
``sub`` values, and the way back from a ``sub`` to its user, in the database.

pyop keeps one mapping, user id -> ``{'public': sub, 'pairwise': [sub, ...]}``, and its
``AuthorizationState`` mishandles it in three ways (pyop 3.5.0 ``authz_state.py``):

- it finds the user of a ``sub`` by reading every record (line 352), on every authorization
  code, token exchange and userinfo request: here a reverse index, ``sub`` -> user id (the
  ``subject_users`` collection), answers in one read;
- asking for a public subject replaces the user's record by ``{'public': ...}`` (line 316),
  losing the pairwise subjects: here public and pairwise subjects coexist;
- ``if user_id not in ...: ... = {}`` (line 311) can wipe what another node has just written:
  here every change is a compare-and-swap, read again and made again when another node wrote
  first (:meth:`~idp_bridge.oidc.storage.DatabaseStorage.modify`), and a public subject, once
  stored, is kept (first writer wins, for factories that draw them at random).

Each ``sub`` is indexed before it is handed out, so a lookup of any ``sub`` a relying party
holds finds its user on every node. A ``sub`` already indexed for another user is refused,
never re-pointed: one person's tokens must never resolve to another.

That makes a ``sub``'s user, and a pairwise ``sub`` once recorded for its user, facts that
never change: each node keeps the ones it has seen in bounded caches (``SUBJECTS_KEPT``), so
the token endpoint does not read the index again for every grant. Nothing that may change
(a user's public subject, which pyop may set) is cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cachetools import LRUCache

from idp_bridge.oidc.storage import MODIFY_ATTEMPTS, DatabaseStorage, StaleRecordError

SUBJECT_IDENTIFIERS = "subject_identifiers"  # user id -> {"public": sub, "pairwise": [sub]}
SUBJECT_USERS = "subject_users"  # sub -> {"user_id": user id}
SUBJECTS_KEPT = 50_000  # per cache: a few MB at most


class SubjectCollisionError(ValueError):
    """A subject identifier already names another user."""


class SubjectIdentifierStorage(DatabaseStorage):
    """pyop's ``subject_identifiers`` mapping with its reverse index beside it.

    Setting a user's record (``storage[user_id] = {'public': sub}``, as pyop's ``Provider``
    does when the userinfo names a ``sub``) merges it into the stored one: a public subject
    given replaces the public one, pairwise subjects are added, and each is indexed.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        super().__init__(SUBJECT_IDENTIFIERS, clock=clock)
        self.index = DatabaseStorage(SUBJECT_USERS, clock=clock, write_once=True)
        self._users: LRUCache[str, str] = LRUCache(SUBJECTS_KEPT)  # sub -> user id, indexed
        self._pairwise: LRUCache[tuple[str, str], bool] = LRUCache(SUBJECTS_KEPT)  # recorded
        self._lock = threading.Lock()

    def __setitem__(self, user_id: str, value: Mapping[str, Any]) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"values must be mappings, got {type(value).__name__}")
        public, pairwise = value.get("public"), list(value.get("pairwise", ()))

        def merge(record):
            merged = dict(record)
            if public is not None:
                merged["public"] = public
            if pairwise:
                merged["pairwise"] = _union(record.get("pairwise", ()), pairwise)
            return None if merged == record else merged

        for sub in [public, *pairwise] if public is not None else pairwise:
            self._index(sub, user_id)
        self.modify(user_id, merge, create={})

    def user_for(self, sub: str) -> str | None:
        """The user whose subject ``sub`` is, or ``None``: one read of the index, once per
        ``sub`` on each node (an indexed ``sub`` never changes user)."""
        if not isinstance(sub, str):
            return None
        with self._lock:
            user_id = self._users.get(sub)
        if user_id is not None:
            return user_id
        record = self.index.get(sub)
        if record is None:
            return None
        with self._lock:
            self._users[sub] = record["user_id"]
        return record["user_id"]

    def public(self, user_id: str, create: Callable[[], str]) -> str:
        """The user's public subject: the one stored, else ``create()``'s. Of two nodes
        creating one at once, the first to store it wins and both return that one."""
        record = self.get(user_id)
        if record is not None and "public" in record:
            sub = record["public"]
        else:
            candidate = create()
            self._index(candidate, user_id)  # refused before anything is written
            stored = self.modify(
                user_id,
                lambda record: None if "public" in record else {**record, "public": candidate},
                create={},
            )
            sub = stored["public"]
        self._index(sub, user_id)
        return sub

    def add_pairwise(self, user_id: str, sub: str) -> None:
        """Record ``sub`` as one of the user's pairwise subjects (nothing to do when this
        node has recorded it and still knows its index entry: a recorded one stays)."""
        with self._lock:
            # Both caches: the index entry is what a code's grant checks next; one evicted
            # (or never seen, on a node that recorded the subject long ago) is read again.
            if self._pairwise.get((user_id, sub)) and self._users.get(sub) == user_id:
                return
        self._index(sub, user_id)

        def add(record):
            known = record.get("pairwise", [])
            return None if sub in known else {**record, "pairwise": [*known, sub]}

        self.modify(user_id, add, create={})
        with self._lock:
            self._pairwise[user_id, sub] = True

    def _index(self, sub: str, user_id: str) -> None:
        for _ in range(MODIFY_ATTEMPTS):
            owner = self.user_for(sub)
            if owner == user_id:
                return
            if owner is not None:
                raise SubjectCollisionError("subject identifier already names another user")
            if self.index.add(sub, {"user_id": user_id}):
                with self._lock:
                    self._users[sub] = user_id
                return
        raise StaleRecordError(f"{SUBJECT_USERS}: could not index a subject identifier")


def _union(known: Iterable[str], more: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*known, *more]))
