"""pyop's storage in the database, so that any node can finish a flow another node started.

:class:`DatabaseStorage` is the mapping pyop needs (``pyop.storage.StorageBase``: ``in``,
``[]``, ``[] =``, ``del``, ``pop(key, default)``, ``items()``) over ``ProviderState``, one
collection per mapping, values as JSON text, rows forgotten after ``ttl`` seconds. Records
write themselves back (:class:`StoredRecord`), every write-back is a compare-and-swap, and
:meth:`DatabaseStorage.add`, :meth:`DatabaseStorage.compare_and_set`,
:meth:`DatabaseStorage.modify`, :meth:`DatabaseStorage.consume` and
:meth:`DatabaseStorage.consume_code` are single statements
that only one of concurrent callers can win. Which habits of pyop each guards against:
docs/security.md, "pyop's storage".

A request that reads the same records several times (pyop's ``Provider`` reads an
authorization code four times to redeem it) can read each once: inside
:func:`reads_remembered`, a record read or written is remembered for the rest of the block.
That is safe where every decision taken on such a read is confirmed by a compare-and-swap on
the text read (a record changed meanwhile fails the swap and is read again), which is what
the token endpoint's grants do. :func:`written_together` makes several writes one transaction:
one commit instead of one per statement, and none of them if any fails.

Only top-level item changes are written back: a change inside a nested dict or list (which
pyop never makes) is not seen. Keys longer than the column are stored as their SHA-256, so
``items()`` yields those keys hashed.

Revocations reach every process's caches from here: every row removed by :meth:`DatabaseStorage.pop`
(a revocation, a logout, a replay revoking a family, whatever the caller) calls
``authz.epochs.revoked`` in the deleting transaction, so at commit every process drops the
records it keeps (``idp_bridge.oidc.token_reads.RecordCache``). Only the collections made
``write_once`` may be kept: their rows are inserted, then only removed (or left to expire);
changing a live row in place is refused (:class:`StaleRecordError`), so a removal is the only
change a kept record can miss. The purge deletes rows already expired, which no cache serves
(their expiry is checked at every use): it announces nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from peewee import EXCLUDED, DatabaseError
from pyop.storage import StorageBase

from authz import db, epochs
from idp_bridge.oidc.models import ProviderState
from idp_bridge.shared.db_stores import PurgeSchedule

logger = logging.getLogger(__name__)

PURGE_BATCH = 1000  # rows deleted per purge: bounded work on the request that runs it
ITEMS_PAGE = 200  # rows read per query by items(): pyop often stops at the first match
CONSUME_ATTEMPTS = 3
MODIFY_ATTEMPTS = 10  # each failed attempt means another writer succeeded

_MISSING = object()


class StaleRecordError(RuntimeError):
    """A record changed (or expired, or was deleted) in the database since it was read: the
    change made to it was not written."""


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _as_datetime(unix_time: float) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC).replace(tzinfo=None)


def _visible(now: datetime):
    return ProviderState.expires_at.is_null() | (ProviderState.expires_at > now)


def _execute(shape: tuple, build: Callable[[Callable[[str], str]], Any], values: dict[str, Any]):
    """The statements of the grants' hot paths (a record read, its compare-and-swap, tokens
    stored), built once per shape (:func:`authz.db.execute_built`). Values of ``expires_at``
    are given as datetimes or None, as peewee would send them."""
    return db.execute_built(("oidc_state", *shape), build, values)


def _add_statement(marker: Callable[[str], str]):
    """A record set under a key with no live value (none, or an expired row not yet purged)."""
    return (
        ProviderState.insert(
            collection=marker("c"), key=marker("k"), value=marker("v"), expires_at=marker("exp")
        )
        .on_conflict(
            conflict_target=[ProviderState.collection, ProviderState.key],
            update={
                ProviderState.value: EXCLUDED.value,
                ProviderState.expires_at: EXCLUDED.expires_at,
            },
            # Only over a row that has expired (invisible, not yet purged).
            where=ProviderState.expires_at <= marker("now"),
        )
        .returning(ProviderState.id)
    )


def _db_time(value: datetime | None) -> Any:
    return None if value is None else ProviderState.expires_at.db_value(value)


# (collection, stored key) -> the row's value as last read or written in this block, or None
# when it has no live value; unset outside reads_remembered().
_remembered: ContextVar[dict[tuple[str, str], str | None] | None] = ContextVar(
    "monespace_oidc_remembered_reads", default=None
)


@contextmanager
def reads_remembered() -> Iterator[None]:
    """Within the block, each record is read from the database at most once: a read after a
    read or a write of the same key answers what was read or written. A compare-and-swap that
    fails forgets the record, so the next read fetches it again. Only for blocks whose every
    decision on a read is confirmed by a compare-and-swap of the same text."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def _remember(collection: str, stored_key: str, text: str | None) -> None:
    memo = _remembered.get()
    if memo is not None:
        memo[collection, stored_key] = text


