"""Benchmark data: throw-away databases and role grants generated in bulk.

The grants come in blocks of 40: 10 persons and 4 enterprises, each person holding a grant on
each of the block's enterprises. Each enterprise also has a legal representative and a GAP
among the block's persons. Grant ``i`` is always the same row whatever the size asked for, so a
database grown from 1,000 to 1,000,000 grants still holds the first 1,000 exactly: the same
questions can be asked at both sizes.

Rows are written with bulk statements (SQLite: ``executemany`` in one transaction; PostgreSQL:
``COPY``) and explicit ids above :data:`ID_BASE`, clear of the demo data's rows.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psutil
import psycopg2
import psycopg2.extensions

from authz import audit, db, events, schema
from monespace import demo

PERSONS_PER_BLOCK = 10
ENTERPRISES_PER_BLOCK = 4
GRANTS_PER_BLOCK = PERSONS_PER_BLOCK * ENTERPRISES_PER_BLOCK
ID_BASE = 1_000_000
STAMP = "2025-01-01 00:00:00"
# Grant roles in turn; access managers are never scoped (the services refuse it).
ROLE_CYCLE = ("reader", "agent", "owner", "access_manager", "agent")
DOMAIN = "fiscalite"  # the demo client's service domain
BATCH = 50_000

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# -- identifiers --------------------------------------------------------------------------


def nrn(k: int) -> str:
    """A valid, fictional national register number for generated person ``k``."""
    serial = 100 + k % 898  # the demo's people have serials below 100
    k //= 898
    day = 1 + k % 28
    k //= 28
    month = 1 + k % 12
    year = 30 + k // 12
    first = f"{year:02d}{month:02d}{day:02d}{serial:03d}"
    return first + f"{97 - int(first) % 97:02d}"


def bce(k: int) -> str:
    """A valid, fictional BCE number for generated enterprise ``k`` (05000000xx onwards)."""
    first = f"0{5_000_000 + k:07d}"
    return first + f"{97 - int(first) % 97:02d}"


# -- the rows of grant i -------------------------------------------------------------------


@dataclass(frozen=True)
class GrantRow:
    index: int
    person: int  # generated person number
    enterprise: int  # generated enterprise number
    role: str
    scoped: bool
    valid_until: date | None


def grant_row(i: int, today: date) -> GrantRow:
    block, j = divmod(i, GRANTS_PER_BLOCK)
    person = block * PERSONS_PER_BLOCK + j % PERSONS_PER_BLOCK
    enterprise = block * ENTERPRISES_PER_BLOCK + j // PERSONS_PER_BLOCK
    role = ROLE_CYCLE[i % len(ROLE_CYCLE)]
    scoped = role != "access_manager" and i % 3 == 1
    valid_until = None
    if i % 11 == 3:
        valid_until = today + timedelta(days=365)
    elif i % 11 == 7:
        valid_until = today - timedelta(days=30)  # ended, not yet swept: the policy decides
    return GrantRow(i, person, enterprise, role, scoped, valid_until)


def representative_of(enterprise: int) -> int:
    block, local = divmod(enterprise, ENTERPRISES_PER_BLOCK)
    return block * PERSONS_PER_BLOCK + local


def gap_of(enterprise: int) -> int:
    block, local = divmod(enterprise, ENTERPRISES_PER_BLOCK)
    return block * PERSONS_PER_BLOCK + PERSONS_PER_BLOCK - 1 - local


# The columns of the rows written in bulk, in the order of the tuples given.
PERSON_COLUMNS = (
    "id",
    "nrn",
    "given_name",
    "family_name",
    "email_verified",
    "language",
    "created_at",
    "updated_at",
)
ENTERPRISE_COLUMNS = (
    "id",
    "bce",
    "name",
    "legal_form",
    "status",
    "authz_epoch",
    "created_at",
    "updated_at",
)


# -- throw-away databases -----------------------------------------------------------------


@contextmanager
def throwaway_database(
    kind: str, admin_url: str | None = None, prefix: str | None = None
) -> Iterator[str]:
    """Yield the URL of a new, empty database of ``kind`` (sqlite | postgresql); drop it after.
    A PostgreSQL one is named ``<prefix>_<pid>``: the prefix given, else
    ``MONESPACE_BENCH_DATABASE_PREFIX``, else ``monespace_bench``."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="monespace-bench-") as tmp:
            try:
                yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            finally:
                if db.database.obj is not None:
                    db.database.close_all()
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    admin_url = (
        admin_url or os.environ.get("MONESPACE_BENCH_POSTGRES_URL") or (DEFAULT_POSTGRES_ADMIN_URL)
    )
    prefix = prefix or os.environ.get("MONESPACE_BENCH_DATABASE_PREFIX") or "monespace_bench"
    if not prefix.replace("_", "").isalnum():
        raise ValueError(f"a database prefix must be letters, digits, _: {prefix!r}")
    name = f"{prefix}_{os.getpid()}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name}")
        yield urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    finally:
        if db.database.obj is not None:
            db.database.close_all()  # the pool's connections, or DROP DATABASE waits on them
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def backend_cpu_seconds(url: str) -> dict[int, float]:
    """The CPU seconds used so far by each PostgreSQL client backend connected to ``url``'s
    database (this reading's own aside), by process id: those running on this machine. A
    process id is taken for a backend only when this machine's process of that id is a
    ``postgres`` process started when the backend did: with PostgreSQL elsewhere (another
    machine, a container's own process ids) nothing is counted."""
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pid, extract(epoch FROM backend_start) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
            backends = cur.fetchall()
    finally:
        connection.close()
    spent = {}
    for pid, started in backends:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if "postgres" not in process.name() or abs(process.create_time() - float(started)) > 2:
                continue
            times = process.cpu_times()
            spent[pid] = times.user + times.system
    return spent


