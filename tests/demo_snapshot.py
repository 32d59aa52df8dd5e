"""The demo data, loaded once per test process, then copied into each test's database.

Most tests build the demo app (``make_app``), whose start-up loads the demo data into the
test's empty database: the BCE import, persons, mandates, audited one by one. :func:`seeding`
lets the first start of a test process load it for real (``monespace.demo.seed``) and keeps
the rows it wrote; the next starts on an empty database get the same rows, copied table by
table in one transaction. The rows are the same (audit chain included) as long as what they
depend on is: the kind of database, the schema's version, the audit key and the policy in
force, which key what is kept. A database that is not empty, or a copy that fails, gets the
real seed. Only the app's start-up is concerned: tests calling ``seed`` directly run it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from authz import audit, db
from authz.engine import get_engine
from monespace import bootstrap, demo


@dataclass(frozen=True)
class _Table:
    model: Any
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]


_kept: dict[tuple, tuple[_Table, ...]] = {}
copy_refused: list[str] = []  # why a copy fell back to the real seed (tests/test_layout.py)


def _models() -> list:
    return [model for schema_set in bootstrap.schema_sets() for model in schema_set.models]


def _key() -> tuple:
    keyring = audit._keyring
    keys = None if keyring is None else (keyring.current.id, tuple(keyring.by_id))
    versions = tuple(schema_set.version() for schema_set in bootstrap.schema_sets())
    return (type(db.database.obj).__name__, versions, keys, get_engine().version)


def _take() -> dict[Any, _Table]:
    """Every table's rows as the database driver gives them (no conversion by the models:
    what is copied back is exactly what was read, audit hashes included)."""
    tables = {}
    for model in _models():
        columns = tuple(field.column_name for field in model._meta.sorted_fields)
        names = ", ".join(f'"{name}"' for name in columns)
        table = model._meta.table_name
        cursor = db.database.execute_sql(f'SELECT {names} FROM "{table}"')  # noqa: S608
        tables[model] = _Table(model, columns, tuple(tuple(row) for row in cursor.fetchall()))
    return tables


def _written(before: dict[Any, _Table], after: dict[Any, _Table]) -> tuple[_Table, ...]:
    """The rows in ``after`` and not in ``before``, table by table, in the models' order."""
    written = []
    for model, table in after.items():
        old = set(before[model].rows)
        rows = tuple(row for row in table.rows if row not in old)
        if rows:
            written.append(_Table(model, table.columns, rows))
    return tuple(written)


def _copy(tables: tuple[_Table, ...]) -> None:
    with db.transaction():
        marker = "%s" if db.is_postgresql() else "?"
        for table in tables:
            names = ", ".join(f'"{name}"' for name in table.columns)
            row = "(" + ", ".join([marker] * len(table.columns)) + ")"
            sql = f'INSERT INTO "{table.model._meta.table_name}" ({names}) VALUES '  # noqa: S608
            for start in range(0, len(table.rows), 100):
                chunk = table.rows[start : start + 100]
                db.database.execute_sql(
                    sql + ", ".join([row] * len(chunk)), [v for r in chunk for v in r]
                )
        if db.is_postgresql():
            # The copied ids were taken from the sequences of another database's life: move
            # each sequence past them.
            for table in tables:
                primary = table.model._meta.primary_key
                if getattr(primary, "field_type", "") != "AUTO":
                    continue
                name = table.model._meta.table_name
                column = primary.column_name
                sql = f'SELECT setval(pg_get_serial_sequence(%s, %s), (SELECT MAX("{column}") FROM "{name}"))'  # noqa: E501, S608
                db.database.execute_sql(sql, (f'"{name}"', column))


@contextmanager
def seeding() -> Iterator[None]:
    """Within the block (an app's start-up), ``monespace.demo.seed`` copies the rows of its
    first real run in this process instead of loading them again."""
    real = demo.seed

    def seed(report=lambda _message: None) -> bool:
        if demo.is_seeded():
            return False
        key = _key()
        tables = _kept.get(key)
        if tables is not None and not any(t.model.select().exists() for t in tables):
            try:
                _copy(tables)
            except Exception as exc:  # a database the copy does not fit: the real seed
                copy_refused.append(repr(exc))
            else:
                report("demo data loaded")
                return True
        before = _take() if tables is None else None
        loaded = real(report)
        if loaded and before is not None:
            _kept[key] = _written(before, _take())
        return loaded

    demo.seed = seed
    try:
        yield
    finally:
        demo.seed = real
