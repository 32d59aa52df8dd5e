"""Schema versions and upgrades (``monespace db upgrade``).

A new database gets every table at the current version. An older one is brought forward one
step at a time, each step in its own transaction together with the new version number, so an
interrupted upgrade resumes where it stopped. Running the upgrade again is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from peewee import CharField, IntegerField, Model, TextField
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator, migrate

from authz import audit, db
from authz.errors import SchemaError
from authz.models import ALL_MODELS, AuditMention, EnterpriseMandate, SchemaInfo


def _v2_authorization_epochs(migrator: SchemaMigrator) -> None:
    """An authorization epoch per enterprise, keyed on by decision caches."""
    migrate(migrator.add_column("enterprise", "authz_epoch", IntegerField(default=0)))


def _v3_audit_events_by_action(migrator: SchemaMigrator) -> None:
    """An index on the audit log by action, for the latest events of one kind."""
    # The name peewee gives the model's index, so new and upgraded databases match.
    db.database.execute_sql(
        "CREATE INDEX IF NOT EXISTS audit_event_action_seq ON audit_event (action, seq)"
    )


def _v4_keyed_audit_log(migrator: SchemaMigrator) -> None:
    """An HMAC per audit log row under the audit key; the rows written before, checked and keyed."""
    audit.keyring()  # refuse before changing anything when no audit key is configured
    migrate(
        migrator.add_column("audit_event", "key_id", CharField(max_length=16, null=True)),
        migrator.add_column("audit_event", "mac", CharField(max_length=64, null=True)),
    )
    audit.key_legacy_rows()


def _v5_enterprise_mandates(migrator: SchemaMigrator) -> None:
    """Mandates between enterprises (intermediaries: accountants, social secretariats)."""
    # The table as version 5 defines it, with its indexes (peewee names them as for a new
    # database, so new and upgraded databases match).
    db.database.create_tables([EnterpriseMandate])


def _v6_client_catalogue(migrator: SchemaMigrator) -> None:
    """A catalogue entry per client: how the portal shows the service."""
    migrate(migrator.add_column("client", "catalogue", TextField(null=True)))


def _v7_audit_mentions(migrator: SchemaMigrator) -> None:
    """The persons each audit event names, indexed: a person's events by exact match."""
    db.database.create_tables([AuditMention])
    audit.rebuild_mentions()


_PG_LOCK_KEY = 0x4D45_5343  # "MESC"


@contextmanager
def exclusive() -> Iterator[None]:
    """One process at a time changes the schema (app workers starting together, two nodes
    running ``db upgrade``): the others wait, then find the work done.

    PostgreSQL: a session advisory lock, held across the upgrade's several transactions.
    SQLite: one write transaction around the whole (BEGIN IMMEDIATE takes the database's
    write lock; the steps inside become savepoints).
    """
    if db.is_postgresql():
        db.database.execute_sql("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
        try:
            yield
        finally:
            db.database.execute_sql("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))
    else:
        with db.transaction():
            yield


# STEPS[n] takes a database at version n - 1 to version n. Version 1 is the first schema.
STEPS: dict[int, Callable[[SchemaMigrator], None]] = {
    2: _v2_authorization_epochs,
    3: _v3_audit_events_by_action,
    4: _v4_keyed_audit_log,
    5: _v5_enterprise_mandates,
    6: _v6_client_catalogue,
    7: _v7_audit_mentions,
}


class SchemaSet:
    """The tables of one package, their version row and the steps between versions.

    Each package owns its tables (DESIGN.md, section 3): ``authz`` here, others (the OpenID
    provider's state, login sessions...) in their own package, each with its own version table,
    so that a package's schema moves without the others knowing of it.
    """

    def __init__(
        self,
        name: str,
        info: type[Model],
        models: tuple[type[Model], ...],
        steps: dict[int, Callable[[SchemaMigrator], None]],
    ):
        self.name, self.info, self.models, self.steps = name, info, models, steps
        self.current = max(steps, default=1)

    def version(self) -> int | None:
        """The database's version of this set; None when none of its tables exist."""
        tables = set(db.database.get_tables())
        if self.info._meta.table_name not in tables:
            ours = {model._meta.table_name for model in self.models}
            if tables & ours:
                raise SchemaError(
                    f"the database has {self.name} tables but no schema version; "
                    "it was not created by `monespace db upgrade`"
                )
            return None
        row = self.info.select().first()
        return row.version if row else None

    def upgrade(self, report: Callable[[str], None] = lambda _msg: None) -> list[int]:
        """Bring this set to its current version; return the versions applied."""
        version = self.version()
        label = "" if self.name == "authz" else f"{self.name} "
        if version is None:
            with db.transaction():
                db.database.create_tables((self.info, *self.models))
                self.info.delete().execute()
                self.info.create(version=self.current)
            report(f"created {label}schema version {self.current}")
            return [self.current]
        if version > self.current:
            raise SchemaError(
                f"the database is at {label}schema version {version}, newer than this software "
                f"({self.current}): upgrade monespace before using it"
            )
        applied = []
        for step in range(version + 1, self.current + 1):
            with db.transaction():
                self.steps[step](_migrator())
                self.info.update(version=step).execute()
            report(f"upgraded {label}schema to version {step}: {self.steps[step].__doc__.strip()}")
            applied.append(step)
        if not applied:
            report(f"{label}schema already at version {self.current}; nothing to do")
        return applied

    def require_current(self) -> None:
        """Refuse to run on a database where this set is not at its current version."""
        version = self.version()
        if version != self.current:
            if self.name == "authz":
                what, found = "the database is", "empty" if version is None else ""
            else:
                what, found = f"the {self.name} tables are", "missing" if version is None else ""
            found = found or f"at schema version {version}"
            raise SchemaError(
                f"{what} {found}, this software needs version {self.current}: "
                "run `monespace db upgrade`"
            )


AUTHZ = SchemaSet("authz", SchemaInfo, tuple(m for m in ALL_MODELS if m is not SchemaInfo), STEPS)
CURRENT_VERSION = AUTHZ.current


def _migrator() -> SchemaMigrator:
    if db.is_postgresql():
        return PostgresqlMigrator(db.database.obj)
    return SqliteMigrator(db.database.obj)


def current_version() -> int | None:
    """The database's authz schema version; None for an empty database."""
    return AUTHZ.version()


def upgrade(report: Callable[[str], None] = lambda _msg: None) -> list[int]:
    """Bring the authz tables to :data:`CURRENT_VERSION`; return the versions applied."""
    return AUTHZ.upgrade(report)


def require_current() -> None:
    """Refuse to run on a database whose authz tables are not at the current version."""
    AUTHZ.require_current()
