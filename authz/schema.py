"""Schema versions and upgrades (``monespace db upgrade``).

A new database gets every table at the current version. An older one is brought forward one
step at a time, each step in its own transaction together with the new version number, so an
interrupted upgrade resumes where it stopped. Running the upgrade again is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from peewee import CharField, IntegerField, Model, TextField
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator, migrate

from authz import audit, db
from authz.errors import SchemaError
from authz.models import ALL_MODELS, AuditMention, EnterpriseMandate, SchemaInfo

FLOOR_COLUMN = "compatible_from"
_COMPATIBLE = "_monespace_backward_compatible"


def backward_compatible(step: Callable[[SchemaMigrator], None]) -> Callable[[SchemaMigrator], None]:
    """Mark an upgrade step the software of the version before still runs on (an expand
    step: a new table, index, or nullable column, nothing the older software reads or writes
    changed). A step not marked is taken to break the older software: the nodes running it
    turn unready when the step commits."""
    setattr(step, _COMPATIBLE, True)
    return step


def is_backward_compatible(step: Callable[[SchemaMigrator], None]) -> bool:
    return getattr(step, _COMPATIBLE, False)


# Not backward compatible: the column is NOT NULL with no default in the database, so the
# older software's inserts of enterprises would fail.
def _v2_authorization_epochs(migrator: SchemaMigrator) -> None:
    """An authorization epoch per enterprise, keyed on by decision caches."""
    migrate(migrator.add_column("enterprise", "authz_epoch", IntegerField(default=0)))


@backward_compatible
def _v3_audit_events_by_action(migrator: SchemaMigrator) -> None:
    """An index on the audit log by action, for the latest events of one kind."""
    # The name peewee gives the model's index, so new and upgraded databases match.
    db.database.execute_sql(
        "CREATE INDEX IF NOT EXISTS audit_event_action_seq ON audit_event (action, seq)"
    )


# Not backward compatible: the older software would write rows without their HMAC.
def _v4_keyed_audit_log(migrator: SchemaMigrator) -> None:
    """An HMAC per audit log row under the audit key; the rows written before, checked and keyed."""
    audit.keyring()  # refuse before changing anything when no audit key is configured
    migrate(
        migrator.add_column("audit_event", "key_id", CharField(max_length=16, null=True)),
        migrator.add_column("audit_event", "mac", CharField(max_length=64, null=True)),
    )
    audit.key_legacy_rows()


@backward_compatible
def _v5_enterprise_mandates(migrator: SchemaMigrator) -> None:
    """Mandates between enterprises (intermediaries: accountants, social secretariats)."""
    # The table as version 5 defines it, with its indexes (peewee names them as for a new
    # database, so new and upgraded databases match).
    db.database.create_tables([EnterpriseMandate])


@backward_compatible
def _v6_client_catalogue(migrator: SchemaMigrator) -> None:
    """A catalogue entry per client: how the portal shows the service."""
    migrate(migrator.add_column("client", "catalogue", TextField(null=True)))


# Not backward compatible: the older software would write audit events without their
# mentions, which a person's history would then miss.
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


class Compatibility(NamedTuple):
    """Whether this software runs on the database's version of one schema set.

    ``state`` is ``current`` (the software's version), ``compatible`` (another version this
    software still runs on: newer within the window its upgrade recorded, or older but not
    older than :attr:`SchemaSet.oldest`), ``behind`` (older than the software needs),
    ``newer`` (newer, and not compatible with this software) or ``missing`` (no tables).
    """

    name: str
    database: int | None  # the database's version; None when the tables are missing
    software: int  # this software's version (SchemaSet.current)
    runs_from: int | None  # the oldest software the database still runs ("compatible_from")
    state: str
    problem: str | None  # what is wrong and what to do, for a state that refuses

    @property
    def usable(self) -> bool:
        return self.problem is None


class SchemaSet:
    """The tables of one package, their version row and the steps between versions.

    Each package owns its tables (DESIGN.md, section 3): ``authz`` here, others (the OpenID
    provider's state, login sessions...) in their own package, each with its own version table,
    so that a package's schema moves without the others knowing of it.

    Rolling upgrades (docs/operators.md, "Rolling upgrades"): the software runs on its own
    version (``current``), on older ones down to ``oldest`` (by default none), and on a newer
    one when the upgrade that made it recorded, in the version row's ``compatible_from``, that
    software of this version still runs on it. An upgrade records the version the database was
    at before it (the software running then keeps running) when each step it applied is
    :func:`backward_compatible`, else the version of the last step that is not.
    """

    def __init__(
        self,
        name: str,
        info: type[Model],
        models: tuple[type[Model], ...],
        steps: dict[int, Callable[[SchemaMigrator], None]],
        *,
        oldest: int | None = None,
    ):
        self.name, self.info, self.models, self.steps = name, info, models, steps
        self.current = max(steps, default=1)
        self.oldest = self.current if oldest is None else oldest
        if not 1 <= self.oldest <= self.current:
            raise ValueError(f"{name}: oldest must be between 1 and {self.current}")

    @property
    def _label(self) -> str:
        return "" if self.name == "authz" else f"{self.name} "

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
        # The version alone: a version row written before compatible_from existed lacks it.
        row = self.info.select(self.info.version).first()
        return row.version if row else None

    def runs_from(self) -> int | None:
        """The oldest software version the database's tables still run on (None: not
        recorded, as by an upgrade made before rolling upgrades)."""
        if not self._has_floor_column():
            return None
        row = self.info.select(self.info.compatible_from).first()
        return row.compatible_from if row else None

    def _has_floor_column(self) -> bool:
        table = self.info._meta.table_name
        return FLOOR_COLUMN in {column.name for column in db.database.get_columns(table)}

    def compatibility(self, version: int | None, runs_from: int | None) -> Compatibility:
        """Whether this software runs on tables at ``version`` whose upgrade recorded
        ``runs_from``; no database access (``/readyz`` reads both values its own way)."""
        name, label, current = self.name, self._label, self.current

        def answer(state: str, problem: str | None = None) -> Compatibility:
            return Compatibility(name, version, current, runs_from, state, problem)

        if version is None:
            what = "the database is empty" if name == "authz" else f"the {name} tables are missing"
            return answer(
                "missing",
                f"{what}, this software needs version {current}: run `monespace db upgrade`",
            )
        if version == current:
            return answer("current")
        if version < self.oldest:
            what = "the database is" if name == "authz" else f"the {name} tables are"
            return answer(
                "behind",
                f"{what} at schema version {version}, this software needs version "
                f"{self.oldest if self.oldest == current else f'{self.oldest} to {current}'}: "
                "run `monespace db upgrade`",
            )
        if version < current or (runs_from is not None and runs_from <= current):
            return answer("compatible")
        since = (
            f"software of version {runs_from} or later runs on it"
            if runs_from is not None
            else "its upgrade recorded no compatible software version"
        )
        return answer(
            "newer",
            f"the database is at {label}schema version {version}, newer than this software "
            f"({current}) and not compatible with it ({since}): upgrade monespace before "
            "using it",
        )

    def check(self) -> Compatibility:
        """:meth:`compatibility` of the database's tables."""
        version = self.version()
        return self.compatibility(version, self.runs_from() if version is not None else None)

    def upgrade(self, report: Callable[[str], None] = lambda _msg: None) -> list[int]:
        """Bring this set to its current version; return the versions applied."""
        version = self.version()
        label = self._label
        if version is None:
            with db.transaction():
                db.database.create_tables((self.info, *self.models))
                self.info.delete().execute()
                self.info.create(version=self.current, compatible_from=self.current)
            report(f"created {label}schema version {self.current}")
            return [self.current]
        if version > self.current:
            found = self.compatibility(version, self.runs_from())
            if not found.usable:
                raise SchemaError(found.problem)
            report(
                f"{label}schema at version {version}, newer than this software "
                f"({self.current}), which still runs on it; nothing to do"
            )
            return []
        floor = self._ensure_floor(version)
        applied = []
        for step in range(version + 1, self.current + 1):
            # The software that ran before this upgrade keeps running through it when every
            # step is backward compatible (one version back, never more).
            floor = max(floor, version if is_backward_compatible(self.steps[step]) else step)
            with db.transaction():
                self.steps[step](_migrator())
                self.info.update(version=step, compatible_from=floor).execute()
            report(f"upgraded {label}schema to version {step}: {self.steps[step].__doc__.strip()}")
            applied.append(step)
        if not applied:
            report(f"{label}schema already at version {self.current}; nothing to do")
        return applied

    def _ensure_floor(self, version: int) -> int:
        """The recorded ``compatible_from``, after adding its column to a version row made
        before it existed (the oldest software is then taken to be the database's own)."""
        if not self._has_floor_column():
            with db.transaction():
                migrate(
                    _migrator().add_column(
                        self.info._meta.table_name, FLOOR_COLUMN, IntegerField(null=True)
                    )
                )
        floor = self.runs_from()
        if floor is None:
            floor = version
            self.info.update(compatible_from=floor).execute()
        return floor

    def require_compatible(self) -> Compatibility:
        """Refuse to run on a database this software does not run on (missing, behind, or
        newer beyond the window its upgrade recorded)."""
        found = self.check()
        if not found.usable:
            raise SchemaError(found.problem)
        return found

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