def _forget(collection: str, stored_key: str) -> None:
    memo = _remembered.get()
    if memo is not None:
        memo.pop((collection, stored_key), None)


@contextmanager
def written_together() -> Iterator[None]:
    """The writes of the block are one transaction (a savepoint inside another one): they
    are committed together, once, or not at all when the block raises. What the block
    remembered (:func:`reads_remembered`) is forgotten when it fails: its writes were undone,
    and what it read may have changed since."""
    try:
        with db.connection(), db.transaction():
            yield
    except BaseException:
        memo = _remembered.get()
        if memo is not None:
            memo.clear()
        raise


def store_all(values: Iterable[tuple[DatabaseStorage, str, Mapping[str, Any]]]) -> None:
    """Set each ``(storage, key, value)`` as ``storage[key] = value`` does, in one statement."""
    rows, now, values_seen = [], None, list(values)
    for storage, key, value in values_seen:
        if not isinstance(value, Mapping):
            raise TypeError(f"values must be mappings, got {type(value).__name__}")
        now = storage._clock()
        rows.append((storage.collection, storage._key(key), _dumps(value), storage._expiry(now)))
    if now is None:
        return
    once = tuple(sorted({s.collection for s, _key, _value in values_seen if s.write_once}))
    with db.connection():
        _purge_if_due(_as_datetime(now))
        stored = _store(rows, once, _as_datetime(now))
    if once and stored != len(rows):
        for collection, stored_key, _text, _expires_at in rows:
            _forget(collection, stored_key)
        raise StaleRecordError(f"a live record of {', '.join(once)} cannot be replaced")
    for collection, stored_key, text, _expires_at in rows:
        _remember(collection, stored_key, text)


def swap_then_store(
    swaps: Sequence[tuple[DatabaseStorage, str, StoredRecord, Mapping[str, Any], bool]],
    values: Iterable[tuple[DatabaseStorage, str, Mapping[str, Any]]],
) -> bool:
    """PostgreSQL, in one statement (one round trip, one commit): the compare-and-swaps
    ``swaps`` (``(storage, key, record read from it, new value, renew)``: the new value
    written if the row still holds the record; ``renew`` restarts its time to live), in order,
    each made only if the one before it was; then the ``values`` (as :func:`store_all`), only
    if every swap was made. Return whether every swap was made.

    When one was not (its row changed since it was read), no value is stored and no swap
    after it is made, but the ones before it are: the caller orders its swaps so that a first
    part made alone changes nothing that matters (the token grants swap the token family,
    listing the new tokens, before the code or refresh token they spend: a family may then list
    a token that was never stored, which its expiry drops), and goes on as it would have
    without this statement. Outside a transaction only (one of its own)."""
    values = list(values)
    if not swaps or not db.is_postgresql() or db.database.in_transaction():
        raise ValueError("swap_then_store needs swaps, PostgreSQL, and no transaction under way")
    now = swaps[0][0]._clock()
    params: list[Any] = []
    checked: list[tuple[str, str, str]] = []
    for storage, key, expected, value, renew in swaps:
        stored_key = storage._key(key)
        if storage.write_once:
            raise StaleRecordError(f"{storage.collection} records are never changed in place")
        if not storage._read_here(expected, stored_key):
            raise ValueError(f"expected must be the record of {key!r} read from {storage!r}")
        text = _dumps(value)
        checked.append((storage.collection, stored_key, text))
        params += [text, *([_db_time(storage._expiry(now))] if renew else [])]
        params += [storage.collection, stored_key, expected._text, _db_time(_as_datetime(now))]
    rows = []
    for storage, key, value in values:
        if not isinstance(value, Mapping):
            raise TypeError(f"values must be mappings, got {type(value).__name__}")
        rows.append((storage.collection, storage._key(key), _dumps(value), storage._expiry(now)))
        params += [rows[-1][0], rows[-1][1], rows[-1][2], _db_time(rows[-1][3])]
    once = tuple(sorted({s.collection for s, _key, _value in values if s.write_once}))
    if rows and once:
        params += [_db_time(_as_datetime(now)), *once]
    renewed = tuple(renew for *_rest, renew in swaps)
    sql = _swap_then_store_sql(renewed, len(rows), len(once))
    with db.connection():
        _purge_if_due(_as_datetime(now))
        shape = ("oidc_state", "swap_then_store", renewed, len(rows), len(once))
        made = db.execute_prepared(shape, sql, params).fetchone()
    if not all(count == 1 for count in made[: len(swaps)]):
        for collection, stored_key, _text in checked:
            _forget(collection, stored_key)
        return False
    if rows and made[-1] != len(rows):  # a live write-once row of the same key: never seen
        # Unlike the general path's transaction, the swaps are made: nothing read stays.
        for collection, stored_key, _text in checked:
            _forget(collection, stored_key)
        raise StaleRecordError(f"a live record of {', '.join(once)} cannot be replaced")
    for collection, stored_key, text in checked:
        _remember(collection, stored_key, text)
    for collection, stored_key, text, _expires_at in rows:
        _remember(collection, stored_key, text)
    return True


