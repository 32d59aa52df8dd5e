"""What every table of the project shares: the peewee base model and the clock of the rows.

Packages around the core (the provider's sessions and keys, the admin UI's outbox) define
their own tables on :class:`BaseModel`, so that one database and one naming rule serve all;
they read and write the core's tables only through ``authz``'s functions, never directly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from peewee import Field, Model

from authz import db
from authz.db import database

# Row ids are 32-bit on PostgreSQL (SERIAL): a larger number names no row, and SQLite cannot
# even compare it. Pages and services refuse it before any query.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    """Naive UTC now: every timestamp in the database is UTC without tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)


def today() -> date:
    return utcnow().date()


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class RowByKey:
    """``model.get_or_none(field == value)`` with its SQL built once per kind of database
    (:func:`authz.db.built_statement`): the rows read on every request of a relying party (its
    client, the person behind a token) cost peewee several times more to build the statement
    than to run it."""

    def __init__(self, model: type[Model], field: Field):
        self.model, self.field = model, field
        self._shape = ("row_by_key", model._meta.table_name, field.name)

    def __call__(self, value: Any) -> Any:
        with db.prepared_lost():
            sql, params = db.prepared(self._shape, self._build, {"key": value})
            return next(iter(self.model.raw(sql, *params)), None)

    def _build(self, param):
        return self.model.select().where(self.field == param("key")).limit(1)
