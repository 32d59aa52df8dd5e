"""Schema versions and upgrades (``monespace db upgrade``).

A new database gets every table at the current version. An older one is brought forward one
step at a time, each step in its own transaction together with the new version number, so an
interrupted upgrade resumes where it stopped. Running the upgrade again is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import IntegerField
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator, migrate

from authz import db
from authz.errors import SchemaError
from authz.models import ALL_MODELS, SchemaInfo


def _v2_authorization_epochs(migrator: SchemaMigrator) -> None:
    """An authorization epoch per enterprise, keyed on by decision caches."""
    migrate(migrator.add_column("enterprise", "authz_epoch", IntegerField(default=0)))


# STEPS[n] takes a database at version n - 1 to version n. Version 1 is the first schema.
STEPS: dict[int, Callable[[SchemaMigrator], None]] = {
    2: _v2_authorization_epochs,
}
CURRENT_VERSION = max(STEPS, default=1)


def _migrator() -> SchemaMigrator:
    if db.is_postgresql():
        return PostgresqlMigrator(db.database.obj)
    return SqliteMigrator(db.database.obj)


def current_version() -> int | None:
    """The database's schema version; None for an empty database."""
    tables = set(db.database.get_tables())
    if SchemaInfo._meta.table_name not in tables:
        ours = {model._meta.table_name for model in ALL_MODELS}
        if tables & ours:
            raise SchemaError(
                "the database has monespace tables but no schema version; "
                "it was not created by `monespace db upgrade`"
            )
        return None
    row = SchemaInfo.select().first()
    return row.version if row else None


def upgrade(report: Callable[[str], None] = lambda _msg: None) -> list[int]:
    """Bring the database to :data:`CURRENT_VERSION`; return the versions applied."""
    version = current_version()
    if version is None:
        with db.transaction():
            db.database.create_tables(ALL_MODELS)
            SchemaInfo.delete().execute()
            SchemaInfo.create(version=CURRENT_VERSION)
        report(f"created schema version {CURRENT_VERSION}")
        return [CURRENT_VERSION]
    if version > CURRENT_VERSION:
        raise SchemaError(
            f"the database is at schema version {version}, newer than this software "
            f"({CURRENT_VERSION}): upgrade monespace before using it"
        )
    applied = []
    for step in range(version + 1, CURRENT_VERSION + 1):
        with db.transaction():
            STEPS[step](_migrator())
            SchemaInfo.update(version=step).execute()
        report(f"upgraded schema to version {step}: {STEPS[step].__doc__.strip()}")
        applied.append(step)
    if not applied:
        report(f"schema already at version {CURRENT_VERSION}; nothing to do")
    return applied


def require_current() -> None:
    """Refuse to run on a database that is not at the current schema version."""
    version = current_version()
    if version != CURRENT_VERSION:
        found = "empty" if version is None else f"at schema version {version}"
        raise SchemaError(
            f"the database is {found}, this software needs version {CURRENT_VERSION}: "
            "run `monespace db upgrade`"
        )