def _swap_then_store_sql(renewed: tuple[bool, ...], rows: int, once: int) -> str:
    """:func:`swap_then_store`'s statement: data-modifying CTEs chained by ``EXISTS``, a swap
    ``swapN`` per element of ``renewed`` (whether it sets ``expires_at`` too), then ``rows``
    rows stored (``once``: write-once collections named), and the count of each. Its text
    holds only these names and counts; every value is a parameter."""
    parts = []
    for n, renew in enumerate(renewed):
        sets = '"value" = %s' + (', "expires_at" = %s' if renew else "")
        after = f" AND EXISTS (SELECT 1 FROM swap{n - 1})" if n else ""  # noqa: S608
        parts.append(
            f'swap{n} AS (UPDATE "oidc_state" SET {sets} WHERE "collection" = %s AND "key" = %s'  # noqa: S608
            ' AND "value" = %s AND ("expires_at" IS NULL OR "expires_at" > %s)'
            f"{after} RETURNING 1)"
        )
    counts = [f"(SELECT count(*) FROM swap{n})" for n in range(len(renewed))]  # noqa: S608
    if rows:
        tuples = ", ".join(["(%s, %s, %s, %s::timestamp)"] * rows)
        last = f"swap{len(renewed) - 1}"
        kept = ", ".join(["%s"] * once)
        live_kept = (
            f' WHERE "oidc_state"."expires_at" <= %s OR "oidc_state"."collection" NOT IN ({kept})'
        )
        parts.append(
            'stored AS (INSERT INTO "oidc_state" ("collection", "key", "value", "expires_at")'  # noqa: S608
            f" SELECT * FROM (VALUES {tuples}) AS v WHERE EXISTS (SELECT 1 FROM {last})"
            ' ON CONFLICT ("collection", "key") DO UPDATE SET "value" = EXCLUDED."value",'
            f' "expires_at" = EXCLUDED."expires_at"{live_kept if once else ""} RETURNING 1)'
        )
        counts.append("(SELECT count(*) FROM stored)")
    return f"WITH {', '.join(parts)} SELECT {', '.join(counts)}"


def _store(
    rows: list[tuple[str, str, str, datetime | None]],
    once: tuple[str, ...] = (),
    now: datetime | None = None,
) -> int | None:
    """``INSERT`` (collection, key, value, expires_at) rows, each replacing the row of its key,
    except a live row of the write-once collections ``once`` (given ``now``), which is left as
    it is; with ``once``, return how many rows were written."""

    def build(marker: Callable[[str], str]):
        query = ProviderState.insert_many(
            [
                {
                    ProviderState.collection: marker(f"c{n}"),
                    ProviderState.key: marker(f"k{n}"),
                    ProviderState.value: marker(f"v{n}"),
                    ProviderState.expires_at: marker(f"e{n}"),
                }
                for n in range(len(rows))
            ]
        ).on_conflict(
            conflict_target=[ProviderState.collection, ProviderState.key],
            update={
                ProviderState.value: EXCLUDED.value,
                ProviderState.expires_at: EXCLUDED.expires_at,
            },
            # A live row of a write-once collection is never overwritten (module docstring).
            where=(
                (ProviderState.expires_at <= marker("now"))
                | ProviderState.collection.not_in([marker(f"o{n}") for n in range(len(once))])
            )
            if once
            else None,
        )
        return query.returning(ProviderState.id) if once else query

    values: dict[str, Any] = {}
    for n, (collection, stored_key, text, expires_at) in enumerate(rows):
        values.update(
            {f"c{n}": collection, f"k{n}": stored_key, f"v{n}": text, f"e{n}": _db_time(expires_at)}
        )
    if not once:
        _execute(("store", len(rows)), build, values)
        return None
    values["now"] = _db_time(now)
    values.update({f"o{n}": collection for n, collection in enumerate(once)})
    return len(_execute(("store", len(rows), len(once)), build, values).fetchall())


