"""authz/db.py: a request waits for a pooled connection, then is told to come back (503);
a connection handed out again is checked with a round trip only when it was not given back
a moment ago.

A pool of two connections, both taken by other threads: every endpoint answers 503 with
Retry-After in its own format once the wait is over; a connection given back in time serves
the waiting request; many concurrent requests on a small pool wait their turn. On PostgreSQL,
a connection given back within ``database_pool_recheck`` seconds is handed out without the
``SELECT 1`` (the server's record of the session's last statement shows it), one given back
longer ago is asked first, and a pooled connection whose server session was ended
(``pg_terminate_backend``) is replaced without the request seeing it.
"""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

from authz import db
from authz.models import Person
from monespace import demo
from tests.idp_bridge.web_client import (
    Browser,
)

AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(f"{demo.DEMO_CLIENT_ID}:{demo.DEMO_CLIENT_SECRET}".encode()).decode()
}
BATCH = {
    "subject": {"type": "person", "id": "85073003361"},
    "action": {"name": "act_for"},
    "evaluations": [{"resource": {"type": "enterprise", "id": "0403170701"}}] * 20,
}


class Holder:
    """Threads that each take a connection from the pool and keep it until released."""

    def __init__(self):
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def take(self, count: int) -> None:
        taken = threading.Barrier(count + 1)

        def hold() -> None:
            db.database.connect()
            db.database.execute_sql("SELECT 1")
            taken.wait()
            self.release.wait(60)
            db.database.close()

        for _ in range(count):
            thread = threading.Thread(target=hold, daemon=True)
            thread.start()
            self.threads.append(thread)
        taken.wait(30)  # generous: a loaded machine takes seconds to connect

    def give_back(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(10)


@pytest.fixture
def holder():
    holding = Holder()
    yield holding
    holding.give_back()


def test_a_request_finding_the_pool_empty_is_503_with_retry_after_in_its_format(make_app, holder):
    app = make_app(database_pool_size=2, database_pool_wait=1)
    browser = Browser(app)
    browser.login("eid", "person:marc")
    holder.take(2)
    client = app.test_client()

    started = time.monotonic()
    decision = client.post("/access/v1/evaluations", json=BATCH, headers=AUTH)
    assert time.monotonic() - started >= 0.9  # it waited for a connection first
    token = client.post("/token", data={"grant_type": "client_credentials"}, headers=AUTH)
    page = browser.get("/entreprises")

    for response in (decision, token, page):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
    assert decision.get_json()["error"] == "temporarily_unavailable"
    assert token.get_json()["error"] == "temporarily_unavailable"
    assert page.mimetype == "text/html"


def test_a_connection_given_back_within_the_wait_serves_the_request(make_app, holder):
    app = make_app(database_pool_size=2, database_pool_wait=5)
    holder.take(2)
    threading.Timer(0.5, holder.release.set).start()

    response = app.test_client().post("/access/v1/evaluations", json=BATCH, headers=AUTH)

    assert response.status_code == 200
    assert len(response.get_json()["evaluations"]) == 20


def test_sixty_concurrent_batches_on_a_pool_of_two_all_get_an_answer(make_app):
    app = make_app(database_pool_size=2, database_pool_wait=10, decision_cache_size=0)

    def ask(_number: int) -> int:
        return app.test_client().post("/access/v1/evaluations", json=BATCH, headers=AUTH)

    with ThreadPoolExecutor(max_workers=60) as pool:
        responses = list(pool.map(ask, range(60)))

    assert [r.status_code for r in responses] == [200] * 60


# -- the pool's check of a connection it hands out (PostgreSQL) --------------------------------


def _admin(url: str):
    conn = psycopg2.connect(url, application_name="monespace-test-admin")
    conn.autocommit = True
    return conn


def _last_statement(admin, pid: int) -> str:
    with admin.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
        return cursor.fetchone()[0]


@pytest.fixture
def postgres_pool(database, database_url):
    """Build PostgreSQL pools on the test database (SQLite's pool asks its file nothing)."""
    if not db.is_postgresql():
        pytest.skip("the round trip checked here is PostgreSQL's")
    pools: list = []

    def make(recheck: float):
        pool = db.make_database(database_url, pool_size=2, pool_recheck=recheck)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close_all()


def _use_and_give_back(pool, marker: str) -> int:
    pool.connect()
    pool.execute_sql(f"SELECT '{marker}'")
    pid = pool.connection().info.backend_pid
    pool.close()
    return pid


def test_a_connection_given_back_a_moment_ago_is_handed_out_without_a_round_trip(
    postgres_pool, database_url
):
    pool = postgres_pool(recheck=30)
    pid = _use_and_give_back(pool, "marker")
    admin = _admin(database_url)
    try:
        pool.connect()
        assert pool.connection().info.backend_pid == pid  # the same connection, again
        assert _last_statement(admin, pid) == "SELECT 'marker'"  # no SELECT 1 since
        pool.close()
    finally:
        admin.close()


def test_a_connection_given_back_longer_ago_is_checked_first(postgres_pool, database_url):
    pool = postgres_pool(recheck=0.2)
    pid = _use_and_give_back(pool, "marker")
    time.sleep(0.3)
    admin = _admin(database_url)
    try:
        pool.connect()
        assert pool.connection().info.backend_pid == pid
        assert _last_statement(admin, pid) == "SELECT 1"
        pool.close()
    finally:
        admin.close()


def _terminate_pooled_sessions(admin) -> list[int]:
    """End the server sessions of the app's idle pooled connections; wait until they are gone."""
    pids = [conn.info.backend_pid for _ts, _n, conn in db.database.obj._connections]
    assert pids, "the request gave its connection back to the pool"
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", (pids,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
            if cursor.fetchone()[0] == 0:
                return pids
            time.sleep(0.02)
    raise AssertionError("the terminated sessions did not end")


@pytest.mark.parametrize("recheck", [30, 0])
def test_a_pooled_connection_whose_session_was_ended_is_replaced_unseen(
    postgres_pool, make_app, database_url, recheck
):
    app = make_app(database_pool_recheck=recheck)
    client = app.test_client()
    grant = {"grant_type": "client_credentials"}
    token = client.post("/token", data=grant, headers=AUTH).get_json()["access_token"]
    admin = _admin(database_url)
    try:
        for _round in range(2):
            ended = _terminate_pooled_sessions(admin)
            # The fast lane (introspection) and a Flask route (the token endpoint).
            introspection = client.post("/introspect", data={"token": token}, headers=AUTH)
            assert introspection.status_code == 200
            assert introspection.get_json()["active"] is True
            _terminate_pooled_sessions(admin)
            assert client.post("/token", data=grant, headers=AUTH).status_code == 200
            in_pool = [conn.info.backend_pid for _ts, _n, conn in db.database.obj._connections]
            assert in_pool and not set(in_pool) & set(ended)
    finally:
        admin.close()


# -- slots: the threads that may use the database at once ---------------------------------


def _in_thread(work):
    """Run ``work`` in another thread; its result or its exception."""
    outcome: list = []

    def run():
        try:
            outcome.append(work())
        except Exception as exc:  # the outcome under test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    return outcome[0]


def test_a_thread_takes_one_slot_however_often_it_connects_and_gives_it_back():
    slots = db.Slots(1, wait=0.2)
    slots.take()
    slots.take()  # the same thread: still one slot
    assert isinstance(_in_thread(slots.take), db.PoolExhausted)  # none left for another
    slots.give_back()
    slots.give_back()  # given back once only
    assert _in_thread(slots.take) is None  # the other thread takes it...
    assert isinstance(_in_thread(slots.take), db.PoolExhausted)  # ...and keeps it


def test_a_thread_waiting_for_a_slot_gives_up_at_once_when_the_database_is_silent(monkeypatch):
    slots = db.Slots(1, wait=30)
    slots.take()
    monkeypatch.setattr(db.pgbounds, "silent", lambda longer_than: True)
    started = time.monotonic()
    assert isinstance(_in_thread(slots.take), db.DatabaseSilent)
    assert time.monotonic() - started < 1
    slots.give_back()
    assert _in_thread(slots.take) is None  # a free slot is taken, silent or not


def test_a_postgresql_pool_with_slots_lets_that_many_threads_in(database, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("slots bound PostgreSQL's pool")
    pool = db.make_database(database_url, pool_size=5, pool_wait=1, slots=1)
    try:
        pool.connect()
        pool.execute_sql("SELECT 1")
        refused = _in_thread(pool.connect)
        assert isinstance(refused, db.PoolExhausted)  # 503 at the edges, after the wait
        pool.close()  # the connection, and the slot, given back
        assert _in_thread(lambda: (pool.connect(), pool.execute_sql("SELECT 1"), pool.close()))
    finally:
        pool.close_all()


def test_a_request_gives_its_connection_back_for_now_but_never_inside_a_transaction(database):
    """``give_back_for_now``: within a request's hold the connection goes back to the pool
    (so its slot too) and the next block takes one again; inside a transaction, nothing."""
    db.hold_connections()
    try:
        with db.connection():
            db.database.execute_sql("SELECT 1")
        assert not db.database.is_closed()  # held by the request
        db.give_back_for_now()
        assert db.database.is_closed()
        with db.connection():
            assert db.database.execute_sql("SELECT 1").fetchone()[0] == 1
            with db.transaction():
                db.give_back_for_now()
                assert not db.database.is_closed()  # the transaction keeps its connection
    finally:
        db.release_connections()
        db.database.close()


def test_a_block_within_the_callers_transaction_is_part_of_it_and_else_its_own(
    database, statements
):
    """``within_transaction``: inside a transaction, no savepoint (its failure fails the
    caller's transaction whole); outside one, a transaction of its own, undone on failure."""
    with db.connection():
        with db.transaction(), db.within_transaction():
            Person.create(nrn="85020200387", given_name="Marc", family_name="Dupont")
        assert not [s for s in statements if s.startswith(("SAVEPOINT", "RELEASE"))]
        with db.transaction() as outer:
            with db.within_transaction():
                Person.create(nrn="90010100123", given_name="Anne", family_name="Martin")
            outer.rollback()
        with pytest.raises(RuntimeError), db.within_transaction():
            Person.create(nrn="93051822361", given_name="Luc", family_name="Lambert")
            raise RuntimeError("failed")
        assert [p.nrn for p in Person.select()] == ["85020200387"]


def test_a_built_statement_is_built_once_per_shape_and_keeps_its_constants(database):
    """``built_statement``: peewee builds the statement the first time only; its markers take
    the values of each call (one name used twice), its other parameters stay as built."""
    from peewee import Value

    from authz.models import Person

    Person.create(nrn="85020200387", given_name="Marc", family_name="Dupont")
    Person.create(nrn="60040400794", given_name="Anne", family_name="Martin")
    builds = []

    def build(param):
        builds.append(1)
        return (
            Person.select(Value("constant"), Person.given_name)
            .where((Person.nrn == param("nrn")) | (Person.family_name == param("nrn")))
            .limit(1)
        )

    shape = ("test", "person by nrn")
    for nrn, name in [("85020200387", "Marc"), ("60040400794", "Anne"), ("00000000000", None)]:
        row = db.execute_built(shape, build, {"nrn": nrn}).fetchone()
        assert (row and tuple(row)) == (("constant", name) if name else None)
    assert len(builds) == 1
    sql, params = db.built_statement(shape, build, {"nrn": "' OR '1'='1"})
    assert params == ["constant", "' OR '1'='1", "' OR '1'='1", 1]
    assert "' OR" not in sql


def test_a_built_statement_refuses_a_value_without_its_place_and_a_place_without_value(
    database,
):
    from authz.models import Person

    def build(param):
        return Person.select().where(Person.nrn == param("nrn"))

    with pytest.raises(RuntimeError, match="unexpected parameters"):
        db.built_statement(("test", "extra"), build, {"nrn": "1", "other": "2"})
    with pytest.raises(RuntimeError, match="unexpected parameters"):
        db.built_statement(("test", "missing"), build, {})


def test_a_built_statement_is_prepared_once_per_connection_on_postgresql(database, monkeypatch):
    """``execute_built`` on PostgreSQL: the statement is prepared on a connection the first
    time it runs there, then executed by name (not planned again); on SQLite it runs as
    built. Its answers are those of the statement as built."""
    import peewee

    from authz.models import Person

    Person.create(nrn="85020200387", given_name="Marc", family_name="Dupont")

    def build(param):
        return Person.select(Person.given_name).where(Person.nrn == param("nrn"))

    shape = ("test", "prepared person")
    sql, _params = db.built_statement(shape, build, {"nrn": "x"})
    sent: list[str] = []
    real = peewee.Database.execute_sql

    def spy(self, text, *args, **kwargs):
        sent.append(text)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(peewee.Database, "execute_sql", spy)
    with db.connection():
        for nrn, name in [("85020200387", "Marc"), ("' OR '1'='1", None), ("85020200387", "Marc")]:
            row = db.execute_built(shape, build, {"nrn": nrn}).fetchone()
            assert (row and row[0]) == name
    if not db.is_postgresql():
        assert sent == [sql] * 3
        return
    prepare, *executions = sent
    assert prepare.startswith("PREPARE monespace_built_") and "$1" in prepare
    name = prepare.split()[1]
    assert executions == [f"EXECUTE {name} (%s)"] * 3
    assert db.prepared_text(executions[0]) == prepare.split(" AS ", 1)[1]

    # Another connection (another thread's, while this one holds its own) prepares it for
    # itself, once.
    def twice():
        with db.connection():
            values = {"nrn": "85020200387"}
            return [db.execute_built(shape, build, values).fetchone()[0] for _ in range(2)]

    with db.connection():
        sent.clear()
        assert _in_thread(twice) == ["Marc", "Marc"]
    assert [text.split()[0] for text in sent] == ["PREPARE", "EXECUTE", "EXECUTE"]


def test_a_session_that_lost_its_prepared_statements_prepares_them_again(database):
    """``DEALLOCATE ALL`` (or a pooler's ``DISCARD ALL``) behind the app's back: the next
    execution fails once, the one after prepares the statement again and answers."""
    if not db.is_postgresql():
        pytest.skip("statements are prepared on PostgreSQL only")
    import peewee

    from authz.models import Person

    Person.create(nrn="85020200387", given_name="Marc", family_name="Dupont")

    def build(param):
        return Person.select(Person.given_name).where(Person.nrn == param("nrn"))

    shape, values = ("test", "lost person"), {"nrn": "85020200387"}
    with db.connection():
        assert db.execute_built(shape, build, values).fetchone()[0] == "Marc"
        db.database.execute_sql("DEALLOCATE ALL")
        with pytest.raises(peewee.OperationalError, match="does not exist"):
            db.execute_built(shape, build, values)
        assert db.execute_built(shape, build, values).fetchone()[0] == "Marc"