# The benchmark's servers key their audit rows with the same key (httpbench passes it on).
AUDIT_KEY = "monespace benchmark audit key: throw-away databases only"


def prepare(url: str) -> None:
    """Connect the shared database proxy to ``url``, create the schema, load the demo story."""
    audit.use_keys(AUDIT_KEY)
    db.connect(url)
    db.database.connect(reuse_if_open=True)
    schema.upgrade()
    with events.muted():  # only the core's tables here: no outbox, and nobody to email
        demo.seed()


# -- bulk generation ----------------------------------------------------------------------


class Dataset:
    """The generated part of the benchmark database, grown in whole blocks."""

    def __init__(self, today: date | None = None):
        self.today = today or date.today()
        self.blocks = 0

    @property
    def grants(self) -> int:
        return self.blocks * GRANTS_PER_BLOCK

    def grow(self, grants: int) -> float:
        """Add blocks until at least ``grants`` grants exist; return the seconds it took."""
        target = -(-grants // GRANTS_PER_BLOCK)
        if target <= self.blocks:
            return 0.0
        started = time.perf_counter()
        first, self.blocks = self.blocks, target
        persons = range(first * PERSONS_PER_BLOCK, target * PERSONS_PER_BLOCK)
        enterprises = range(first * ENTERPRISES_PER_BLOCK, target * ENTERPRISES_PER_BLOCK)
        grants_range = range(first * GRANTS_PER_BLOCK, target * GRANTS_PER_BLOCK)
        writer = bulk_writer()
        with db.database.atomic():
            writer.write(
                "person",
                PERSON_COLUMNS,
                (
                    (ID_BASE + k, nrn(k), "Bench", f"Person {k}", False, "fr", STAMP, STAMP)
                    for k in persons
                ),
            )
            writer.write(
                "enterprise",
                ENTERPRISE_COLUMNS,
                (
                    (
                        ID_BASE + e,
                        bce(e),
                        f"Bench Enterprise {e}",
                        "company",
                        "stopped" if e % 97 == 13 else "active",
                        0,
                        STAMP,
                        STAMP,
                    )
                    for e in enterprises
                ),
            )
            writer.write(
                "legal_representation",
                ("id", "person_id", "enterprise_id", "capacity", "source", "imported_at"),
                (
                    (
                        ID_BASE + e,
                        ID_BASE + representative_of(e),
                        ID_BASE + e,
                        "gérant",
                        "bce",
                        STAMP,
                    )
                    for e in enterprises
                ),
            )
            writer.write(
                "gap_designation",
                ("id", "enterprise_id", "person_id", "designated_by_id", "started_at"),
                (
                    (
                        ID_BASE + e,
                        ID_BASE + e,
                        ID_BASE + gap_of(e),
                        ID_BASE + representative_of(e),
                        STAMP,
                    )
                    for e in enterprises
                ),
            )
            writer.write(
                "role_grant",
                (
                    "id",
                    "person_id",
                    "enterprise_id",
                    "role",
                    "scope",
                    "valid_until",
                    "source",
                    "granted_by_id",
                    "granted_at",
                ),
                (_grant_values(grant_row(i, self.today)) for i in grants_range),
            )
        writer.finish()
        return time.perf_counter() - started


def _grant_values(g: GrantRow) -> tuple:
    return (
        ID_BASE + g.index,
        ID_BASE + g.person,
        ID_BASE + g.enterprise,
        g.role,
        DOMAIN if g.scoped else "",
        g.valid_until.isoformat() if g.valid_until else None,
        "direct",
        ID_BASE + gap_of(g.enterprise),
        STAMP,
    )


def _batches(rows: Iterable[tuple], size: int = BATCH) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _SqliteWriter:
    """``executemany`` in big batches, inside the caller's single transaction."""

    def write(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        cursor = db.database.cursor()
        for batch in _batches(rows):
            cursor.executemany(sql, batch)

    def finish(self) -> None:
        # Fresh planner statistics, as a maintained production database has.
        db.database.execute_sql("ANALYZE")


@contextmanager
def _blocking_libpq() -> Iterator[None]:
    """psycopg2 refuses COPY while a wait callback is set (the app's database bounds install
    one per process, ``authz.pgbounds``): the dataset's load runs without it, then puts it back.
    The callback is process-wide; the load runs before any request is served."""
    callback = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(callback)


@contextmanager
def demo_app(kind: str, name: str) -> Iterator:
    """The demo app on a throw-away database of ``kind``, its data seeded; ``name`` (letters,
    digits, _) names the database and the app's temporary directory."""
    from monespace.app import create_app

    with (
        throwaway_database(kind, prefix=f"monespace_{name}") as url,
        tempfile.TemporaryDirectory(prefix=f"monespace-{name}-") as tmp,
    ):
        app = create_app(
            {
                "database_url": url,
                "mode": "demo",
                "secret_key": f"{name} benchmark " * 4,
                "data_dir": str(Path(tmp)),
                "base_url": "http://localhost",
                "decision_log": "off",
            }
        )
        try:
            yield app
        finally:
            app.extensions["monespace.decisions"].tracker.stop()


def bulk_writer() -> _PostgresWriter | _SqliteWriter:
    """The fastest writer of many rows for the connected database: ``COPY`` on PostgreSQL,
    ``executemany`` on SQLite (``write(table, columns, rows)``, then ``finish()``)."""
    return _PostgresWriter() if db.is_postgresql() else _SqliteWriter()


class _PostgresWriter:
    """``COPY ... FROM STDIN`` of text batches, then sequences moved past the explicit ids."""

    def __init__(self):
        self.tables: list[str] = []

    def write(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        self.tables.append(table)
        cursor = db.database.cursor()
        with _blocking_libpq():
            for batch in _batches(rows):
                buffer = io.StringIO()
                for row in batch:
                    buffer.write("\t".join(_copy_text(v) for v in row))
                    buffer.write("\n")
                buffer.seek(0)
                cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)

    def finish(self) -> None:
        for table in self.tables:
            db.database.execute_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
            db.database.execute_sql(f"ANALYZE {table}")


def _copy_text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


# -- questions ----------------------------------------------------------------------------

Question = tuple[str, str, str, str | None]  # (nrn, action, bce, service domain)

# Demo story questions: allowed by a scoped grant, by the GAP designation, denied by scope,
# denied to a legal representative, about a stopped enterprise, about a stranger.
DEMO_QUESTIONS: tuple[Question, ...] = (
    ("90010100123", "act_for", "0123456749", DOMAIN),
    ("90010100123", "act_for", "0123456749", None),
    ("85020200387", "grant_role", "0123456749", None),
    ("60040400794", "act_for", "0123456749", DOMAIN),
    ("60040400794", "designate_gap", "0123456749", None),
    ("70030300538", "submit_dossier", "0123456749", DOMAIN),
    ("90010100222", "read_dossier", "0123456749", DOMAIN),
    ("99090900920", "read_dossier", "0123456749", DOMAIN),
    ("65080800512", "act_for", "0777777771", DOMAIN),
)
ACTIONS = ("act_for", "read_dossier", "submit_dossier", "grant_role", "view_members")


def questions(
    within_grants: int, count: int, seed: int = 1, today: date | None = None
) -> list[Question]:
    """``count`` questions about the first ``within_grants`` generated grants and the demo.

    Each is about a pair holding a grant, a pair where the GAP or the legal representative
    asks, or a pair of two neighbouring blocks (no fact at all), so allows and denials mix.
    """
    rng = random.Random(seed)
    today = today or date.today()
    found: list[Question] = list(DEMO_QUESTIONS)
    while len(found) < count:
        g = grant_row(rng.randrange(within_grants), today)
        action = rng.choice(ACTIONS)
        domain = DOMAIN if rng.random() < 0.7 else None
        kind = rng.random()
        if kind < 0.6:
            person = g.person
        elif kind < 0.75:
            person = gap_of(g.enterprise)
        elif kind < 0.85:
            person = representative_of(g.enterprise)
            action = rng.choice(("designate_gap", "act_for"))
        else:
            # The same person, the next block's enterprise (within range): no fact links them.
            blocks = -(-within_grants // GRANTS_PER_BLOCK)
            person = (g.person + PERSONS_PER_BLOCK) % (blocks * PERSONS_PER_BLOCK)
        found.append((nrn(person), action, bce(g.enterprise), domain))
    return found[:count]
