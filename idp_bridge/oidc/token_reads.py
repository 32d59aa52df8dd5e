"""Reading a presented token in one SQL statement, whichever collection it belongs to; reading
the records of the hot endpoints without building their SQL each time.

Introspection (RFC 7662) is given a token without being told what it is: an access token of
the client credentials grant, a person's access token or a refresh token. Asking each
:class:`~idp_bridge.oidc.storage.DatabaseStorage` in turn costs one round trip to the
database per collection; :func:`read_token` asks for the token in several collections at
once, with the same rules as ``DatabaseStorage.get``: the same key (long tokens stored as their
SHA-256), only rows that have not expired, nothing cached (a revocation is seen at once). Its
SQL is built once per database and number of collections, not for every request: building a
statement cost peewee more than PostgreSQL took to run it. :func:`read_record` is the same
read for one collection (``DatabaseStorage.get`` for the paths that only read).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from authz import db
from idp_bridge.oidc.models import ProviderState
from idp_bridge.oidc.storage import DatabaseStorage

_statements: dict[tuple[type, int], str] = {}
_lock = threading.Lock()


def read_token(value: str, storages: Sequence[DatabaseStorage]) -> dict[str, dict[str, Any]]:
    """The live record of ``value`` in each of ``storages`` that holds it, by collection name
    (plain dicts: nothing is written back)."""
    if not isinstance(value, str) or not storages:
        return {}
    first = storages[0]
    key = first._key(value)  # the same rule in every collection
    now = ProviderState.expires_at.db_value(first._now())
    collections = [storage.collection for storage in storages]
    with db.connection():
        cursor = db.database.execute_sql(_statement(len(collections)), (*collections, key, now))
        rows = cursor.fetchall()
    return {collection: json.loads(text) for collection, text in rows}


def read_record(key: str, storage: DatabaseStorage) -> dict[str, Any] | None:
    """``storage.get(key)`` as a plain dict, with the statement built once."""
    return read_token(key, (storage,)).get(storage.collection)


def _statement(count: int) -> str:
    """``SELECT collection, value`` of one key in ``count`` collections, rows not expired; the
    parameters are the collections, the key, then the time now."""
    kind = type(db.database.obj)
    sql = _statements.get((kind, count))
    if sql is None:
        placeholder = object()  # any value: only the statement's text is kept
        query = ProviderState.select(ProviderState.collection, ProviderState.value).where(
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
