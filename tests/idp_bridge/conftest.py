"""Fixtures of the idp_bridge tests: the upstream logins wired to their simulators.

``saml_keys`` and ``world``: the eID service provider and the SAML IdP simulator
(:mod:`tests.idp_bridge.saml_messages`); ``itsme_keys`` and ``itsme``: our itsme relying party
and the itsme simulator (:mod:`tests.idp_bridge.itsme_login`). Keys are generated once per run.
``sql_log``: every SQL statement and commit from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import peewee
import pytest

from authz import db
from idp_bridge.oidc import storage as oidc_storage
from idp_bridge.shared import db_stores
from idp_bridge.upstreams import saml_crypto
from tests.conftest import statement_run
from tests.idp_bridge import itsme_keys as itsme_key_set
from tests.idp_bridge import itsme_login, saml_messages


@pytest.fixture(scope="session")
def saml_keys(tmp_path_factory) -> saml_messages.Keys:
    return saml_messages.make_keys(tmp_path_factory.mktemp("saml-keys"))


@pytest.fixture(params=[saml_crypto.BINDING, saml_crypto.COMMAND])
def world(request, saml_keys) -> saml_messages.World:
    """The eID service provider and the SAML IdP simulator, fresh stores; once with each
    crypto backend (both sign and verify with it)."""
    backend = request.param
    return saml_messages.make_eid(
        saml_keys, idp={"crypto_backend": backend}, crypto_backend=backend
    )


@pytest.fixture(scope="session")
def itsme_keys() -> itsme_key_set.Keys:
    return itsme_key_set.generate()


@pytest.fixture
def itsme(itsme_keys) -> itsme_login.World:
    """Our itsme relying party and the itsme simulator, one fake clock for both."""
    return itsme_login.make_itsme(itsme_keys)


@dataclass
class SqlLog:
    """What was sent to the database: each statement with whether a transaction was open, and
    the number of transactions committed."""

    statements: list[tuple[str, bool]] = field(default_factory=list)
    commits: int = 0

    def clear(self) -> None:
        self.statements.clear()
        self.commits = 0

    def writes(self, *, in_transaction: bool) -> list[str]:
        """The statements that write (data-modifying ``WITH`` statements included)."""
        verbs = ("INSERT", "UPDATE", "DELETE")
        return [
            sql
            for sql, inside in self.statements
            if inside == in_transaction
            and (
                sql.lstrip().upper().startswith(verbs)
                or (
                    sql.lstrip().upper().startswith("WITH")
                    and any(f"AS ({verb} " in sql.upper() for verb in verbs)
                )
            )
        ]

    def wrote_as_one(self, writes: int) -> bool:
        """Whether the writes were one unit: on PostgreSQL one statement outside any
        transaction (its writes ``WITH`` parts: ``storage.swap_then_store``), its own commit;
        elsewhere ``writes`` statements in one transaction, committed once."""
        alone, inside = self.writes(in_transaction=False), self.writes(in_transaction=True)
        if db.is_postgresql():
            return len(alone) == 1 and alone[0].startswith("WITH") and not inside
        return not alone and len(inside) == writes and self.commits == 1


@pytest.fixture
def sql_log(database, monkeypatch) -> SqlLog:
    """Every statement peewee sends, and every commit, from now on (whichever database the
    app connects to)."""
    log = SqlLog()
    execute_sql, commit = peewee.Database.execute_sql, peewee.Database.commit
    # The purges of expired rows (at most once a minute per process) are not a request's
    # statements: none starts while the log is kept.
    for module in (db_stores, oidc_storage):
        schedule = db_stores.PurgeSchedule(clock=lambda: 0.0)
        schedule.due()  # the one purge of an interval that never ends
        monkeypatch.setattr(module, "_schedule", schedule)

    def logged(self, sql, *args, **kwargs):
        if (text := statement_run(sql)) is not None:
            log.statements.append((text, self.in_transaction()))
        return execute_sql(self, sql, *args, **kwargs)

    def committed(self, *args, **kwargs):
        log.commits += 1
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(peewee.Database, "execute_sql", logged)
    monkeypatch.setattr(peewee.Database, "commit", committed)
    return log
