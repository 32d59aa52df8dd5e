"""The login stores of ``idp_bridge.shared.stores`` in the database, shared by every node.

- :class:`DatabaseRequestStore` keeps pending logins in ``PendingLogin``; ``pop`` is one
  ``DELETE ... RETURNING``, so of two nodes receiving the same answer exactly one gets the row.
- :class:`DatabaseSeenStore` keeps used assertion ids in ``SeenAssertion``; ``add`` is one
  insert whose unique index on (upstream, assertion id) is the replay check.

Expired rows are removed by :func:`purge_expired`, which the stores run themselves now and
then (at most once a minute per process) when logins happen, and ``monespace worker`` on its
interval, so that an idle installation is cleaned too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from peewee import EXCLUDED, DatabaseError

from authz import db
from authz.tables import utcnow
from idp_bridge.models import LoginSession, PendingLogin, SeenAssertion
from idp_bridge.shared.stores import RequestStore, SeenStore

logger = logging.getLogger(__name__)

PURGE_INTERVAL = 60.0
# Ended or expired sessions stay a day: enough to answer "was this session live at 10:02?".
SESSION_RETENTION = timedelta(days=1)


def purge_expired(now: datetime | None = None) -> dict[str, int]:
    """Delete expired pending logins and seen assertions, and sessions over for a day.

    Returns the number of rows deleted per table.
    """
    now = now or utcnow()
    session_cutoff = now - SESSION_RETENTION
    with db.connection(), db.transaction():
        counts = {
            PendingLogin._meta.table_name: PendingLogin.delete()
            .where(PendingLogin.expires_at <= now)
            .execute(),
            SeenAssertion._meta.table_name: SeenAssertion.delete()
            .where(SeenAssertion.expires_at <= now)
            .execute(),
            LoginSession._meta.table_name: LoginSession.delete()
            .where(
                (LoginSession.ended_at <= session_cutoff)
                | (LoginSession.expires_at <= session_cutoff)
            )
            .execute(),
        }
    return counts


class PurgeSchedule:
    """When this process may purge next: at most once per ``interval`` seconds."""

    def __init__(
        self, interval: float = PURGE_INTERVAL, clock: Callable[[], float] = time.monotonic
    ):
        self.interval, self._clock = interval, clock
        self._next = float("-inf")
        self._lock = threading.Lock()

    def due(self) -> bool:
        """True once per interval: the caller that gets it does the purge."""
        with self._lock:
            now = self._clock()
            if now < self._next:
                return False
            self._next = now + self.interval
            return True


_schedule = PurgeSchedule()


def _purge_if_due(now: datetime) -> None:
    if not _schedule.due():
        return
    try:
        # purge_expired runs in a savepoint when the caller has a transaction open: a failed
        # purge leaves that transaction usable.
        counts = purge_expired(now)
    except DatabaseError as exc:
        # Housekeeping only: the login goes on, the next purge takes these rows.
        logger.warning("purge of expired login state failed: %s", exc)
        return
    if any(counts.values()):
        logger.debug("purged expired login state: %s", counts)


def _as_datetime(unix_time: float) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC).replace(tzinfo=None)


def _fit(key: str, max_length: int) -> str:
    """``key`` itself when it fits its column, else its SHA-256 (64 hex characters)."""
    if len(key) <= max_length:
        return key
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _check_label(name: str, value: str, max_length: int) -> None:
    if not value or len(value) > max_length:
        raise ValueError(f"{name} must be 1 to {max_length} characters, got {value!r}")


class DatabaseRequestStore(RequestStore):
    """Pending logins of one ``kind`` ("saml", "itsme"...), in ``PendingLogin``."""

    def __init__(self, kind: str, clock: Callable[[], float] = time.time):
        _check_label("kind", kind, PendingLogin.kind.max_length)
        self.kind, self._clock = kind, clock

    def put(self, key: str, value: Mapping[str, str], ttl: float) -> None:
        now = self._clock()
        row = {
            "key": _fit(key, PendingLogin.key.max_length),
            "kind": self.kind,
            "value": json.dumps(dict(value)),
            "created_at": PendingLogin.created_at.db_value(_as_datetime(now)),
            "expires_at": PendingLogin.expires_at.db_value(_as_datetime(now + ttl)),
        }
        with db.connection():
            _purge_if_due(_as_datetime(now))
            # One statement: two puts of the same key race to the last write, not to an error.
            db.execute_built(("pending_login", "put"), _put_statement, row)

    def pop(self, key: str) -> dict[str, str] | None:
        with db.connection():
            # The delete is the claim: of concurrent callers, one deletes the row, the others
            # find nothing. An expired row is deleted too, and worth nothing.
            values = {"key": _fit(key, PendingLogin.key.max_length), "kind": self.kind}
            found = db.execute_built(("pending_login", "pop"), _pop_statement, values)
            rows = [
                {"value": value, "expires_at": PendingLogin.expires_at.python_value(expires_at)}
                for value, expires_at in found.fetchall()
            ]
        if not rows or rows[0]["expires_at"] <= _as_datetime(self._clock()):
            return None
        return json.loads(rows[0]["value"])

    def peek(self, key: str) -> dict[str, str] | None:
        values = {
            "key": _fit(key, PendingLogin.key.max_length),
            "kind": self.kind,
            "now": PendingLogin.expires_at.db_value(_as_datetime(self._clock())),
        }
        with db.connection():
            row = db.execute_built(("pending_login", "peek"), _peek_statement, values).fetchone()
        return json.loads(row[0]) if row is not None else None


# The statements of the pending logins, built once per kind of database and prepared on
# PostgreSQL (authz.db.execute_built): every login puts, reads and takes two.
def _put_statement(param):
    columns = ("key", "kind", "value", "created_at", "expires_at")
    return PendingLogin.insert({getattr(PendingLogin, c): param(c) for c in columns}).on_conflict(
        conflict_target=[PendingLogin.key],
        update={getattr(PendingLogin, c): getattr(EXCLUDED, c) for c in columns[1:]},
    )


def _pop_statement(param):
    return (
        PendingLogin.delete()
        .where((PendingLogin.key == param("key")) & (PendingLogin.kind == param("kind")))
        .returning(PendingLogin.value, PendingLogin.expires_at)
    )


def _peek_statement(param):
    return PendingLogin.select(PendingLogin.value).where(
        (PendingLogin.key == param("key"))
        & (PendingLogin.kind == param("kind"))
        & (PendingLogin.expires_at > param("now"))
    )


class DatabaseSeenStore(SeenStore):
    """Assertion ids already used from one ``upstream``, in ``SeenAssertion``."""

    def __init__(self, upstream: str, clock: Callable[[], float] = time.time):
        _check_label("upstream", upstream, SeenAssertion.upstream.max_length)
        self.upstream, self._clock = upstream, clock

    def add(self, key: str, expires_at: float) -> bool:
        now = _as_datetime(self._clock())
        with db.connection():
            _purge_if_due(now)
            # The unique index decides: the insert happens, or it meets the row already there
            # and takes it over only if that row has expired (the purge has not run yet). A
            # returned row means the key was new. One statement, raising no IntegrityError
            # (ON CONFLICT): no savepoint needed for the caller's transaction to go on.
            values = {
                "upstream": self.upstream,
                "assertion_id": _fit(key, SeenAssertion.assertion_id.max_length),
                "expires_at": SeenAssertion.expires_at.db_value(_as_datetime(expires_at)),
                "now": SeenAssertion.expires_at.db_value(now),
            }
            statement = db.execute_built(("seen_assertion", "add"), _seen_statement, values)
            inserted = statement.fetchall()
        return bool(inserted)


def _seen_statement(param):
    return (
        SeenAssertion.insert(
            upstream=param("upstream"),
            assertion_id=param("assertion_id"),
            expires_at=param("expires_at"),
        )
        .on_conflict(
            conflict_target=[SeenAssertion.upstream, SeenAssertion.assertion_id],
            update={SeenAssertion.expires_at: EXCLUDED.expires_at},
            where=SeenAssertion.expires_at <= param("now"),
        )
        .returning(SeenAssertion.id)
    )
