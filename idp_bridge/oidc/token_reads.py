"""Reading a presented token in one SQL statement, whichever collection it belongs to; reading
the records of the hot endpoints without building their SQL each time; keeping them.

Introspection (RFC 7662) is given a token without being told what it is: an access token of
the client credentials grant, a person's access token or a refresh token. Asking each
:class:`~idp_bridge.oidc.storage.DatabaseStorage` in turn costs one round trip to the
database per collection; :func:`read_token` asks for the token in several collections at
once, with the same rules as ``DatabaseStorage.get``: the same key (long tokens stored as their
SHA-256), only rows that have not expired. Its SQL is built once per database and number of
collections, not for every request: building a statement cost peewee more than PostgreSQL took
to run it. :func:`read_record` is the same read for one collection (``DatabaseStorage.get``
for the paths that only read).

Given a :class:`RecordCache`, the records of ``write_once`` collections (access tokens of both
kinds, the subjects' index) are kept by each process: such a row changes only by its removal,
and every removal announces itself at commit to every process (``storage``'s module
docstring, ``authz.epochs.revoked``), which then drops everything it keeps. Each entry's
expiry is checked against the clock at every use; nothing is kept, nor served from what is
kept, while the process's epoch tracker is unhealthy (the listener that hears of removals
made elsewhere is down); only records found are kept, never an absence.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from authz import db
from authz.epochs import EpochTracker
from authz.kept import KeptUntilRevoked
from idp_bridge.oidc.models import ProviderState
from idp_bridge.oidc.storage import DatabaseStorage

# Entries (a token's or a subject's rows) kept per process. A person's access token record is
# about 1 KB of JSON: some 20 to 30 MB at most.
RECORDS_KEPT = 20_000

_statements: dict[tuple[type, int], str] = {}
_lock = threading.Lock()

Rows = tuple[tuple[str, str, float | None], ...]  # (collection, JSON text, expiry or None)


class RecordCache(KeptUntilRevoked[Rows]):
    """Records of ``write_once`` collections, kept until a removal is announced
    (:class:`authz.kept.KeptUntilRevoked`); at most ``maxsize`` entries."""

    def __init__(
        self, tracker: Callable[[], EpochTracker | None], maxsize: int = RECORDS_KEPT
    ) -> None:
        super().__init__(tracker, maxsize)


def read_token(
    value: str, storages: Sequence[DatabaseStorage], cache: RecordCache | None = None
) -> dict[str, dict[str, Any]]:
    """The live record of ``value`` in each of ``storages`` that holds it, by collection name
    (plain dicts: nothing is written back); through ``cache`` when given and every storage is
    ``write_once``."""
    if not isinstance(value, str) or not storages:
        return {}
    first = storages[0]
    key = first._key(value)  # the same rule in every collection
    collections = tuple(storage.collection for storage in storages)
    now = first._clock()

    def fetch() -> Rows:
        moment = ProviderState.expires_at.db_value(first._now())
        with db.connection():
            cursor = db.database.execute_sql(
                _statement(len(collections)), (*collections, key, moment)
            )
            rows = cursor.fetchall()
        return tuple((collection, text, _unix(expiry)) for collection, text, expiry in rows)

    if cache is not None and all(storage.write_once for storage in storages):
        rows = (
            cache.read(
                (collections, key),
                lambda: fetch() or None,
                lambda kept: all(expiry is None or expiry > now for _c, _t, expiry in kept),
            )
            or ()
        )
    else:
        rows = fetch()
    return {collection: json.loads(text) for collection, text, _expiry in rows}


def read_record(
    key: str, storage: DatabaseStorage, cache: RecordCache | None = None
) -> dict[str, Any] | None:
    """``storage.get(key)`` as a plain dict, with the statement built once."""
    return read_token(key, (storage,), cache).get(storage.collection)


def _unix(expiry: Any) -> float | None:
    if expiry is None:
        return None
    moment = ProviderState.expires_at.python_value(expiry)  # SQLite: text
    return moment.replace(tzinfo=UTC).timestamp()


def _statement(count: int) -> str:
    """``SELECT collection, value, expires_at`` of one key in ``count`` collections, rows not
    expired; the parameters are the collections, the key, then the time now."""
    kind = type(db.database.obj)
    sql = _statements.get((kind, count))
    if sql is None:
        placeholder = object()  # any value: only the statement's text is kept
        query = ProviderState.select(
            ProviderState.collection, ProviderState.value, ProviderState.expires_at
        ).where(
            ProviderState.collection.in_([f"c{n}" for n in range(count)])
            & (ProviderState.key == "k")
            & (ProviderState.expires_at.is_null() | (ProviderState.expires_at > placeholder))
        )
        sql, params = query.sql()
        if len(params) != count + 2:  # the order of parameters assumed above
            raise RuntimeError(f"unexpected parameters for the token read: {params!r}")
        with _lock:
            _statements[(kind, count)] = sql
    return sql
