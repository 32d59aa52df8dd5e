"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL.

Every test that takes ``database`` (directly or through another fixture) runs twice: once on a
SQLite file and once on the machine's PostgreSQL. ``MONESPACE_TEST_DATABASES`` narrows the set
(``sqlite`` or ``postgresql``); ``MONESPACE_TEST_POSTGRES_URL`` points at the server
(default ``postgresql://postgres@127.0.0.1:5432/postgres``; a ``monespace_test`` database is
created there).
"""

from __future__ import annotations

import os
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest

from authz import db
from monespace import bootstrap

BACKENDS = [
    name.strip()
    for name in os.environ.get("MONESPACE_TEST_DATABASES", "sqlite,postgresql").split(",")
    if name.strip()
]
ADMIN_URL = os.environ.get(
    "MONESPACE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# One database per test run, so that runs in parallel (several shells) do not collide.
TEST_DB_NAME = f"monespace_test_{os.getpid()}"


def _postgres_test_url() -> str:
    parsed = urlparse(ADMIN_URL)
    return urlunparse(parsed._replace(path=f"/{TEST_DB_NAME}"))


@pytest.fixture(scope="session")
def postgres_url():
    """Create (once per run) an empty test database, yield its URL, drop it at the end."""
    try:
        conn = psycopg2.connect(ADMIN_URL)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (TEST_DB_NAME,),
        )
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB_NAME}")
        cur.execute(f"CREATE DATABASE {TEST_DB_NAME}")
    yield _postgres_test_url()
    db.database.close()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (TEST_DB_NAME,),
        )
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB_NAME}")
    conn.close()


def _drop_all(database) -> None:
    tables = database.get_tables()
    if tables:
        database.execute_sql("DROP TABLE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """URL of a database of each configured backend (SQLite: a new file per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monespace.sqlite3'}"
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    raise ValueError(f"unknown test database backend {request.param!r}")


@pytest.fixture
def connected(database_url):
    database = db.connect(database_url)
    database.connect(reuse_if_open=True)
    yield database
    if not database.is_closed():
        database.close()


@pytest.fixture
def empty_database(connected):
    """A connected, empty database (no tables)."""
    _drop_all(connected)
    return connected


@pytest.fixture
def database(connected):
    """A connected database with every package's tables at their current version, no rows."""
    sets = bootstrap.schema_sets()
    tables = set(connected.get_tables())
    models = [model for schema_set in sets for model in schema_set.models]
    if (
        db.is_postgresql()
        and tables >= {model._meta.table_name for model in models}
        and all(schema_set.version() == schema_set.current for schema_set in sets)
    ):
        # Much faster than dropping and creating every table for each test.
        for model in reversed(models):
            model.delete().execute()
    else:
        _drop_all(connected)
        bootstrap.upgrade_schemas()
    return connected