_LINKED_FIELD = re.compile(r"[a-z_]{1,32}")


def _linked_statement(field: str, values: dict[str, Any]):
    """Run :meth:`DatabaseStorage.read_linked`'s statement: the record (``c``, ``k``), the
    value of its JSON ``field``, and the live record of collection ``lc`` under that key
    (``now``); the cursor."""
    if not _LINKED_FIELD.fullmatch(field):
        raise ValueError(f"not a field name: {field!r}")
    p = db.database.param
    if db.is_postgresql():
        link = f"(r.\"value\"::json ->> '{field}')"
    else:
        link = f"json_extract(r.\"value\", '$.{field}')"
    visible = '("{0}"."expires_at" IS NULL OR "{0}"."expires_at" > {1})'
    sql = (
        f'SELECT r."value", {link}, l."value" FROM "oidc_state" AS r'  # noqa: S608
        f' LEFT JOIN "oidc_state" AS l ON l."collection" = {p} AND l."key" = {link}'
        f" AND {visible.format('l', p)}"
        f' WHERE r."collection" = {p} AND r."key" = {p} AND {visible.format("r", p)}'
    )
    params = [values["lc"], values["now"], values["c"], values["k"], values["now"]]
    if db.is_postgresql():
        return db.execute_prepared(("oidc_state", "read_linked", field), sql, params)
    return db.database.execute_sql(sql, params)


_schedule = PurgeSchedule()  # this table's own schedule, same rule as the login stores'


def purge_expired(now: datetime, limit: int | None = None) -> int:
    """Delete at most ``limit`` (default ``PURGE_BATCH``) expired rows of every collection;
    return how many."""
    limit = PURGE_BATCH if limit is None else limit
    oldest = (
        ProviderState.select(ProviderState.id)
        .where(ProviderState.expires_at <= now)
        .order_by(ProviderState.expires_at)
        .limit(limit)
    )
    with db.connection(), db.transaction():
        return ProviderState.delete().where(ProviderState.id.in_(oldest)).execute()


def _purge_if_due(now: datetime) -> None:
    if not _schedule.due():
        return
    try:
        count = purge_expired(now)
    except DatabaseError as exc:
        # Housekeeping only: expired rows are invisible anyway, the next purge takes them.
        logger.warning("purge of expired OpenID provider state failed: %s", exc)
        return
    if count:
        logger.debug("purged %d expired OpenID provider state rows", count)


class StoredRecord(dict):
    """A value read from a :class:`DatabaseStorage`: setting or removing one of its items
    writes the whole record back, if the row still holds what was read (else
    :class:`StaleRecordError`, and the record is left as it was). Copies are plain dicts."""

    def __init__(self, storage: DatabaseStorage, key: str, text: str):
        super().__init__(json.loads(text))
        self._storage, self._key, self._text = storage, key, text

    def _edit(self, method: str, *args):
        before = dict(self)
        result = getattr(dict, method)(self, *args)
        try:
            self.save()
        except BaseException:
            dict.clear(self)
            dict.update(self, before)
            raise
        return result

    def save(self) -> None:
        """Write the record back; nothing to do when it is unchanged."""
        text = _dumps(self)
        if text != self._text:
            self._text = self._storage._swap(self._key, self._text, text)

    def __setitem__(self, key, value):
        self._edit("__setitem__", key, value)

    def __delitem__(self, key):
        self._edit("__delitem__", key)

    def __ior__(self, other):
        self._edit("update", other)
        return self

    def pop(self, *args):
        return self._edit("pop", *args)

    def popitem(self):
        return self._edit("popitem")

    def setdefault(self, key, default=None):
        return self._edit("setdefault", key, default)

    def update(self, *args, **kwargs):
        self._edit("update", dict(*args, **kwargs))

    def clear(self):
        self._edit("clear")

    def __reduce__(self):
        return dict, (dict(self),)


