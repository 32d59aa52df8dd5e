"""What every table of the project shares: the peewee base model and the clock of the rows.

Packages around the core (the provider's sessions and keys, the admin UI's outbox) define
their own tables on :class:`BaseModel`, so that one database and one naming rule serve all;
they read and write the core's tables only through ``authz``'s functions, never directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from types import CodeType
from typing import Any, ClassVar

from peewee import Field, Model, ModelSelect

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


class BuiltSelect:
    """A peewee select, joins included, whose SQL is built once per kind of database and
    prepared on PostgreSQL (:func:`authz.db.prepared`), its rows given back as the select itself
    would give them (the joined rows on each). ``build`` makes the select from a function that
    turns a parameter's name into its place; :meth:`first` runs it with the values by name.
    The rows read on every request (a relying party's client, the person behind a token, the
    browser's session) cost peewee several times more to build the statement than to run it."""

    # name -> the code that builds it: one name, one statement.
    _builders: ClassVar[dict[str, CodeType]] = {}

    def __init__(self, name: str, build: Callable[[Callable[[str], Any]], ModelSelect]):
        if BuiltSelect._builders.setdefault(name, build.__code__) is not build.__code__:
            raise ValueError(f"another select is built under the name {name!r}")
        self._shape = ("built_select", name)
        self._build = build
        # Only its shape is used (which models, which columns, which joins): never run.
        self._rows = build(lambda name: name)

    def first(self, **values: Any) -> Any:
        """The first row the select finds with ``values``, or None."""
        with db.prepared_lost():
            cursor = db.database.execute_sql(*db.prepared(self._shape, self._build, values))
        try:
            return next(iter(self._rows._get_cursor_wrapper(cursor)), None)
        finally:
            cursor.close()


class RowByKey:
    """``model.get_or_none(field == value)`` as a :class:`BuiltSelect`."""

    def __init__(self, model: type[Model], field: Field):
        self.model, self.field = model, field
        self._select = BuiltSelect(
            f"row_by_key {model._meta.table_name}.{field.name}",
            lambda param: model.select().where(field == param("key")).limit(1),
        )

    def __call__(self, value: Any) -> Any:
        return self._select.first(key=value)