class DatabaseStorage(StorageBase):
    """One of pyop's mappings (``collection``: "codes", "access_tokens"...) in ``ProviderState``.

    ``ttl``: seconds a value lives after it is set (``None``: until deleted). Setting a key
    starts its time again; editing a record read from the storage does not. Expired rows are
    invisible and purged now and then, at most once a minute per process.

    ``write_once``: a live row is never changed, only removed (setting a key that has a live
    value, editing or swapping a record raise :class:`StaleRecordError`), so that its records
    may be kept by every process until a removal is announced (module docstring).
    """

    def __init__(
        self,
        collection: str,
        ttl: int | None = None,
        clock: Callable[[], float] = time.time,
        *,
        write_once: bool = False,
    ):
        max_length = ProviderState.collection.max_length
        if not collection or len(collection) > max_length:
            raise ValueError(f"collection must be 1 to {max_length} characters: {collection!r}")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        self.collection, self._ttl, self._clock = collection, ttl, clock
        self.write_once = write_once

    def __repr__(self) -> str:
        return f"DatabaseStorage({self.collection!r}, ttl={self._ttl!r})"

    def _now(self) -> datetime:
        return _as_datetime(self._clock())

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"keys must be strings, got {type(key).__name__}")
        if len(key) <= ProviderState.key.max_length:
            return key
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def _read_here(self, record: object, stored_key: str) -> bool:
        """Whether ``record`` is a record read from this collection under ``stored_key``."""
        return (
            isinstance(record, StoredRecord)
            and record._storage.collection == self.collection
            and record._key == stored_key
        )

    def _row(self, key: str):
        return (ProviderState.collection == self.collection) & (ProviderState.key == key)

    # What pyop calls

    def __setitem__(self, key: str, value: Mapping[str, Any]) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"values must be mappings, got {type(value).__name__}")
        stored_key = self._key(key)
        if self._read_here(value, stored_key):
            # pyop assigning back a record it read and edited: a compare-and-swap, so that a
            # concurrent edit of the same record is refused rather than overwritten.
            value._text = self._swap(stored_key, value._text, _dumps(value))
            return
        now = self._clock()
        text = _dumps(value)
        expires_at = self._expiry(now)
        once = (self.collection,) if self.write_once else ()
        with db.connection():
            _purge_if_due(_as_datetime(now))
            row = (self.collection, stored_key, text, expires_at)
            stored = _store([row], once, _as_datetime(now))
        if once and stored != 1:
            _forget(self.collection, stored_key)
            raise StaleRecordError(f"a live {self.collection} record cannot be replaced")
        _remember(self.collection, stored_key, text)

    def pack(self, value):
        raise NotImplementedError  # pyop's stateless mode only

    def __getitem__(self, key: str) -> StoredRecord:
        text = self._text_of(stored_key := self._key(key))
        if text is None:
            raise KeyError(key)
        return StoredRecord(self, stored_key, text)

    def __delitem__(self, key: str) -> None:
        if self.pop(key, _MISSING) is _MISSING:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return self._text_of(self._key(key)) is not None

    def read_linked(self, key: str, linked: DatabaseStorage, field: str) -> None:
        """Within :func:`reads_remembered`: read the record of ``key`` and the record of
        ``linked`` its ``field`` names (a code's or a token's family) in one statement, and
        remember both, so that reading either afterwards costs no round trip. Outside such a
        block, or when ``key`` was read already, nothing."""
        memo = _remembered.get()
        stored_key = self._key(key)
        if memo is None or (self.collection, stored_key) in memo:
            return
        values = {
            "c": self.collection,
            "k": stored_key,
            "lc": linked.collection,
            "now": _db_time(self._now()),
        }
        with db.connection():
            row = _linked_statement(field, values).fetchone()
        text, link, linked_text = row if row is not None else (None, None, None)
        memo[self.collection, stored_key] = text
        if isinstance(link, str) and link and linked._key(link) == link:  # not a hashed key
            memo[linked.collection, link] = linked_text

    def _text_of(self, stored_key: str) -> str | None:
        """The row's value if it is live, else ``None``: read once per
        :func:`reads_remembered` block."""
        memo = _remembered.get()
        if memo is not None and (self.collection, stored_key) in memo:
            return memo[self.collection, stored_key]
        with db.connection():
            text = self._read(stored_key)
        _remember(self.collection, stored_key, text)
        return text

    def _read(self, stored_key: str) -> str | None:
        """The live row's value, else ``None`` (one statement, its SQL built once)."""

        def build(marker: Callable[[str], str]):
            return ProviderState.select(ProviderState.value).where(
                (ProviderState.collection == marker("c"))
                & (ProviderState.key == marker("k"))
                & _visible(marker("now"))
            )

        values = {"c": self.collection, "k": stored_key, "now": _db_time(self._now())}
        row = _execute(("read",), build, values).fetchone()
        return None if row is None else row[0]

    def items(self) -> Iterator[tuple[str, StoredRecord]]:
        """Every live (key, record) of the collection, in key order, read a page at a time."""
        after = None
        while True:
            query = ProviderState.select(ProviderState.key, ProviderState.value).where(
                (ProviderState.collection == self.collection) & _visible(self._now())
            )
            if after is not None:
                query = query.where(ProviderState.key > after)
            with db.connection():
                rows = list(query.order_by(ProviderState.key).limit(ITEMS_PAGE).tuples())
            for key, text in rows:
                yield key, StoredRecord(self, key, text)
            if len(rows) < ITEMS_PAGE:
                return
            after = rows[-1][0]

    def pop(self, key: str, default: Any = None) -> Any:
        """Remove ``key`` and return its value (a plain dict), or ``default``: one statement,
        so of two callers only one gets the value."""
        stored_key = self._key(key)
        with db.connection(), db.transaction():
            rows = list(
                ProviderState.delete()
                .where(self._row(stored_key))
                .returning(ProviderState.value, ProviderState.expires_at)
                .tuples()
                .execute()
            )
            if rows:  # every process drops what it keeps, when this commits
                epochs.revoked()
        _remember(self.collection, stored_key, None)
        if not rows:
            return default
        text, expires_at = rows[0]
        if expires_at is not None and expires_at <= self._now():
            return default
        return json.loads(text)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    # What pyop lacks

    def consume_code(self, code: str) -> dict | None:
        """Mark the authorization code ``code`` used and return its record, or ``None`` when
        it is unknown, expired (row or ``exp``) or already used. Of concurrent callers, at
        most one gets the record: the mark is an ``UPDATE`` conditional on the row still
        holding the unused record that was read."""
        stored_key = self._key(code)
        for _ in range(CONSUME_ATTEMPTS):
            with db.connection():
                text = self._read(stored_key)
            if text is None:
                return None
            record = json.loads(text)
            if record.get("used") is not False:
                return None  # used, or not a code
            if "exp" in record and record["exp"] < int(self._clock()):
                return None
            record["used"] = True
            try:
                self._swap(stored_key, text, _dumps(record))
            except StaleRecordError:
                continue  # changed since read: read again (a used code then answers None)
            return record
        return None

    def consume(self, key: str, record: StoredRecord) -> bool:
        """Mark ``record`` (an unused code or refresh token read from this storage under
        ``key``) used, if its row still holds it; return whether this call did. One
        statement: of concurrent callers holding the same record, at most one succeeds. The
        caller has checked the record (its ``used`` flag, its ``exp``)."""
        stored_key = self._key(key)
        if not (self._read_here(record, stored_key) and record.get("used") is False):
            raise ValueError(f"record must be the unused record of {key!r} read from {self!r}")
        try:
            self._swap(stored_key, record._text, _dumps({**record, "used": True}))
        except StaleRecordError:
            return False
        return True

    def add(self, key: str, value: Mapping[str, Any]) -> bool:
        """Set ``key`` to ``value`` only if it has no live value (none, or an expired one);
        return whether this call set it. One ``INSERT ... ON CONFLICT``: of concurrent callers
        adding the same key, exactly one succeeds."""
        if not isinstance(value, Mapping):
            raise TypeError(f"values must be mappings, got {type(value).__name__}")
        stored_key = self._key(key)
        now = self._clock()
        text = _dumps(value)
        values = {
            "c": self.collection,
            "k": stored_key,
            "v": text,
            "exp": _db_time(self._expiry(now)),
            "now": _db_time(_as_datetime(now)),
        }
        with db.connection():
            _purge_if_due(_as_datetime(now))
            rows = _execute(("add",), _add_statement, values).fetchall()
        if rows:
            _remember(self.collection, stored_key, text)
        else:
            _forget(self.collection, stored_key)
        return bool(rows)

    def compare_and_set(
        self, key: str, expected: StoredRecord, value: Mapping[str, Any]
    ) -> StoredRecord:
        """Set ``key`` to ``value`` if its row still holds ``expected`` (a record read from
        this storage under ``key``), else :class:`StaleRecordError` and nothing written.
        Unlike an edit of ``expected``, this sets a new value: its time to live starts again.
        Return the record as now stored."""
        stored_key = self._key(key)
        if not self._read_here(expected, stored_key):
            raise ValueError(f"expected must be the record of {key!r} read from {self!r}")
        if not isinstance(value, Mapping):
            raise TypeError(f"values must be mappings, got {type(value).__name__}")
        text = _dumps(value)
        self._swap(stored_key, expected._text, text, expires_at=self._expiry(self._clock()))
        return StoredRecord(self, stored_key, text)

    def modify(
        self,
        key: str,
        change: Callable[[dict], Mapping[str, Any] | None],
        *,
        create: Mapping[str, Any] | None = None,
        new_first: bool = False,
    ) -> dict | None:
        """Change ``key``'s record so that no concurrent writer's change is lost.

        ``change`` gets a deep copy of the record (of ``create`` when the key has no live
        value) and returns its new value, or ``None`` to leave it as it is. The new value is
        written with :meth:`compare_and_set` (:meth:`add` for a new key); when another writer
        got there first, the record is read again and ``change`` runs again. Like setting a
        key, a change restarts the record's time to live. Return the record as it now is, or
        ``None`` when the key has no live value and no ``create`` was given.

        ``new_first``: the key is most likely new; ``create``'s change is added before anything
        is read (one statement instead of two), and only when a record is there already is it
        read and changed as above.
        """
        if new_first and create is not None:
            value = change(copy.deepcopy(dict(create)))
            value = dict(create if value is None else value)
            if self.add(key, value):
                return value
        for _ in range(MODIFY_ATTEMPTS):
            current = self.get(key)
            if current is None:
                if create is None:
                    return None
                value = change(copy.deepcopy(dict(create)))
                value = dict(create if value is None else value)
                if self.add(key, value):
                    return value
                continue  # added by another writer meanwhile: change theirs
            value = change(json.loads(current._text))  # a deep copy, read from its text
            if value is None:
                return dict(current)
            try:
                return dict(self.compare_and_set(key, current, value))
            except StaleRecordError:
                continue
        raise StaleRecordError(
            f"{self.collection} record still changing after {MODIFY_ATTEMPTS} attempts: not written"
        )

    def _expiry(self, now: float) -> datetime | None:
        return _as_datetime(now + self._ttl) if self._ttl is not None else None

    def _swap(
        self, stored_key: str, old_text: str, new_text: str, expires_at: Any = _MISSING
    ) -> str:
        """Replace the value ``old_text`` of a live row by ``new_text``, keeping its expiry
        unless given ``expires_at``; :class:`StaleRecordError` if the row no longer holds
        ``old_text``."""
        if self.write_once:
            raise StaleRecordError(f"{self.collection} records are never changed in place")
        renewed = expires_at is not _MISSING

        def build(marker: Callable[[str], str]):
            changes = {ProviderState.value: marker("new")}
            if renewed:
                changes[ProviderState.expires_at] = marker("exp")
            return ProviderState.update(changes).where(
                (ProviderState.collection == marker("c"))
                & (ProviderState.key == marker("k"))
                & (ProviderState.value == marker("old"))
                & _visible(marker("now"))
            )

        values = {
            "new": new_text,
            "c": self.collection,
            "k": stored_key,
            "old": old_text,
            "now": _db_time(self._now()),
        }
        if renewed:
            values["exp"] = _db_time(expires_at)
        with db.connection():
            changed = _execute(("swap", renewed), build, values).rowcount
        if changed != 1:
            _forget(self.collection, stored_key)
            raise StaleRecordError(
                f"{self.collection} record changed since it was read: not written"
            )
        _remember(self.collection, stored_key, new_text)
        return new_text
